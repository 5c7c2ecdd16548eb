"""Orders as the bot sees them, whoever keeps them: the provider interface, the built-in
provider over the project's database, and the privacy rules for showing an order."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from sqlmodel import col, func, select

from storage.database import SessionFactory, unit_of_work
from storage.models import Order, OrderStatus


class OrdersUnavailable(Exception):
    """The orders provider cannot answer now (down, slow, or talking nonsense)."""


def _not_a_bool(value: Any) -> Any:
    # pydantic reads True as 1; from a shop's JSON that is a mistake, not a number
    if isinstance(value, bool):
        raise ValueError("a yes/no value is not a number")
    return value


def _moment(value: Any) -> Any:
    """ISO 8601 text or a Unix time (from a shop's JSON); a time without a zone is taken as UTC,
    the rule the README gives for the CSV import."""
    if isinstance(value, bool):
        raise ValueError("a yes/no value is not a time")
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
    except (OverflowError, OSError):
        raise ValueError("not a time") from None
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


WholeNumber = Annotated[int, BeforeValidator(_not_a_bool)]
Moment = Annotated[AwareDatetime, BeforeValidator(_moment)]


class OrderItem(BaseModel):
    model_config = ConfigDict(frozen=True, coerce_numbers_to_str=True)

    name: str = Field(min_length=1)
    category: str = ""
    quantity: WholeNumber = Field(default=1, ge=1)


class OrderView(BaseModel):
    """An order as the bot sees it, from whichever provider: built through validation, so that
    a status outside OrderStatus, a quantity below 1 or a naive time never gets in (a time
    written without a zone is read as UTC)."""

    # coerce_numbers_to_str: a shop's JSON may hold order and phone numbers as numbers
    model_config = ConfigDict(frozen=True, coerce_numbers_to_str=True)

    number: str = Field(min_length=1)
    status: OrderStatus
    items: tuple[OrderItem, ...]
    phone: str | None = None
    telegram_id: WholeNumber | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    address: str | None = None
    ordered_at: Moment | None = None
    shipped_at: Moment | None = None
    delivered_at: Moment | None = None
    expected_delivery_at: Moment | None = None
    # the customer's VIP tier as the shop knows it ("A", "B"): set on them when read
    vip_tier: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_]{1,16}$")

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value


class OrdersProvider(Protocol):
    async def find(self, number: str) -> OrderView | None: ...

    async def recent_for(self, telegram_id: int, limit: int = 5) -> list[OrderView]: ...

    async def close(self) -> None: ...


def order_view(order: Order) -> OrderView:
    items = tuple(OrderItem(**item) for item in json.loads(order.items))
    return OrderView(
        number=order.number,
        status=order.status,
        items=items,
        phone=order.phone,
        telegram_id=order.telegram_id,
        carrier=order.carrier,
        tracking_number=order.tracking_number,
        address=order.address,
        ordered_at=order.ordered_at,
        shipped_at=order.shipped_at,
        delivered_at=order.delivered_at,
        expected_delivery_at=order.expected_delivery_at,
        vip_tier=order.vip_tier,
    )


class BuiltinOrders:
    """Orders kept in the project's own database (see `kefu orders import`)."""

    def __init__(self, session_factory: SessionFactory) -> None:
        self.session_factory = session_factory

    async def find(self, number: str) -> OrderView | None:
        async with unit_of_work(self.session_factory) as session:
            order = (
                await session.exec(
                    select(Order).where(func.upper(Order.number) == number.strip().upper())
                )
            ).first()
        return order_view(order) if order else None

    async def recent_for(self, telegram_id: int, limit: int = 5) -> list[OrderView]:
        async with unit_of_work(self.session_factory) as session:
            orders = (
                await session.exec(
                    select(Order)
                    .where(Order.telegram_id == telegram_id)
                    .order_by(col(Order.ordered_at).desc())
                    .limit(limit)
                )
            ).all()
        return [order_view(order) for order in orders]

    async def close(self) -> None:
        """Nothing to release: it uses the update's session, or a short one per call."""


def mask_phone(phone: str | None) -> str:
    """'13800138001' -> '138****8001'."""
    digits = phone or ""
    if len(digits) <= 4:
        return "*" * len(digits)
    return digits[:3] + "*" * max(len(digits) - 7, 1) + digits[-4:]


def mask_address(address: str | None) -> str:
    """Only the last part (the city) stays readable: '88 Example Road, Shanghai' ->
    '**** Shanghai'."""
    if not address:
        return ""
    city = address.replace("，", ",").split(",")[-1].strip()
    return f"**** {city}" if city and city != address.strip() else "****"


def phone_matches(order: OrderView, last_four: str) -> bool:
    digits = "".join(ch for ch in order.phone or "" if ch.isdigit())
    return len(last_four) == 4 and last_four.isdigit() and digits.endswith(last_four)
