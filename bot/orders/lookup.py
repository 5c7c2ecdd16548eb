"""Telling a customer where their order is, and only their own: an order is shown to the
Telegram account it is linked to, or to whoever gives the last 4 digits of its phone. Wrong
answers are counted; after a few the customer is offered a person and not asked again for a
while. The answer never reveals whether an order number exists. A proof holds for a day, so that
the customer is not asked again while they ask about the order or return something from it."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.config import OrdersConfig
from bot.orders.providers import OrdersProvider, OrderView, mask_address, mask_phone, phone_matches
from bot.schedule.business_hours import BusinessHours
from bot.texts import Texts
from storage.models import OrderStatus

log = logging.getLogger(__name__)

PROOF_LASTS = timedelta(hours=24)


class OrderStatusService:
    def __init__(
        self,
        provider: OrdersProvider,
        settings: OrdersConfig,
        clock: Clock,
        texts: Texts,
        hours: BusinessHours,
    ) -> None:
        self.provider = provider
        self.settings = settings
        self.clock = clock
        self.texts = texts
        self.hours = hours
        self.pattern = re.compile(settings.number_pattern, re.IGNORECASE)
        self._failures: dict[int, list[datetime]] = {}
        self._proven: dict[tuple[int, str], datetime] = {}

    def find_number(self, text: str | None) -> str | None:
        found = self.pattern.search(text or "")
        return found.group(0).upper() if found else None

    def _recent_failures(self, customer_id: int) -> list[datetime]:
        since = self.clock.now() - timedelta(minutes=self.settings.lockout_minutes)
        recent = [at for at in self._failures.get(customer_id, []) if at > since]
        self._failures[customer_id] = recent
        return recent

    def locked(self, customer_id: int) -> bool:
        return len(self._recent_failures(customer_id)) >= self.settings.max_attempts

    def tries_left(self, customer_id: int) -> int:
        return max(self.settings.max_attempts - len(self._recent_failures(customer_id)), 0)

    def _proven_recently(self, customer_id: int, number: str) -> bool:
        proven_at = self._proven.get((customer_id, number))
        return proven_at is not None and self.clock.now() - proven_at < PROOF_LASTS

    def owns(self, order: OrderView, customer_id: int, telegram_id: int | None) -> bool:
        linked = telegram_id is not None and order.telegram_id == telegram_id
        return linked or self._proven_recently(customer_id, order.number)

    async def for_owner(
        self, number: str, customer_id: int, telegram_id: int | None
    ) -> OrderView | None:
        """The order when this customer has shown it is theirs (raises OrdersUnavailable)."""
        order = await self.provider.find(number)
        if order is not None and self.owns(order, customer_id, telegram_id):
            return order
        return None

    async def orders_of(self, customer_id: int, telegram_id: int | None) -> list[OrderView]:
        """The customer's recent orders: those linked to them, and those they proved are."""
        orders = await self.provider.recent_for(telegram_id) if telegram_id is not None else []
        known = {order.number for order in orders}
        for (owner, number), _ in sorted(self._proven.items(), key=lambda item: item[1]):
            if (
                owner == customer_id
                and number not in known
                and self._proven_recently(owner, number)
            ):
                order = await self.provider.find(number)
                if order is not None:
                    orders.append(order)
                    known.add(number)
        return orders

    async def verify(self, customer_id: int, number: str, last_four: str) -> OrderView | None:
        """The order when the digits match its phone; a miss counts against the customer."""
        order = await self.provider.find(number)
        if order is not None and phone_matches(order, last_four.strip()):
            self._proven[(customer_id, order.number)] = self.clock.now()
            return order
        self._failures.setdefault(customer_id, []).append(self.clock.now())
        log.info("customer=%s failed to verify an order", customer_id)
        return None

    def describe(self, order: OrderView, language: str) -> str:
        texts = self.texts
        status = texts(f"order_status_{order.status}", language)
        items = ", ".join(f"{item.name} × {item.quantity}" for item in order.items)
        lines = [
            texts("order_header", language, number=order.number, status=status),
            texts("order_items", language, items=items),
        ]
        if order.delivered_at:
            lines.append(
                texts("order_delivered_on", language, date=self._date(order.delivered_at))
            )
        elif order.expected_delivery_at and order.status not in (
            OrderStatus.CANCELLED,
            OrderStatus.RETURNED,
        ):
            lines.append(
                texts("order_expected", language, date=self._date(order.expected_delivery_at))
            )
        if order.carrier and order.tracking_number:
            lines.append(
                texts(
                    "order_tracking",
                    language,
                    carrier=order.carrier,
                    tracking=order.tracking_number,
                )
            )
        lines.append(
            texts(
                "order_contact",
                language,
                phone=mask_phone(order.phone),
                address=mask_address(order.address),
            )
        )
        return "\n".join(lines)

    def _date(self, moment: datetime) -> str:
        return self.hours.local(moment).strftime("%Y-%m-%d")
