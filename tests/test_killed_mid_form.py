"""Forms survive `kill -9`: the real `kefu run` process, long-polling a fake Bot API server, is
killed with SIGKILL while customers are in the middle of every form (the intake waiting for the
description, the order lookup waiting for the phone digits, a return waiting for the reason, a
survey waiting for the comment, and a customer just locked out of order lookups), each at the
worst moment: the prompt has reached Telegram and the process has not heard back. A new process
on the same database (SQLite, PostgreSQL) takes each customer on where they were."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import create_services
from bot.config import load_config
from bot.orders.csv_import import import_orders, read_orders_csv
from storage.database import create_engine
from tests.conftest import POSTGRES_URL, TEST_KB, _reset_postgres
from tests.fake_bot_api import FakeBotAPI
from tests.sample_orders import SAMPLE_ORDERS
from tests.test_follow_ups_e2e import FAST, buttons

pytestmark = pytest.mark.slow

GROUP, AGENT = -1009876, 4321
ANN, BEN, CAT, DAN, EVE = 6001, 6002, 6003, 6004, 6005  # intake, digits, return, survey, lock-out
STARTUP = 90.0  # the first answer waits for the process to import everything and poll

Predicate = Callable[[str, dict[str, Any]], bool]


def message_to(chat: int, prefix: str = "") -> Predicate:
    return lambda method, p: (
        method == "sendmessage"
        and int(p["chat_id"]) == chat
        and str(p.get("text", "")).startswith(prefix)
    )


class Customer:
    """A customer's side of the chat with the running bot: what they send, what they see."""

    def __init__(self, fake: FakeBotAPI, chat: int) -> None:
        self.fake = fake
        self.chat = chat

    async def say(self, text: str, expect: str = "") -> dict[str, Any]:
        """Send a message; the bot's next message to this chat (starting with `expect`)."""
        start = len(self.fake.sent)
        self.fake.push_message(self.chat, text, language_code="en")
        return await self._next(start, expect)

    async def press(self, under: dict[str, Any], label: str, expect: str = "") -> dict[str, Any]:
        start = len(self.fake.sent)
        data = buttons(under)[label]
        self.fake.push_callback(self.chat, data, message_id=under["message_id"])
        return await self._next(start, expect)

    async def _next(self, start: int, expect: str) -> dict[str, Any]:
        _, params = await self.fake.wait_for(
            message_to(self.chat, expect), start=start, timeout=STARTUP
        )
        return params


class Service:
    """`kefu run` as a real process; its log goes to a file (a pipe nobody reads would fill)."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "--config", str(self.config), "run",
                stdout=asyncio.subprocess.DEVNULL, stderr=log, env=environment,
            )  # fmt: skip

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or an OOM kill."""
        if self.process is not None and self.process.returncode is None:
            os.kill(self.process.pid, signal.SIGKILL)
            await self.process.wait()


def orders_csv(folder: Path) -> Path:
    """The sample orders, and one of CAT's delivered yesterday (still within the return window:
    the process runs on the real clock)."""
    delivered = datetime.now(UTC) - timedelta(days=1)
    ordered = delivered - timedelta(days=3)
    row = (
        f"A-2001,13800132001,{CAT},Running shoes|shoes|1,delivered,ZTO,ZT2001,"
        f'"1 Road, Suzhou",{ordered.isoformat()},{ordered.isoformat()},'
        f"{delivered.isoformat()},{delivered.isoformat()}\n"
    )
    path = folder / "orders.csv"
    path.write_text(SAMPLE_ORDERS.read_text(encoding="utf-8") + row, encoding="utf-8")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
async def service(
    request: pytest.FixtureRequest,
    telegram: tuple[FakeBotAPI, str],
    write_config: Callable[..., Path],
    tmp_path: Path,
) -> AsyncIterator[Service]:
    """The service's config over a fresh database with the orders imported; not started."""
    _, url = telegram
    database = None
    if request.param == "postgresql":
        if not POSTGRES_URL:
            pytest.skip("KEFU_TEST_DATABASE_URL is not set")
        engine = create_engine(POSTGRES_URL)
        await _reset_postgres(engine)
        await engine.dispose()
        database = POSTGRES_URL
    config = write_config(
        kb=TEST_KB,
        database=database,
        replace={
            'token = ""': 'token = "123456:TEST"',
            'api_server = ""': f'api_server = "{url}"',
            "group_id = 0": f"group_id = {GROUP}",
            "agents = []": f"agents = [{AGENT}]",
            **FAST,
        },
    )
    services = await create_services(load_config(config, environ={}))
    try:
        async with services.session_factory() as session:
            await import_orders(session, read_orders_csv(orders_csv(tmp_path)))
            await session.commit()
    finally:
        await services.close()
    running = Service(config, tmp_path / "kefu.log")
    yield running
    await running.kill()


async def test_every_form_goes_on_after_the_process_is_killed(
    service: Service, telegram: tuple[FakeBotAPI, str]
) -> None:
    fake, _ = telegram
    ann, ben, cat, dan, eve = (Customer(fake, chat) for chat in (ANN, BEN, CAT, DAN, EVE))
    held: list[asyncio.Event] = []

    def hold(predicate: Predicate) -> None:
        held.append(fake.hold(predicate))

    await service.start()
    try:
        # Dan's ticket is resolved; the survey comes; a low score asks for a comment.
        choose = await dan.say("/human")
        await dan.press(choose, "Shipping", "Please describe the problem")
        ask_order = await dan.say("my parcel is lost", "Do you have an order number?")
        start = len(fake.sent)
        await dan.press(ask_order, "Skip", "")
        _, card = await fake.wait_for(
            lambda m, p: m == "sendmessage" and int(p["chat_id"]) == GROUP
            and "已解决" in buttons(p),
            start=start,
        )  # fmt: skip
        resolve = buttons(card)["已解决"]  # Resolve, in the team's language
        fake.push_callback(GROUP, resolve, message_id=card["message_id"], user_id=AGENT)
        _, survey = await fake.wait_for(message_to(DAN, "How did we do?"), timeout=STARTUP)
        hold(message_to(DAN, "Thank you! Anything you would like to add?"))
        await dan.press(survey, "2 ⭐", "Thank you! Anything you would like to add?")

        # Ann has chosen a category: the bot waits for her description.
        choose = await ann.say("/human")
        hold(message_to(ANN, "Please describe the problem"))
        await ann.press(choose, "Shipping", "Please describe the problem")

        # Ben asked for an order that is not linked to him: the bot waits for 4 digits.
        hold(message_to(BEN, "To protect your privacy"))
        await ben.say("/order A-1001", "To protect your privacy")

        # Cat chose the order to return: the bot waits for the reason.
        choose = await cat.say("/return", "Which order is it?")
        hold(message_to(CAT, "Why are you returning it?"))
        reasons = await cat.press(choose, "A-2001 · Running shoes", "Why are you returning it?")

        # Eve guessed the digits of A-1002 wrong three times: she is locked out.
        await eve.say("/order A-1002", "To protect your privacy")
        await eve.say("1111")
        await eve.say("2222")
        hold(message_to(EVE, "I could not confirm"))
        await eve.say("3333", "I could not confirm")
    finally:
        # Every prompt above has reached Telegram; none of its answers has reached the bot.
        await service.kill()
        for event in held:
            event.set()

    await service.start()
    ask_order = await ann.say("my parcel has not arrived for two weeks", "Do you have an order")
    done = await ann.press(ask_order, "Skip", "")
    assert "T-000002" in done["text"]

    shown = await ben.say("8001", "Order A-1001:")
    assert "Running shoes" in shown["text"]

    extras = await cat.press(reasons, "Damaged", "If you like, send photos")
    done = await cat.press(extras, "Done")
    assert "T-000003" in done["text"]

    start = len(fake.sent)
    thanks = await dan.say("the agent took two days to answer")
    assert thanks["text"] == "Thank you, we have passed it on."
    await fake.wait_for(
        lambda m, p: (
            int(p.get("chat_id", 0)) == GROUP
            and str(p.get("text", "")).endswith("the agent took two days to answer")
        ),
        start=start,
    )

    still = await eve.say("/order A-1002")
    assert still["text"].startswith("I could not confirm")
    other = await eve.say("/order A-1003")
    assert other["text"].startswith("I could not confirm")
    await service.kill()
    assert "Traceback" not in service.log.read_text(), service.log.read_text()[-3000:]


async def test_a_message_being_handled_when_the_process_is_killed_is_answered_after(
    service: Service, telegram: tuple[FakeBotAPI, str]
) -> None:
    fake, _ = telegram
    ann = Customer(fake, ANN)
    await service.start()
    await ann.say("/start")  # the process is up
    start = len(fake.sent)
    update = fake.push_message(ANN, "how long does a refund take", language_code="en")

    def kill_when_it_polls_again() -> None:
        """The bot has the message and asks Telegram for more: the moment it confirms what it
        was handed (the offset), and it has not answered yet."""
        if update["update_id"] in fake.served and fake.on_poll is not None:
            fake.on_poll = None
            assert service.process is not None
            os.kill(service.process.pid, signal.SIGKILL)

    fake.on_poll = kill_when_it_polls_again
    try:
        assert service.process is not None
        await asyncio.wait_for(service.process.wait(), STARTUP)
    finally:
        fake.on_poll = None
    await service.start()
    _, answer = await fake.wait_for(message_to(ANN), start=start, timeout=STARTUP)
    assert answer["text"].startswith("Refunds")
