"""The console in a real browser: Debian's Chromium driven by Playwright, against the one web
application served on 127.0.0.1 over a seeded database, signed in through the link /console
gives in Telegram (the real dispatcher, a recording bot session). With KEFU_SCREENSHOTS=docs the
pages are saved as docs/console/*.png for the README."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bot.app import Services, create_console, create_dispatcher
from bot.clock import ManualClock
from bot.web.app import create_web_app, serving
from tests.chat import PrivateChat
from tests.conftest import ROOT, TEST_KB, StartServices
from tests.console_seed import PHONE, TEAMS_CONFIG, seed
from tests.mocked_bot import MockedBot
from tests.test_web import free_port
from tests.test_web_chat_browser import wait_until_healthy

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="no /usr/bin/chromium (apt-get install chromium; .ci/run does) for browser tests",
    ),
]
playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed")
expect = playwright_api.expect

ADMIN, SUPERVISOR = 900, 901
WAIT_MS = 30_000
SCREENSHOTS = os.environ.get("KEFU_SCREENSHOTS")


@pytest.fixture
async def console(
    start_services: StartServices, kb_copy: Path, clock: ManualClock
) -> AsyncIterator[tuple[str, Services]]:
    """The web application with the console on a free port, over a seeded database; its
    address, as [web] public_url, so that the links /console gives lead to it."""
    port = free_port()
    address = f"http://127.0.0.1:{port}"
    services = await start_services(
        kb=kb_copy,
        replace={
            "admins = []": f"admins = [{ADMIN}]",
            "supervisors = []": f"supervisors = [{SUPERVISOR}]",
            '# secret = ""': 'secret = "browser-console-secret"',
            'public_url = ""': f'public_url = "{address}"',
            'language = "zh"': 'language = "en"',
            **TEAMS_CONFIG,
        },
    )
    async with services.session_factory() as session:
        await seed(session, clock.now())
    app = create_web_app(services, console=create_console(services))
    async with serving(app, "127.0.0.1", port):
        yield address, services


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with playwright_api.async_playwright() as playwright:
        # root (CI) cannot use Chromium's sandbox
        arguments = ["--no-sandbox"] if os.geteuid() == 0 else []
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=arguments)
        yield launched
        await launched.close()


async def console_link(services: Services, user_id: int) -> str:
    """What /console answers in Telegram: the link in the message."""
    dispatcher = create_dispatcher(services, jobs=False)
    [reply] = await PrivateChat(dispatcher, MockedBot(), user_id, "en").say("/console")
    found = re.search(r"http://\S+", reply.text)
    assert found is not None, reply.text
    return found.group()


async def signed_in_page(browser: Browser, services: Services, user_id: int) -> Page:
    context = await browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    await page.goto(await console_link(services, user_id))
    await page.click("#sign-in")
    await expect(page.locator("h1")).to_have_text("Overview")
    return page


async def shot(page: Page, folder: Path, name: str) -> None:
    await page.screenshot(path=folder / f"{name}.png", full_page=True)


async def test_an_admin_signs_in_with_the_link_and_reads_every_page(
    console: tuple[str, Services], browser: Browser, tmp_path: Path
) -> None:
    address, services = console
    folder = Path(SCREENSHOTS) / "console" if SCREENSHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    page = await signed_in_page(browser, services, ADMIN)

    # the overview: the standards beside the period before, and the trends as SVG
    standards = page.locator("#standards tbody tr")
    await expect(standards.first).to_contain_text("Settled at first contact")
    await expect(page.locator("svg.chart")).to_have_count(2)
    assert await page.locator("svg.chart polyline").count() >= 2
    await shot(page, folder, "overview")

    await page.click("text=Reports")
    await expect(page.locator("#satisfaction_by_agent")).to_contain_text("Lin")
    async with page.expect_download() as waiting:
        await page.click("#volume_by_day a.csv")
    download = await waiting.value
    assert download.suggested_filename.startswith("kefu-volume_by_day-")
    await shot(page, folder, "reports")

    # tickets: a status chosen submits the filters at once (the page's script), then words
    await page.click("text=Tickets")
    await page.select_option("#filters select[name=status]", "resolved")
    await expect(page.locator("#count")).to_contain_text("ticket(s)")
    assert "status=resolved" in page.url
    statuses = await page.locator("#tickets tbody .status").all_inner_texts()
    assert statuses and set(statuses) == {"resolved"}
    await shot(page, folder, "tickets")
    await page.fill("#filters input[name=q]", "parcel never")
    await page.click("#filter")
    await expect(page.locator("#count")).to_have_text("1 ticket(s), the newest first")
    await page.locator("#tickets tbody a").first.click()
    await expect(page.locator("#transcript")).to_contain_text("Carrier says lost in Hangzhou hub")
    await expect(page.locator("#order-phone")).to_have_text(PHONE)  # an admin reads it whole
    await expect(page.locator("#surveys")).to_contain_text("survey: 5 of 5 stars")
    await shot(page, folder, "ticket")

    # the knowledge base: what the matcher does with a question
    await page.click("text=Knowledge base")
    await page.click("#history a >> nth=0")
    await expect(page.locator("pre.diff")).to_contain_text("+# returns within 7 days")
    await page.fill("#question", "how do I return an item")
    await page.click("#test")
    await expect(page.locator("#decision")).to_contain_text("The bot would: answer → returns")
    await expect(page.locator("#candidates tbody tr").first).to_contain_text("returns")
    await expect(page.locator("pre.diff")).to_be_visible()  # the version shown stays
    await shot(page, folder, "knowledge")

    # the agents: scorecards beside the period before, the top marked; QA scored and waiting
    await page.click("text=Agents")
    await expect(page.locator("h1")).to_have_text("Agents")
    await expect(page.locator("#scorecards")).to_contain_text("Lin")
    assert await page.locator("#scorecards tr.top").count() >= 1
    await expect(page.locator("#qa-scored")).to_contain_text("Kind <b>and</b> quick")
    await expect(page.locator("#qa-pending tbody tr")).to_have_count(1)
    async with page.expect_download() as waiting:
        await page.click("#scorecards a.csv")
    assert (await waiting.value).suggested_filename.startswith("kefu-agents-")
    await shot(page, folder, "agents")

    # an incident notice started and ended, as /incident would
    await page.click("text=Incidents")
    await page.fill("#zh", "暴雨：华东地区发货延迟 1-2 天")
    await page.fill("#en", "Heavy rain: deliveries in East China are 1-2 days late")
    await page.fill("#hours", "12")
    await page.check("input[name=entries][value=returns]")
    await page.click("#start-incident")
    await expect(page.locator("#told")).to_contain_text("is shown until")
    [incident] = services.incidents.in_force()
    assert incident.started_by == f"admin:{ADMIN}" and incident.entries == "returns"
    await expect(page.locator(f"#end-{incident.id}")).to_be_visible()
    await shot(page, folder, "incidents")
    await page.click(f"#end-{incident.id}")
    await expect(page.locator("#told")).to_have_text(f"Ended: #{incident.id}.")
    assert services.incidents.in_force() == []

    # a broadcast on its way, and its report
    async with services.session_factory() as session:
        draft, _ = await services.broadcasts.draft(
            session,
            "contacted=30",
            "仓库盘点，周六不发货",
            "Stocktaking: no dispatch on Saturday",
            "cli",
        )
        assert draft.id is not None
        await services.broadcasts.send(session, draft.id, "cli")
        await session.commit()
    await page.click("text=Broadcasts")
    await expect(page.locator("#broadcasts tbody tr")).to_have_count(1)
    await shot(page, folder, "broadcasts")
    await page.click(f"#broadcasts a >> text=#{draft.id}")
    await expect(page.locator("#status")).to_have_text("being sent")
    await page.click("#cancel")
    await expect(page.locator("#status")).to_have_text("cancelled")
    await expect(page.locator("[data-count=cancelled]")).not_to_have_text("0")

    await page.click("text=Gaps and learning")
    await expect(page.locator("#gaps")).to_contain_text("do you ship to Mars")
    await expect(page.locator("#learned")).to_contain_text("can i send it back")
    await shot(page, folder, "gaps")

    # in Chinese, from the switch in the header, and it stays so
    await page.click("#language")
    await expect(page.locator("h1")).to_have_text("未答问题与学习")
    await page.click("text=概览")
    await expect(page.locator("#standards")).to_contain_text("首次接触解决率")

    await page.click("#sign-out")  # to a page for anyone: in the agents' language, and the other
    await expect(page.locator("h1")).to_have_text("Sign in to the console")
    await page.goto(f"{address}/console/tickets")
    await expect(page.locator("body")).to_contain_text("Send /console to the bot")


async def test_a_supervisor_reads_masked_and_cannot_roll_back(
    console: tuple[str, Services], browser: Browser
) -> None:
    address, services = console
    page = await signed_in_page(browser, services, SUPERVISOR)
    await page.goto(f"{address}/console/tickets?q=parcel")
    await page.locator("#tickets tbody a").first.click()
    await expect(page.locator("#order-phone")).to_have_text("138****8001")
    await page.goto(f"{address}/console/knowledge")
    await expect(page.locator("#history")).to_contain_text(
        "Only admins may roll the knowledge base back."
    )
    await expect(page.locator("#rollback")).to_have_count(0)
    # the form the button would send, with this session's own token: the server says no
    csrf = await page.locator("input[name=csrf]").first.get_attribute("value")
    refused = await page.request.post(
        f"{address}/console/knowledge/rollback", form={"csrf": csrf or ""}
    )
    assert refused.status == 403
    assert "Only admins may do this." in await refused.text()
    # nor end an incident: the page shows no button, and the server refuses the form
    async with services.session_factory() as session:
        incident = await services.incidents.start(
            session, zh="缺货", en="Out of stock", hours=2, by="cli"
        )
        await session.commit()
    await page.goto(f"{address}/console/incidents")
    await expect(page.locator("#admins-only")).to_be_visible()
    await expect(page.locator(f"#end-{incident.id}")).to_have_count(0)
    ended = await page.request.post(
        f"{address}/console/incidents/end", form={"csrf": csrf or "", "id": str(incident.id)}
    )
    assert ended.status == 403
    assert [i.id for i in services.incidents.in_force()] == [incident.id]


async def test_a_post_without_the_forms_token_is_refused(
    console: tuple[str, Services], browser: Browser
) -> None:
    address, services = console
    page = await signed_in_page(browser, services, ADMIN)
    refused = await page.request.post(f"{address}/console/knowledge/rollback", form={})
    assert refused.status == 403
    assert "did not come from the console" in await refused.text()


async def test_an_expired_or_used_link_is_refused(
    console: tuple[str, Services], browser: Browser, clock: ManualClock
) -> None:
    _, services = console
    context = await browser.new_context(locale="en-US")
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    used = await console_link(services, ADMIN)
    await page.goto(used)
    await page.click("#sign-in")
    await expect(page.locator("h1")).to_have_text("Overview")
    await page.goto(used)
    await expect(page.locator("#refused")).to_contain_text("has expired or was already used")
    late = await console_link(services, ADMIN)
    clock.advance(timedelta(minutes=11))
    await page.goto(late)
    await expect(page.locator("#refused")).to_contain_text("has expired or was already used")


async def test_kefu_web_serves_the_console_to_a_link_from_kefu_console_link(
    browser: Browser, tmp_path: Path
) -> None:
    """The real processes: `kefu web` with no Telegram token, and a link printed on the server
    for the first admin."""
    port = free_port()
    config = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    for old, new in {
        'path = "knowledge/sample"': f'path = "{TEST_KB}"',
        'url = "sqlite+aiosqlite:///data/kefu.db"': f'url = "sqlite+aiosqlite:///{tmp_path}/k.db"',
        "port = 8080": f"port = {port}",
        '# secret = ""': 'secret = "browser-console-secret"',
        "admins = []": f"admins = [{ADMIN}]",
        'language = "zh"': 'language = "en"',
    }.items():
        assert old in config
        config = config.replace(old, new)
    path = tmp_path / "config.toml"
    path.write_text(config, encoding="utf-8")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    kefu = [sys.executable, "-m", "bot", "--config", str(path)]
    with (tmp_path / "kefu.log").open("w") as log:
        process = subprocess.Popen(
            [*kefu, "web"], stdout=subprocess.DEVNULL, stderr=log, env=environment
        )
        try:
            address = f"http://127.0.0.1:{port}"
            wait_until_healthy(address, process)
            printed = subprocess.run(
                [*kefu, "console", "link", str(ADMIN)],
                capture_output=True, text=True, env=environment, check=True, timeout=120,
            )  # fmt: skip
            link = printed.stdout.strip()
            assert link.startswith(f"{address}/console/sign-in?token=")
            page = await (await browser.new_context(locale="en-US")).new_page()
            page.set_default_timeout(WAIT_MS)
            await page.goto(link)
            await page.click("#sign-in")
            await expect(page.locator("h1")).to_have_text("Overview")
            await page.click("text=Tickets")
            await expect(page.locator("#count")).to_have_text("0 ticket(s), the newest first")
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
    assert process.returncode == 0, (tmp_path / "kefu.log").read_text()
