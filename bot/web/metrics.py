"""What the service counts for Prometheus: updates, answers, Telegram's errors, and how the
tickets and the schedule stand. One registry per running service (not the library's global
one), so that tests and several services in one process do not share counters."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from aiogram import BaseMiddleware
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import GetUpdates, Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import TelegramObject, Update
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from storage.figures import LiveFigures
from storage.models import TicketStatus

if TYPE_CHECKING:
    from aiogram import Bot

CONTENT_TYPE = CONTENT_TYPE_LATEST
# A scheduled message this late is overdue: delivery runs every few seconds.
OVERDUE_AFTER = timedelta(minutes=5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.updates = Counter(
            "kefu_updates", "Updates handled, by type and outcome", ["type", "outcome"], registry=r
        )
        self.update_seconds = Histogram(
            "kefu_update_seconds",
            "Time spent handling an update, its replies sent (not its wait in the queue)",
            ["type"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.decisions = Counter(
            "kefu_match_decisions", "What the bot did with a question", ["decision"], registry=r
        )
        self.telegram_errors = Counter(
            "kefu_telegram_errors",
            "Requests to Telegram that failed, by code ('network' when unreached)",
            ["method", "code"],
            registry=r,
        )
        self.telegram_waits = Counter(
            "kefu_telegram_retry_after_seconds",
            "Seconds Telegram asked the bot to wait (429 retry_after)",
            registry=r,
        )
        self.send_limit_waits = Counter(
            "kefu_telegram_send_limit_wait_seconds",
            "Seconds messages waited for their turn under the global send limit",
            registry=r,
        )
        self.job_runs = Counter(
            "kefu_job_runs",
            "Runs of the timed jobs that ended, by job and outcome (done, error)",
            ["job", "outcome"],
            registry=r,
        )
        self.tickets = Gauge("kefu_tickets", "Tickets by status", ["status"], registry=r)
        self.sla_overdue = Gauge(
            "kefu_sla_overdue_tickets",
            "Open tickets past their SLA, by target (first_response, resolution)",
            ["target"],
            registry=r,
        )
        self.scheduled = Gauge(
            "kefu_scheduled_messages",
            "Scheduled messages: pending (waiting to go), overdue (of those, due over 5 min ago), "
            "uncertain (a send that may or may not have arrived)",
            ["state"],
            registry=r,
        )
        self.orders_api_open = Gauge(
            "kefu_orders_api_circuit_open",
            "1 while the circuit breaker keeps calls off the shop's orders API",
            registry=r,
        )

    def show(self, figures: LiveFigures, orders_api_open: bool) -> None:
        """Set the gauges from the figures read at scrape time."""
        for status in TicketStatus:
            self.tickets.labels(status=status.value).set(
                figures.tickets_by_status.get(status.value, 0)
            )
        self.sla_overdue.labels(target="first_response").set(figures.first_response_overdue)
        self.sla_overdue.labels(target="resolution").set(figures.resolution_overdue)
        self.scheduled.labels(state="pending").set(figures.scheduled_pending)
        self.scheduled.labels(state="overdue").set(figures.scheduled_overdue)
        self.scheduled.labels(state="uncertain").set(figures.scheduled_uncertain)
        self.orders_api_open.set(1 if orders_api_open else 0)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class CountUpdates(BaseMiddleware):
    """The first of the dispatcher's outer middlewares: counts and times every update."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        kind = event.event_type if isinstance(event, Update) else type(event).__name__
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await handler(event, data)
            outcome = "unhandled" if result is UNHANDLED else "handled"
            return result
        finally:
            self.metrics.updates.labels(type=kind, outcome=outcome).inc()
            self.metrics.update_seconds.labels(type=kind).observe(time.perf_counter() - started)


class CountTelegramErrors(BaseRequestMiddleware):
    """The innermost of the bot session's middlewares: sees every try of every request."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        try:
            return await make_request(bot, method)
        except TelegramAPIError as error:
            if not isinstance(method, GetUpdates):
                self.metrics.telegram_errors.labels(
                    method=method.__api_method__, code=_code(error)
                ).inc()
                if isinstance(error, TelegramRetryAfter):
                    self.metrics.telegram_waits.inc(error.retry_after)
            raise


CODES: tuple[tuple[type[TelegramAPIError], str], ...] = (
    (TelegramNetworkError, "network"),
    (TelegramRetryAfter, "429"),
    (TelegramServerError, "5xx"),
    (TelegramBadRequest, "400"),
    (TelegramUnauthorizedError, "401"),
    (TelegramForbiddenError, "403"),
    (TelegramNotFound, "404"),
    (TelegramConflictError, "409"),
    (TelegramEntityTooLarge, "413"),
)


def _code(error: TelegramAPIError) -> str:
    return next((code for kind, code in CODES if isinstance(error, kind)), "other")
