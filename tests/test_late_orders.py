"""The daily late-order message: once per order, to its linked customer, in their language,
driven by a hand-moved clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiogram import Dispatcher
from aiogram.exceptions import TelegramForbiddenError, TelegramServerError
from aiogram.methods import SendMessage

from bot.app import Services
from bot.channels.retries import Sender
from bot.clock import ManualClock
from bot.orders.late import next_daily_run, notify_late_orders, run_daily
from tests.chat import PrivateChat
from tests.conftest import StartServices
from tests.mocked_bot import MockedBot
from tests.sample_orders import import_sample_orders

SHANGHAI = ZoneInfo("Asia/Shanghai")
MEI = 7  # A-1002, in transit, expected 2026-11-22
TOM = 9  # A-1003, shipped, expected 2026-11-24; A-1001 delivered


@pytest.fixture
async def services(start_services: StartServices, clock: ManualClock, tmp_path: Path) -> Services:
    clock.set(datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI))
    services = await start_services()
    await import_sample_orders(services, tmp_path, {"A-1001": TOM, "A-1002": MEI, "A-1003": TOM})
    return services


async def run_job(services: Services, bot: MockedBot, sender: Sender | None = None) -> int:
    return await notify_late_orders(
        bot,
        services.session_factory,
        services.order_status,
        sender or Sender(),
        services.clock,
        services.config.bot.default_language,
    )


def messages_to(bot: MockedBot, chat_id: int, start: int = 0) -> list[str]:
    return [
        r.text
        for r in bot.recorder.requests[start:]
        if isinstance(r, SendMessage) and r.chat_id == chat_id
    ]


async def test_each_late_order_is_told_once_in_the_customers_language(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    await PrivateChat(dispatcher, bot, TOM, "en").say("hello")  # Tom writes in English
    start = len(bot.recorder.requests)

    assert await run_job(services, bot) == 1
    [apology] = messages_to(bot, MEI, start)
    assert apology.startswith("非常抱歉，您的订单比承诺的时间晚到了。")
    assert "订单 A-1002：运输中" in apology and "138****8002" in apology
    assert messages_to(bot, TOM, start) == []

    assert await run_job(services, bot) == 0  # the same day again: nothing more

    clock.advance(timedelta(days=2))  # 2026-11-25: A-1003 is late too
    start = len(bot.recorder.requests)
    assert await run_job(services, bot) == 1
    assert messages_to(bot, MEI, start) == []
    [late] = messages_to(bot, TOM, start)
    assert late.startswith("We are sorry: your order is taking longer than we promised.")
    assert "Order A-1003: shipped" in late


async def test_a_failed_send_is_tried_the_next_day_and_a_blocked_customer_is_left_alone(
    services: Services, bot: MockedBot, clock: ManualClock
) -> None:
    method = SendMessage(chat_id=MEI, text="")
    bot.recorder.fail_next(SendMessage, TelegramServerError(method, "Bad Gateway"))
    assert await run_job(services, bot, Sender(attempts=1)) == 0

    clock.advance(timedelta(days=1))  # tried again: this time the customer has blocked the bot
    bot.recorder.fail_next(SendMessage, TelegramForbiddenError(method, "Forbidden: blocked"))
    assert await run_job(services, bot) == 0
    assert len(messages_to(bot, MEI)) == 2

    clock.advance(timedelta(days=1))
    assert await run_job(services, bot) == 1  # Tom's A-1003, late now
    assert len(messages_to(bot, MEI)) == 2  # Mei is never written to about it again


def test_the_next_daily_run() -> None:
    at = time(10, 0)
    before = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    after = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
    assert next_daily_run(before, at, SHANGHAI) == datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
    assert next_daily_run(after, at, SHANGHAI) == datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI)


async def test_the_daily_loop_runs_the_job_once_a_day(clock: ManualClock) -> None:
    clock.set(datetime(2026, 11, 23, 9, 59, tzinfo=SHANGHAI))
    runs: list[datetime] = []

    async def job() -> None:
        runs.append(clock.now())

    async def settle() -> None:
        for _ in range(20):
            await asyncio.sleep(0.001)

    loop = asyncio.create_task(run_daily(clock, time(10, 0), SHANGHAI, job, poll_seconds=0))
    try:
        await settle()
        assert runs == []
        clock.advance(timedelta(minutes=2))
        await settle()
        assert len(runs) == 1
        clock.advance(timedelta(hours=5))
        await settle()
        assert len(runs) == 1
        clock.advance(timedelta(days=1))
        await settle()
        assert len(runs) == 2
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
