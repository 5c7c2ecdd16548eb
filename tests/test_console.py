"""The managers' web console through the one app factory (aiohttp_client): signing in with a
one-time link, the server's checks on every page and form (session, role read afresh, admin-only
actions, CSRF), what each page shows on a seeded database, masking and the audit log; /console
in Telegram through the real dispatcher, and `kefu console link`."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiogram.types import LinkPreviewOptions
from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import col, func, select

from bot.app import Services, create_console, create_dispatcher, create_services
from bot.clock import ManualClock
from bot.config import load_config
from bot.knowledge_admin.publishing import KnowledgeChange, Publication
from bot.texts import Texts
from bot.web.app import create_web_app
from bot.web.console.access import forget_old_sign_ins
from bot.web.console.reports import Table
from storage.models import (
    ConsoleLink,
    ConsoleSession,
    Incident,
    KnowledgeVersion,
    LearnedQuestion,
    ScheduledMessage,
    ScheduledStatus,
    StaffAccess,
    StaffRole,
    Ticket,
    TicketEvent,
)
from tests.chat import PrivateChat
from tests.conftest import Kefu, StartServices
from tests.console_seed import ADDRESS, HOSTILE, PHONE, QA_COMMENT, TEAMS_CONFIG, VIP, seed
from tests.mocked_bot import MockedBot

ADMIN, SUPERVISOR, AGENT, CUSTOMER = 900, 901, 902, 7001
ROLES = {
    "admins = []": f"admins = [{ADMIN}]",
    "supervisors = []": f"supervisors = [{SUPERVISOR}]",
    "agents = []": f"agents = [{AGENT}]",
    '# secret = ""': 'secret = "console-test-secret"',
    'language = "zh"': 'language = "en"',  # staff who never chose read the agents' language
    **TEAMS_CONFIG,
}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
async def services(start_services: StartServices, kb_copy: Path, database: str) -> Services:
    """On SQLite, and on PostgreSQL when KEFU_TEST_DATABASE_URL is set."""
    return await start_services(kb=kb_copy, database=database, replace=ROLES)


@pytest.fixture
async def seeded(services: Services) -> dict[str, int]:
    async with services.session_factory() as session:
        return await seed(session, services.clock.now())


@pytest.fixture
async def client(aiohttp_client: Callable[..., Any], services: Services) -> Any:
    return await aiohttp_client(create_web_app(services, console=create_console(services)))


async def link_token(services: Services, user_id: int) -> str:
    async with services.session_factory() as session:
        url = await services.console.new_link(session, user_id)
        await session.commit()
    assert url is not None
    assert url.startswith("http://127.0.0.1:0/console/sign-in?token=")
    return parse_qs(urlsplit(url).query)["token"][0]


async def sign_in(client: Any, services: Services, user_id: int) -> str:
    """Signs `user_id` in through a link, as the browser does; the page's CSRF token."""
    token = await link_token(services, user_id)
    page = await client.get(f"/console/sign-in?token={token}")
    assert page.status == 200
    response = await client.post("/console/sign-in", data={"token": token}, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/console"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie
    overview = await client.get("/console")
    assert overview.status == 200
    found = CSRF.search(await overview.text())
    assert found is not None
    return found.group(1)


async def test_a_link_signs_in_once_and_a_used_or_expired_link_is_refused(
    client: Any, services: Services, clock: ManualClock
) -> None:
    token = await link_token(services, SUPERVISOR)
    page = await client.get(f"/console/sign-in?token={token}")
    assert "This link signs you in once." in await page.text()
    # opening the page (a link preview does) spends nothing; pressing the button does
    signed = await client.post("/console/sign-in", data={"token": token})
    assert signed.status == 200 and "Service standards" in await signed.text()
    for again in (
        await client.get(f"/console/sign-in?token={token}"),
        await client.post("/console/sign-in", data={"token": token}),
    ):
        assert again.status == 403
        assert "has expired or was already used" in await again.text()
    late = await link_token(services, SUPERVISOR)
    clock.advance(timedelta(minutes=10, seconds=1))  # [console] link_minutes = 10
    assert (await client.get(f"/console/sign-in?token={late}")).status == 403
    refused = await client.post("/console/sign-in", data={"token": late})
    assert refused.status == 403
    assert "Send /console to the bot for a new one." in await refused.text()
    assert (await client.post("/console/sign-in", data={"token": "forged"})).status == 403


async def test_only_admins_and_supervisors_get_a_link(services: Services) -> None:
    async with services.session_factory() as session:
        assert await services.console.new_link(session, AGENT) is None
        assert await services.console.new_link(session, CUSTOMER) is None
        assert await services.console.new_link(session, ADMIN) is not None


async def test_no_page_without_a_session_and_the_session_ends(
    client: Any, services: Services, clock: ManualClock
) -> None:
    for path in ("/console", "/console/tickets", "/console/reports.csv?table=volume_by_day"):
        response = await client.get(path)
        assert response.status == 401
        assert "Send /console to the bot" in await response.text()
    client.session.cookie_jar.update_cookies({"kefu_console": "forged.0123"})
    assert (await client.get("/console")).status == 401
    client.session.cookie_jar.clear()

    csrf = await sign_in(client, services, ADMIN)
    [cookie] = [c for c in client.session.cookie_jar if c.key == "kefu_console"]
    signed_out = await client.post("/console/sign-out", data={"csrf": csrf})
    assert signed_out.status == 401  # back at /console, signed out
    client.session.cookie_jar.update_cookies({"kefu_console": cookie.value})
    assert (await client.get("/console")).status == 401  # the old cookie opens nothing

    await sign_in(client, services, ADMIN)
    clock.advance(timedelta(hours=12))  # [console] session_hours
    assert (await client.get("/console")).status == 401


async def test_a_demoted_supervisor_loses_access_at_the_next_request(
    client: Any, services: Services
) -> None:
    await sign_in(client, services, SUPERVISOR)
    assert (await client.get("/console/tickets")).status == 200
    unused = await link_token(services, SUPERVISOR)
    # as /role does on another replica: this process's RoleBook has not heard of it
    async with services.session_factory() as session:
        change = StaffRole(
            telegram_id=SUPERVISOR, role="agent", changed_by=ADMIN, changed_at=services.clock.now()
        )
        session.add(change)
        await session.commit()
    assert (await client.get("/console/tickets")).status == 401
    assert services.roles.role_of(SUPERVISOR) == "agent"  # and this process knows now
    refused = await client.post("/console/sign-in", data={"token": unused})
    assert refused.status == 403


async def test_a_supervisor_cannot_roll_back_the_knowledge_base(
    client: Any, services: Services, seeded: dict[str, int], kb_copy: Path
) -> None:
    before = (kb_copy / "shop.yaml").read_text(encoding="utf-8")
    csrf = await sign_in(client, services, SUPERVISOR)
    page = await client.get("/console/knowledge")
    text = await page.text()
    assert 'id="rollback"' not in text
    assert "Only admins may roll the knowledge base back." in text
    refused = await client.post("/console/knowledge/rollback", data={"csrf": csrf})
    assert refused.status == 403
    assert "Only admins may do this." in await refused.text()
    learned = await client.post(
        "/console/gaps/learned", data={"csrf": csrf, "id": "1", "decision": "approve"}
    )
    assert learned.status == 403
    assert (kb_copy / "shop.yaml").read_text(encoding="utf-8") == before
    async with services.session_factory() as session:
        count = select(func.count()).select_from(KnowledgeVersion)
        assert (await session.exec(count)).one() == 2  # the seeded two


async def test_an_admin_rolls_back_with_the_form_and_not_without_its_token(
    client: Any, services: Services, seeded: dict[str, int], kb_copy: Path
) -> None:
    csrf = await sign_in(client, services, ADMIN)
    page = await client.get("/console/knowledge?version=2")
    text = await page.text()
    assert 'id="rollback"' in text
    assert "+# returns within 7 days" in text  # the diff of version 2 against 1
    without = await client.post("/console/knowledge/rollback", data={})
    assert without.status == 403
    assert "did not come from the console" in await without.text()
    forged = await client.post("/console/knowledge/rollback", data={"csrf": "0" * 32})
    assert forged.status == 403
    done = await client.post("/console/knowledge/rollback", data={"csrf": csrf})
    assert done.status == 200
    assert "Back to version #1" in await done.text()
    assert (kb_copy / "shop.yaml").read_text(encoding="utf-8") == "entries: []\n"


async def test_the_language_switch_needs_its_token_and_then_speaks_chinese(
    client: Any, services: Services
) -> None:
    csrf = await sign_in(client, services, ADMIN)
    refused = await client.post("/console/language", data={"to": "zh", "next": "/console"})
    assert refused.status == 403
    switched = await client.post(
        "/console/language", data={"to": "zh", "next": "/console/tickets", "csrf": csrf}
    )
    assert switched.status == 200 and switched.url.path == "/console/tickets"
    text = await switched.text()
    assert "工单" in text and "全部状态" in text and "Any status" not in text
    elsewhere = await client.post(
        "/console/language", data={"to": "en", "next": "https://evil.example/", "csrf": csrf}
    )
    assert elsewhere.url.path == "/console"


async def test_the_overview_shows_the_standards_beside_the_period_before(
    client: Any, services: Services, seeded: dict[str, int]
) -> None:
    await sign_in(client, services, SUPERVISOR)
    text = await (await client.get("/console")).text()
    assert "2026-02-24 to 2026-03-02 (Asia/Shanghai), beside 2026-02-17 to 2026-02-23" in text
    for name in ("Settled at first contact", "First response on time", "Satisfaction (of 100)"):
        assert name in text
    assert "<th>Period before</th><th>Today</th>" in text
    assert text.count('<svg class="chart"') == 2
    assert "<polyline" in text
    bad = await client.get("/console?since=2026-03-05&until=2026-03-01")
    assert "The period must start before it ends" in await bad.text()


async def test_reports_show_every_table_and_download_each_as_csv(
    client: Any, services: Services, seeded: dict[str, int]
) -> None:
    await sign_in(client, services, SUPERVISOR)
    text = await (await client.get("/console/reports?since=2026-02-17&until=2026-03-02")).text()
    for title in (
        "Volume by day",
        "Tickets by hour of the day",
        "Tickets by category",
        "Volume by channel",
        "First-response times",
        "Resolution times",
        "Satisfaction by agent",
        "Satisfaction by category",
        "Tickets and complaints by cause",
        "Tickets and complaints by remedy",
    ):
        assert title in text
    csv = await client.get(
        "/console/reports.csv?table=satisfaction_by_agent&since=2026-02-17&until=2026-03-02"
    )
    assert csv.status == 200 and csv.headers["Content-Type"].startswith("text/csv")
    assert (
        "kefu-satisfaction_by_agent-2026-02-17-2026-03-02.csv"
        in csv.headers["Content-Disposition"]
    )
    rows = (await csv.text()).lstrip("\ufeff").splitlines()
    assert rows[0] == "Agent,Satisfaction (of 100)"
    assert {row.split(",")[0] for row in rows[1:]} == {"Lin", "Wang"}
    days = await client.get(
        "/console/reports.csv?table=volume_by_day&since=2026-02-17&until=2026-03-02"
    )
    assert len((await days.text()).splitlines()) == 1 + 14
    missing = await client.get("/console/reports.csv?table=passwords")
    assert missing.status == 404


async def test_tickets_are_filtered_and_one_is_read_masked_and_audited(
    client: Any, services: Services, seeded: dict[str, int]
) -> None:
    await sign_in(client, services, SUPERVISOR)
    parcel = f"T-{seeded['parcel']:06d}"
    found = await (await client.get("/console/tickets?q=parcel+never")).text()
    assert "1 ticket(s)" in found and parcel in found
    assert "138****8001" in found and PHONE not in found
    async with services.session_factory() as session:
        resolved_by_lin = (
            await session.exec(
                select(func.count()).where(
                    Ticket.status == "resolved", Ticket.assigned_agent == 501
                )
            )
        ).one()
    listed = await (await client.get("/console/tickets?status=resolved&agent=501")).text()
    assert f"{resolved_by_lin} ticket(s)" in listed and "Wang" not in listed.split("<tbody>")[1]

    page = await client.get(f"/console/tickets/{parcel}")
    text = await page.text()
    assert page.status == 200
    assert "Carrier says lost in Hangzhou hub" in text  # the internal note
    assert "Sorry! I have asked SF Express to look for it." in text
    assert "survey: 5 of 5 stars" in text and "Quick and kind" in text
    assert "138****8001" in text and PHONE not in text
    assert "**** Shanghai" in text and ADDRESS not in text
    hostile = await (await client.get(f"/console/tickets/T-{seeded['hostile']:06d}")).text()
    assert HOSTILE not in hostile and "&lt;script&gt;" in hostile
    assert (await client.get("/console/tickets/T-999999")).status == 404

    client.session.cookie_jar.clear()
    await sign_in(client, services, ADMIN)
    unmasked = await (await client.get(f"/console/tickets/{parcel}")).text()
    assert PHONE in unmasked and ADDRESS in unmasked
    async with services.session_factory() as session:
        audit = (await session.exec(select(StaffAccess).order_by(col(StaffAccess.id)))).all()
    assert [(a.actor, a.kind, a.detail) for a in audit] == [
        (f"supervisor:{SUPERVISOR}", "console", parcel),
        (f"supervisor:{SUPERVISOR}", "console", f"T-{seeded['hostile']:06d}"),
        (f"admin:{ADMIN}", "console", parcel),
    ]


async def test_the_knowledge_page_shows_what_the_matcher_does(
    client: Any, services: Services, seeded: dict[str, int]
) -> None:
    await sign_in(client, services, SUPERVISOR)
    text = await (await client.get("/console/knowledge?q=how+do+I+return+an+item")).text()
    assert "The bot would: <strong>answer</strong> → <code>returns</code>" in text
    assert "<code>returns</code>" in text.split('id="candidates"')[1]
    assert "Entries (5)" in text
    gaps = await (await client.get("/console/gaps")).text()
    assert "do you ship to Mars" in gaps and "unanswered 3" in gaps
    assert "can i send it back" in gaps  # learned, waiting; only admins get the buttons
    assert "Only admins may approve" in gaps


async def test_console_in_telegram_gives_admins_and_supervisors_a_link(
    services: Services, bot: MockedBot
) -> None:
    dispatcher = create_dispatcher(services, jobs=False)
    [link] = await PrivateChat(dispatcher, bot, SUPERVISOR, "en").say("/console")
    assert link.text.startswith("Your sign-in link to the web console (it works once, within 10")
    assert "http://127.0.0.1:0/console/sign-in?token=" in link.text
    assert isinstance(link.link_preview_options, LinkPreviewOptions)
    assert link.link_preview_options.is_disabled
    [refused] = await PrivateChat(dispatcher, bot, CUSTOMER, "zh").say("/console")
    assert refused.text == "抱歉，管理后台仅供管理员和主管使用。"


def test_kefu_console_link_prints_a_link(write_config: Callable[..., Path], kefu: Kefu) -> None:
    config = write_config(
        replace={
            "admins = []": f"admins = [{ADMIN}]",
            'public_url = ""': 'public_url = "https://kefu.shop.example/"',
        }
    )
    ran = kefu(config, "console", "link", str(ADMIN))
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("https://kefu.shop.example/console/sign-in?token=")
    refused = kefu(config, "console", "link", "12345")
    assert refused.returncode == 1
    assert "12345 is neither an admin nor a supervisor" in refused.stderr


def test_every_text_the_console_pages_ask_for_is_in_both_languages() -> None:
    texts = Texts.load()
    folder = Path(__file__).resolve().parent.parent / "bot" / "web" / "console" / "templates"
    used = {
        key
        for page in folder.glob("*.html")
        for key in re.findall(r"""\bt\(\s*["']([a-z][a-z0-9_]*)["']""", page.read_text("utf-8"))
        if not key.endswith("_")  # a family, completed below
    }
    standards = ("first_contact", "first_response", "resolution", "satisfaction", "nps")
    used |= {f"console_standard_{name}" for name in standards}
    used |= {f"console_decision_{d}" for d in ("answer", "suggest", "fallback")}
    used |= {f"console_reason_{r}" for r in ("unanswered", "unsure", "downvoted")}
    assert len(used) > 80
    for language in ("zh", "en"):
        assert sorted(used - texts.keys(language)) == [], language


async def test_an_admin_approves_a_learned_question_and_drafts_an_entry_for_a_gap(
    client: Any, services: Services, seeded: dict[str, int], kb_copy: Path
) -> None:
    csrf = await sign_in(client, services, ADMIN)
    gaps = await (await client.get("/console/gaps")).text()
    assert "id: new_question_1" in gaps and "- do you ship to Mars" in gaps
    async with services.session_factory() as session:
        [waiting] = (await session.exec(select(LearnedQuestion))).all()
    bad = await client.post(
        "/console/gaps/learned", data={"csrf": csrf, "id": "one", "decision": "approve"}
    )
    assert bad.status == 400 and "could not be read" in await bad.text()
    done = await client.post(
        "/console/gaps/learned", data={"csrf": csrf, "id": str(waiting.id), "decision": "approve"}
    )
    assert f"#{waiting.id} approved and published." in await done.text()
    assert "can i send it back" in (kb_copy / "learned.yaml").read_text(encoding="utf-8")
    tried = await (await client.get("/console/knowledge?q=can+i+send+it+back")).text()
    assert "The bot would: <strong>answer</strong> → <code>returns</code>" in tried


async def test_links_and_sessions_are_forgotten_a_day_after_they_end(
    client: Any, services: Services, clock: ManualClock
) -> None:
    await sign_in(client, services, ADMIN)  # a link spent, a session live
    await link_token(services, SUPERVISOR)  # a link never used
    assert await forget_old_sign_ins(services.session_factory, clock) == 0
    clock.advance(timedelta(hours=13))  # the session and both links have expired
    assert (await client.get("/console")).status == 401
    assert await forget_old_sign_ins(services.session_factory, clock) == 0  # kept for a day
    clock.advance(timedelta(days=1))
    assert await forget_old_sign_ins(services.session_factory, clock) == 3
    async with services.session_factory() as session:
        assert (await session.exec(select(func.count()).select_from(ConsoleSession))).one() == 0
        assert (await session.exec(select(func.count()).select_from(ConsoleLink))).one() == 0


def test_a_csv_cell_that_reads_as_a_formula_stays_text() -> None:
    table = Table("t", "T", ["Agent", "Score"], [["=HYPERLINK(1)", -3], ["Lin", 80.0]])
    assert table.csv().splitlines() == ["Agent,Score", "'=HYPERLINK(1),-3", "Lin,80.0"]


async def test_photos_sent_on_a_ticket_are_shown_from_telegram(
    aiohttp_client: Callable[..., Any], services: Services, seeded: dict[str, int], bot: MockedBot
) -> None:
    async with services.session_factory() as session:
        session.add(
            TicketEvent(
                ticket_id=seeded["parcel"], created_at=services.clock.now(),
                actor="customer:1", kind="message", detail="the box", media="photo",
                file_id="photo-1",
            )
        )  # fmt: skip
        await session.commit()
    bot.recorder.files["photo-1"] = b"\xff\xd8 a photo"
    client = await aiohttp_client(
        create_web_app(services, console=create_console(services, telegram=bot))
    )
    await sign_in(client, services, SUPERVISOR)
    parcel = f"T-{seeded['parcel']:06d}"
    text = await (await client.get(f"/console/tickets/{parcel}")).text()
    assert f'src="/console/tickets/{parcel}/photo?file=photo-1"' in text
    photo = await client.get(f"/console/tickets/{parcel}/photo?file=photo-1")
    assert photo.status == 200 and await photo.read() == b"\xff\xd8 a photo"
    assert photo.headers["Content-Type"] == "image/jpeg"
    # only a photo of that ticket: another ticket's number, or a file id never sent on it
    other = f"T-{seeded['hostile']:06d}"
    assert (await client.get(f"/console/tickets/{other}/photo?file=photo-1")).status == 404
    assert (await client.get(f"/console/tickets/{parcel}/photo?file=photo-2")).status == 404
    client.session.cookie_jar.clear()
    assert (await client.get(f"/console/tickets/{parcel}/photo?file=photo-1")).status == 401


async def test_without_telegram_a_photo_is_its_caption(
    client: Any, services: Services, seeded: dict[str, int]
) -> None:
    async with services.session_factory() as session:
        session.add(
            TicketEvent(
                ticket_id=seeded["parcel"], created_at=services.clock.now(),
                actor="customer:1", kind="message", detail="the box", media="photo",
                file_id="photo-1",
            )
        )  # fmt: skip
        await session.commit()
    await sign_in(client, services, SUPERVISOR)
    parcel = f"T-{seeded['parcel']:06d}"
    text = await (await client.get(f"/console/tickets/{parcel}")).text()
    assert "[photo] the box" in text and "<img" not in text
    assert (await client.get(f"/console/tickets/{parcel}/photo?file=photo-1")).status == 404


CONSOLE_OFF = {"session_hours.\nenabled = true": "session_hours.\nenabled = false"}


async def test_no_link_while_the_console_is_off(
    start_services: StartServices, bot: MockedBot
) -> None:
    services = await start_services(replace={**ROLES, **CONSOLE_OFF})
    dispatcher = create_dispatcher(services, jobs=False)
    [told] = await PrivateChat(dispatcher, bot, ADMIN, "en").say("/console")
    assert told.text.startswith("The web console is turned off ([console] enabled = false")
    assert create_console(services) is None


def test_no_link_from_the_command_line_while_the_console_is_off(
    write_config: Callable[..., Path], kefu: Kefu
) -> None:
    ran = kefu(write_config(replace={**ROLES, **CONSOLE_OFF}), "console", "link", str(ADMIN))
    assert ran.returncode == 1 and "the console is turned off" in ran.stderr


async def test_odd_queries_get_a_page_not_an_error(
    client: Any, services: Services, seeded: dict[str, int]
) -> None:
    await sign_in(client, services, SUPERVISOR)
    for path in (
        "/console/tickets?status=bogus&priority=%00&agent=99999999999999999999&since=yesterday",
        "/console/tickets?q=%25_%5C&category=<b>",
        "/console/knowledge?version=abc&q=" + "x" * 5000,
        "/console/gaps?days=-1",
        "/console/reports?since=2026-13-45",
    ):
        response = await client.get(path)
        assert response.status == 200, path
    assert "could not be read" in await (await client.get("/console?until=soon")).text()
    assert (await client.get("/console/tickets/not-a-number")).status == 404
    assert (await client.get("/console/tickets/T-99999999999")).status == 404


SCORECARD_LINE = re.compile(
    r"^\d+\. (?P<name>\w+): (?P<score>[\d.–]+) · tickets (?P<handled>\d+) · .*"
    r"CSAT (?P<csat>[\d.–]+) \((?P<answers>\d+) answers\) · QA (?P<qa>[\d.–]+) "
    r"\((?P<reviews>\d+) reviews\)$"
)


async def test_the_agents_page_shows_the_scorecards_of_scorecard_and_the_qa_results(
    client: Any, services: Services, seeded: dict[str, int], bot: MockedBot
) -> None:
    """The same period as /scorecard with no days (the last [report] days): the same agents,
    order, composite and figures; QA scored with its rubric, QA waiting, both linked."""
    dispatcher = create_dispatcher(services, jobs=False)
    [told] = await PrivateChat(dispatcher, bot, SUPERVISOR, "en").say("/scorecard")
    in_telegram = [
        m.groupdict() for line in told.text.splitlines() if (m := SCORECARD_LINE.match(line))
    ]
    assert {agent["name"] for agent in in_telegram} == {"Lin", "Wang"}

    await sign_in(client, services, SUPERVISOR)
    page = await client.get("/console/agents")
    assert page.status == 200
    text = await page.text()
    assert "2026-02-24 to 2026-03-02 (Asia/Shanghai), beside 2026-02-17 to 2026-02-23" in text
    download = await client.get("/console/agents.csv?since=2026-02-24&until=2026-03-02")
    assert download.status == 200 and download.headers["Content-Type"].startswith("text/csv")
    assert "kefu-agents-2026-02-24-2026-03-02.csv" in download.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO((await download.text()).lstrip("\ufeff"))))
    assert [row["Agent"] for row in rows] == [agent["name"] for agent in in_telegram]
    for row, agent in zip(rows, in_telegram, strict=True):
        for column, told_as in (
            ("Score", "score"),
            ("Tickets", "handled"),
            ("CSAT", "csat"),
            ("CSAT answers", "answers"),
            ("QA", "qa"),
            ("QA reviews", "reviews"),
        ):
            assert _number(row[column]) == _number(agent[told_as]), column
        assert row["Tickets (period before)"] != ""  # both worked the week before too
    lin = next(row for row in rows if row["Agent"] == "Lin")
    assert lin["QA"] == "92.0" and lin["QA reviews"] == "1"  # (5+4+5+4+5)/5 × 20
    # the page shows the same, with the top N and those below target marked
    for row in rows:
        shown = text.split(f"<td>{row['Agent']}</td>")[1].split("</tr>")[0]
        assert f"<strong>{float(row['Score']):g}<br>" in shown
        if row["Top"] == "yes":
            assert "top 3" in shown
        if row["Below target"] == "yes":
            assert "below 80" in shown
    assert any(row["Top"] == "yes" for row in rows)

    scored = text.split('id="qa-scored"')[1]
    number = f"T-{seeded['qa_scored']:06d}"
    assert f'<a href="/console/tickets/{number}">{number}</a>' in scored
    assert "Kind &lt;b&gt;and&lt;/b&gt; quick" in scored and QA_COMMENT not in text
    assert "<strong>92</strong>" in scored
    pending = text.split('id="qa-pending"')[1].split('id="qa-scored"')[0]
    waiting = f"T-{seeded['qa_pending']:06d}"
    assert f'href="/console/tickets/{waiting}"' in pending and "1/5" in pending
    opened = await client.get(f"/console/tickets/{number}")
    assert opened.status == 200


def _number(text: str) -> float | None:
    return None if text in ("", "–") else float(text)


async def test_the_agents_page_in_chinese_and_without_a_session(
    client: Any, services: Services, seeded: dict[str, int]
) -> None:
    assert (await client.get("/console/agents")).status == 401
    assert (await client.get("/console/agents.csv")).status == 401
    csrf = await sign_in(client, services, ADMIN)
    await client.post("/console/language", data={"to": "zh", "next": "/console", "csrf": csrf})
    text = await (await client.get("/console/agents")).text()
    assert "坐席考核" in text and "待评分的质检（1）" in text and "评语" in text
    download = await client.get("/console/agents.csv")
    header = (await download.text()).lstrip("\ufeff").splitlines()[0]
    assert header.startswith("名次,客服,综合得分,综合得分（上一周期）")
    wrong = await client.get("/console/agents.csv?since=2026-03-05&until=2026-03-01")
    assert wrong.status == 400


async def test_tickets_show_and_filter_by_team_and_show_the_vip_tier(
    client: Any, services: Services, seeded: dict[str, int]
) -> None:
    await sign_in(client, services, SUPERVISOR)
    async with services.session_factory() as session:
        logistics = (
            await session.exec(select(func.count()).where(Ticket.team == "logistics"))
        ).one()
    assert logistics > 0
    listed = await (await client.get("/console/tickets?team=logistics")).text()
    assert f"{logistics} ticket(s)" in listed
    assert '<option value="logistics" selected>Logistics</option>' in listed
    body = listed.split("<tbody>")[1]
    assert "<td>Logistics</td>" in body and "After-sales" not in body
    assert f"<td>{VIP}</td>" in body  # Mei's tier
    unknown = await (await client.get("/console/tickets?team=<b>nobody</b>")).text()
    assert "&lt;b&gt;" not in unknown  # an unknown team is no filter and is not echoed
    parcel = await (await client.get(f"/console/tickets/T-{seeded['parcel']:06d}")).text()
    assert '<dd id="team">Logistics</dd>' in parcel and f'<dd id="vip">{VIP}</dd>' in parcel


async def test_reports_add_tickets_and_satisfaction_by_team_with_csv(
    client: Any, services: Services, seeded: dict[str, int]
) -> None:
    await sign_in(client, services, SUPERVISOR)
    period = "since=2026-02-17&until=2026-03-02"
    text = await (await client.get(f"/console/reports?{period}")).text()
    assert "Tickets by team" in text and "Satisfaction by team" in text
    async with services.session_factory() as session:
        tickets = (await session.exec(select(Ticket))).all()
    by_team: dict[str, int] = {}
    for ticket in tickets:
        name = {"logistics": "Logistics", "after_sales": "After-sales"}.get(ticket.team or "")
        by_team[name or "No team"] = by_team.get(name or "No team", 0) + 1
    volume = await client.get(f"/console/reports.csv?table=volume_by_team&{period}")
    rows = list(csv.reader(io.StringIO((await volume.text()).lstrip("\ufeff"))))
    assert rows[0] == ["Team", "Tickets", "Resolved"]
    assert {row[0]: int(row[1]) for row in rows[1:]} == by_team
    assert [row[0] for row in rows[1:]][-1] == "No team"
    csat = await client.get(f"/console/reports.csv?table=satisfaction_by_team&{period}")
    rows = list(csv.reader(io.StringIO((await csat.text()).lstrip("\ufeff"))))
    assert rows[0] == ["Team", "Satisfaction (of 100)", "Answers"]
    assert "Logistics" in {row[0] for row in rows[1:]}
    for row in rows[1:]:
        assert 20 <= float(row[1]) <= 100 and int(row[2]) > 0


async def test_an_admin_starts_and_ends_an_incident_notice_from_the_console(
    client: Any, services: Services, clock: ManualClock
) -> None:
    csrf = await sign_in(client, services, ADMIN)
    page = await (await client.get("/console/incidents")).text()
    assert "No notice is in force." in page and 'id="start-form"' in page
    assert 'value="returns"' in page  # the knowledge base's entries to choose from
    form = {"csrf": csrf, "zh": "暴雨，发货延迟", "en": "Storm: deliveries <b>late</b>"}
    started = await client.post(
        "/console/incidents/start", data={**form, "hours": "6", "entries": "returns"}
    )
    assert started.status == 200
    text = await started.text()
    assert "is shown until" in text and "before the answers of returns and the fallback" in text
    assert "Storm: deliveries &lt;b&gt;late&lt;/b&gt;" in text and "<b>late" not in text
    [incident] = services.incidents.in_force()
    assert started.url.path_qs == f"/console/incidents?started={incident.id}"  # after a 303
    assert "is shown until" in await (await client.get(started.url.path_qs)).text()  # a reload
    assert len(services.incidents.in_force()) == 1  # starts nothing more
    assert incident.started_by == f"admin:{ADMIN}" and incident.entries == "returns"
    assert services.incidents.notice("returns", "zh") == "📢 暴雨，发货延迟"
    assert services.incidents.notice("shipping", "en") is None

    for refused_form, says in (
        ({**form, "hours": "0"}, "The hours must be a number more than 0 and at most 336."),
        ({**form, "hours": "nan"}, "The hours must be a number more than 0 and at most 336."),
        ({**form, "hours": "2", "en": "x" * 1001}, "has 1001 characters; a notice may have"),
        ({**form, "hours": "2", "zh": " "}, "A notice needs its text in Chinese and in English."),
        ({**form, "hours": "2", "entries": "nosuch"}, "No such knowledge-base entry: nosuch."),
    ):
        refused = await client.post("/console/incidents/start", data=refused_form)
        assert refused.status == 400
        assert says in await refused.text()
    assert len(services.incidents.in_force()) == 1
    without = await client.post("/console/incidents/start", data={**form, "csrf": ""})
    assert without.status == 403 and "did not come from the console" in await without.text()
    assert len(services.incidents.in_force()) == 1

    clock.advance(timedelta(hours=1))
    forged = await client.post("/console/incidents/end", data={"id": incident.id})
    assert forged.status == 403 and len(services.incidents.in_force()) == 1
    ended = await client.post("/console/incidents/end", data={"csrf": csrf, "id": incident.id})
    assert f"Ended: #{incident.id}." in await ended.text()
    assert services.incidents.in_force() == []
    async with services.session_factory() as session:
        row = await session.get(Incident, incident.id)
    assert row is not None and row.ended_by == f"admin:{ADMIN}"
    listed = await (await client.get("/console/incidents")).text()
    assert f"by admin:{ADMIN}" in listed and f'id="end-{incident.id}"' not in listed
    again = await client.post("/console/incidents/end", data={"csrf": csrf, "id": incident.id})
    assert "No notice is in force." in await again.text()


async def test_a_supervisor_reads_the_incidents_and_cannot_start_or_end_one(
    client: Any, services: Services
) -> None:
    async with services.session_factory() as session:
        incident = await services.incidents.start(
            session, zh="缺货", en="Out of stock", hours=4, by="cli"
        )
        await session.commit()
    csrf = await sign_in(client, services, SUPERVISOR)
    page = await (await client.get("/console/incidents")).text()
    assert "Out of stock" in page and "in force" in page
    assert "Only admins may start or end a notice." in page
    assert 'id="start-form"' not in page and f'id="end-{incident.id}"' not in page
    ended = await client.post("/console/incidents/end", data={"csrf": csrf, "id": incident.id})
    assert ended.status == 403 and "Only admins may do this." in await ended.text()
    started = await client.post(
        "/console/incidents/start", data={"csrf": csrf, "zh": "a", "en": "b", "hours": "1"}
    )
    assert started.status == 403
    assert [i.id for i in services.incidents.in_force()] == [incident.id]
    await client.post("/console/language", data={"to": "zh", "next": "/console", "csrf": csrf})
    chinese = await (await client.get("/console/incidents")).text()
    assert (
        "事件公告" in chinese
        and "生效中" in chinese
        and "只有管理员可以发布或结束公告。" in chinese
    )


async def test_an_admin_reads_the_broadcasts_and_cancels_one_in_progress(
    client: Any, services: Services, seeded: dict[str, int]
) -> None:
    async with services.session_factory() as session:
        draft, _ = await services.broadcasts.draft(
            session, "everyone", "仓库停电，发货延迟", "Warehouse <i>outage</i>", "cli"
        )
        assert draft.id is not None
        sending = await services.broadcasts.send(session, draft.id, "cli")
        await session.commit()
        number, recipients = draft.id, sending.recipients
    assert recipients == 4  # the seeded customers, on Telegram and the web

    csrf = await sign_in(client, services, SUPERVISOR)
    assert 'href="/console/broadcasts"' not in await (await client.get("/console")).text()
    for path in ("/console/broadcasts", f"/console/broadcasts/{number}"):
        refused = await client.get(path)
        assert refused.status == 403 and "Only admins may do this." in await refused.text()
    cancel = f"/console/broadcasts/{number}/cancel"
    assert (await client.post(cancel, data={"csrf": csrf})).status == 403
    client.session.cookie_jar.clear()

    csrf = await sign_in(client, services, ADMIN)
    listed = await (await client.get("/console/broadcasts")).text()
    row = listed.split(f'data-broadcast="{number}"')[1].split("</tr>")[0]
    assert "being sent" in row and "everyone" in row
    assert '<td class="number">4</td>' in row  # recipients, and waiting
    page = await (await client.get(f"/console/broadcasts/{number}")).text()
    assert 'data-count="waiting">4<' in page and 'data-count="delivered">0<' in page
    assert "Warehouse &lt;i&gt;outage&lt;/i&gt;" in page and 'id="cancel"' in page
    assert (await client.post(cancel, data={})).status == 403  # no CSRF token
    done = await client.post(cancel, data={"csrf": csrf})
    text = await done.text()
    assert done.status == 200 and f"Broadcast #{number} is cancelled" in text
    assert 'data-count="cancelled">4<' in text and 'data-count="waiting">0<' in text
    assert f"admin:{ADMIN}" in text.split('id="cancelled"')[1] and 'id="cancel"' not in text
    async with services.session_factory() as session:
        waiting = (
            await session.exec(
                select(func.count()).where(
                    ScheduledMessage.broadcast_id == number,
                    ScheduledMessage.status == ScheduledStatus.PENDING,
                )
            )
        ).one()
    assert waiting == 0
    again = await client.post(cancel, data={"csrf": csrf})
    assert "is no longer being sent" in await again.text()
    assert (await client.get("/console/broadcasts/999")).status == 404
    assert (await client.post("/console/broadcasts/999/cancel", data={"csrf": csrf})).status == 404


async def test_an_admin_writes_previews_and_sends_a_broadcast_once(
    client: Any, services: Services, seeded: dict[str, int]
) -> None:
    csrf = await sign_in(client, services, ADMIN)
    form = {"csrf": csrf, "segment": "open_tickets", "zh": "系统维护", "en": "Maintenance"}
    for wrong, says in (
        ({**form, "segment": "colour=red"}, "I cannot read &#34;colour=red&#34; as a condition."),
        ({**form, "en": ""}, "needs both a Chinese and an English text"),
        ({**form, "zh": "长" * 4097}, "has 4097 characters"),
    ):
        refused = await client.post("/console/broadcasts/draft", data=wrong)
        assert refused.status == 400 and says in await refused.text()
    assert (
        await client.post("/console/broadcasts/draft", data={**form, "csrf": ""})
    ).status == 403
    drafted = await client.post("/console/broadcasts/draft", data=form)
    assert drafted.status == 200 and drafted.url.path == "/console/broadcasts/1"
    page = await drafted.text()
    assert "draft, not sent" in page and 'id="send"' in page
    async with services.session_factory() as session:
        audience = await services.broadcasts.audience(session, "open_tickets")
    assert audience.reachable > 0
    assert f"Recipients: {audience.reachable} (" in page  # the preview's count
    assert await broadcasts_scheduled(services) == 0  # nothing in the schedule before Send

    forged = await client.post("/console/broadcasts/1/send", data={"csrf": "0" * 32})
    assert forged.status == 403 and await broadcasts_scheduled(services) == 0
    sent = await client.post("/console/broadcasts/1/send", data={"csrf": csrf})
    text = await sent.text()
    assert f"Broadcast #1 is on its way (recipients: {audience.reachable})" in text
    assert "being sent" in text and 'id="send"' not in text
    again = await client.post("/console/broadcasts/1/send", data={"csrf": csrf})
    assert "Broadcast #1 has already been sent." in await again.text()
    assert await broadcasts_scheduled(services) == audience.reachable  # once each

    client.session.cookie_jar.clear()
    csrf = await sign_in(client, services, SUPERVISOR)
    refused = await client.post("/console/broadcasts/draft", data={**form, "csrf": csrf})
    assert refused.status == 403


async def broadcasts_scheduled(services: Services) -> int:
    async with services.session_factory() as session:
        count = select(func.count()).where(col(ScheduledMessage.broadcast_id).is_not(None))
        return int((await session.exec(count)).one())


def test_the_knowledge_page_shows_the_latest_kb_eval(
    write_config: Callable[..., Path], kefu: Kefu, tmp_path: Path
) -> None:
    """`kefu kb eval` of the configured knowledge base is kept; the page shows its figures, and
    says when the knowledge base was published again since."""
    path = write_config(replace=ROLES)
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "- {text: how do i return an item, expect: returns}\n"
        "- {text: what is the capital of peru, expect: null}\n",
        encoding="utf-8",
    )
    ran = kefu(path, "kb", "eval", "--cases", str(cases), "--keep")
    assert ran.returncode == 0, ran.stderr

    async def pages() -> tuple[str, str]:
        clock = ManualClock(datetime.now(UTC))  # `kefu kb eval` went by the system clock
        services = await create_services(load_config(path, environ={}), clock=clock)
        try:
            app = create_web_app(services, console=create_console(services))
            async with TestClient(TestServer(app)) as client:
                await sign_in(client, services, SUPERVISOR)
                before = await (await client.get("/console/knowledge")).text()
                async with services.session_factory() as session:
                    session.add(
                        KnowledgeVersion(
                            created_at=clock.now() + timedelta(days=1),
                            author="telegram:900",
                            summary=Publication("upload", {"file": "faq.yaml"}).summary(
                                KnowledgeChange(changed=["returns"])
                            ),
                            files="{}",
                        )
                    )
                    await session.commit()
                after = await (await client.get("/console/knowledge")).text()
        finally:
            await services.close()
        return before, after

    before, after = asyncio.run(pages())
    evaluation = before.split('id="evaluation"')[1].split("</section>")[0]
    assert "on cases.yaml, with " in evaluation
    assert 'Cases: in scope / out of scope</th><td class="number">1 / 1' in evaluation
    assert 'Answered rightly</th><td class="number">100.0%' in evaluation
    assert 'Out of scope: fell back</th><td class="number">100.0%' in evaluation
    assert 'id="evaluation-stale"' not in before
    assert 'id="evaluation-stale"' in after
    assert "upload faq.yaml: changed 1: returns" in after  # the version, in the reader's words
