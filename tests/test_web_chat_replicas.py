"""The web chat on two replicas sharing the database and Redis: a frame for a visitor whose
page (its WebSocket) is held by the other replica reaches that page. Two instances of the one
web application, each with its own services, as two processes would have."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.app import Services, create_web_chat
from bot.web.app import create_web_app
from bot.web.chat import ChatRoutes
from tests.conftest import TEST_KB, StartServices
from tests.test_web_chat import WEB, Page, origin

REDIS_URL = os.environ.get("KEFU_TEST_REDIS_URL")
pytestmark = pytest.mark.skipif(not REDIS_URL, reason="KEFU_TEST_REDIS_URL is not set")


class Replica:
    def __init__(self, services: Services, routes: ChatRoutes, server: TestServer) -> None:
        self.services = services
        self.routes = routes
        self.server = server


@pytest.fixture
async def replicas(
    start_services: StartServices, write_config: object
) -> AsyncIterator[tuple[Replica, Replica]]:
    assert callable(write_config)
    config = write_config(
        kb=TEST_KB,
        replace={**WEB, '# redis_url = "redis://127.0.0.1:6379/0"': f'redis_url = "{REDIS_URL}"'},
    )
    started = []
    for _ in range(2):
        services = await start_services(config)
        routes = create_web_chat(services)
        assert routes is not None
        server = TestServer(create_web_app(services, chat=routes), host="127.0.0.1")
        await server.start_server()
        started.append(Replica(services, routes, server))
    yield started[0], started[1]
    for replica in started:
        await replica.server.close()


async def open_on(replica: Replica, http: aiohttp.ClientSession) -> Page:
    socket = await http.ws_connect(
        replica.server.make_url("/chat/socket?lang=en"), headers={"Origin": origin(replica.server)}
    )
    page = Page(http, socket)
    first = await page.frame()
    assert first["type"] == "history"
    page.history = first["messages"]
    return page


async def test_a_message_sent_by_one_replica_reaches_a_page_held_by_the_other(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(a.server.make_url("/chat")) as response:  # the cookie, from A
            assert response.status == 200
        for cookie in list(http.cookie_jar):  # the same site: B reads the cookie A signed
            http.cookie_jar.update_cookies({cookie.key: cookie.value}, b.server.make_url("/chat"))
        on_b = await open_on(b, http)
        # an agent's reply, or a survey, sent by replica A (its webhook call, its schedule)
        await a.routes.web.bot.send_message(on_b.visitor_id, "Your parcel arrives tomorrow.")
        frame = await on_b.frame()
        assert (frame["type"], frame["from"], frame["text"]) == (
            "message",
            "bot",
            "Your parcel arrives tomorrow.",
        )
        # the visitor's second tab, on A: what B answers reaches it too, once
        on_a = await open_on(a, http)
        [answer] = await on_b.write("what are your opening hours")
        assert answer["text"].startswith("We are open")
        seen = []
        while (frame := await on_a.frame())["type"] != "done":
            seen.append(frame["text"])
        assert seen == ["what are your opening hours", answer["text"]]
        # a page closed on B: A's frames are kept for the next visit, and nothing is lost
        await on_b.socket.close()
        await on_a.socket.close()
        await asyncio.sleep(0.2)  # the unsubscriptions reach Redis
        await a.routes.web.bot.send_message(on_b.visitor_id, "How did we do?")
        again = await open_on(b, http)
        assert again.history[-1]["text"] == "How did we do?"
        await again.socket.close()


async def test_another_visitor_s_frames_never_reach_a_page(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    sessions = [aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) for _ in "ab"]
    try:
        pages = []
        for http, replica in zip(sessions, (a, b), strict=True):
            async with http.get(replica.server.make_url("/chat")):
                pass
            pages.append(await open_on(replica, http))
        ann, bob = pages
        await a.routes.web.bot.send_message(bob.visitor_id, "for Bob")
        await b.routes.web.bot.send_message(ann.visitor_id, "for Ann")
        assert (await bob.frame())["text"] == "for Bob"
        assert (await ann.frame())["text"] == "for Ann"
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ann.socket.receive_json(), 0.5)
    finally:
        for http in sessions:
            await http.close()
