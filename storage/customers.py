"""Customers: found or created on every update, with their language."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Customer


async def find_customer(session: AsyncSession, channel: str, external_id: str) -> Customer | None:
    statement = select(Customer).where(
        Customer.channel == channel, Customer.external_id == external_id
    )
    return (await session.exec(statement)).first()


async def touch_customer(
    session: AsyncSession,
    channel: str,
    external_id: str,
    *,
    now: datetime,
    first_name: str | None = None,
    language: str | None = None,
) -> Customer:
    """The customer behind an update, created on first contact; `last_seen` moves to now."""
    customer = await find_customer(session, channel, external_id)
    if customer is None:
        customer = Customer(
            channel=channel,
            external_id=external_id,
            first_name=first_name,
            language=language,
            first_seen=now,
            last_seen=now,
        )
        try:
            async with session.begin_nested():
                session.add(customer)
        except IntegrityError:
            # Two first updates from one customer raced; the other one created the row.
            customer = await find_customer(session, channel, external_id)
            if customer is None:
                raise
    customer.last_seen = now
    if first_name:
        customer.first_name = first_name
    if language and not customer.language:
        customer.language = language  # the app's, until the customer writes in one
    session.add(customer)
    await session.flush()
    return customer


async def choose_language(session: AsyncSession, customer: Customer, language: str) -> None:
    customer.language = language
    customer.language_chosen = True
    session.add(customer)
    await session.flush()
