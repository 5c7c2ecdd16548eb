"""kefu's web application: the Telegram webhook with its secret, and the operations endpoints
(/healthz, /readyz, /metrics), through the one app factory; then `kefu run --webhook` as a real
process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram.methods import SendMessage
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import func, select

from bot.app import Services, create_dispatcher
from bot.clock import ManualClock
from bot.middlewares.redelivery import forget_delivered_updates
from bot.web.app import SECRET_HEADER, create_web_app
from storage.database import create_engine
from storage.models import Message
from tests.conftest import POSTGRES_URL, TEST_KB, StartServices, _reset_postgres
from tests.fake_bot_api import FakeBotAPI
from tests.forwarder import Forwarder, forwarded_postgres
from tests.mocked_bot import MockedBot

SECRET = "s3cret_for-tests"
WEBHOOK = {
    'mode = "polling"': 'mode = "webhook"',
    'webhook_url = ""': 'webhook_url = "https://shop.example/telegram/webhook"',
    '# webhook_secret = ""': f'webhook_secret = "{SECRET}"',
}
CHAT = 7001


def private_update(update_id: int, text: str, chat_id: int = CHAT) -> dict[str, Any]:
    user = {"id": chat_id, "is_bot": False, "first_name": "Ann", "language_code": "en"}
    chat = {"id": chat_id, "type": "private", "first_name": "Ann"}
    message = {"message_id": update_id, "date": 1_700_000_000, "chat": chat, "from": user}
    return {"update_id": update_id, "message": {**message, "text": text}}


def sample(text: str, name: str, labels: dict[str, str]) -> float | None:
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return found.value
    return None


@pytest.fixture
async def webhook_services(start_services: StartServices) -> Services:
    return await start_services(replace=WEBHOOK, kb=TEST_KB)


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Any], webhook_services: Services, bot: MockedBot
) -> Any:
    # the timed jobs are not what these tests look at (the process test below runs them)
    dispatcher = create_dispatcher(webhook_services, jobs=False)
    app = create_web_app(webhook_services, dispatcher=dispatcher, bot=bot)
    return await aiohttp_client(app)


async def messages_stored(services: Services) -> int:
    async with services.session_factory() as session:
        return (await session.exec(select(func.count()).select_from(Message))).one()


async def test_an_update_with_the_secret_is_answered(
    client: Any, bot: MockedBot, webhook_services: Services
) -> None:
    response = await client.post(
        "/telegram/webhook",
        json=private_update(1, "how do i return an item"),
        headers={SECRET_HEADER: SECRET},
    )
    assert response.status == 200
    [reply] = [r for r in bot.recorder.requests if isinstance(r, SendMessage)]
    assert reply.chat_id == CHAT
    assert reply.text.startswith("You can return items within 7 days")


@pytest.mark.parametrize("secret", ["wrong", None])
async def test_an_update_without_the_right_secret_is_refused_and_changes_nothing(
    client: Any,
    bot: MockedBot,
    webhook_services: Services,
    secret: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    headers = {SECRET_HEADER: secret} if secret else {}
    text = "my phone is 13812345678, how do i return an item"
    response = await client.post(
        "/telegram/webhook", json=private_update(2, text), headers=headers
    )
    assert response.status == 401
    assert bot.recorder.requests == []
    assert await messages_stored(webhook_services) == 0
    assert "refused a call" in caplog.text
    assert "13812345678" not in caplog.text


async def test_health_and_readiness(client: Any) -> None:
    alive = await client.get("/healthz")
    assert alive.status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert await ready.json() == {
        "ready": True,
        "checks": {"database": "ok", "knowledge_base": "ok"},
    }


async def test_metrics_parse_and_move_as_updates_are_handled(
    client: Any, webhook_services: Services
) -> None:
    before = await (await client.get("/metrics")).text()
    labels = {"type": "message", "outcome": "handled"}
    assert sample(before, "kefu_updates_total", labels) is None
    assert sample(before, "kefu_tickets", {"status": "new"}) == 0

    for number, text in enumerate(["how do i return an item", "what's the weather on mars"]):
        await client.post(
            "/telegram/webhook",
            json=private_update(10 + number, text),
            headers={SECRET_HEADER: SECRET},
        )
    response = await client.get("/metrics")
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    after = await response.text()
    assert sample(after, "kefu_updates_total", labels) == 2
    assert sample(after, "kefu_update_seconds_count", {"type": "message"}) == 2
    assert sample(after, "kefu_match_decisions_total", {"decision": "answer"}) == 1
    assert sample(after, "kefu_match_decisions_total", {"decision": "fallback"}) == 1
    assert sample(after, "kefu_scheduled_messages", {"state": "pending"}) == 0


async def test_readiness_follows_the_database_away_and_back(
    aiohttp_client: Callable[..., Any], start_services: StartServices
) -> None:
    if not POSTGRES_URL:
        pytest.skip("KEFU_TEST_DATABASE_URL is not set")
    forwarder, through = await forwarded_postgres(POSTGRES_URL)
    services = await start_services(database=through, kb=TEST_KB)
    client = await aiohttp_client(create_web_app(services))

    assert (await client.get("/readyz")).status == 200
    await forwarder.cut()
    away = await client.get("/readyz")
    assert away.status == 503
    assert (await away.json())["checks"]["database"] == "failing"
    assert (await client.get("/healthz")).status == 200  # alive all the same
    await forwarder.start()
    for _ in range(50):  # the pool drops the broken connections and connects anew
        if (await client.get("/readyz")).status == 200:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("/readyz did not turn ready when the database came back")
    await services.engine.dispose()  # before the forwarder's links go
    await forwarder.cut()


async def test_an_update_posted_while_the_database_is_away_is_refused_until_it_returns(
    aiohttp_client: Callable[..., Any], start_services: StartServices, bot: MockedBot
) -> None:
    """Telegram posts an update again when the webhook does not answer 200: that is how an update
    is kept through an outage in webhook mode. The customer is told once that it is kept."""
    if not POSTGRES_URL:
        pytest.skip("KEFU_TEST_DATABASE_URL is not set")
    engine = create_engine(POSTGRES_URL)
    await _reset_postgres(engine)
    await engine.dispose()
    forwarder, through = await forwarded_postgres(POSTGRES_URL)
    services = await start_services(database=through, kb=TEST_KB, replace=WEBHOOK)
    dispatcher = create_dispatcher(services, jobs=False)
    client = await aiohttp_client(create_web_app(services, dispatcher=dispatcher, bot=bot))
    question = private_update(31, "how do i return an item")
    headers = {SECRET_HEADER: SECRET}

    await forwarder.cut()
    for _ in range(2):  # posted, and posted again by Telegram while the database is still away
        response = await client.post("/telegram/webhook", json=question, headers=headers)
        assert response.status == 503
    told = [r.text for r in bot.recorder.requests if isinstance(r, SendMessage)]
    assert len(told) == 1 and told[0].startswith("Sorry, we are having a technical problem.")

    await forwarder.start()
    for _ in range(50):  # the pool drops the broken connections and connects anew
        response = await client.post("/telegram/webhook", json=question, headers=headers)
        if response.status == 200:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the update was not handled when the database came back")
    replies = [r.text for r in bot.recorder.requests if isinstance(r, SendMessage)]
    assert len(replies) == 2 and replies[1].startswith("You can return items within 7 days")
    again = await client.post("/telegram/webhook", json=question, headers=headers)
    assert again.status == 200  # posted once more: acknowledged, not answered twice
    assert len([r for r in bot.recorder.requests if isinstance(r, SendMessage)]) == 2
    await services.engine.dispose()  # before the forwarder's links go
    await forwarder.cut()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def running(config: Path, *arguments: str) -> AsyncIterator[asyncio.subprocess.Process]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(config), "run", *arguments,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=environment,
    )  # fmt: skip
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)


@pytest.mark.slow
async def test_kefu_run_webhook_sets_the_webhook_and_answers_what_telegram_posts(
    telegram: tuple[FakeBotAPI, str], write_config: Callable[..., Path]
) -> None:
    fake, api = telegram
    port = free_port()
    config = write_config(
        kb=TEST_KB,
        replace={
            'token = ""': 'token = "123456:TEST"',
            'api_server = ""': f'api_server = "{api}"',
            'webhook_url = ""': 'webhook_url = "https://shop.example/telegram/webhook"',
            '# webhook_secret = ""': f'webhook_secret = "{SECRET}"',
        },
    )
    config.write_text(config.read_text().replace("port = 0", f"port = {port}"))
    async with running(config, "--webhook") as process, aiohttp.ClientSession() as http:
        await fake.wait_for(lambda method, params: method == "setwebhook", timeout=90)
        assert fake.webhook["url"] == "https://shop.example/telegram/webhook"
        assert fake.webhook["secret_token"] == SECRET
        address = f"http://127.0.0.1:{port}"
        async with http.get(f"{address}/readyz") as ready:
            assert ready.status == 200

        start = len(fake.sent)
        update = private_update(1, "how do i return an item")
        async with http.post(f"{address}/telegram/webhook", json=update) as refused:
            assert refused.status == 401
        headers = {SECRET_HEADER: SECRET}
        async with http.post(f"{address}/telegram/webhook", json=update, headers=headers) as ok:
            assert ok.status == 200
        answer = await fake.wait_for_message(CHAT, start=start)
        assert answer["text"].startswith("You can return items within 7 days")
        assert len([m for m, p in fake.sent[start:] if m == "sendmessage"]) == 1

        async with http.get(f"{address}/metrics") as metrics:
            figures = await metrics.text()
        handled = {"type": "message", "outcome": "handled"}
        assert sample(figures, "kefu_updates_total", handled) == 1
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)
    assert process.returncode == 0


async def test_an_update_that_cannot_be_read_is_acknowledged_and_the_next_answered(
    client: Any, bot: MockedBot, caplog: pytest.LogCaptureFixture
) -> None:
    broken = private_update(20, "my address is 88 Example Road")
    broken["message"]["chat"]["id"] = "not a number"
    headers = {SECRET_HEADER: SECRET}
    response = await client.post("/telegram/webhook", json=broken, headers=headers)
    assert response.status == 200  # Telegram does not post it again
    assert "update=20 cannot be read" in caplog.text
    assert "88 Example Road" not in caplog.text
    response = await client.post(
        "/telegram/webhook", json=private_update(21, "how do i return an item"), headers=headers
    )
    assert response.status == 200
    [reply] = [r for r in bot.recorder.requests if isinstance(r, SendMessage)]
    assert reply.text.startswith("You can return items within 7 days")


REDIS_URL = os.environ.get("KEFU_TEST_REDIS_URL")
GROUP = -1009876
AGENT = 4321


def labelled(params: dict[str, Any]) -> dict[str, str]:
    markup = params.get("reply_markup") or {}
    rows = markup.get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row}


@pytest.mark.slow
async def test_two_webhook_replicas_share_one_conversation(
    telegram: tuple[FakeBotAPI, str], write_config: Callable[..., Path]
) -> None:
    """Two `kefu run --webhook` processes on one PostgreSQL and one Redis, the customer's
    updates posted to them in turn (as a round-robin proxy would): an intake begun on one is
    finished on the other, and the ticket is opened once."""
    if not (POSTGRES_URL and REDIS_URL):
        pytest.skip("KEFU_TEST_DATABASE_URL and KEFU_TEST_REDIS_URL are needed")
    engine = create_engine(POSTGRES_URL)
    await _reset_postgres(engine)
    await engine.dispose()
    fake, api = telegram
    config = write_config(
        kb=TEST_KB,
        database=POSTGRES_URL,
        replace={
            'token = ""': 'token = "123456:TEST"',
            'api_server = ""': f'api_server = "{api}"',
            "group_id = 0": f"group_id = {GROUP}",
            "agents = []": f"agents = [{AGENT}]",
            'fsm_storage = "database"': 'fsm_storage = "redis"',
            '# redis_url = "redis://127.0.0.1:6379/0"': f'redis_url = "{REDIS_URL}"',
            **WEBHOOK,
        },
    )
    ports = [free_port(), free_port()]
    configs = []
    for number, port in enumerate(ports):
        replica = config.with_name(f"replica{number}.toml")
        replica.write_text(config.read_text().replace("port = 0", f"port = {port}"))
        configs.append(replica)
    headers = {SECRET_HEADER: SECRET}
    async with (
        running(configs[0], "--webhook"),
        running(configs[1], "--webhook"),
        aiohttp.ClientSession() as http,
    ):
        for port in ports:
            for _ in range(900):  # the replicas import and start
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as ready:
                        if ready.status == 200:
                            break
                await asyncio.sleep(0.1)
        turn = iter(ports * 4)

        async def post(update: dict[str, Any]) -> dict[str, Any]:
            start = len(fake.sent)
            url = f"http://127.0.0.1:{next(turn)}/telegram/webhook"
            async with http.post(url, json=update, headers=headers) as response:
                assert response.status == 200
            return await fake.wait_for_message(CHAT, start=start)

        choose = await post(fake.push_message(CHAT, "/human"))  # replica 1
        category = labelled(choose)["Shipping"]
        await post(fake.push_callback(CHAT, category, message_id=choose["message_id"]))  # 2
        ask_order = await post(fake.push_message(CHAT, "my parcel never came"))  # replica 1
        skip = next(iter(labelled(ask_order).values()))
        start = len(fake.sent)
        await post(fake.push_callback(CHAT, skip, message_id=ask_order["message_id"]))  # 2
        _, topic = await fake.wait_for(lambda m, p: m == "createforumtopic", start=start)
        assert topic["name"].startswith("T-000001 · ")
    topics = [p for m, p in fake.sent if m == "createforumtopic"]
    assert len(topics) == 1


async def test_readiness_follows_redis_away_and_back(
    aiohttp_client: Callable[..., Any], start_services: StartServices
) -> None:
    if not REDIS_URL:
        pytest.skip("KEFU_TEST_REDIS_URL is not set")
    url = aiohttp.client.URL(REDIS_URL)
    forwarder = Forwarder(url.host or "127.0.0.1", url.port or 6379)
    await forwarder.start()
    through = f"redis://127.0.0.1:{forwarder.port}{url.path}"
    services = await start_services(
        kb=TEST_KB,
        replace={
            'fsm_storage = "database"': 'fsm_storage = "redis"',
            '# redis_url = "redis://127.0.0.1:6379/0"': f'redis_url = "{through}"',
        },
    )
    client = await aiohttp_client(create_web_app(services))
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["checks"]["redis"] == "ok"
    await forwarder.cut()
    away = await client.get("/readyz")
    assert away.status == 503
    assert (await away.json())["checks"] == {
        "database": "ok",
        "redis": "failing",
        "knowledge_base": "ok",
    }
    await forwarder.start()
    for _ in range(50):
        if (await client.get("/readyz")).status == 200:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("/readyz did not turn ready when Redis came back")
    await services.forms.close()
    await forwarder.cut()


async def test_an_update_posted_again_is_acknowledged_and_not_handled_twice(
    client: Any, bot: MockedBot, webhook_services: Services, clock: ManualClock
) -> None:
    """Telegram posts an update again when the replica that handled it died before answering:
    the customer is not answered twice, and a form would not take it for its next answer."""
    headers = {SECRET_HEADER: SECRET}
    update = private_update(30, "how do i return an item")
    stored = []
    for _ in range(2):
        response = await client.post("/telegram/webhook", json=update, headers=headers)
        assert response.status == 200
        stored.append(await messages_stored(webhook_services))
    assert len(bot.recorder.sent_messages()) == 1
    assert stored[0] > 0 and stored[1] == stored[0]  # nothing recorded the second time

    clock.advance(timedelta(days=3))  # long past Telegram's re-deliveries, the id is dropped
    assert await forget_delivered_updates(webhook_services.session_factory, clock) == 1
