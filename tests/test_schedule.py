"""The stored schedule: restarts, an instance that stops mid-send, two instances on one
database, Telegram's rate limits, and the admin's view of what is pending."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import SendMessage
from sqlmodel import col, select

from bot.app import Services, create_dispatcher, create_services
from bot.cli import main
from bot.clock import ManualClock
from bot.config import load_config
from bot.schedule.delivery import RateLimiter, out_of_quiet_hours
from storage.database import create_engine
from storage.models import Customer, ScheduledKind, ScheduledMessage
from tests.chat import PrivateChat
from tests.conftest import ADMIN_ID, POSTGRES_URL, _reset_postgres
from tests.mocked_bot import MockedBot

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_10AM = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture(params=["sqlite", "postgresql"])
async def config_path(request: pytest.FixtureRequest, write_config: Callable[..., Path]) -> Path:
    database = None
    if request.param == "postgresql":
        if not POSTGRES_URL:
            pytest.skip("KEFU_TEST_DATABASE_URL is not set")
        engine = create_engine(POSTGRES_URL)
        await _reset_postgres(engine)
        await engine.dispose()
        database = POSTGRES_URL
    path = write_config(database=database)
    text = path.read_text(encoding="utf-8").replace("admins = []", f"admins = [{ADMIN_ID}]")
    path.write_text(text.replace("messages_per_second = 30", "messages_per_second = 1000"))
    return path


async def start(config_path: Path, clock: ManualClock) -> Services:
    """One running instance of the service (a restart is a new one on the same database)."""
    return await create_services(load_config(config_path, environ={}), clock=clock)


@pytest.fixture
async def services(config_path: Path, clock: ManualClock) -> AsyncIterator[Services]:
    clock.set(MONDAY_10AM)
    services = await start(config_path, clock)
    yield services
    await services.close()


async def schedule_surveys(services: Services, count: int, due_in: timedelta) -> None:
    """`count` customers, each with a survey due after `due_in`."""
    async with services.session_factory() as session:
        for number in range(count):
            customer = Customer(
                channel="telegram",
                external_id=str(1000 + number),
                first_name=f"Customer {number}",
                language="en",
                first_seen=services.clock.now(),
                last_seen=services.clock.now(),
            )
            session.add(customer)
            await session.flush()
            assert customer.id is not None
            await services.schedule.add(
                session,
                key=f"survey:test:{number}",
                kind=ScheduledKind.SURVEY,
                customer_id=customer.id,
                due_at=services.clock.now() + due_in,
                lifetime=timedelta(days=3),
            )
        await session.commit()


def surveys_sent(bot: MockedBot) -> list[int]:
    return [
        int(r.chat_id)
        for r in bot.recorder.requests
        if isinstance(r, SendMessage) and r.text.startswith("How did we do?")
    ]


async def statuses(services: Services) -> list[str]:
    async with services.session_factory() as session:
        statement = select(ScheduledMessage).where(ScheduledMessage.kind == "survey")
        messages = (await session.exec(statement.order_by(col(ScheduledMessage.id)))).all()
    return [m.status for m in messages]


async def test_what_was_scheduled_before_a_restart_is_sent_once_after_it(
    services: Services, config_path: Path, clock: ManualClock
) -> None:
    await schedule_surveys(services, 3, timedelta(minutes=10))
    await services.close()  # the process stops before anything is due

    clock.advance(timedelta(minutes=10))
    bot = MockedBot()
    restarted = await start(config_path, clock)
    try:
        assert await restarted.delivery.deliver_due(bot) == 3
    finally:
        await restarted.close()
    again = await start(config_path, clock)  # and once more: nothing is sent twice
    try:
        assert await again.delivery.deliver_due(bot) == 0
    finally:
        await again.close()
    assert sorted(surveys_sent(bot)) == [1000, 1001, 1002]


async def test_an_instance_that_stops_mid_send_never_causes_a_second_send(
    services: Services,
    config_path: Path,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await schedule_surveys(services, 2, timedelta(0))
    bot = MockedBot()
    finish = services.schedule.finish

    async def die_after_sending(session, message_id, status, note=None):
        if status == "sent" and message_id == 1:
            raise SystemExit("killed between sending and recording")
        await finish(session, message_id, status, note)

    services.schedule.finish = die_after_sending  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        await services.delivery.deliver_due(bot)
    assert surveys_sent(bot) == [1000]  # Telegram has it; the database does not know
    await services.close()

    restarted = await start(config_path, clock)
    try:
        assert await restarted.delivery.deliver_due(bot) == 1  # the other one
        clock.advance(timedelta(minutes=11))  # the dead instance's claim times out
        with caplog.at_level(logging.ERROR, logger="bot.schedule.delivery"):
            assert await restarted.delivery.deliver_due(bot) == 0
        assert await statuses(restarted) == ["uncertain", "sent"]
    finally:
        await restarted.close()
    assert sorted(surveys_sent(bot)) == [1000, 1001]  # each once
    assert "stopped while sending it; not sent again" in caplog.text


async def test_an_instance_that_stops_before_the_request_leaves_loses_nothing(
    services: Services, config_path: Path, clock: ManualClock
) -> None:
    """Stopped while waiting for Telegram's pace (claimed, never sent): the message is sent
    once after the claim times out, instead of ending uncertain."""
    await schedule_surveys(services, 2, timedelta(0))
    bot = MockedBot()
    calls = 0

    async def stop_at_the_pace(chat_id: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise SystemExit("killed while waiting to send")

    services.delivery.limiter.wait = stop_at_the_pace  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        await services.delivery.deliver_due(bot)
    assert len(surveys_sent(bot)) == 1
    await services.close()

    clock.advance(timedelta(minutes=11))  # the dead instance's claim times out
    restarted = await start(config_path, clock)
    try:
        assert await restarted.delivery.deliver_due(bot) == 1
        assert await statuses(restarted) == ["sent", "sent"]
    finally:
        await restarted.close()
    assert sorted(surveys_sent(bot)) == [1000, 1001]  # each once, none lost


async def test_a_survey_whose_answer_was_lost_is_uncertain_and_not_sent_again(
    services: Services, clock: ManualClock
) -> None:
    await schedule_surveys(services, 1, timedelta(0))
    bot = MockedBot()
    bot.recorder.fail_next(
        SendMessage,
        TelegramNetworkError(SendMessage(chat_id=1, text=""), "Request timeout error"),
    )
    assert await services.delivery.deliver_due(bot) == 0
    clock.advance(timedelta(hours=1))
    assert await services.delivery.deliver_due(bot) == 0
    assert await statuses(services) == ["uncertain"]
    assert len(bot.recorder.sent_messages()) == 1  # the one whose answer was lost


async def test_two_instances_on_one_database_send_each_message_once(
    services: Services, config_path: Path, clock: ManualClock
) -> None:
    await schedule_surveys(services, 40, timedelta(0))
    other = await start(config_path, clock)
    first_bot, second_bot = MockedBot(), MockedBot()
    try:
        sent = await asyncio.gather(
            services.delivery.deliver_due(first_bot), other.delivery.deliver_due(second_bot)
        )
    finally:
        await other.close()
    chats = surveys_sent(first_bot) + surveys_sent(second_bot)
    assert sum(sent) == 40
    assert sorted(chats) == list(range(1000, 1040))
    assert set(await statuses(services)) == {"sent"}


async def test_the_admins_see_what_is_pending_in_telegram(services: Services) -> None:
    await schedule_surveys(services, 2, timedelta(minutes=10))
    admin = PrivateChat(create_dispatcher(services), MockedBot(), ADMIN_ID, "en")
    [listing] = await admin.say("/scheduled")
    # customers named as staff can find them: Telegram name and id, not our numbers
    assert listing.text.splitlines() == [
        "#1 · 2026-03-02 10:10 · satisfaction survey · Customer 0 (ID 1000)",
        "#2 · 2026-03-02 10:10 · satisfaction survey · Customer 1 (ID 1001)",
    ]


def test_the_admins_list_and_cancel_from_the_command_line(
    write_config: Callable[..., Path], clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = write_config()
    clock.set(MONDAY_10AM)

    async def prepare() -> None:
        services = await start(config_path, clock)
        try:
            await schedule_surveys(services, 2, timedelta(minutes=10))
        finally:
            await services.close()

    asyncio.run(prepare())
    assert main(["--config", str(config_path), "schedule", "cancel", "1"]) == 0
    assert main(["--config", str(config_path), "schedule", "cancel", "1"]) == 1
    capsys.readouterr()
    assert main(["--config", str(config_path), "schedule", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "#2 · 2026-03-02 10:10 · satisfaction survey · Customer 1 (ID 1001)"
    ]
    assert main(["--config", str(config_path), "schedule", "list", "--all"]) == 0
    assert "#1 · 2026-03-02 10:10 · satisfaction survey · Customer 0 (ID 1000) · cancelled" in (
        capsys.readouterr().out
    )


async def test_a_customer_cannot_see_the_schedule(services: Services) -> None:
    customer = PrivateChat(create_dispatcher(services), MockedBot(), 5, "en")
    [refused] = await customer.say("/scheduled")
    assert "#1" not in refused.text and "admin" in refused.text.lower()


async def test_the_rate_limiter_keeps_to_telegrams_limits() -> None:
    now = 0.0
    sent: list[tuple[float, int]] = []

    def clock() -> float:
        return now

    async def sleep(seconds: float) -> None:
        nonlocal now
        now += seconds

    limiter = RateLimiter(per_second=30, seconds_per_chat=1.0, now=clock, sleep=sleep)
    for index in range(300):
        chat = index % 100 if index < 200 else 7  # the last 100 all go to one chat
        await limiter.wait(chat)
        sent.append((now, chat))
    times = [at for at, _ in sent]
    for index in range(len(times) - 30):
        assert times[index + 30] - times[index] >= 1.0 - 1e-9  # at most 30 in any second
    by_chat: dict[int, list[float]] = {}
    for at, chat in sent:
        by_chat.setdefault(chat, []).append(at)
    for moments in by_chat.values():
        assert all(b - a >= 1.0 - 1e-9 for a, b in zip(moments, moments[1:], strict=False))
    assert times[199] == pytest.approx(199 / 30, abs=1.0)  # no drift: 30 a second


def test_quiet_hours_across_midnight() -> None:
    quiet = (time(21, 0), time(9, 0))
    evening = datetime(2026, 3, 2, 22, 30, tzinfo=SHANGHAI)
    early = datetime(2026, 3, 3, 6, 0, tzinfo=SHANGHAI)
    noon = datetime(2026, 3, 3, 12, 0, tzinfo=SHANGHAI)
    morning = datetime(2026, 3, 3, 9, 0, tzinfo=SHANGHAI)
    assert out_of_quiet_hours(evening, quiet, SHANGHAI) == morning
    assert out_of_quiet_hours(early, quiet, SHANGHAI) == morning
    assert out_of_quiet_hours(noon, quiet, SHANGHAI) == noon
    assert out_of_quiet_hours(noon, None, SHANGHAI) == noon


async def test_a_message_that_cannot_be_composed_is_tried_again_later(
    services: Services, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    await schedule_surveys(services, 1, timedelta(0))
    compose = services.follow_ups.compose
    calls = 0

    async def broken_once(session, message):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database hiccup")
        return await compose(session, message)

    services.delivery.composer.compose = broken_once  # type: ignore[method-assign]
    bot = MockedBot()
    with caplog.at_level(logging.ERROR, logger="bot.schedule.delivery"):
        assert await services.delivery.deliver_due(bot) == 0
    assert "could not be composed" in caplog.text
    assert await statuses(services) == ["pending"]
    clock.advance(timedelta(minutes=5))
    assert await services.delivery.deliver_due(bot) == 1
    assert surveys_sent(bot) == [1000]
