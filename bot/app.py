"""The composition root: the one place that builds every part and wires them together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError, TelegramUnauthorizedError
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder
from aiogram.types import User
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channels.cleaning import CleanInputMiddleware
from bot.channels.commands import set_commands
from bot.channels.polling import ConfirmingDispatcher
from bot.channels.send_limit import SendLimit, create_send_limit
from bot.channels.telegram import (
    TelegramUnreachable,
    api_server_name,
    create_bot,
)
from bot.channels.web_chat import WebChat
from bot.clock import Clock, SystemClock
from bot.config import Config
from bot.faq.answers import FaqService, create_matcher, load_knowledge
from bot.faq.front_desk import FrontDesk
from bot.followups.answers import FeedbackAnswers
from bot.followups.surveys import FollowUps
from bot.incidents.broadcasts import Broadcasts
from bot.incidents.notices import IncidentBoard
from bot.incidents.surges import SurgeWatch
from bot.incidents.urgent import UrgentDesk
from bot.incidents.words import UrgentWords
from bot.knowledge_admin.editing import EditError, KnowledgeEditor
from bot.knowledge_admin.learning import Learning
from bot.knowledge_admin.publishing import KnowledgePublisher, PublishResult
from bot.middlewares.bans import BanMiddleware
from bot.middlewares.database import DatabaseMiddleware
from bot.middlewares.forms import DatabaseFormStorage
from bot.middlewares.language import LanguageMiddleware
from bot.middlewares.log_context import NameTheUpdate
from bot.middlewares.redelivery import SkipRedelivered
from bot.middlewares.throttling import ThrottlingMiddleware
from bot.orders.http_api import HttpOrders
from bot.orders.lookup import OrderLookup, OrderStatusService, OrdersUnavailableNow
from bot.orders.providers import BuiltinOrders, OrdersProvider
from bot.orders.returns import ReturnRequests
from bot.privacy.customer_data import CustomerData
from bot.quality.inspection import QualityInspection
from bot.schedule.delivery import ComposerByKind, Delivery, RateLimiter, Schedule
from bot.schedule.jobs import run_with, running_jobs
from bot.texts import Say, Texts
from bot.tickets.agent_desk import AgentDesk
from bot.tickets.bans import BanList, Bans
from bot.tickets.handoff import Handoff
from bot.tickets.intake import Intake
from bot.tickets.lifecycle import TicketService
from bot.tickets.roles import RoleBook
from bot.tickets.teams import Teams
from bot.tickets.transcript import Transcripts
from bot.tickets.vip import VipTiers
from bot.web.app import create_web_app, serving
from bot.web.chat import ChatRoutes
from bot.web.console.access import ConsoleAccess
from bot.web.console.views import ConsoleRoutes
from bot.web.metrics import CountUpdates, Metrics
from handlers import (
    admin_broadcasts,
    admin_commands,
    admin_incidents,
    agents_group,
    console,
    customer_feedback,
    customer_news,
    customer_orders,
    customer_privacy,
    customer_questions,
    customer_returns,
    customer_tickets,
    customer_urgent,
    errors,
    quality_inspection,
)
from knowledge import KnowledgeBase, Matcher
from storage.customers import language_of
from storage.database import SessionFactory, create_session_factory, start_engine
from storage.models import ScheduledKind

log = logging.getLogger(__name__)

# How long the start waits for Telegram's first answer (its retries included) before it gives up
TELEGRAM_START_SECONDS = 60.0

# Outcomes a router's error handler answers; what an update did before one is kept.
EXPECTED_ERRORS: tuple[type[Exception], ...] = (OrdersUnavailableNow, EditError)


@dataclass
class Services:
    config: Config
    clock: Clock
    texts: Texts
    knowledge_base: KnowledgeBase
    matcher: Matcher
    faq: FaqService
    publisher: KnowledgePublisher
    editor: KnowledgeEditor
    learning: Learning
    tickets: TicketService
    handoff: Handoff
    roles: RoleBook
    teams: Teams
    vip: VipTiers
    order_status: OrderStatusService
    schedule: Schedule
    follow_ups: FollowUps
    delivery: Delivery
    intake: Intake
    lookup: OrderLookup
    returns: ReturnRequests
    desk: FrontDesk
    feedback: FeedbackAnswers
    agent_desk: AgentDesk
    bans: Bans
    ban_list: BanList
    customer_data: CustomerData
    urgent: UrgentDesk
    incidents: IncidentBoard
    surges: SurgeWatch
    broadcasts: Broadcasts
    engine: AsyncEngine
    session_factory: SessionFactory
    forms: BaseStorage
    metrics: Metrics
    send_limit: SendLimit
    quality: QualityInspection
    console: ConsoleAccess
    web_secret: str  # signs the web chat's and the console's cookies

    async def database_answers(self) -> None:
        """Returns when the database answers a query; raises whatever the driver raises when it
        cannot be reached."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.forms.close()
        await self.send_limit.close()
        await self.order_status.provider.close()
        await self.engine.dispose()


def instance_name() -> str:
    """Names this running process in the schedule's claims (several may share a database)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def create_orders_provider(
    config: Config, session_factory: SessionFactory, clock: Clock
) -> OrdersProvider:
    if config.orders.provider == "http":
        return HttpOrders(config.orders.http, clock)
    return BuiltinOrders(session_factory)


async def create_services(config: Config, clock: Clock | None = None) -> Services:
    """Everything the bot needs; raises KnowledgeBaseError before touching the database."""
    clock = clock or SystemClock()
    knowledge_base = load_knowledge(config)
    matcher = create_matcher(config, knowledge_base)
    engine = await start_engine(
        config.database.url,
        pool_size=config.database.pool_size,
        pool_timeout=config.database.pool_timeout_seconds,
    )
    log.info(
        "knowledge base: %d entries, %d questions",
        len(knowledge_base),
        knowledge_base.variant_count(),
    )
    texts = Texts.load(config.placeholders())
    metrics = Metrics()
    faq = FaqService(matcher, clock, texts, metrics)
    publisher = KnowledgePublisher(config, faq)
    session_factory = create_session_factory(engine)
    hours = config.hours.business_hours()
    schedule = Schedule(config.schedule, clock, hours.zone, instance_name())
    follow_ups = FollowUps(config, schedule, clock, texts)
    tickets = TicketService(clock, hours, config.sla, follow_ups, config.teams)
    vip = VipTiers(config.sla, tickets, clock)
    limiter = RateLimiter(config.schedule.messages_per_second, config.schedule.seconds_per_chat)
    roles = RoleBook(config.roles, clock)
    teams = Teams(config.teams, roles, clock)
    ban_list = BanList()
    incidents = IncidentBoard(clock, lambda: faq.knowledge_base.entries.keys())
    async with session_factory() as session:
        await roles.load(session)
        await ban_list.load(session)
        await incidents.load(session)
    order_status = OrderStatusService(
        create_orders_provider(config, session_factory, clock),
        config.orders,
        clock,
        texts,
        hours,
        tier_from_shop=vip.from_shop,
    )
    handoff = Handoff(
        config,
        tickets,
        hours,
        texts,
        clock,
        roles,
        order_status.shown_to,
        transcripts=Transcripts(texts, hours.zone),
        teams=teams,
        recent_orders=order_status.recent_of,
    )
    urgent_words = UrgentWords(config.incidents.urgent_terms)
    intake = Intake(
        tickets,
        handoff,
        texts,
        timedelta(hours=config.tickets.reopen_window_hours),
        urgent_words,
    )
    lookup = OrderLookup(order_status, config.returns, texts)
    returns = ReturnRequests(lookup, intake, handoff, faq, config.returns, texts)
    editor = KnowledgeEditor(config, publisher, clock)
    broadcasts = Broadcasts(config, schedule, clock, texts)
    learning = Learning(config, clock, lambda: faq.knowledge_base, editor.publish, texts)
    quality = QualityInspection(
        config.qa, clock, hours.zone, roles, texts, handoff.transcripts, config.agents.language
    )
    web_secret = web_secret_of(config)
    return Services(
        config=config,
        clock=clock,
        texts=texts,
        knowledge_base=knowledge_base,
        matcher=matcher,
        faq=faq,
        publisher=publisher,
        editor=editor,
        learning=learning,
        tickets=tickets,
        handoff=handoff,
        roles=roles,
        teams=teams,
        vip=vip,
        order_status=order_status,
        intake=intake,
        lookup=lookup,
        returns=returns,
        desk=FrontDesk(
            faq,
            intake,
            lookup,
            returns,
            follow_ups,
            learning,
            texts,
            clock,
            config.bot.menu_size,
            incidents,
        ),
        incidents=incidents,
        surges=SurgeWatch(
            config.incidents,
            clock,
            lambda: faq.knowledge_base,
            roles,
            texts,
            config.agents.group_id,
            config.agents.language,
        ),
        feedback=FeedbackAnswers(follow_ups, handoff, texts),
        agent_desk=AgentDesk(
            config.agents, roles, tickets, handoff, faq, learning, config.bot.default_language
        ),
        bans=Bans(clock, roles, tickets, handoff, ban_list),
        ban_list=ban_list,
        customer_data=CustomerData(order_status, tickets, schedule, texts, clock),
        urgent=UrgentDesk(urgent_words, tickets, handoff, intake, texts),
        schedule=schedule,
        follow_ups=follow_ups,
        broadcasts=broadcasts,
        delivery=Delivery(
            schedule,
            session_factory,
            ComposerByKind(follow_ups, {ScheduledKind.BROADCAST: broadcasts}),
            limiter,
            channel_bots=handoff.channel_bots,  # web visitors get broadcasts on their page
            loud_kinds=(
                frozenset({ScheduledKind.BROADCAST})
                if config.broadcasts.during_quiet_hours
                else frozenset()
            ),
        ),
        engine=engine,
        session_factory=session_factory,
        forms=create_form_storage(config, session_factory, clock),
        metrics=metrics,
        quality=quality,
        console=ConsoleAccess(config, roles, clock, web_secret),
        web_secret=web_secret,
        send_limit=create_send_limit(
            config.telegram.max_sends_per_second,
            config.telegram.redis_url.get_secret_value() if config.telegram.redis_url else None,
        ),
    )


def web_secret_of(config: Config) -> str:
    """[web] secret, else one made up for this run (said in the log once the web application
    is served: cookies then do not outlive the process)."""
    secret = config.web.secret.get_secret_value() if config.web.secret else ""
    return secret or secrets.token_urlsafe(32)


def create_form_storage(
    config: Config, session_factory: SessionFactory, clock: Clock
) -> BaseStorage:
    """Where forms in progress are kept: the database by default, Redis for replicas."""
    if config.telegram.fsm_storage == "redis":
        # Imported here: the redis package is needed only by those who choose it.
        from aiogram.fsm.storage.redis import RedisStorage

        assert config.telegram.redis_url is not None  # the config checks it is set
        return RedisStorage.from_url(
            config.telegram.redis_url.get_secret_value(),
            key_builder=DefaultKeyBuilder(with_bot_id=True, with_destiny=True),
        )
    return DatabaseFormStorage(session_factory, clock)


def create_dispatcher(
    services: Services, channel: str = "telegram", *, jobs: bool = True
) -> Dispatcher:
    """The one dispatcher of a channel; for Telegram its startup starts the timed jobs unless
    `jobs` is False (a test that only feeds it updates through the web application)."""
    dispatcher = ConfirmingDispatcher(
        database_answers=services.database_answers,
        storage=services.forms,
        # registered below, after the database middleware, so that reading the form uses the
        # update's own session rather than a connection and a transaction of its own
        disable_fsm=True,
        config=services.config,
        clock=services.clock,
        texts=services.texts,
        faq=services.faq,
        publisher=services.publisher,
        editor=services.editor,
        learning=services.learning,
        tickets=services.tickets,
        handoff=services.handoff,
        roles=services.roles,
        teams=services.teams,
        vip=services.vip,
        order_status=services.order_status,
        follow_ups=services.follow_ups,
        schedule=services.schedule,
        intake=services.intake,
        lookup=services.lookup,
        returns=services.returns,
        desk=services.desk,
        feedback=services.feedback,
        agent_desk=services.agent_desk,
        bans=services.bans,
        customer_data=services.customer_data,
        urgent=services.urgent,
        incidents=services.incidents,
        broadcasts=services.broadcasts,
        quality=services.quality,
        console=services.console,
    )
    dispatcher.update.outer_middleware(NameTheUpdate())
    dispatcher.update.outer_middleware(CountUpdates(services.metrics))
    dispatcher.update.outer_middleware(CleanInputMiddleware())
    dispatcher.update.outer_middleware(
        ThrottlingMiddleware(
            services.config.flood,
            services.clock,
            services.texts,
            services.config.bot.default_language,
        )
    )
    dispatcher.update.outer_middleware(
        DatabaseMiddleware(
            services.session_factory,
            services.clock,
            channel,
            on_new_customer=services.follow_ups.customer_first_seen,
            expected=EXPECTED_ERRORS,
            form_key=form_row_key(dispatcher, services.forms),
            reopen_window=services.intake.reopen_window,
        )
    )
    if channel == "telegram" and services.config.telegram.mode == "webhook":
        dispatcher.update.outer_middleware(SkipRedelivered(services.clock))
    dispatcher.update.outer_middleware(BanMiddleware(services.ban_list))
    dispatcher.update.outer_middleware(dispatcher.fsm)
    dispatcher.update.outer_middleware(
        LanguageMiddleware(
            services.texts,
            services.config.bot.default_language,
            services.config.agents.group_id,
            services.config.agents.language,
        )
    )
    dispatcher.include_router(admin_incidents.create_router())
    dispatcher.include_router(admin_broadcasts.create_router())
    dispatcher.include_router(quality_inspection.create_router())  # before /qa's refusal
    dispatcher.include_router(console.create_router())  # supervisors too, before admins' refusal
    dispatcher.include_router(admin_commands.create_router())
    dispatcher.include_router(agents_group.create_router())
    dispatcher.include_router(customer_privacy.create_router())  # in any form, before intake's
    dispatcher.include_router(customer_news.create_router())
    dispatcher.include_router(customer_feedback.create_router())  # a comment asked for comes first
    dispatcher.include_router(customer_urgent.create_router())  # before the relay and the FAQ
    dispatcher.include_router(customer_tickets.create_router())
    dispatcher.include_router(customer_returns.create_router())
    dispatcher.include_router(customer_orders.create_router())
    dispatcher.include_router(customer_questions.create_router())
    dispatcher.include_router(errors.create_router())
    if channel == "telegram" and jobs:  # the jobs write to Telegram's customers and agents
        run_with(dispatcher, partial(telegram_jobs, services))
    return dispatcher


def form_row_key(
    dispatcher: Dispatcher, forms: BaseStorage
) -> Callable[[dict[str, Any]], str | None] | None:
    """The key of an update's form row, for the database middleware to read with the customer
    whether there is one; None when forms are not kept in the database (Redis)."""
    if not isinstance(forms, DatabaseFormStorage):
        return None

    def key(data: dict[str, Any]) -> str | None:
        context = dispatcher.fsm.resolve_event_context(data["bot"], data)
        return None if context is None else forms.keys.build(context.key)

    return key


def create_web_chat(services: Services, telegram: Bot | None = None) -> ChatRoutes | None:
    """The web chat's routes over a dispatcher of its own (channel "web"), or None when
    `[web] chat` is off. What it sends to staff chats (a ticket's topic) goes through
    `telegram` when kefu serves Telegram."""
    web = services.config.web
    if not web.chat:
        return None
    if web.secret is None:
        log.warning(
            "web chat: no [web] secret (or KEFU_WEB_SECRET): one was made up for this run, "
            "so visitors will not be recognised after a restart"
        )
    dispatcher = create_dispatcher(services, channel="web")
    redis_url = services.config.telegram.redis_url  # shared with the other replicas
    web_chat = WebChat(
        dispatcher,
        services.session_factory,
        services.clock,
        telegram,
        file_max_bytes=int(web.file_max_mb * 1024 * 1024),
        redis_url=redis_url.get_secret_value() if redis_url else None,
        concurrency=services.config.database.pool_size,
    )
    services.handoff.channel_bots["web"] = web_chat.bot  # agents' replies reach the page
    return ChatRoutes(
        web_chat, services.config, services.texts, services.clock, services.web_secret
    )


def create_console(services: Services, telegram: Bot | None = None) -> ConsoleRoutes | None:
    """The managers' console, or None when `[console] enabled` is off; it shows the photos on
    tickets through `telegram` when kefu serves Telegram."""
    if not services.config.console.enabled:
        return None
    if services.config.web.secret is None:
        log.warning(
            "console: no [web] secret (or KEFU_WEB_SECRET): one was made up for this run, "
            "so everyone signed in must sign in again after a restart"
        )
    return ConsoleRoutes(services, services.console, telegram)


async def run_web(services: Services) -> None:
    """`kefu web`: the web application alone (the chat, its widget, the operations endpoints),
    with no Telegram at all, until interrupted; of the timed jobs, those that write to no one
    (the knowledge-base watch, the retention of old texts), and, when no Telegram token is
    configured (no `kefu run` to send them), the web visitors' surveys and revisits."""
    config = services.config
    routes = create_web_chat(services)
    app = create_web_app(services, chat=routes, console=create_console(services))
    web_bot = routes.web.bot if routes is not None and not config.telegram.enabled else None

    async def notify(result: PublishResult) -> None:
        log.info("knowledge base: %s", result.message())

    async with (
        running_jobs(services, notify, web_bot=web_bot),
        serving(app, config.web.host, config.web.port),
    ):
        await until_stopped()


async def tell_admins(services: Services, bot: Bot, text: Callable[[Say], str]) -> None:
    """Each admin in their private chat, in their language (the one they chose there with
    /language or last wrote in), else in the agents' group's."""
    config = services.config
    for admin_id in services.roles.with_role("admin"):
        async with services.session_factory() as session:
            language = await language_of(session, "telegram", str(admin_id))
        say = Say(services.texts, language or config.agents.language)
        try:
            await bot.send_message(admin_id, text(say))
        except TelegramAPIError as error:
            log.warning("could not tell admin=%s: %s", admin_id, type(error).__name__)


def telegram_jobs(
    services: Services, bot: Bot
) -> contextlib.AbstractAsyncContextManager[AsyncIOScheduler]:
    """Every timed job, sending through `bot`; knowledge-base reloads are told to the admins."""

    async def notify(result: PublishResult) -> None:
        await tell_admins(services, bot, result.told)

    return running_jobs(services, notify, bot)


async def first_answer(bot: Bot, config: Config) -> User:
    """The bot's own account, the first request: TelegramUnreachable in one sentence when
    Telegram cannot be reached or refuses the token."""
    where = api_server_name(config)
    try:
        return await asyncio.wait_for(bot.get_me(), TELEGRAM_START_SECONDS)
    except TelegramUnauthorizedError:
        raise TelegramUnreachable(
            f"{where} refused the bot token ([telegram] token or KEFU_TELEGRAM_TOKEN)"
        ) from None
    except (TelegramAPIError, TimeoutError) as error:
        raise TelegramUnreachable(
            f"cannot reach Telegram at {where} within {TELEGRAM_START_SECONDS:.0f} s "
            f"({type(error).__name__})"
        ) from None


async def run_telegram(services: Services) -> None:
    """Serve Telegram until interrupted, by long polling or, in webhook mode, on the web
    application, which serves the operations endpoints in both modes. The dispatcher's startup
    starts the jobs (and, for polling, connects to Telegram and removes any webhook)."""
    config = services.config
    bot = create_bot(config, metrics=services.metrics, send_limit=services.send_limit)
    dispatcher = create_dispatcher(services, channel="telegram")
    try:
        if config.telegram.mode == "webhook":
            app = create_web_app(
                services,
                dispatcher=dispatcher,
                bot=bot,
                chat=create_web_chat(services, bot),
                console=create_console(services, bot),
            )
            async with serving(app, config.web.host, config.web.port):
                # set once kefu listens, so that Telegram's first post finds it; left in place
                # at shutdown, for the other replicas
                await connect_telegram(services, bot)
                await until_stopped()
            return
        dispatcher.startup.register(partial(connect_telegram, services))
        async with contextlib.AsyncExitStack() as stack:
            if config.web.enabled:
                try:
                    app = create_web_app(
                        services,
                        chat=create_web_chat(services, bot),
                        console=create_console(services, bot),
                    )
                    await stack.enter_async_context(serving(app, config.web.host, config.web.port))
                except OSError as error:  # customers are still served, by polling
                    log.error(
                        "web: cannot listen on %s:%s (%s); no web chat, /healthz, /readyz or "
                        "/metrics",
                        config.web.host,
                        config.web.port,
                        error.strerror,
                    )
            # As many updates at once as there are connections: the rest wait their turn in
            # aiogram, where no timeout runs out, instead of in the pool, where one does.
            await dispatcher.start_polling(
                bot,
                handle_signals=True,
                tasks_concurrency_limit=config.database.pool_size,
            )
    finally:
        await bot.session.close()


async def connect_telegram(services: Services, bot: Bot) -> None:
    """Who the bot is, its command menus, and where Telegram sends updates (the webhook, with
    its secret, or none for long polling)."""
    config = services.config
    me = await first_answer(bot, config)
    log.info("connected to Telegram as @%s", me.username)
    await set_commands(
        bot,
        services.texts,
        config.bot.default_language,
        config.agents.group_id,
        services.roles.with_role("admin"),
        services.roles.with_role("supervisor"),
    )
    telegram = config.telegram
    if telegram.mode == "webhook":
        assert telegram.webhook_secret is not None  # the config requires it in webhook mode
        await bot.set_webhook(
            telegram.webhook_url,
            secret_token=telegram.webhook_secret.get_secret_value(),
            drop_pending_updates=telegram.drop_pending_updates,
            # no more updates at once than there are connections to handle them
            max_connections=min(100, config.database.pool_size),
        )
        log.info("webhook set")
    else:
        await bot.delete_webhook(drop_pending_updates=telegram.drop_pending_updates)


async def until_stopped() -> None:
    """Wait for SIGINT or SIGTERM."""
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stopped.set)
    try:
        await stopped.wait()
    finally:
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)
