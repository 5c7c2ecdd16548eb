"""The one scheduler: every timed job of a running bot on one APScheduler, in the shop's time
zone: delivery of scheduled messages, the SLA watch, late orders, the retention of old texts and
the knowledge-base file watch; the reload on SIGHUP runs on it too. Job functions are plain
coroutines with their arguments passed in, which tests call directly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, time
from typing import Protocol
from zoneinfo import ZoneInfo

from aiogram import Bot, Dispatcher
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.clock import Clock
from bot.config import Config
from bot.incidents.notices import IncidentBoard
from bot.incidents.surges import SurgeWatch
from bot.knowledge_admin.publishing import KnowledgePublisher, PublishResult
from bot.middlewares.redelivery import forget_delivered_updates
from bot.orders.late import notify_late_orders
from bot.orders.lookup import OrderStatusService
from bot.privacy.retention import expire_old_texts, keeps_everything
from bot.quality.inspection import QualityInspection
from bot.reports.delivery import deliver_reports
from bot.schedule.delivery import Delivery
from bot.texts import Texts
from bot.tickets.bans import BanList
from bot.tickets.handoff import Handoff
from bot.tickets.lifecycle import TicketService
from bot.tickets.roles import RoleBook
from bot.tickets.sla import check_sla
from bot.web.console.access import forget_old_sign_ins
from bot.web.metrics import Metrics
from storage.database import SessionFactory

log = logging.getLogger(__name__)

SLA_CHECK_SECONDS = 60.0
SURGE_CHECK_SECONDS = 60.0
STOP_GRACE_SECONDS = 10.0
# How soon a role or a ban changed through another replica holds here.
ROLES_REFRESH_SECONDS = 5.0

Notify = Callable[[PublishResult], Awaitable[None]]


class JobServices(Protocol):
    """What the jobs need of the running services (bot.app's Services has all of it)."""

    config: Config
    clock: Clock
    session_factory: SessionFactory
    delivery: Delivery
    handoff: Handoff
    tickets: TicketService
    order_status: OrderStatusService
    publisher: KnowledgePublisher
    roles: RoleBook
    ban_list: BanList
    incidents: IncidentBoard
    surges: SurgeWatch
    metrics: Metrics
    quality: QualityInspection
    texts: Texts


async def watch_knowledge(publisher: KnowledgePublisher, notify: Notify) -> None:
    """Reload the knowledge base when its files changed since the last look."""
    result = await publisher.check_for_changes()
    if result is not None:
        await notify(result)


async def refresh_shared_lists(
    session_factory: SessionFactory, roles: RoleBook, ban_list: BanList, incidents: IncidentBoard
) -> None:
    """Staff roles, banned customers and incident notices as the database has them now
    (changed through any replica, or the command line)."""
    async with session_factory() as session:
        await roles.load(session)
        await ban_list.load(session)
        await incidents.load(session)


async def check_surges(session_factory: SessionFactory, bot: Bot, surges: SurgeWatch) -> None:
    async with session_factory() as session:
        await surges.check(session, bot)


async def reload_knowledge(publisher: KnowledgePublisher, notify: Notify) -> None:
    await notify(await publisher.reload())


def late_orders_trigger(at: time, zone: ZoneInfo) -> CronTrigger:
    """Once a day at `at` o'clock in the shop's time zone."""
    return CronTrigger(hour=at.hour, minute=at.minute, second=at.second, timezone=zone)


def weekly_trigger(day: str, at: time, zone: ZoneInfo) -> CronTrigger:
    """Once a week, on `day` ("mon".."sun") at `at` o'clock in the shop's time zone."""
    return CronTrigger(
        day_of_week=day, hour=at.hour, minute=at.minute, second=at.second, timezone=zone
    )


def create_scheduler(
    services: JobServices, notify: Notify, bot: Bot | None = None, *, web_bot: Bot | None = None
) -> AsyncIOScheduler:
    """Every timed job, not yet started. Without a bot (the terminal, `kefu web`) only the
    knowledge-base watch and the retention: the other jobs write to Telegram's customers and
    agents; and, given the web chat's bot (`kefu web` with no Telegram token), the delivery of
    the web visitors' surveys and revisits."""
    config = services.config
    zone = config.hours.business_hours().zone
    scheduler = AsyncIOScheduler(
        timezone=zone,
        # One run of a job at a time; runs missed (a busy loop, a machine that slept) are made
        # up once, however late, as the daily late-order notice must not be skipped.
        job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
    )
    if config.knowledge.watch_interval > 0:
        scheduler.add_job(
            watch_knowledge,
            "interval",
            seconds=config.knowledge.watch_interval,
            args=[services.publisher, notify],
            id="knowledge_watch",
        )
    if not keeps_everything(config.privacy):  # writes no message: runs in the terminal too
        scheduler.add_job(
            expire_old_texts,
            late_orders_trigger(config.privacy.retention_time, zone),
            args=[services.session_factory, services.clock, config.privacy],
            id="retention",
        )
    if config.console.enabled:  # writes no message: runs under `kefu web` too
        scheduler.add_job(
            forget_old_sign_ins,
            "interval",
            hours=1,
            args=[services.session_factory, services.clock],
            id="console_sign_ins",
        )
    if bot is None:
        if web_bot is not None:
            scheduler.add_job(
                services.delivery.deliver_due,
                "interval",
                seconds=config.schedule.poll_seconds,
                args=[web_bot],
                id="delivery",
                next_run_time=datetime.now(UTC),
            )
        return scheduler
    scheduler.add_job(
        refresh_shared_lists,
        "interval",
        seconds=ROLES_REFRESH_SECONDS,
        args=[services.session_factory, services.roles, services.ban_list, services.incidents],
        id="roles",
    )
    started = datetime.now(UTC)
    scheduler.add_job(
        services.delivery.deliver_due,
        "interval",
        seconds=config.schedule.poll_seconds,
        args=[bot],
        id="delivery",
        next_run_time=started,  # what fell due while the bot was down goes out at once
    )
    scheduler.add_job(
        check_sla,
        "interval",
        seconds=SLA_CHECK_SECONDS,
        args=[services.session_factory, bot, services.handoff, services.tickets],
        id="sla",
        next_run_time=started,
    )
    scheduler.add_job(
        check_surges,
        "interval",
        seconds=SURGE_CHECK_SECONDS,
        args=[services.session_factory, bot, services.surges],
        id="surges",
    )
    if config.telegram.mode == "webhook":
        scheduler.add_job(
            forget_delivered_updates,
            "interval",
            hours=1,
            args=[services.session_factory, services.clock],
            id="delivered_updates",
        )
    if config.report.weekly or config.report.monthly:
        scheduler.add_job(
            deliver_reports,
            late_orders_trigger(config.report.delivery_time, zone),
            args=[
                services.session_factory,
                bot,
                config,
                services.clock,
                services.roles,
                services.texts,
            ],
            id="reports",
        )
    if config.qa.enabled:
        scheduler.add_job(
            services.quality.weekly,
            weekly_trigger(config.qa.day, config.qa.time, zone),
            args=[services.session_factory, bot],
            id="quality_inspection",
        )
    if config.orders.provider == "builtin":  # the shop's API has no way to list late orders
        scheduler.add_job(
            notify_late_orders,
            late_orders_trigger(config.orders.late_notice_time, zone),
            args=[
                bot,
                services.session_factory,
                services.order_status,
                services.clock,
                config.bot.default_language,
            ],
            id="late_orders",
        )
    return scheduler


class _RunningJobs:
    """Counts the job runs in progress, so that stopping can let them finish: a run cut off
    half way would leave its work (a claimed message, a half-sent alert) for the next start."""

    def __init__(self, scheduler: AsyncIOScheduler) -> None:
        self.count = 0
        self.idle = asyncio.Event()
        self.idle.set()
        scheduler.add_listener(self._submitted, EVENT_JOB_SUBMITTED)
        scheduler.add_listener(self._finished, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)

    def _submitted(self, event: JobEvent) -> None:
        self.count += 1
        self.idle.clear()

    def _finished(self, event: JobEvent) -> None:
        self.count = max(self.count - 1, 0)
        if self.count == 0:
            self.idle.set()


@contextlib.asynccontextmanager
async def running_jobs(
    services: JobServices, notify: Notify, bot: Bot | None = None, *, web_bot: Bot | None = None
) -> AsyncIterator[AsyncIOScheduler]:
    """While open, the scheduler runs every job (see create_scheduler) and SIGHUP reloads the
    knowledge base. A failing job is logged with its traceback by APScheduler and runs again
    at its next time."""
    scheduler = create_scheduler(services, notify, bot, web_bot=web_bot)
    running = _RunningJobs(scheduler)

    def count(event: JobEvent) -> None:
        outcome = "error" if event.code == EVENT_JOB_ERROR else "done"
        services.metrics.job_runs.labels(job=event.job_id, outcome=outcome).inc()

    scheduler.add_listener(count, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    scheduler.start()

    def on_hangup() -> None:
        scheduler.add_job(reload_knowledge, args=[services.publisher, notify])

    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, AttributeError):
        loop.add_signal_handler(signal.SIGHUP, on_hangup)
    try:
        yield scheduler
    finally:
        with contextlib.suppress(NotImplementedError, AttributeError):
            loop.remove_signal_handler(signal.SIGHUP)
        scheduler.pause()
        try:
            await asyncio.wait_for(running.idle.wait(), STOP_GRACE_SECONDS)
        except TimeoutError:
            log.warning("stopping with %d job runs unfinished", running.count)
        scheduler.shutdown(wait=False)


def run_with(
    dispatcher: Dispatcher,
    jobs: Callable[[Bot], contextlib.AbstractAsyncContextManager[object]],
) -> None:
    """The jobs run while the dispatcher serves a bot: its startup hook (long polling, or a
    webhook application's startup) starts them with that bot, its shutdown hook stops them."""
    stack = contextlib.AsyncExitStack()

    async def start_jobs(bot: Bot) -> None:
        await stack.enter_async_context(jobs(bot))

    async def stop_jobs() -> None:
        await stack.aclose()

    dispatcher.startup.register(start_jobs)
    dispatcher.shutdown.register(stop_jobs)
