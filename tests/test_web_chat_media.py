"""Photos and files on the web chat, both ways, and what holds visitors to a rate: an agent's
photo or file from the ticket's topic shown on the visitor's page (and to no one else), a
visitor's photo or PDF uploaded from the page and relayed to the topic as a photo, uploads
refused by size and by kind, and the limit of one address. Real parts: the one web
application on 127.0.0.1, the web dispatcher, the fake Bot API for Telegram's side."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiohttp.test_utils import TestServer
from sqlmodel import select

from bot.app import Services, create_dispatcher, create_web_chat
from bot.channels.telegram import create_bot
from bot.privacy.retention import expire_old_texts
from bot.schedule.jobs import create_scheduler
from bot.web.app import create_web_app
from storage.models import (
    OPEN_STATUSES,
    Customer,
    Feedback,
    ScheduledKind,
    ScheduledMessage,
    ScheduledStatus,
    Ticket,
    TicketEvent,
    WebChatFile,
)
from tests.chat import AgentInGroup
from tests.conftest import TEST_KB, StartServices
from tests.fake_bot_api import FakeBotAPI
from tests.mocked_bot import MockedBot
from tests.test_web_chat import AGENT, WEB, Page, origin, serve_chat, talk_to_a_person, visit

GROUP = -100
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4  # a JPEG's first bytes
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
TELEGRAM = {
    'token = ""': 'token = "123456:TEST"',
    "group_id = 0": f"group_id = {GROUP}",
    "agents = []": f"agents = [{AGENT}]",
}


def png(width: int = 40, height: int = 30, rgb: tuple[int, int, int] = (220, 40, 40)) -> bytes:
    """A real PNG of one colour, for a browser to draw."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


async def upload(
    server: TestServer,
    page: Page,
    content: bytes,
    *,
    filename: str = "photo.jpg",
    caption: str | None = None,
    language: str = "en",
) -> tuple[int, dict[str, Any]]:
    """What the page's 📎 does: the file posted with the visitor's cookie; the status and the
    JSON answer."""
    form = aiohttp.FormData()
    form.add_field(
        "file", io.BytesIO(content), filename=filename, content_type="application/octet-stream"
    )
    if caption is not None:
        form.add_field("caption", caption)
    async with page.http.post(
        server.make_url(f"/chat/upload?lang={language}"),
        data=form,
        headers={"Origin": origin(server)},
    ) as response:
        return response.status, await response.json()


async def come_back(server: TestServer, http: aiohttp.ClientSession) -> Page:
    """The visitor of `http` opens the page again: the conversation so far in its history."""
    socket = await http.ws_connect(
        server.make_url("/chat/socket?lang=en"), headers={"Origin": origin(server)}
    )
    page = Page(http, socket)
    first = await page.frame()
    assert first["type"] == "history"
    page.history = first["messages"]
    return page


def attached(params: dict[str, Any], field: str) -> bytes:
    """The content of a file the bot uploaded to the fake Bot API ("attach://<part>")."""
    part = params[field].removeprefix("attach://")
    content: bytes = params[part]["content"]
    return content


class Desk:
    """kefu run's web chat beside Telegram (the fake Bot API), and the agent in the group."""

    def __init__(self, services: Services, fake: FakeBotAPI, bot: Bot, server: TestServer):
        self.services = services
        self.fake = fake
        self.bot = bot
        self.server = server
        self.alice = AgentInGroup(create_dispatcher(services), MockedBot(), AGENT, "Alice", GROUP)
        self.http: list[aiohttp.ClientSession] = []

    async def visitor(self) -> Page:
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.http.append(http)
        return await visit(self.server, http)

    async def ticket(self, page: Page) -> int:
        """The visitor talks to a person; the topic of their ticket."""
        await talk_to_a_person(page)
        card = await self.fake.wait_for_message(GROUP)
        return int(card["message_thread_id"])

    async def close(self) -> None:
        for http in self.http:
            await http.close()
        await self.server.close()
        await self.bot.session.close()


async def open_desk(start_services: StartServices, telegram: tuple[FakeBotAPI, str]) -> Desk:
    fake, url = telegram
    services = await start_services(
        kb=TEST_KB, replace={**WEB, **TELEGRAM, 'api_server = ""': f'api_server = "{url}"'}
    )
    bot = create_bot(services.config)
    server = await serve_chat(services, bot)
    return Desk(services, fake, bot, server)


@pytest.fixture
async def desk(
    start_services: StartServices, telegram: tuple[FakeBotAPI, str]
) -> AsyncIterator[Desk]:
    desk = await open_desk(start_services, telegram)
    yield desk
    await desk.close()


async def test_an_agent_s_photo_is_shown_on_the_visitor_s_page_and_to_no_one_else(
    desk: Desk,
) -> None:
    page = await desk.visitor()
    topic = await desk.ticket(page)
    photo = png()
    desk.fake.files["AgACAgPhoto1"] = photo
    await desk.alice.send_photo(topic, "AgACAgPhoto1", caption="Is this your parcel?")
    shown = await page.frame()
    assert shown["text"] == "Is this your parcel?"
    assert shown["media"]["kind"] == "photo"
    url = desk.server.make_url(f"/chat/file/{shown['media']['id']}")
    async with page.http.get(url) as response:
        assert response.status == 200
        assert response.content_type == "image/png"
        assert response.headers["Content-Disposition"].startswith("inline")
        assert await response.read() == photo
    # kept on the ticket as the agent's reply, with Telegram's file id
    async with desk.services.session_factory() as session:
        events = (await session.exec(select(TicketEvent.kind, TicketEvent.file_id))).all()
    assert ("reply", "AgACAgPhoto1") in events

    # another visitor, a forged cookie or none at all: not found, as for a file never made
    bob = await desk.visitor()
    async with bob.http.get(url) as response:
        assert response.status == 404
    async with aiohttp.ClientSession() as stranger, stranger.get(url) as response:
        assert response.status == 404
    forged = {"kefu_visitor": f"{page.visitor_id}.{'0' * 32}"}
    async with aiohttp.ClientSession(cookies=forged) as stranger, stranger.get(url) as response:
        assert response.status == 404
    # the page shows it again on the next visit
    again = await come_back(desk.server, page.http)
    assert again.history[-1]["media"] == shown["media"]


async def test_an_agent_s_file_is_a_download_and_one_too_large_is_told_to_the_agent(
    desk: Desk,
) -> None:
    page = await desk.visitor()
    topic = await desk.ticket(page)
    desk.fake.files["BQACAgInvoice"] = PDF
    await desk.alice.send_document(topic, "BQACAgInvoice", "invoice.pdf")
    shown = await page.frame()
    assert shown["media"]["kind"] == "document"
    async with page.http.get(
        desk.server.make_url(f"/chat/file/{shown['media']['id']}")
    ) as response:
        assert response.content_type == "application/pdf"
        assert response.headers["Content-Disposition"].startswith("attachment")
        assert await response.read() == PDF

    desk.fake.files["BQACAgHuge"] = b"%PDF-" + b"0" * (21 * 1024 * 1024)  # over file_max_mb
    await desk.alice.send_document(topic, "BQACAgHuge", "huge.pdf")
    [told] = desk.alice.bot.recorder.sent_messages()
    assert told.text == desk.services.texts("staff_file_too_large_for_web", "zh", limit="20")
    assert told.text.startswith("⚠️ 未送达：文件超过网页客服可显示的大小（最多 20 兆）")
    async with desk.services.session_factory() as session:
        kept = (await session.exec(select(WebChatFile.size))).all()
    assert kept == [len(PDF)]


async def test_a_visitor_s_photo_during_the_intake_reaches_the_topic_as_a_photo(
    desk: Desk,
) -> None:
    page = await desk.visitor()
    [question] = await page.write("talk to a human")
    await page.press(question, "Shipping")
    status, answer = await upload(desk.server, page, JPEG)
    assert (status, answer) == (200, {"ok": True})
    mine, kept = [f for f in await page.until_done()]
    assert mine["from"] == "visitor" and mine["media"]["kind"] == "photo"
    assert kept["text"] == "Photo received; it will go to the agent with your ticket."
    [order] = await page.write("the box arrived crushed")
    await page.press(order, "Skip")
    _, sent = await desk.fake.wait_for(lambda method, p: method == "sendphoto")
    assert int(sent["chat_id"]) == GROUP and sent["message_thread_id"]
    assert attached(sent, "photo") == JPEG
    async with desk.services.session_factory() as session:
        [ticket] = (await session.exec(select(Ticket))).all()
        events = (await session.exec(select(TicketEvent.kind, TicketEvent.media))).all()
    assert ticket.description == "the box arrived crushed"
    assert ("message", "photo") in events
    # the visitor's own photo opens on their page
    async with page.http.get(desk.server.make_url(f"/chat/file/{mine['media']['id']}")) as got:
        assert await got.read() == JPEG


async def test_a_pdf_on_an_open_ticket_reaches_the_topic_as_a_file_with_its_caption(
    desk: Desk,
) -> None:
    page = await desk.visitor()
    await desk.ticket(page)
    status, _ = await upload(desk.server, page, PDF, filename="receipt.pdf", caption="my receipt")
    assert status == 200
    _, sent = await desk.fake.wait_for(lambda method, p: method == "senddocument")
    assert attached(sent, "document") == PDF
    assert sent["caption"] == "my receipt"


async def test_uploads_too_large_or_of_another_kind_are_refused_in_the_visitor_s_language(
    desk: Desk,
) -> None:
    page = await desk.visitor()
    big = JPEG + b"0" * (5 * 1024 * 1024)
    status, answer = await upload(desk.server, page, big)
    assert status == 413
    assert answer["error"] == "That file is too large: at most 5 MB. Please send a smaller one."
    # a script named like a photo is told by its content
    status, answer = await upload(desk.server, page, b"<script>alert(1)</script>", language="zh")
    assert status == 415
    assert answer["error"] == "这里只能发送图片（JPEG、PNG 或 WebP）和 PDF 文件。"
    gif = b"GIF89a" + b"\x00" * 64
    assert (await upload(desk.server, page, gif, filename="a.png"))[0] == 415
    async with desk.services.session_factory() as session:
        assert (await session.exec(select(WebChatFile))).all() == []
    # without the visitor's cookie, or from another site: nothing is taken
    async with aiohttp.ClientSession() as stranger:
        form = aiohttp.FormData()
        form.add_field("file", JPEG, filename="x.jpg")
        own = {"Origin": origin(desk.server)}
        async with stranger.post(
            desk.server.make_url("/chat/upload"), data=form, headers=own
        ) as response:
            assert response.status == 401
    form = aiohttp.FormData()
    form.add_field("file", JPEG, filename="x.jpg")
    async with page.http.post(
        desk.server.make_url("/chat/upload"), data=form, headers={"Origin": "https://evil.example"}
    ) as response:
        assert response.status == 403


async def test_the_visitors_behind_one_address_share_its_limit(
    start_services: StartServices,
) -> None:
    services = await start_services(
        kb=TEST_KB,
        replace={**WEB, "ip_messages_per_minute = 120": "ip_messages_per_minute = 1",
                 "ip_burst = 60": "ip_burst = 3"},
    )  # fmt: skip
    server = await serve_chat(services)
    sessions = [aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) for _ in "abc"]
    try:
        ann, bob, carol = [await visit(server, http) for http in sessions]
        await ann.write("what are your opening hours")
        await bob.write("where is your shop")
        await carol.write("what are your opening hours")
        # each of them is far under their own [flood] rate, but together over the address's
        await ann.socket.send_json({"type": "write", "text": "how long does a refund take"})
        refused = await ann.frame()
        assert refused == {
            "type": "refused",
            "text": "Too many messages are coming from your network right now. "
            "Please wait a minute and try again.",
        }
        status, answer = await upload(server, bob, JPEG, language="zh")
        assert status == 429
        assert answer["error"] == services.texts("web_address_flood", "zh")
        # a minute later the address may send again
        services.clock.advance(timedelta(seconds=60))  # type: ignore[attr-defined]
        [answer_again] = await carol.write("where is your shop")
        assert answer_again["text"].startswith("We are at 88 Example Road")
    finally:
        for http in sessions:
            await http.close()
        await server.close()


async def resolved(desk: Desk, page: Page) -> Ticket:
    """The visitor's ticket, answered by the agent in its topic and resolved."""
    topic = await desk.ticket(page)
    await desk.alice.write(topic, "It arrives tomorrow.")
    assert (await page.frame())["text"] == "It arrives tomorrow."
    services = desk.services
    async with services.session_factory() as session:
        [ticket] = (await session.exec(select(Ticket))).all()
        await services.tickets.resolve(session, ticket, f"agent:{AGENT}")
        await session.commit()
    return ticket


async def test_a_survey_reaches_the_open_page_and_is_answered_there(desk: Desk) -> None:
    page = await desk.visitor()
    await resolved(desk, page)
    desk.services.clock.advance(timedelta(minutes=10))  # type: ignore[attr-defined]
    assert await desk.services.delivery.deliver_due(desk.bot) == 1
    survey = await page.frame()
    assert survey["text"].startswith("How did we do? Please rate the help you got")
    assert "T-000001" in survey["text"]
    assert [b["text"] for row in survey["buttons"] for b in row][-1] == "5 ⭐"
    frames = await page.press(survey, "5 ⭐")
    texts = [f["text"] for f in frames if "text" in f]
    assert "Thank you! Anything you would like to add? Write it here, or tap Skip." in texts
    async with desk.services.session_factory() as session:
        [feedback] = (await session.exec(select(Feedback))).all()
    assert feedback.score == 5
    # nothing of it went to Telegram: the visitor is not a Telegram user
    assert not [p for m, p in desk.fake.sent if str(p.get("chat_id")) == str(page.visitor_id)]


async def test_a_revisit_sent_while_the_page_was_closed_is_shown_and_answered_on_the_next_visit(
    desk: Desk,
) -> None:
    page = await desk.visitor()
    ticket = await resolved(desk, page)
    await page.socket.close()
    services = desk.services
    services.clock.advance(timedelta(days=3))  # type: ignore[attr-defined]
    await services.delivery.deliver_due(desk.bot)  # the survey (expired) and the revisit
    async with services.session_factory() as session:
        kinds = (
            await session.exec(
                select(ScheduledMessage.kind, ScheduledMessage.status).where(
                    ScheduledMessage.ticket_id == ticket.id
                )
            )
        ).all()
    assert (ScheduledKind.REVISIT, ScheduledStatus.SENT) in kinds
    again = await come_back(desk.server, page.http)
    revisit = again.history[-1]
    assert revisit["text"] == (
        "A few days ago we resolved your request T-000001. Is your problem fully solved?"
    )
    frames = await again.press(revisit, "No, not yet")
    texts = [f["text"] for f in frames if "text" in f]
    assert any(t.startswith("Sorry it is not solved yet. T-000001 is open again.") for t in texts)
    async with services.session_factory() as session:
        reopened = await session.get(Ticket, ticket.id)
    assert reopened is not None and reopened.status in OPEN_STATUSES


async def test_a_visitor_s_files_go_with_their_data(desk: Desk) -> None:
    page = await desk.visitor()
    status, _ = await upload(desk.server, page, JPEG)
    assert status == 200
    [mine] = [f for f in await page.until_done() if f.get("media")]
    url = desk.server.make_url(f"/chat/file/{mine['media']['id']}")
    async with page.http.get(url) as response:
        assert response.status == 200
    [confirm] = await page.write("/delete_me")
    await page.press(confirm, "Yes, erase my data")
    async with page.http.get(url) as response:
        assert response.status == 404
    async with desk.services.session_factory() as session:
        assert (await session.exec(select(WebChatFile))).all() == []


async def test_old_files_expire_with_the_old_texts(desk: Desk) -> None:
    page = await desk.visitor()
    assert (await upload(desk.server, page, JPEG))[0] == 200
    services = desk.services
    services.clock.advance(timedelta(days=366))  # type: ignore[attr-defined]
    await expire_old_texts(services.session_factory, services.clock, services.config.privacy)
    async with services.session_factory() as session:
        assert (await session.exec(select(WebChatFile))).all() == []


async def test_kefu_web_alone_sends_its_visitors_follow_ups_to_their_pages(
    start_services: StartServices,
) -> None:
    """`kefu web` with no Telegram token: nothing else would send them, so its scheduler
    delivers the web visitors' follow-ups through the web chat's bot."""
    services = await start_services(kb=TEST_KB, replace=WEB)
    assert not services.config.telegram.enabled
    routes = create_web_chat(services)
    assert routes is not None
    server = TestServer(create_web_app(services, chat=routes), host="127.0.0.1")
    await server.start_server()
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        page = await visit(server, http)
        await page.write("what are your opening hours")
        async with services.session_factory() as session:
            [customer] = (await session.exec(select(Customer))).all()
            assert customer.id is not None
            await services.schedule.add(
                session,
                key=f"nps:customer:{customer.id}",
                kind=ScheduledKind.NPS,
                customer_id=customer.id,
                due_at=services.clock.now(),
                lifetime=timedelta(days=7),
            )
            await session.commit()

        async def notify(result: object) -> None:
            return None

        scheduler = create_scheduler(services, notify, None, web_bot=routes.web.bot)
        job = scheduler.get_job("delivery")
        assert job is not None
        await job.func(*job.args)
        question = await page.frame()
        assert question["text"] == services.texts("nps_question", "en")
        assert [b["text"] for row in question["buttons"] for b in row][:3] == ["0", "1", "2"]
        assert create_scheduler(services, notify).get_job("delivery") is None
    finally:
        await http.close()
        await server.close()
