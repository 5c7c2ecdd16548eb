"""kefu's one web application, built by one factory for production and tests alike: the
Telegram webhook (in webhook mode) and the operations endpoints, `/healthz` (the process
answers), `/readyz` (the database, Redis when configured, and the knowledge base are there) and
`/metrics` (Prometheus); and the web chat (bot/web/chat.py) and the managers' console
(bot/web/console/) when given their routes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from bot.channels.update_runs import handling_update
from bot.orders.http_api import HttpOrders
from bot.web.metrics import CONTENT_TYPE, OVERDUE_AFTER
from storage.figures import live_figures

if TYPE_CHECKING:
    from bot.app import Services
    from bot.web.chat import ChatRoutes
    from bot.web.console.views import ConsoleRoutes

log = logging.getLogger(__name__)

SERVICES = web.AppKey("services", object)  # bot.app.Services (imported only for typing)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# How long a readiness check may take before its part counts as unreachable.
CHECK_SECONDS = 3.0


def create_web_app(
    services: Services,
    *,
    dispatcher: Dispatcher | None = None,
    bot: Bot | None = None,
    chat: ChatRoutes | None = None,
    console: ConsoleRoutes | None = None,
) -> web.Application:
    """The operations endpoints always; the webhook when given the dispatcher and its bot (the
    application's startup and shutdown then start and stop the dispatcher's, and its jobs); the
    web chat and the managers' console when given their routes."""
    app = web.Application()
    app[SERVICES] = services
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    if chat is not None:
        chat.register(app)
    if console is not None:
        console.register(app)
    if dispatcher is not None and bot is not None:
        telegram = services.config.telegram
        assert telegram.webhook_secret is not None  # the config requires it in webhook mode
        TelegramWebhook(
            dispatcher,
            bot,
            # Telegram waits for the handling to finish: an update whose process dies on the
            # way is delivered again instead of being lost with it.
            handle_in_background=False,
            secret_token=telegram.webhook_secret.get_secret_value(),
        ).register(app, path=telegram.webhook_path)
        setup_application(app, dispatcher, bot=bot)
    return app


class TelegramWebhook(SimpleRequestHandler):
    """aiogram's handler, refusing a call without the right secret before reading it (said in
    the log without its content), and acknowledging an update it cannot read, logged by its id,
    so that Telegram does not post it again and again ahead of the ones behind it. An update that
    failed because the database is away, having said nothing, is answered 503: Telegram posts it
    again a little later, and it is handled then (its customer told once, meanwhile, that it is
    kept)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._told: set[int] = set()  # chats told of this outage

    async def _handle_request(self, bot: Bot, request: web.Request) -> web.Response:
        with handling_update(self._told) as run:
            response = await super()._handle_request(bot, request)
        if run.held:
            return web.Response(text="The database is away; post it again later.", status=503)
        self._told.clear()  # an update handled: the database answers
        return response

    async def handle(self, request: web.Request) -> web.Response:
        bot = await self.resolve_bot(request)
        if not self.verify_secret(request.headers.get(SECRET_HEADER, ""), bot):
            log.warning("webhook: refused a call from %s: wrong or missing secret", request.remote)
            return web.Response(text="Unauthorized", status=401)
        try:
            raw = await request.json(loads=bot.session.json_loads)
        except ValueError:
            log.warning("webhook: a post that is not JSON; skipped")
            return web.json_response({})
        try:
            Update.model_validate(raw, context={"bot": bot})
        except ValidationError as error:
            update_id = raw.get("update_id") if isinstance(raw, dict) else None
            # where the update is wrong, never what it holds (a customer's text)
            where = sorted({".".join(map(str, e["loc"])) for e in error.errors()})
            log.warning("update=%s cannot be read (%s); skipped", update_id, ", ".join(where))
            return web.json_response({})
        return await super().handle(request)  # the body is read once and kept by aiohttp


def _services(request: web.Request) -> Services:
    services: Services = request.app[SERVICES]  # type: ignore[assignment]
    return services


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"alive": True})


async def readyz(request: web.Request) -> web.Response:
    services = _services(request)
    checks = {"database": await _reachable(services.database_answers())}
    redis = getattr(services.forms, "redis", None)  # aiogram's RedisStorage
    if redis is not None:
        checks["redis"] = await _reachable(redis.ping())
    checks["knowledge_base"] = len(services.faq.knowledge_base) > 0
    ready = all(checks.values())
    body = {
        "ready": ready,
        "checks": {name: "ok" if ok else "failing" for name, ok in checks.items()},
    }
    return web.json_response(body, status=200 if ready else 503)


async def _reachable(check: Awaitable[object]) -> bool:
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            await check
    except Exception as error:  # whatever the driver raises (SQLAlchemy, redis, asyncpg, OS)
        log.warning("readiness: %s", type(error).__name__)
        return False
    return True


async def metrics(request: web.Request) -> web.Response:
    """The counters as they stand, and the gauges read from the database now (kept as they
    were when it cannot be read)."""
    services = _services(request)
    provider = services.order_status.provider
    breaker_open = isinstance(provider, HttpOrders) and not provider.breaker.allows_call()
    try:
        async with asyncio.timeout(CHECK_SECONDS), services.session_factory() as session:
            figures = await live_figures(session, services.clock.now(), OVERDUE_AFTER)
        services.metrics.show(figures, breaker_open)
    except (SQLAlchemyError, OSError, TimeoutError) as error:
        log.warning("metrics: the live figures could not be read: %s", type(error).__name__)
    return web.Response(body=services.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})


@asynccontextmanager
async def serving(app: web.Application, host: str, port: int) -> AsyncIterator[web.AppRunner]:
    """The application listening on host:port while the block runs (port 0: any free one)."""
    runner = web.AppRunner(app, access_log=None)  # no request lines: ids and paths only
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        log.info("web: listening on %s", listening_on(runner))
        yield runner
    finally:
        await runner.cleanup()


def listening_on(runner: web.AppRunner) -> str:
    addresses = [f"http://{a[0]}:{a[1]}" for a in runner.addresses if isinstance(a, tuple)]
    return ", ".join(addresses)
