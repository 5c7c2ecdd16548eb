"""The shop's own orders API as an orders provider: one GET per order, with a timeout, retries
with backoff, a circuit breaker, and a field mapping from the shop's JSON to ours. Whatever goes
wrong becomes OrdersUnavailable, which the bot turns into a clear message and a way to a person."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import aiohttp
from pydantic import ValidationError

from bot.clock import Clock
from bot.config import HttpOrdersConfig
from bot.orders.providers import OrdersUnavailable, OrderView

log = logging.getLogger(__name__)


class CircuitBreaker:
    """After `failures` failures in a row the shop is not called for `reset` seconds; then one
    call is let through, and its outcome closes or reopens the breaker."""

    def __init__(self, failures: int, reset: timedelta, clock: Clock) -> None:
        self.failures_allowed = failures
        self.reset = reset
        self.clock = clock
        self.failures = 0
        self.open_until: datetime | None = None

    def allows_call(self) -> bool:
        return self.open_until is None or self.clock.now() >= self.open_until

    def succeeded(self) -> None:
        self.failures = 0
        self.open_until = None

    def failed(self) -> None:
        self.failures += 1
        if self.failures >= self.failures_allowed:
            if self.open_until is None or self.clock.now() >= self.open_until:
                log.warning("orders API: %s failures in a row, pausing calls", self.failures)
            self.open_until = self.clock.now() + self.reset


def _lookup(document: Any, path: str) -> Any:
    value = document
    for key in path.split(".") if path else []:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


class HttpOrders:
    def __init__(self, settings: HttpOrdersConfig, clock: Clock) -> None:
        self.settings = settings
        self.fields = settings.fields
        self.breaker = CircuitBreaker(
            settings.breaker_failures, timedelta(seconds=settings.breaker_reset_seconds), clock
        )
        self._session: aiohttp.ClientSession | None = None
        self._shut = False

    async def close(self) -> None:
        self._shut = True
        if self._session is not None:
            await self._session.close()

    def _client(self) -> aiohttp.ClientSession:
        if self._shut:  # a lookup still running at shutdown must not open a pool nobody closes
            raise OrdersUnavailable("kefu is shutting down")
        if self._session is None or self._session.closed:
            headers = {}
            if self.settings.token is not None:
                headers[self.settings.auth_header] = self.settings.token.get_secret_value()
            self._session = aiohttp.ClientSession(
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout_seconds),
            )
        return self._session

    async def find(self, number: str) -> OrderView | None:
        url = self.settings.url.format(number=quote(number.strip(), safe=""))
        document = await self._get(url)
        return None if document is None else self._read_order(document)

    async def recent_for(self, telegram_id: int, limit: int = 5) -> list[OrderView]:
        if not self.settings.recent_url:
            return []
        document = await self._get(self.settings.recent_url.format(telegram_id=telegram_id))
        listed = _lookup(document, self.fields.orders) if document is not None else []
        if not isinstance(listed, list):
            self.breaker.failed()
            raise OrdersUnavailable("the shop's order list is not a list")
        orders = [self._read_order(entry) for entry in listed]
        orders.sort(key=lambda order: order.ordered_at or datetime.min.replace(tzinfo=UTC))
        return list(reversed(orders))[:limit]

    async def _get(self, url: str) -> Any:
        """The JSON the shop answers with; None for 404; OrdersUnavailable for anything else."""
        if not self.breaker.allows_call():
            raise OrdersUnavailable("orders API paused after repeated failures")
        attempts = self.settings.retries + 1
        for attempt in range(attempts):
            try:
                async with self._client().get(url) as response:
                    if response.status == 404:
                        self.breaker.succeeded()
                        return None
                    if response.status >= 500:
                        raise aiohttp.ClientResponseError(
                            response.request_info, (), status=response.status
                        )
                    if response.status != 200:
                        log.error("orders API refused the request: HTTP %s", response.status)
                        self.breaker.failed()
                        raise OrdersUnavailable(f"HTTP {response.status}")
                    try:
                        document = await response.json(content_type=None)
                    except ValueError:
                        log.error("orders API answered with something that is not JSON")
                        self.breaker.failed()
                        raise OrdersUnavailable("not JSON") from None
                    self.breaker.succeeded()
                    return document
            except (aiohttp.ClientError, TimeoutError) as error:
                reason = type(error).__name__
                if isinstance(error, aiohttp.ClientResponseError):
                    reason = f"HTTP {error.status}"
                log.warning("orders API try %s of %s failed: %s", attempt + 1, attempts, reason)
                if attempt + 1 < attempts:
                    await asyncio.sleep(self.settings.backoff_seconds * 2**attempt)
        self.breaker.failed()
        raise OrdersUnavailable("orders API did not answer")

    def _read_order(self, document: Any) -> OrderView:
        try:
            return OrderView.model_validate(self._map(document))
        except ValidationError as error:
            # where and what was expected, not the values (a phone, an address) themselves
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()
            )
            log.error("orders API answered with something that is not an order: %s", problems)
            self.breaker.failed()
            raise OrdersUnavailable(f"not an order: {problems}") from None

    def _map(self, document: Any) -> dict[str, Any]:
        """The shop's JSON under our field names, as found; OrderView judges it."""
        fields = self.fields
        # [orders.http.fields] names where each of OrderView's fields is
        found = {
            name: _lookup(document, getattr(fields, name))
            for name in OrderView.model_fields
            if name != "items"
        }
        if isinstance(found["status"], str):
            found["status"] = self.settings.statuses.get(found["status"], found["status"])
        listed = _lookup(document, fields.items)
        found["items"] = (
            [self._item(entry) for entry in listed] if isinstance(listed, list) else listed
        )
        return found

    def _item(self, entry: Any) -> dict[str, Any]:
        item = {
            "name": _lookup(entry, self.fields.item_name),
            "category": _lookup(entry, self.fields.item_category),
            "quantity": _lookup(entry, self.fields.item_quantity),
        }
        # a shop that leaves out the category or the quantity means none and one
        return {key: value for key, value in item.items() if value is not None}
