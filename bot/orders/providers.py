"""Orders as the bot sees them, whoever keeps them: the provider interface, the built-in
provider over the project's database, and the privacy rules for showing an order."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlmodel import col, func, select

from storage.database import SessionFactory
from storage.models import Order


class OrdersUnavailable(Exception):
    """The orders provider cannot answer now (down, slow, or talking nonsense)."""


@dataclass(frozen=True)
class OrderItem:
    name: str
    category: str
    quantity: int


@dataclass(frozen=True)
class OrderView:
    number: str
    status: str
    items: tuple[OrderItem, ...]
    phone: str | None = None
    telegram_id: int | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    address: str | None = None
    ordered_at: datetime | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    expected_delivery_at: datetime | None = None


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
    )


class BuiltinOrders:
    """Orders kept in the project's own database (see `kefu orders import`)."""

    def __init__(self, session_factory: SessionFactory) -> None:
        self.session_factory = session_factory

    async def find(self, number: str) -> OrderView | None:
        async with self.session_factory() as session:
            order = (
                await session.exec(
                    select(Order).where(func.upper(Order.number) == number.strip().upper())
                )
            ).first()
        return order_view(order) if order else None

    async def recent_for(self, telegram_id: int, limit: int = 5) -> list[OrderView]:
        async with self.session_factory() as session:
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
        """Nothing to release: sessions are opened per call."""


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
