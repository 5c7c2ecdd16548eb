"""The one scheduler: which jobs it runs, started and stopped by the dispatcher's hooks, and how
a failing or unfinished job is treated."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiogram.methods import SendMessage
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.app import Services, create_dispatcher, create_services
from bot.clock import ManualClock
from bot.config import load_config
from bot.knowledge_admin.publishing import PublishResult
from bot.schedule.jobs import create_scheduler, refresh_shared_lists, running_jobs
from storage.bans import ban
from storage.customers import touch_customer
from tests.conftest import ADMIN_ID, GIFT_CARDS_ENTRY
from tests.mocked_bot import MockedBot

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def ignore(result: PublishResult) -> None:
    return None


@contextlib.asynccontextmanager
async def paused(scheduler: AsyncIOScheduler) -> AsyncIterator[AsyncIOScheduler]:
    """The scheduler started (its jobs added, with their defaults) but paused: nothing runs."""
    scheduler.start(paused=True)
    try:
        yield scheduler
    finally:
        scheduler.shutdown(wait=False)


async def job_ids(scheduler: AsyncIOScheduler) -> list[str]:
    async with paused(scheduler):
        return sorted(job.id for job in scheduler.get_jobs())


@pytest.fixture
async def services(
    write_config: Callable[..., Path], clock: ManualClock
) -> AsyncIterator[Services]:
    services = await create_services(load_config(write_config(), environ={}), clock=clock)
    yield services
    await services.close()


async def test_every_timed_job_is_on_the_one_scheduler(services: Services) -> None:
    scheduler = create_scheduler(services, ignore, MockedBot())
    assert scheduler.timezone == SHANGHAI
    async with paused(scheduler):
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert sorted(jobs) == [
            "console_sign_ins",
            "delivery",
            "knowledge_watch",
            "late_orders",
            "quality_inspection",
            "reports",
            "retention",
            "roles",
            "sla",
            "surges",
        ]
        assert all(job.max_instances == 1 and job.coalesce for job in jobs.values())
        intervals = {
            name: job.trigger.interval
            for name, job in jobs.items()
            if isinstance(job.trigger, IntervalTrigger)
        }
        assert intervals == {
            "delivery": timedelta(seconds=5),  # [schedule] poll_seconds
            "sla": timedelta(seconds=60),
            "knowledge_watch": timedelta(seconds=2),  # [knowledge] watch_interval
            "roles": timedelta(seconds=5),
            "surges": timedelta(seconds=60),
            "console_sign_ins": timedelta(hours=1),
        }
        late = jobs["late_orders"].trigger
        assert isinstance(late, CronTrigger) and late.timezone == SHANGHAI
        retention = jobs["retention"].trigger
        assert isinstance(retention, CronTrigger) and retention.timezone == SHANGHAI
        assert str(retention) == str(CronTrigger(hour=3, minute=30, second=0, timezone=SHANGHAI))
        quality = jobs["quality_inspection"].trigger  # [qa] day and time
        assert str(quality) == str(
            CronTrigger(day_of_week="mon", hour=10, minute=0, second=0, timezone=SHANGHAI)
        )


async def test_a_role_changed_through_another_replica_holds_after_the_refresh(
    services: Services, write_config: Callable[..., Path], clock: ManualClock
) -> None:
    other = await create_services(load_config(write_config(), environ={}), clock=clock)
    try:
        async with other.session_factory() as session:
            await other.roles.change(session, 777, "supervisor", by=ADMIN_ID)
            await session.commit()
        assert other.roles.role_of(777) == "supervisor"
        assert services.roles.role_of(777) is None  # not yet read here
        await refresh_shared_lists(
            services.session_factory, services.roles, services.ban_list, services.incidents
        )
        assert services.roles.role_of(777) == "supervisor"
        async with other.session_factory() as session:
            await other.roles.change(session, 777, "none", by=ADMIN_ID)
            await session.commit()
        await refresh_shared_lists(
            services.session_factory, services.roles, services.ban_list, services.incidents
        )
        assert services.roles.role_of(777) is None

        async with other.session_factory() as session:  # a ban made through the other one
            customer = await touch_customer(session, "telegram", "555", now=clock.now())
            assert customer.id is not None
            await ban(session, customer.id, ADMIN_ID, clock.now())
            await session.commit()
        assert not services.ban_list.holds(customer.id)
        await refresh_shared_lists(
            services.session_factory, services.roles, services.ban_list, services.incidents
        )
        assert services.ban_list.holds(customer.id)
    finally:
        await other.close()


async def test_the_terminal_runs_only_the_jobs_that_send_nothing(services: Services) -> None:
    assert await job_ids(create_scheduler(services, ignore)) == [
        "console_sign_ins",
        "knowledge_watch",
        "retention",
    ]


async def test_late_orders_only_with_the_builtin_provider_and_the_rest_only_when_asked(
    write_config: Callable[..., Path], clock: ManualClock
) -> None:
    path = write_config(
        replace={
            'provider = "builtin"': 'provider = "http"',
            '\nurl = ""': '\nurl = "http://127.0.0.1:9/orders/{number}"',
            "watch_interval = 2.0": "watch_interval = 0",
            "keep_message_text_days = 365": "keep_message_text_days = 0",
            "keep_ticket_text_days = 365": "keep_ticket_text_days = 0",
            "keep_unanswered_days = 365": "keep_unanswered_days = 0",
            "session_hours.\nenabled = true": "session_hours.\nenabled = false",
        }
    )
    services = await create_services(load_config(path, environ={}), clock=clock)
    try:
        jobs = await job_ids(create_scheduler(services, ignore, MockedBot()))
    finally:
        await services.close()
    assert jobs == ["delivery", "quality_inspection", "reports", "roles", "sla", "surges"]


def add_gift_cards(kb_copy: Path) -> None:
    with (kb_copy / "shop.yaml").open("a", encoding="utf-8") as file:
        file.write(GIFT_CARDS_ENTRY)


async def told_admin(bot: MockedBot, seconds: float) -> list[str]:
    """What the admin was sent within `seconds` (the file watch looks every 0.02 s)."""
    for _ in range(int(seconds / 0.01)):
        texts = [m.text for m in bot.recorder.sent_messages() if m.chat_id == ADMIN_ID]
        if texts:
            return texts
        await asyncio.sleep(0.01)
    return []


async def test_the_dispatcher_starts_the_jobs_with_its_bot_and_stops_them(
    admin_services: Services, kb_copy: Path
) -> None:
    bot = MockedBot()
    dispatcher = create_dispatcher(admin_services)
    await dispatcher.emit_startup(bot=bot)  # as start_polling and a webhook app's startup do
    try:
        add_gift_cards(kb_copy)
        [notice] = await told_admin(bot, 5)
        # an admin who never wrote to the bot reads the team's language ([agents] language)
        assert notice == "知识库已重新加载：6 个条目（新增 1 条：gift_cards）。"
    finally:
        await dispatcher.emit_shutdown(bot=bot)

    (kb_copy / "shop.yaml").write_text("", encoding="utf-8")
    await asyncio.sleep(0.2)  # ten looks of a running watch
    assert len(bot.recorder.sent_messages()) == 1


async def test_the_terminal_dispatcher_starts_no_telegram_jobs(
    admin_services: Services, kb_copy: Path
) -> None:
    bot = MockedBot()
    dispatcher = create_dispatcher(admin_services, channel="terminal")
    await dispatcher.emit_startup(bot=bot)
    try:
        add_gift_cards(kb_copy)
        assert await told_admin(bot, 0.2) == []
    finally:
        await dispatcher.emit_shutdown(bot=bot)
    assert bot.recorder.of_type(SendMessage) == []


async def test_a_failing_job_is_logged_and_runs_again(
    admin_services: Services, kb_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    check = admin_services.publisher.check_for_changes
    calls = 0

    async def fails_once() -> PublishResult | None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("the disk is gone")
        return await check()

    admin_services.publisher.check_for_changes = fails_once  # type: ignore[method-assign]
    results: asyncio.Queue[PublishResult] = asyncio.Queue()
    async with running_jobs(admin_services, results.put):
        add_gift_cards(kb_copy)
        reloaded = await asyncio.wait_for(results.get(), timeout=5)
    assert reloaded.change.added == ["gift_cards"]
    [failure] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "watch_knowledge" in failure.getMessage()
    assert failure.exc_info is not None and isinstance(failure.exc_info[1], OSError)


async def test_stopping_lets_a_running_job_finish(
    admin_services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    began, finished = asyncio.Event(), asyncio.Event()

    async def slow_look() -> PublishResult | None:
        began.set()
        await asyncio.sleep(0.1)
        finished.set()
        return None

    admin_services.publisher.check_for_changes = slow_look  # type: ignore[method-assign]
    async with running_jobs(admin_services, ignore):
        await asyncio.wait_for(began.wait(), timeout=5)
    assert finished.is_set()
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
