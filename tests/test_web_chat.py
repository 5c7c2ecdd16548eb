"""The web chat's protocol, through the one web application on a real aiohttp server on
127.0.0.1: each visitor is an aiohttp client with its own cookies and a WebSocket, as a
browser's page is; the updates go through the real web dispatcher and its handlers."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiohttp.test_utils import TestServer
from sqlmodel import select
from yarl import URL

from bot.app import Services, create_dispatcher, create_web_chat
from bot.channels.telegram import create_bot
from bot.channels.web_chat import FIRST_VISITOR_ID, MAX_TEXT
from bot.privacy.retention import expire_old_texts
from bot.web.app import create_web_app
from bot.web.chat import COOKIE, ChatRoutes
from storage.models import AnswerVote, Customer, Ticket, TicketEvent, WebChatEvent
from tests.chat import AgentInGroup
from tests.conftest import TEST_KB, StartServices
from tests.fake_bot_api import FakeBotAPI
from tests.mocked_bot import MockedBot

SECRET = "a-test-secret-for-cookies"
USER_SECRET = "the-shop-s-secret"
AGENT = 4501
WEB = {
    '# secret = ""': f'secret = "{SECRET}"',
    '# user_secret = ""': f'user_secret = "{USER_SECRET}"',
    "allowed_origins = []": 'allowed_origins = ["https://shop.example"]',
}
WAIT = 10.0  # seconds a frame may take before the test fails (a hang, not a timing)


class Page:
    """One open chat page: a visitor's cookies (kept by `http`) and its socket."""

    def __init__(self, http: aiohttp.ClientSession, socket: aiohttp.ClientWebSocketResponse):
        self.http = http
        self.socket = socket
        self.history: list[dict[str, Any]] = []

    async def frame(self) -> dict[str, Any]:
        frame: dict[str, Any] = await asyncio.wait_for(self.socket.receive_json(), WAIT)
        return frame

    async def until_done(self) -> list[dict[str, Any]]:
        """The frames pushed until the handling of what was sent is finished."""
        frames = []
        while (frame := await self.frame())["type"] != "done":
            frames.append(frame)
        return frames

    async def write(self, text: str) -> list[dict[str, Any]]:
        """The bot's messages in answer to `text` (after the page's own, echoed)."""
        await self.socket.send_json({"type": "write", "text": text})
        frames = await self.until_done()
        assert frames[0]["from"] == "visitor" and frames[0]["text"] == text
        return frames[1:]

    async def press(self, message: dict[str, Any], label: str) -> list[dict[str, Any]]:
        [data] = [b["data"] for row in message["buttons"] for b in row if b["text"] == label]
        await self.socket.send_json({"type": "press", "id": message["id"], "data": data})
        return await self.until_done()

    @property
    def visitor_id(self) -> int:
        cookie = next(c for c in self.http.cookie_jar if c.key == COOKIE)
        return int(cookie.value.split(".")[0])


def labels(message: dict[str, Any]) -> list[str]:
    return [button["text"] for row in message["buttons"] for button in row]


OpenPage = Callable[..., Awaitable[Page]]


@pytest.fixture
async def chat_services(start_services: StartServices) -> Services:
    return await start_services(kb=TEST_KB, replace=WEB)


@pytest.fixture
async def server(chat_services: Services) -> AsyncIterator[TestServer]:
    routes = create_web_chat(chat_services)
    assert isinstance(routes, ChatRoutes)
    server = TestServer(create_web_app(chat_services, chat=routes), host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


@pytest.fixture
async def open_page(server: TestServer) -> AsyncIterator[OpenPage]:
    """Open /chat and its socket, as a browser does; a new visitor unless `http` (the cookies
    of one already seen) is given."""
    sessions: list[aiohttp.ClientSession] = []

    async def open_page(
        http: aiohttp.ClientSession | None = None, *, query: str = "", language: str = "en"
    ) -> Page:
        if http is None:
            http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
            sessions.append(http)
        async with http.get(server.make_url(f"/chat{query}")) as response:
            assert response.status == 200
        socket = await http.ws_connect(
            server.make_url(f"/chat/socket?lang={language}"), headers={"Origin": origin(server)}
        )
        page = Page(http, socket)
        first = await page.frame()
        assert first["type"] == "history"
        page.history = first["messages"]
        return page

    yield open_page
    for session in sessions:
        await session.close()


async def handshake(http: aiohttp.ClientSession, url: URL, origin: str | None) -> int:
    """The status a WebSocket handshake gets (read as a plain answer: a refused one is)."""
    headers = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    if origin is not None:
        headers["Origin"] = origin
    async with http.get(url, headers=headers) as response:
        return response.status


def origin(server: TestServer) -> str:
    return f"http://127.0.0.1:{server.port}"


async def test_a_question_is_answered_and_the_customer_is_a_web_one(
    open_page: OpenPage, chat_services: Services
) -> None:
    page = await open_page()
    assert page.history == []
    [answer] = await page.write("what are your opening hours")
    assert answer["from"] == "bot"
    assert answer["text"].startswith("We are open Mon–Fri 9:00–18:00")
    assert labels(answer) == ["where is your shop", "👍 Yes", "👎 No"]
    async with chat_services.session_factory() as session:
        [customer] = (await session.exec(select(Customer))).all()
    assert (customer.channel, customer.external_id) == ("web", str(page.visitor_id))
    assert page.visitor_id >= FIRST_VISITOR_ID


async def test_a_suggestion_pressed_is_answered_and_a_vote_is_kept(
    open_page: OpenPage, chat_services: Services
) -> None:
    page = await open_page()
    [suggestions] = await page.write("refund return")
    assert suggestions["text"] == "I am not quite sure what you mean. Did you mean one of these?"
    assert "Talk to a person" in labels(suggestions)
    frames = await page.press(suggestions, labels(suggestions)[0])
    [answer] = [f for f in frames if f["type"] == "message"]
    assert answer["text"].endswith("Did this help?")
    frames = await page.press(answer, "👍 Yes")
    assert {"type": "note", "text": "Thank you for your feedback!", "alert": False} in frames
    [edit] = [f for f in frames if f["type"] == "edit"]
    assert edit["id"] == answer["id"] and labels(edit) == ["how long does a refund take"]
    async with chat_services.session_factory() as session:
        [vote] = (await session.exec(select(AnswerVote))).all()
    assert vote.helpful is True
    # the buttons are gone from the message: pressing one again is a stale button
    frames = await page.press(answer, "👍 Yes")
    assert frames == [{"type": "note", "text": "This button is no longer valid."}]


async def test_markup_comes_back_as_the_text_it_was(open_page: OpenPage) -> None:
    page = await open_page()
    script = "<script>alert(1)</script> & <b>bold</b>"
    replies = await page.write(script)  # asserts the echo is exactly what was written
    assert replies and replies[0]["from"] == "bot"
    again = await open_page(page.http)
    assert again.history[0]["text"] == script


async def test_a_visitor_never_sees_another_visitor_s_conversation(
    open_page: OpenPage, server: TestServer
) -> None:
    ann = await open_page()
    [answer] = await ann.write("what are your opening hours")
    bob = await open_page()
    assert bob.visitor_id != ann.visitor_id
    assert bob.history == []
    # Ann's buttons are not Bob's to press
    await bob.socket.send_json({"type": "press", "id": answer["id"], "data": "anything"})
    assert await bob.until_done() == [{"type": "note", "text": "This button is no longer valid."}]
    [data] = [b["data"] for row in answer["buttons"] for b in row if b["text"] == "👍 Yes"]
    await bob.socket.send_json({"type": "press", "id": answer["id"], "data": data})
    assert await bob.until_done() == [{"type": "note", "text": "This button is no longer valid."}]
    # what Bob writes, and its answer, reach Bob's page only
    await bob.write("where is your shop")
    await ann.write("how long does a refund take")  # Ann's next frames are her own
    # a cookie naming Ann without the server's signature is no one: the socket is refused
    forged = aiohttp.ClientSession(
        cookies={COOKIE: f"{ann.visitor_id}.{'0' * 32}"}, cookie_jar=aiohttp.CookieJar(unsafe=True)
    )
    async with forged:
        assert await handshake(forged, server.make_url("/chat/socket"), origin(server)) == 401
        async with forged.get(server.make_url("/chat")) as response:
            carol = response.cookies[COOKIE].value  # a new visitor
        assert not carol.startswith(f"{ann.visitor_id}.")
    again = await open_page(ann.http)
    texts = [m["text"] for m in again.history]
    assert "where is your shop" not in texts and "how long does a refund take" in texts


async def test_what_the_bot_sends_while_no_page_is_open_is_shown_on_the_next_visit(
    open_page: OpenPage, chat_services: Services, server: TestServer
) -> None:
    page = await open_page()
    await page.write("what are your opening hours")
    await page.socket.close()
    web_chat = _web_chat(server)
    await web_chat.bot.send_message(page.visitor_id, "How did we do? 1 to 5 stars")
    again = await open_page(page.http)
    assert [m["text"] for m in again.history][0] == "what are your opening hours"
    assert again.history[-1]["text"] == "How did we do? 1 to 5 stars"
    assert again.history[-1]["from"] == "bot"


def _web_chat(server: TestServer) -> Any:
    """The web chat behind the server's routes (the socket handler's bound instance)."""
    for route in server.app.router.routes():
        owner = getattr(route.handler, "__self__", None)
        if isinstance(owner, ChatRoutes):
            return owner.web
    raise AssertionError("no chat routes")


async def test_a_message_too_long_is_refused_and_not_kept(
    open_page: OpenPage, chat_services: Services
) -> None:
    page = await open_page()
    await page.socket.send_json({"type": "write", "text": "x" * (MAX_TEXT + 1)})
    refused = await page.frame()
    assert refused == {
        "type": "refused",
        "text": "That message is too long: at most 4096 characters. Please send it in parts.",
    }
    [answer] = await page.write("x" * MAX_TEXT)  # at the limit is fine
    assert answer["from"] == "bot"
    async with chat_services.session_factory() as session:
        kept = (await session.exec(select(WebChatEvent.text))).all()
    assert "x" * (MAX_TEXT + 1) not in kept


async def test_a_visitor_over_the_flood_limit_is_told_so(
    start_services: StartServices,
) -> None:
    services = await start_services(
        kb=TEST_KB, replace={**WEB, "messages_per_minute = 20": "messages_per_minute = 1"}
    )
    routes = create_web_chat(services)
    assert routes is not None
    server = TestServer(create_web_app(services, chat=routes), host="127.0.0.1")
    await server.start_server()
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        async with http.get(server.make_url("/chat")):
            pass
        socket = await http.ws_connect(
            server.make_url("/chat/socket?lang=zh"), headers={"Origin": origin(server)}
        )
        page = Page(http, socket)
        await page.frame()
        for _ in range(10):  # the burst
            await page.write("营业时间是几点")
        await socket.send_json({"type": "write", "text": "营业时间是几点"})
        notice = await page.frame()
        assert notice == {"type": "refused", "text": services.texts("flood_notice", "zh")}
        assert notice["text"].startswith("您发送消息太快了")
    finally:
        await http.close()
        await server.close()


async def test_sockets_from_other_sites_are_refused(server: TestServer) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(server.make_url("/chat")) as response:
            assert (
                "frame-ancestors 'self' https://shop.example"
                in (response.headers["Content-Security-Policy"])
            )
        for stranger in ("https://evil.example", None):
            assert await handshake(http, server.make_url("/chat/socket"), stranger) == 403
        socket = await http.ws_connect(
            server.make_url("/chat/socket"), headers={"Origin": "https://shop.example"}
        )
        assert (await socket.receive_json(timeout=WAIT))["type"] == "history"
        await socket.close()


def shop_signature(user: str, expires: int, secret: str = USER_SECRET) -> str:
    """As the README tells a shop to compute it, on its server."""
    return hmac.new(secret.encode(), f"{user}:{expires}".encode(), hashlib.sha256).hexdigest()


async def test_a_shop_s_signed_user_is_the_same_visitor_on_every_device(
    open_page: OpenPage, chat_services: Services
) -> None:
    expires = int(chat_services.clock.now().timestamp()) + 3600
    signed = f"?embed=1&user=alice-42&expires={expires}&signature="
    laptop = await open_page(query=signed + shop_signature("alice-42", expires))
    await laptop.write("what are your opening hours")
    phone = await open_page(query=signed + shop_signature("alice-42", expires))
    assert phone.visitor_id == laptop.visitor_id
    assert phone.history[0]["text"] == "what are your opening hours"
    # a wrong signature, or a past expiry, is a visitor of its own
    stranger = await open_page(query=signed + shop_signature("alice-42", expires, "guess"))
    assert stranger.visitor_id != laptop.visitor_id and stranger.history == []
    past = int(chat_services.clock.now().timestamp()) - 1
    late = await open_page(
        query=f"?user=alice-42&expires={past}&signature={shop_signature('alice-42', past)}"
    )
    assert late.visitor_id != laptop.visitor_id and late.history == []


async def test_the_page_speaks_the_visitor_s_language(open_page: OpenPage) -> None:
    page = await open_page(language="zh")
    [answer] = await page.write("营业时间是几点")
    assert answer["text"].startswith("营业时间：")
    async with page.http.get(page.socket._response.url.with_path("/chat/texts")) as response:
        words = await response.json()
    assert words["zh"]["web_send"] == "发送" and words["en"]["web_send"] == "Send"


async def test_a_copy_of_my_data_comes_as_a_file(open_page: OpenPage) -> None:
    page = await open_page()
    await page.write("what are your opening hours")
    frames = await page.write("/my_data")
    [file] = [f for f in frames if "file" in f]
    assert file["file"]["name"].endswith(".html")
    assert file["text"].startswith("📎 ")


async def talk_to_a_person(page: Page) -> list[dict[str, Any]]:
    """Through the intake, as a visitor: "talk to a human", a category, a description, no
    order; the frames of the last step."""
    [question] = await page.write("talk to a human")
    assert question["text"] == "I will pass you to a person. What is it about?"
    frames = await page.press(question, "Shipping")
    [describe] = [f for f in frames if f["type"] == "message"]
    assert describe["text"] == "Please describe the problem in a few words."
    [order] = await page.write("my parcel is lost")
    return await page.press(order, "Skip")


async def serve_chat(services: Services, telegram: Bot | None = None) -> TestServer:
    routes = create_web_chat(services, telegram)
    assert routes is not None
    server = TestServer(create_web_app(services, chat=routes), host="127.0.0.1")
    await server.start_server()
    return server


async def test_talk_to_a_person_opens_a_ticket_whose_topic_is_on_telegram(
    start_services: StartServices, telegram: tuple[FakeBotAPI, str], open_page: OpenPage
) -> None:
    """`kefu run`: the web visitor's ticket gets its topic and card in the agents' group, and
    what the visitor writes next is relayed there, as text."""
    fake, url = telegram
    services = await start_services(
        kb=TEST_KB,
        replace={
            **WEB,
            'token = ""': 'token = "123456:TEST"',
            'api_server = ""': f'api_server = "{url}"',
            "group_id = 0": "group_id = -100",
            "agents = []": f"agents = [{AGENT}]",
        },
    )
    bot = create_bot(services.config)
    server = await serve_chat(services, bot)
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        page = await visit(server, http)
        frames = await talk_to_a_person(page)
        [opened] = [f for f in frames if f["type"] == "message"]
        assert "T-000001" in opened["text"]
        assert not any("Sorry" in f.get("text", "") for f in frames)
        await fake.wait_for(lambda method, p: method == "createforumtopic")
        card = await fake.wait_for_message(-100)
        assert "T-000001" in card["text"]
        start = len(fake.sent)
        await page.write("it was due on Monday")
        relayed = await fake.wait_for_message(-100, start=start)
        assert relayed["text"] == "it was due on Monday"

        # the agent answers in the topic (Telegram's update, through the Telegram dispatcher):
        # the answer appears on the visitor's page, and is kept on the ticket
        alice = AgentInGroup(create_dispatcher(services), MockedBot(), AGENT, "Alice", -100)
        await alice.write(int(card["message_thread_id"]), "We found it, it arrives tomorrow.")
        reply = await page.frame()
        assert (reply["type"], reply["text"]) == ("message", "We found it, it arrives tomorrow.")
        async with services.session_factory() as session:
            [ticket] = (await session.exec(select(Ticket))).all()
            events = (await session.exec(select(TicketEvent.kind, TicketEvent.detail))).all()
        assert ("reply", "We found it, it arrives tomorrow.") in events
        assert ticket.first_response_at is not None
        async with services.session_factory() as session:  # as Resolve does
            told = await services.handoff.tell_customer(
                session, MockedBot(), ticket, "ticket_told_resolved"
            )
        notice = await page.frame()
        assert told and notice["text"].startswith("Our agent has marked your request T-000001 as")
    finally:
        await http.close()
        await server.close()
        await bot.session.close()


async def test_talk_to_a_person_opens_a_ticket_without_telegram(
    start_services: StartServices,
) -> None:
    """No Telegram here but an agents' group configured (what `kefu web` avoids by leaving
    the group out): the ticket is kept, the visitor gets the apology, never silence."""
    services = await start_services(kb=TEST_KB, replace={**WEB, "group_id = 0": "group_id = -100"})
    server = await serve_chat(services)
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        page = await visit(server, http)
        frames = await talk_to_a_person(page)
        texts = [f["text"] for f in frames if f["type"] == "message"]
        assert texts == [services.texts("error", "en")]
        async with services.session_factory() as session:
            [ticket] = (await session.exec(select(Ticket))).all()
        assert ticket.channel == "web" and ticket.description == "my parcel is lost"
    finally:
        await http.close()
        await server.close()


async def visit(server: TestServer, http: aiohttp.ClientSession) -> Page:
    async with http.get(server.make_url("/chat")):
        pass
    socket = await http.ws_connect(
        server.make_url("/chat/socket?lang=en"), headers={"Origin": origin(server)}
    )
    page = Page(http, socket)
    assert (await page.frame())["type"] == "history"
    return page


async def test_erased_data_is_gone_from_the_page_and_old_texts_expire(
    open_page: OpenPage, chat_services: Services
) -> None:
    ann = await open_page()
    await ann.write("what are your opening hours")
    bob = await open_page()
    await bob.write("where is your shop")
    [confirm] = await ann.write("/delete_me")
    frames = await ann.press(confirm, "Yes, erase my data")
    [done] = [f for f in frames if f["type"] == "message"]
    again = await open_page(ann.http)
    assert [m["text"] for m in again.history] == [done["text"]]
    # what is older than [privacy] keep_message_text_days goes, on the web chat's page too
    chat_services.clock.advance(timedelta(days=366))  # type: ignore[attr-defined]
    await expire_old_texts(
        chat_services.session_factory, chat_services.clock, chat_services.config.privacy
    )
    assert (await open_page(bob.http)).history == []


@contextlib.asynccontextmanager
async def kefu(config: Path, *arguments: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m bot --config CONFIG ARGUMENTS...` as a real process, stopped by SIGTERM."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(config), *arguments,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=environment,
    )  # fmt: skip
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)


async def listening(process: asyncio.subprocess.Process) -> tuple[str, list[str]]:
    """The address the process says it listens on, and its log lines until then."""
    assert process.stderr is not None
    lines = []
    while line := (await asyncio.wait_for(process.stderr.readline(), 120)).decode():
        lines.append(line)
        if "web: listening on " in line:
            return line.split("web: listening on ")[1].split()[0], lines
    raise AssertionError(f"it stopped before listening: {''.join(lines)}")


async def chat_over_http(address: str) -> list[dict[str, Any]]:
    """Open the page and its socket at `address` and ask one question; the bot's messages."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{address}/chat") as response:
            assert response.status == 200
        socket = await http.ws_connect(
            f"{address}/chat/socket?lang=en", headers={"Origin": address}
        )
        page = Page(http, socket)
        assert (await page.frame())["type"] == "history"
        answer = await page.write("what are your opening hours")
        await socket.close()
        return answer


@pytest.mark.slow
async def test_kefu_web_serves_the_chat_with_no_telegram_token(
    write_config: Callable[..., Path],
) -> None:
    config = write_config(kb=TEST_KB)
    async with kefu(config, "web") as process:
        address, lines = await listening(process)
        [answer] = await chat_over_http(address)
        assert answer["text"].startswith("We are open")
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)
    assert process.returncode == 0
    assert any("visitors will not be recognised after a restart" in line for line in lines)


@pytest.mark.slow
async def test_kefu_run_serves_the_chat_beside_telegram(
    write_config: Callable[..., Path], telegram: tuple[FakeBotAPI, str]
) -> None:
    fake, api = telegram
    config = write_config(
        kb=TEST_KB,
        replace={
            **WEB,
            'token = ""': 'token = "123456:TEST"',
            'api_server = ""': f'api_server = "{api}"',
        },
    )
    async with kefu(config, "run") as process:
        address, lines = await listening(process)
        [answer] = await chat_over_http(address)
        assert answer["text"].startswith("We are open")
        fake.push_message(7001, "what are your opening hours", language_code="en")
        telegram_answer = await fake.wait_for_message(7001, timeout=60)
        assert telegram_answer["text"] == answer["text"]
    assert not any("made up" in line for line in lines)


async def test_a_broadcast_reaches_a_visitor_s_page_and_its_button_stops_them(
    open_page: OpenPage, chat_services: Services, server: TestServer
) -> None:
    """Delivered by the schedule through the web chat's bot (the Telegram bot given to the
    delivery sends nothing); the button under it works on the page as in Telegram."""
    page = await open_page()
    await page.write("what are your opening hours")
    broadcasts = chat_services.broadcasts
    async with chat_services.session_factory() as session:
        draft, _ = await broadcasts.draft(
            session, "everyone", "暂停发货", "Shipping paused", "cli"
        )
        assert draft.id is not None
        await broadcasts.send(session, draft.id, "cli")
        await session.commit()
    telegram = MockedBot()
    assert await chat_services.delivery.deliver_due(telegram) == 1
    assert telegram.recorder.sent_messages() == []
    notice = await page.frame()
    assert (notice["from"], notice["text"]) == ("bot", "Shipping paused")
    assert labels(notice) == ["🔕 Stop these messages"]
    frames = await page.press(notice, "🔕 Stop these messages")
    told = [f for f in frames if f["type"] == "message"]
    assert told[-1]["text"].startswith("Done: you will not get these announcements any more.")
    async with chat_services.session_factory() as session:
        [customer] = (await session.exec(select(Customer))).all()
    assert customer.broadcasts_opt_out
