"""The web chat in a real browser: Debian's Chromium driven by Playwright, against a real
`kefu web` process on 127.0.0.1 (no Telegram token at all), and the widget on a plain shop page
served from another port."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiohttp import web
from sqlmodel import select

from storage.models import Feedback, Ticket
from tests.conftest import ROOT, TEST_KB, StartServices
from tests.fake_bot_api import FakeBotAPI
from tests.test_web import free_port
from tests.test_web_chat import AGENT
from tests.test_web_chat_media import GROUP, open_desk, png

if TYPE_CHECKING:
    from playwright.async_api import Browser, Locator, Page

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

SHOP_PORT = free_port()
SHOP = f"http://127.0.0.1:{SHOP_PORT}"
WAIT_MS = 30_000  # how long a page may take to show something before the test fails
START_SECONDS = 120  # how long `kefu web` may take to answer /healthz on a busy machine
# Screenshots of the widget go here when set (the README's come from a run with
# KEFU_SCREENSHOTS=docs); otherwise into the test's temporary folder.
SCREENSHOTS = os.environ.get("KEFU_SCREENSHOTS")


@pytest.fixture(scope="module")
def kefu_web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m bot web` with the small test knowledge base and a fresh SQLite database; its
    address."""
    folder = tmp_path_factory.mktemp("kefu_web")
    port = free_port()
    config = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    for old, new in {
        'path = "knowledge/sample"': f'path = "{TEST_KB}"',
        'url = "sqlite+aiosqlite:///data/kefu.db"': f'url = "sqlite+aiosqlite:///{folder}/k.db"',
        "port = 8080": f"port = {port}",
        '# secret = ""': 'secret = "browser-test-secret"',
        "allowed_origins = []": f'allowed_origins = ["{SHOP}"]',
    }.items():
        assert old in config
        config = config.replace(old, new)
    (folder / "config.toml").write_text(config, encoding="utf-8")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    log = (folder / "kefu.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(folder / "config.toml"), "web"],
        stdout=subprocess.DEVNULL, stderr=log, env=environment,
    )  # fmt: skip
    address = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(address, process)
        yield address
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        log.close()
    assert process.returncode == 0, (folder / "kefu.log").read_text()


def wait_until_healthy(address: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(START_SECONDS * 4):
        if process.poll() is not None:
            raise AssertionError(f"kefu web stopped at start: {process.returncode}")
        try:
            with urllib.request.urlopen(f"{address}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(0.25)
    raise AssertionError("kefu web did not answer /healthz")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with playwright_api.async_playwright() as playwright:
        # root (CI) cannot use Chromium's sandbox
        arguments = ["--no-sandbox"] if os.geteuid() == 0 else []
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=arguments)
        yield launched
        await launched.close()


async def ask(page: Page, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")


def last_bot(page: Page) -> Locator:
    return page.locator("#messages .message.bot").last


async def test_a_visitor_asks_presses_and_finds_the_conversation_after_a_reload(
    kefu_web: str, browser: Browser
) -> None:
    context = await browser.new_context(locale="en-US")
    page = await context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    await page.goto(f"{kefu_web}/chat")
    await expect(page.locator("#title")).to_have_text("Kefu Demo Shop customer service")
    await expect(page.locator("#messages .empty")).to_be_visible(timeout=WAIT_MS)

    await ask(page, "what are your opening hours")
    await expect(last_bot(page).locator(".bubble")).to_contain_text(
        "We are open Mon–Fri 9:00–18:00", timeout=WAIT_MS
    )
    await expect(page.locator("#typing")).to_be_hidden(timeout=WAIT_MS)

    # "did you mean": a suggestion pressed is answered; a vote is thanked
    await ask(page, "refund return")
    suggestions = last_bot(page)
    await expect(suggestions.locator(".bubble")).to_have_text(
        "I am not quite sure what you mean. Did you mean one of these?", timeout=WAIT_MS
    )
    await suggestions.get_by_role("button", name="how long does a refund take").click()
    answer = last_bot(page)
    await expect(answer.locator(".bubble")).to_contain_text(
        "Refunds reach your original payment method within 3-5 working days", timeout=WAIT_MS
    )
    await answer.get_by_role("button", name="👍 Yes").click()
    await expect(page.locator("#messages .message.note").last).to_have_text(
        "Thank you for your feedback!", timeout=WAIT_MS
    )
    await expect(answer.get_by_role("button", name="👍 Yes")).to_have_count(0)

    # markup is text, never HTML
    script = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    await ask(page, script)
    mine = page.locator("#messages .message.visitor").last
    await expect(mine.locator(".bubble")).to_have_text(script, timeout=WAIT_MS)
    await expect(page.locator("#typing")).to_be_hidden(timeout=WAIT_MS)
    assert await page.locator("#messages script, #messages img").count() == 0
    assert dialogs == []

    await page.reload()
    history = page.locator("#messages .message")
    await expect(history.first.locator(".bubble")).to_have_text(
        "what are your opening hours", timeout=WAIT_MS
    )
    await expect(page.locator("#messages .message.visitor").last.locator(".bubble")).to_have_text(
        script
    )
    assert dialogs == []
    await context.close()


async def test_a_chinese_browser_gets_a_chinese_page_that_fits_a_phone(
    kefu_web: str, browser: Browser
) -> None:
    context = await browser.new_context(
        locale="zh-CN", viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True
    )
    page = await context.new_page()
    await page.goto(f"{kefu_web}/chat")
    await expect(page.locator("#text")).to_have_attribute(
        "placeholder", "请输入您的问题…", timeout=WAIT_MS
    )
    await ask(page, "营业时间是几点")
    await expect(last_bot(page).locator(".bubble")).to_contain_text("营业时间：", timeout=WAIT_MS)
    wide = await page.evaluate("document.documentElement.scrollWidth")
    assert wide <= 375
    # the visitor's choice of language holds over the browser's
    await page.click("#language")
    await expect(page.locator("#send")).to_have_text("Send")
    await context.close()


def shop_page(kefu: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A shop</title>
<style>body {{ font: 16px sans-serif; margin: 40px; color: #333; }}</style></head>
<body><h1>Demo Shop</h1><p>Running shoes, T-shirts and more.</p>
<script src="{kefu}/widget.js" data-shop="demo" async></script>
</body></html>"""


@pytest.fixture
async def shop(kefu_web: str) -> AsyncIterator[str]:
    """A plain shop page, another origin than kefu's, with the widget's script tag."""
    page = shop_page(kefu_web)

    async def show(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", show)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", SHOP_PORT).start()
    yield SHOP
    await runner.cleanup()


async def test_the_widget_on_a_shop_page_opens_the_chat(
    shop: str, browser: Browser, tmp_path: Path
) -> None:
    context = await browser.new_context(locale="en-US", viewport={"width": 1000, "height": 760})
    page = await context.new_page()
    await page.goto(shop)
    opener = page.get_by_role("button", name="Chat with us")
    await opener.click()
    chat = page.frame_locator("iframe")
    await expect(chat.locator("#title")).to_have_text(
        "Kefu Demo Shop customer service", timeout=WAIT_MS
    )
    await chat.locator("#text").fill("where is your shop")
    await chat.locator("#text").press("Enter")
    await expect(chat.locator("#messages .message.bot").last.locator(".bubble")).to_contain_text(
        "We are at 88 Example Road, Shanghai", timeout=WAIT_MS
    )
    # the shop page's own content is untouched by the chat's styles
    assert await page.locator("h1").evaluate("e => getComputedStyle(e).color") == "rgb(51, 51, 51)"
    folder = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=folder / "web-chat-widget.png")
    await chat.locator("#close").click()
    await expect(page.locator("iframe")).to_be_hidden()
    await context.close()


async def test_a_visitor_sends_a_photo_and_a_file_of_another_kind_is_refused(
    kefu_web: str, browser: Browser, tmp_path: Path
) -> None:
    context = await browser.new_context(locale="en-US")
    page = await context.new_page()
    await page.goto(f"{kefu_web}/chat")
    await expect(page.locator("#messages .empty")).to_be_visible(timeout=WAIT_MS)
    await ask(page, "talk to a human")
    await last_bot(page).get_by_role("button", name="Shipping").click()
    await expect(last_bot(page).locator(".bubble")).to_have_text(
        "Please describe the problem in a few words.", timeout=WAIT_MS
    )
    photo = tmp_path / "parcel.png"
    photo.write_bytes(png(60, 40))
    await page.set_input_files("#file", photo)
    mine = page.locator("#messages .message.visitor img.photo").last
    await expect(mine).to_be_visible(timeout=WAIT_MS)
    assert await mine.evaluate("image => image.complete && image.naturalWidth") == 60
    await expect(last_bot(page).locator(".bubble")).to_have_text(
        "Photo received; it will go to the agent with your ticket.", timeout=WAIT_MS
    )
    # told by its content, not its name: a page of HTML called a photo is refused, in words
    fake = tmp_path / "photo.jpg"
    fake.write_text("<html><script>alert(1)</script></html>")
    await page.set_input_files("#file", fake)
    await expect(page.locator("#messages .message.note").last).to_have_text(
        "Only photos (JPEG, PNG or WebP) and PDF files can be sent here.", timeout=WAIT_MS
    )
    big = tmp_path / "big.png"
    big.write_bytes(png(60, 40) + b"\0" * (6 * 1024 * 1024))
    await page.set_input_files("#file", big)
    await expect(page.locator("#messages .message.note").last).to_have_text(
        "That file is too large: at most 5 MB. Please send a smaller one.", timeout=WAIT_MS
    )
    await expect(page.locator("#typing")).to_be_hidden(timeout=WAIT_MS)
    # the photo is still there after a reload
    await page.reload()
    again = page.locator("#messages .message.visitor img.photo").last
    await expect(again).to_be_visible(timeout=WAIT_MS)
    await context.close()


async def test_an_agent_s_photo_from_the_topic_is_shown_in_the_page(
    start_services: StartServices,
    telegram: tuple[FakeBotAPI, str],
    browser: Browser,
    tmp_path: Path,
) -> None:
    desk = await open_desk(start_services, telegram)
    try:
        context = await browser.new_context(locale="en-US")
        page = await context.new_page()
        await page.goto(str(desk.server.make_url("/chat")))
        await expect(page.locator("#messages .empty")).to_be_visible(timeout=WAIT_MS)
        await ask(page, "talk to a human")
        await last_bot(page).get_by_role("button", name="Shipping").click()
        await expect(last_bot(page).locator(".bubble")).to_have_text(
            "Please describe the problem in a few words.", timeout=WAIT_MS
        )
        await ask(page, "my parcel is lost")
        await last_bot(page).get_by_role("button", name="Skip").click()
        # the ticket is in the database once its handling is done (the typing dots go)
        await expect(page.locator("#typing")).to_be_hidden(timeout=WAIT_MS)
        card = await desk.fake.wait_for_message(GROUP)
        desk.fake.files["AgACAgBrowser"] = png(80, 50, (30, 160, 60))
        await desk.alice.send_photo(
            int(card["message_thread_id"]), "AgACAgBrowser", caption="Is this your parcel?"
        )
        answer = last_bot(page)
        await expect(answer.locator(".bubble")).to_have_text(
            "Is this your parcel?", timeout=WAIT_MS
        )
        image = answer.locator("img.photo")
        await expect(image).to_be_visible(timeout=WAIT_MS)
        assert await image.evaluate("image => image.complete && image.naturalWidth") == 80
        folder = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
        folder.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=folder / "web-chat-photo.png")
        await context.close()
    finally:
        await desk.close()


async def test_a_survey_is_answered_in_the_page_and_one_sent_while_it_was_closed_is_there_later(
    start_services: StartServices, telegram: tuple[FakeBotAPI, str], browser: Browser
) -> None:
    desk = await open_desk(start_services, telegram)
    services = desk.services
    try:
        context = await browser.new_context(locale="en-US")
        page = await context.new_page()
        await page.goto(str(desk.server.make_url("/chat")))
        await expect(page.locator("#messages .empty")).to_be_visible(timeout=WAIT_MS)
        await ask(page, "talk to a human")
        await last_bot(page).get_by_role("button", name="Shipping").click()
        await expect(last_bot(page).locator(".bubble")).to_have_text(
            "Please describe the problem in a few words.", timeout=WAIT_MS
        )
        await ask(page, "my parcel is lost")
        await last_bot(page).get_by_role("button", name="Skip").click()
        # the ticket is in the database once its handling is done (the typing dots go)
        await expect(page.locator("#typing")).to_be_hidden(timeout=WAIT_MS)
        card = await desk.fake.wait_for_message(GROUP)
        await desk.alice.write(int(card["message_thread_id"]), "It arrives tomorrow.")
        await expect(last_bot(page).locator(".bubble")).to_have_text(
            "It arrives tomorrow.", timeout=WAIT_MS
        )
        async with services.session_factory() as session:
            [ticket] = (await session.exec(select(Ticket))).all()
            await services.tickets.resolve(session, ticket, f"agent:{AGENT}")
            await session.commit()
        # the tab is closed when the survey is sent; it is there when the visitor comes back
        await page.close()
        services.clock.advance(timedelta(minutes=10))  # type: ignore[attr-defined]
        assert await services.delivery.deliver_due(desk.bot) == 1
        page = await context.new_page()
        await page.goto(str(desk.server.make_url("/chat")))
        survey = last_bot(page)
        await expect(survey.locator(".bubble")).to_contain_text(
            "How did we do? Please rate the help you got", timeout=WAIT_MS
        )
        await survey.get_by_role("button", name="5 ⭐").click()
        await expect(last_bot(page).locator(".bubble")).to_have_text(
            "Thank you! Anything you would like to add? Write it here, or tap Skip.",
            timeout=WAIT_MS,
        )
        await ask(page, "Very quick, thank you")
        await expect(last_bot(page).locator(".bubble")).to_have_text(
            "Thank you, we have passed it on.", timeout=WAIT_MS
        )
        async with services.session_factory() as session:
            [feedback] = (await session.exec(select(Feedback))).all()
        assert (feedback.score, feedback.comment) == (5, "Very quick, thank you")
        await context.close()
    finally:
        await desk.close()
