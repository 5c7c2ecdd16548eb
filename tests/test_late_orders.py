"""The daily late-order message: once per order, to its linked customer, in their language,
driven by a hand-moved clock; and its daily job on the one scheduler."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiogram import Dispatcher
from aiogram.exceptions import TelegramForbiddenError, TelegramServerError
from aiogram.methods import SendMessage
from aiogram.types import InlineKeyboardMarkup
from apscheduler.job import Job
from apscheduler.triggers.base import BaseTrigger

from bot.app import Services
from bot.clock import ManualClock
from bot.knowledge_admin.publishing import PublishResult
from bot.orders.late import notify_late_orders
from bot.schedule.jobs import create_scheduler, late_orders_trigger
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


async def run_job(services: Services, bot: MockedBot) -> int:
    return await notify_late_orders(
        bot,
        services.session_factory,
        services.order_status,
        services.clock,
        services.config.bot.default_language,
    )


def messages_to(bot: MockedBot, chat_id: int, start: int = 0) -> list[str]:
    return [
        r.text
        for r in bot.recorder.requests[start:]
        if isinstance(r, SendMessage) and r.chat_id == chat_id
    ]


async def test_two_replicas_running_the_daily_job_together_tell_each_order_once(
    services: Services, bot: MockedBot, clock: ManualClock
) -> None:
    clock.advance(timedelta(days=2))  # A-1002 and A-1003 are both late
    told = await asyncio.gather(run_job(services, bot), run_job(services, bot))
    assert sorted(told) == [0, 2] or sorted(told) == [1, 1]
    assert len(messages_to(bot, MEI)) == 1
    assert len(messages_to(bot, TOM)) == 1


async def test_each_late_order_is_told_once_in_the_customers_language(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    await PrivateChat(dispatcher, bot, TOM, "en").say("hello")  # Tom writes in English
    start = len(bot.recorder.requests)

    assert await run_job(services, bot) == 1
    [apology] = messages_to(bot, MEI, start)
    assert apology.startswith("非常抱歉，您的订单比承诺的时间晚到了。")
    [sent_apology] = [
        r for r in bot.recorder.requests[start:] if isinstance(r, SendMessage) and r.chat_id == MEI
    ]
    markup = sent_apology.reply_markup
    assert isinstance(markup, InlineKeyboardMarkup)
    assert [b.text for row in markup.inline_keyboard for b in row] == [
        services.texts("order_help_button", "zh")
    ]
    mei = PrivateChat(dispatcher, bot, MEI, "zh")
    [asked] = await mei.press(sent_apology, services.texts("order_help_button", "zh"))
    assert asked.text == services.texts("handoff_choose_category", "zh")  # a person, at once
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
    attempts, bot.retries.attempts = bot.retries.attempts, 1  # no retry: this send fails
    assert await run_job(services, bot) == 0
    bot.retries.attempts = attempts

    clock.advance(timedelta(days=1))  # tried again: this time the customer has blocked the bot
    bot.recorder.fail_next(SendMessage, TelegramForbiddenError(method, "Forbidden: blocked"))
    assert await run_job(services, bot) == 0
    assert len(messages_to(bot, MEI)) == 2

    clock.advance(timedelta(days=1))
    assert await run_job(services, bot) == 1  # Tom's A-1003, late now
    assert len(messages_to(bot, MEI)) == 2  # Mei is never written to about it again


def test_the_next_daily_run() -> None:
    trigger = late_orders_trigger(time(10, 0), SHANGHAI)
    before = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    after = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
    assert trigger.get_next_fire_time(None, before) == datetime(
        2026, 11, 23, 10, 0, tzinfo=SHANGHAI
    )
    assert trigger.get_next_fire_time(None, after) == datetime(
        2026, 11, 24, 10, 0, tzinfo=SHANGHAI
    )


def runs_between(trigger: BaseTrigger, start: datetime, end: datetime) -> list[datetime]:
    """The times the scheduler runs the job from `start` until `end`."""
    runs: list[datetime] = []
    due = trigger.get_next_fire_time(None, start)
    while due is not None and due <= end:
        runs.append(due)
        due = trigger.get_next_fire_time(due, due)
    return runs


async def test_the_daily_job_runs_once_a_day(
    services: Services, bot: MockedBot, clock: ManualClock
) -> None:
    async def notify(result: PublishResult) -> None:
        return None

    job: Job = create_scheduler(services, notify, bot).get_job("late_orders")
    assert await job.func(*job.args) == 1  # the job as scheduled: Mei's A-1002 is late
    assert len(messages_to(bot, MEI)) == 1

    clock.set(datetime(2026, 11, 23, 9, 59, tzinfo=SHANGHAI))
    start = clock.now()

    assert runs_between(job.trigger, start, clock.now()) == []
    clock.advance(timedelta(minutes=2))
    assert len(runs_between(job.trigger, start, clock.now())) == 1
    clock.advance(timedelta(hours=5))
    assert len(runs_between(job.trigger, start, clock.now())) == 1
    clock.advance(timedelta(days=1))
    assert len(runs_between(job.trigger, start, clock.now())) == 2
