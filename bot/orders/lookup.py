"""Telling a customer where their order is, and only their own: an order is shown to the
Telegram account it is linked to, or to whoever gives the last 4 digits of its phone. Wrong
answers are counted; after a few the customer is offered a person and not asked again for a
while. The answer never reveals whether an order number exists. A proof holds for a day, so that
the customer is not asked again while they ask about the order or return something from it."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import OrderHelpCallback, ReturnCallback
from bot.channels.replies import Reply
from bot.clock import Clock
from bot.config import OrdersConfig, ReturnsConfig
from bot.orders.providers import (
    OrdersProvider,
    OrdersUnavailable,
    OrderView,
    mask_address,
    mask_phone,
    phone_matches,
)
from bot.schedule.business_hours import BusinessHours
from bot.texts import Texts
from storage.models import TICKET_NUMBER, Customer, OrderStatus
from storage.order_proofs import (
    failures_since,
    proven_numbers,
    record_failure,
    record_proof,
)

log = logging.getLogger(__name__)

PROOF_LASTS = timedelta(hours=24)
MAX_NUMBER_LENGTH = 64  # what the orders table keeps


# The shop says, with an order read for a customer (their id), which VIP tier they have.
TierFromShop = Callable[[AsyncSession, int, str | None], Awaitable[None]]


class OrderStatusService:
    def __init__(
        self,
        provider: OrdersProvider,
        settings: OrdersConfig,
        clock: Clock,
        texts: Texts,
        hours: BusinessHours,
        tier_from_shop: TierFromShop | None = None,
    ) -> None:
        self.tier_from_shop = tier_from_shop
        self.provider = provider
        self.settings = settings
        self.clock = clock
        self.texts = texts
        self.hours = hours
        self.pattern = re.compile(settings.number_pattern, re.IGNORECASE)

    def find_number(self, text: str | None) -> str | None:
        """The order number in a message; nothing longer than an order number can be, and
        never a ticket's number (T-000123), which the customer may well quote."""
        for found in self.pattern.finditer(text or ""):
            number = found.group(0)
            if TICKET_NUMBER.fullmatch(number) or len(number) > MAX_NUMBER_LENGTH:
                continue
            return number.upper()
        return None

    async def _recent_failures(self, session: AsyncSession, customer_id: int) -> int:
        since = self.clock.now() - timedelta(minutes=self.settings.lockout_minutes)
        return await failures_since(session, customer_id, since)

    async def locked(self, session: AsyncSession, customer_id: int) -> bool:
        return await self._recent_failures(session, customer_id) >= self.settings.max_attempts

    async def tries_left(self, session: AsyncSession, customer_id: int) -> int:
        failures = await self._recent_failures(session, customer_id)
        return max(self.settings.max_attempts - failures, 0)

    async def _proven(self, session: AsyncSession, customer_id: int) -> list[str]:
        return await proven_numbers(session, customer_id, self.clock.now() - PROOF_LASTS)

    async def owns(
        self, session: AsyncSession, order: OrderView, customer_id: int, telegram_id: int | None
    ) -> bool:
        linked = telegram_id is not None and order.telegram_id == telegram_id
        return linked or order.number in await self._proven(session, customer_id)

    async def for_owner(
        self, session: AsyncSession, number: str, customer_id: int, telegram_id: int | None
    ) -> OrderView | None:
        """The order when this customer has shown it is theirs (raises OrdersUnavailable)."""
        order = await self.provider.find(number)
        if order is not None and await self.owns(session, order, customer_id, telegram_id):
            await self._tier_of(session, customer_id, [order])
            return order
        return None

    async def _tier_of(
        self, session: AsyncSession, customer_id: int, orders: list[OrderView]
    ) -> None:
        tiers = [order.vip_tier for order in orders if order.vip_tier]
        if tiers and self.tier_from_shop is not None:
            await self.tier_from_shop(session, customer_id, tiers[0])

    async def shown_to(self, session: AsyncSession, customer: Customer, number: str) -> bool:
        """Whether the customer has shown the order is theirs; False when it cannot be told
        now (the provider is down), so that nothing unproven passes for proven."""
        assert customer.id is not None
        try:
            order = await self.for_owner(session, number, customer.id, telegram_id(customer))
            return order is not None
        except OrdersUnavailable:
            return False

    async def orders_of(
        self, session: AsyncSession, customer_id: int, telegram_id: int | None
    ) -> list[OrderView]:
        """The customer's recent orders: those linked to them, and those they proved are."""
        orders = await self.provider.recent_for(telegram_id) if telegram_id is not None else []
        known = {order.number for order in orders}
        for number in await self._proven(session, customer_id):
            if number not in known:
                order = await self.provider.find(number)
                if order is not None:
                    orders.append(order)
                    known.add(number)
        await self._tier_of(session, customer_id, orders)
        return orders

    async def recent_of(self, session: AsyncSession, customer: Customer) -> list[OrderView]:
        """The customer's recent orders for their ticket's card; none when the provider is
        down (the card does not wait for it)."""
        assert customer.id is not None
        try:
            return await self.orders_of(session, customer.id, telegram_id(customer))
        except OrdersUnavailable:
            log.warning("customer=%s: orders unavailable for the card", customer.id)
            return []

    async def verify(
        self, session: AsyncSession, customer_id: int, number: str, last_four: str
    ) -> OrderView | None:
        """The order when the digits match its phone; a miss counts against the customer."""
        order = await self.provider.find(number)
        if order is not None and phone_matches(order, last_four.strip()):
            await record_proof(session, customer_id, order.number, self.clock.now())
            return order
        await record_failure(session, customer_id, number[:64], self.clock.now())
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
            late = order.expected_delivery_at < self.clock.now()
            lines.append(
                texts(
                    "order_expected_late" if late else "order_expected",
                    language,
                    date=self._date(order.expected_delivery_at),
                )
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


class OrderForm(StatesGroup):
    number = State()
    phone_digits = State()


def person_button(number: str, language: str, texts: Texts) -> InlineKeyboardMarkup:
    """A person, with the order (if any) attached to the ticket the button opens."""
    button = InlineKeyboardButton(
        text=texts("order_help_button", language),
        callback_data=OrderHelpCallback(number=number[:40]).pack(),
    )
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


class OrdersUnavailableNow(OrdersUnavailable):
    """The provider failed while a customer asked about `number` (may be empty)."""

    def __init__(self, number: str) -> None:
        super().__init__(number)
        self.number = number


class OrderLookup:
    """The conversation around one order: which number, the proof that it is the customer's,
    and the order shown with a person and (when it allows one) a return on offer."""

    def __init__(
        self, order_status: OrderStatusService, returns: ReturnsConfig, texts: Texts
    ) -> None:
        self.order_status = order_status
        self.returns = returns
        self.texts = texts

    def unavailable(self, number: str, language: str) -> Reply:
        return Reply(
            self.texts("order_unavailable", language), person_button(number, language, self.texts)
        )

    async def begin(self, form: FSMContext, language: str) -> Reply:
        await form.set_state(OrderForm.number)
        return Reply(self.texts("order_ask_number", language))

    async def given_text(
        self, session: AsyncSession, customer: Customer, form: FSMContext, language: str, text: str
    ) -> Reply:
        """Whatever the customer wrote when an order number was asked for."""
        number = self.order_status.find_number(text)
        if number is None:
            await form.clear()
            return Reply(
                self.texts("order_not_a_number", language),
                person_button("", language, self.texts),
            )
        return await self.show(session, customer, form, language, number)

    async def show(
        self,
        session: AsyncSession,
        customer: Customer,
        form: FSMContext,
        language: str,
        number: str,
    ) -> Reply:
        """The order if the customer has shown it is theirs, else the question for the digits."""
        assert customer.id is not None
        await form.clear()
        if await self.order_status.locked(session, customer.id):
            return self._locked(number, language)
        order = await self.owned_order(session, customer, number)
        if order is not None:
            return self.shown(order, language)
        return await self.ask_digits(form, language, number)

    async def ask_digits(self, form: FSMContext, language: str, number: str) -> Reply:
        await form.set_state(OrderForm.phone_digits)
        await form.update_data(order_number=number)
        return Reply(self.texts("order_ask_phone", language, number=number))

    async def digits(
        self, session: AsyncSession, customer: Customer, form: FSMContext, language: str, text: str
    ) -> Reply:
        assert customer.id is not None
        number = (await form.get_data()).get("order_number", "")
        try:
            order = await self.order_status.verify(session, customer.id, number, text)
        except OrdersUnavailable:
            await form.clear()
            raise OrdersUnavailableNow(number) from None
        if order is not None:
            await form.clear()
            return self.shown(order, language)
        if await self.order_status.locked(session, customer.id):
            await form.clear()
            return self._locked(number, language)
        left = await self.order_status.tries_left(session, customer.id)
        return Reply(self.texts("order_mismatch", language, left=left))

    def shown(self, order: OrderView, language: str) -> Reply:
        """The order, with a person and, when the order allows one, a return on offer."""
        markup = person_button(order.number, language, self.texts)
        if order.status in self.returns.allowed_statuses:
            button = InlineKeyboardButton(
                text=self.texts("return_button", language),
                callback_data=ReturnCallback(number=order.number[:40]).pack(),
            )
            markup.inline_keyboard.append([button])
        return Reply(self.order_status.describe(order, language), markup)

    def _locked(self, number: str, language: str) -> Reply:
        return Reply(
            self.texts("order_locked", language), person_button(number, language, self.texts)
        )

    async def owned_order(
        self, session: AsyncSession, customer: Customer, number: str
    ) -> OrderView | None:
        """The order, if the customer has shown it is theirs (OrdersUnavailableNow when the
        provider cannot say)."""
        assert customer.id is not None
        try:
            return await self.order_status.for_owner(
                session, number, customer.id, telegram_id(customer)
            )
        except OrdersUnavailable:
            raise OrdersUnavailableNow(number) from None


def telegram_id(customer: Customer) -> int | None:
    """The Telegram account behind a customer, which orders may be linked to."""
    return int(customer.external_id) if customer.channel == "telegram" else None
