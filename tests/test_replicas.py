"""Two real `kefu run --webhook` processes sharing PostgreSQL and Redis, in front of the fake Bot
API: together they keep Telegram's global send limit, send each scheduled message once, raise
one SLA alert per breach, and when one is killed mid-conversation the other finishes what it
left, as Telegram posts it again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis
from sqlmodel import col, select

from bot.app import Services, create_dispatcher
from bot.clock import ManualClock
from bot.web.app import SECRET_HEADER
from storage.database import create_engine
from storage.models import ScheduledKind, ScheduledMessage, Ticket
from tests.chat import PrivateChat
from tests.conftest import POSTGRES_URL, TEST_KB, StartServices, _reset_postgres
from tests.fake_bot_api import FakeBotAPI
from tests.mocked_bot import MockedBot
from tests.test_handoff import open_ticket
from tests.test_schedule import schedule_surveys
from tests.test_web import SECRET, WEBHOOK, free_port, labelled, sample

pytestmark = pytest.mark.slow

REDIS_URL = os.environ.get("KEFU_TEST_REDIS_URL")
HEADERS = {SECRET_HEADER: SECRET}
GROUP = -1009876
AGENT = 4321
CHAT = 7002
SENDS = {"sendmessage"}


@dataclass
class Replica:
    port: int
    process: asyncio.subprocess.Process
    log: Path

    @property
    def webhook(self) -> str:
        return f"http://127.0.0.1:{self.port}/telegram/webhook"

    async def metrics(self, http: aiohttp.ClientSession) -> str:
        async with http.get(f"http://127.0.0.1:{self.port}/metrics") as response:
            return await response.text()


@pytest.fixture
async def shared_config(write_config: Callable[..., Path]) -> Callable[..., Path]:
    """The config of the replicas (and of the test's own services) on one fresh PostgreSQL
    database and one Redis."""
    if not (POSTGRES_URL and REDIS_URL):
        pytest.skip("KEFU_TEST_DATABASE_URL and KEFU_TEST_REDIS_URL are needed")
    engine = create_engine(POSTGRES_URL)
    await _reset_postgres(engine)
    await engine.dispose()
    redis = Redis.from_url(REDIS_URL)
    for pattern in ("fsm:*", "kefu:sends:*"):  # forms and sends of earlier runs
        async for key in redis.scan_iter(pattern):
            await redis.delete(key)
    await redis.aclose()

    def write(api: str, limit: int = 30) -> Path:
        return write_config(
            kb=TEST_KB,
            database=POSTGRES_URL,
            replace={
                'token = ""': 'token = "123456:TEST"',
                'api_server = ""': f'api_server = "{api}"',
                "group_id = 0": f"group_id = {GROUP}",
                "agents = []": f"agents = [{AGENT}]",
                'fsm_storage = "database"': 'fsm_storage = "redis"',
                '# redis_url = "redis://127.0.0.1:6379/0"': f'redis_url = "{REDIS_URL}"',
                "max_sends_per_second = 30": f"max_sends_per_second = {limit}",
                'quiet_hours = "21:00-09:00"': 'quiet_hours = ""',
                "poll_seconds = 5": "poll_seconds = 0.5",
                '\nlanguage = "zh"': '\nlanguage = "en"',  # an English-reading team
                **WEBHOOK,
            },
        )

    return write


@contextlib.asynccontextmanager
async def two_replicas(config: Path) -> AsyncIterator[list[Replica]]:
    """Two `kefu run --webhook` processes on `config`, each on its own port, ready."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    replicas: list[Replica] = []
    try:
        for number in range(2):
            port = free_port()
            replica_config = config.with_name(f"replica{number}.toml")
            replica_config.write_text(config.read_text().replace("port = 0", f"port = {port}"))
            log = config.with_name(f"replica{number}.log")
            with log.open("wb") as stderr:  # a file: a pipe nobody reads would fill and block
                process = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bot", "--config", str(replica_config),
                    "run", "--webhook",
                    stdout=asyncio.subprocess.DEVNULL, stderr=stderr, env=environment,
                )  # fmt: skip
            replicas.append(Replica(port, process, log))
        async with aiohttp.ClientSession() as http:
            for replica in replicas:
                await until(partial(ready, http, replica), what=f"replica {replica.port} ready")
        yield replicas
    finally:
        for replica in replicas:
            if replica.process.returncode is None:
                replica.process.send_signal(signal.SIGTERM)
        for replica in replicas:
            await asyncio.wait_for(replica.process.wait(), 60)


async def ready(http: aiohttp.ClientSession, replica: Replica) -> bool:
    if replica.process.returncode is not None:
        raise AssertionError(f"replica exited: {replica.log.read_text()[-2000:]}")
    try:
        async with http.get(f"http://127.0.0.1:{replica.port}/readyz") as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


async def until(check: Callable[[], Any], *, what: str, timeout: float = 120.0) -> None:
    """Wait for `check` (a coroutine function) to say yes, looking every 0.1 s."""
    try:
        async with asyncio.timeout(timeout):
            while not await check():
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"not within {timeout:.0f} s: {what}") from None


async def test_a_burst_through_two_replicas_keeps_to_the_global_send_limit(
    telegram: tuple[FakeBotAPI, str], shared_config: Callable[..., Path]
) -> None:
    """40 customers ask at once, half through each replica; with a limit of 10 a second each
    replica alone would let 10 go, 20 together: the limit holds for both, and all are answered."""
    fake, api = telegram
    limit = 10
    async with (
        two_replicas(shared_config(api, limit=limit)) as replicas,
        aiohttp.ClientSession() as http,
    ):
        start = len(fake.sent)

        async def ask(number: int) -> None:
            update = fake.push_message(5000 + number, "how do i return an item")
            async with http.post(
                replicas[number % 2].webhook, json=update, headers=HEADERS
            ) as response:
                assert response.status == 200

        await asyncio.gather(*(ask(number) for number in range(40)))
    answered = sorted(int(p["chat_id"]) for m, p in fake.sent[start:] if m == "sendmessage")
    assert answered == list(range(5000, 5040))  # every one, once
    assert fake.busiest_second(SENDS, start) == limit


async def test_two_replicas_send_200_scheduled_surveys_exactly_once(
    telegram: tuple[FakeBotAPI, str],
    shared_config: Callable[..., Path],
    start_services: StartServices,
    clock: ManualClock,
) -> None:
    fake, api = telegram
    config = shared_config(api)
    clock.set(datetime.now(UTC))
    services = await start_services(config)
    await schedule_surveys(services, 200, timedelta(0))  # customers 1000-1199, due now

    # The first survey is held on its way (Telegram has it, the answer has not come back), so
    # its replica is stuck sending it while the other must take the rest: both take part.
    held: list[int] = []

    def first_survey(method: str, params: dict[str, Any]) -> bool:
        if method == "sendmessage" and int(params["chat_id"]) >= 1000 and not held:
            held.append(int(params["chat_id"]))
            return True
        return False

    released = fake.hold(first_survey)
    async with two_replicas(config):
        await fake.wait_for(
            lambda m, p: m == "sendmessage" and int(p["chat_id"]) not in (held or [0]),
            timeout=120,
        )
        released.set()
        await until(lambda: all_sent(services), what="200 surveys sent", timeout=180)
    surveyed = sorted(
        int(p["chat_id"]) for m, p in fake.sent if m == "sendmessage" and "reply_markup" in p
    )
    assert surveyed == list(range(1000, 1200))  # each customer once
    async with services.session_factory() as session:
        claimers = set(
            (await session.exec(select(ScheduledMessage.claimed_by).where(SURVEY))).all()
        )
    assert len(claimers) == 2  # sent between the two replicas


SURVEY = col(ScheduledMessage.kind) == ScheduledKind.SURVEY  # each sent survey adds a reminder


async def all_sent(services: Services) -> bool:
    async with services.session_factory() as session:
        statuses = (await session.exec(select(ScheduledMessage.status).where(SURVEY))).all()
    return len(statuses) == 200 and set(statuses) == {"sent"}


async def test_an_overdue_ticket_raises_one_alert_per_breach_from_two_replicas(
    telegram: tuple[FakeBotAPI, str],
    shared_config: Callable[..., Path],
    start_services: StartServices,
    clock: ManualClock,
) -> None:
    fake, api = telegram
    config = shared_config(api)
    clock.set(datetime.now(UTC) - timedelta(days=7))  # opened a week ago, nobody answered
    services = await start_services(config)
    dispatcher = create_dispatcher(services, jobs=False)
    await open_ticket(PrivateChat(dispatcher, MockedBot(), 8001, "en"))

    async with two_replicas(config) as replicas, aiohttp.ClientSession() as http:

        async def both_checked() -> bool:
            done = {"job": "sla", "outcome": "done"}
            runs = [sample(await r.metrics(http), "kefu_job_runs_total", done) for r in replicas]
            return all(runs)

        # each replica checks the SLA as it starts, the ticket overdue for both
        await until(both_checked, what="both replicas checked the SLA")
    texts = [p.get("text", "") for m, p in fake.sent if m == "sendmessage"]
    alerts = sorted(t.split(" was due")[0] for t in texts if t.startswith("⚠️ SLA missed"))
    assert alerts == [  # a week late: both targets missed, each said once
        "⚠️ SLA missed: T-000001 (normal) first response",
        "⚠️ SLA missed: T-000001 (normal) resolution",
    ]
    assert len([t for t in texts if "T-000001 has waited" in t]) == 1  # announced once too


async def test_a_replica_killed_mid_form_loses_nothing_the_other_cannot_finish(
    telegram: tuple[FakeBotAPI, str], shared_config: Callable[..., Path]
) -> None:
    fake, api = telegram
    async with (
        two_replicas(shared_config(api)) as (first, second),
        aiohttp.ClientSession() as http,
    ):

        async def post(replica: Replica, update: dict[str, Any]) -> dict[str, Any]:
            start = len(fake.sent)
            async with http.post(replica.webhook, json=update, headers=HEADERS) as response:
                assert response.status == 200
            return await fake.wait_for_message(CHAT, start=start)

        choose = await post(first, fake.push_message(CHAT, "/human"))
        category = labelled(choose)["Shipping"]
        await post(second, fake.push_callback(CHAT, category, message_id=choose["message_id"]))

        # The description goes to the first replica, which is killed once its answer has
        # reached Telegram and before Telegram's post is answered.
        released = fake.hold(lambda m, p: m == "sendmessage" and int(p["chat_id"]) == CHAT)
        start = len(fake.sent)
        description = fake.push_message(CHAT, "my parcel never came")
        posting = asyncio.create_task(http.post(first.webhook, json=description, headers=HEADERS))
        ask_order = await fake.wait_for_message(CHAT, start=start)
        first.process.send_signal(signal.SIGKILL)
        await first.process.wait()
        with pytest.raises(aiohttp.ClientError):
            await posting  # never answered: Telegram will post it again
        released.set()

        # Telegram posts it again, to the survivor: already done, it is not handled twice
        # (the form would take it for the order number)
        start = len(fake.sent)
        async with http.post(second.webhook, json=description, headers=HEADERS) as again:
            assert again.status == 200
        assert [p for m, p in fake.sent[start:] if int(p.get("chat_id", 0)) == CHAT] == []

        # and the form goes on where the killed replica left it
        skip = next(iter(labelled(ask_order).values()))
        start = len(fake.sent)
        await post(second, fake.push_callback(CHAT, skip, message_id=ask_order["message_id"]))
        _, topic = await fake.wait_for(lambda m, p: m == "createforumtopic", start=start)
        assert topic["name"].startswith("T-000001 · ")

    assert len([p for m, p in fake.sent if m == "createforumtopic"]) == 1
    assert POSTGRES_URL
    engine = create_engine(POSTGRES_URL)
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(select(col(Ticket.description)))).all()
    finally:
        await engine.dispose()
    assert [row[0] for row in rows] == ["my parcel never came"]
