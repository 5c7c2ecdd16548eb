"""Customers: found or created on every update, with their language."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
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
    username: str | None = None,
    language: str | None = None,
) -> Customer:
    """The customer behind an update, created on first contact; `last_seen` moves to now.

    One statement whether the customer is new or not (an insert that updates on conflict), so
    that two first updates from one customer cannot race and every update pays one round trip.
    The app's language is kept only until the customer writes in one."""
    table: sa.Table = Customer.__table__  # type: ignore[attr-defined]
    insert = (
        postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    )
    statement = insert(Customer).values(
        channel=channel,
        external_id=external_id,
        first_name=first_name,
        username=username,
        language=language,
        language_chosen=False,
        surveys_opt_out=False,
        first_seen=now,
        last_seen=now,
    )
    changes: dict[str, Any] = {"last_seen": statement.excluded.last_seen}
    if first_name:  # a Telegram user as they are now: a @username removed is gone here too
        changes["first_name"] = statement.excluded.first_name
        changes["username"] = statement.excluded.username
    if language:
        changes["language"] = sa.func.coalesce(table.c.language, statement.excluded.language)
    upsert = statement.on_conflict_do_update(
        index_elements=[table.c.channel, table.c.external_id], set_=changes
    ).returning(Customer)
    found = await session.exec(upsert, execution_options={"populate_existing": True})
    customer: Customer = found.scalar_one()
    return customer


async def choose_language(session: AsyncSession, customer: Customer, language: str) -> None:
    customer.language = language
    customer.language_chosen = True
    session.add(customer)
    await session.flush()


async def language_of(session: AsyncSession, channel: str, external_id: str) -> str | None:
    """The language a person reads, as far as their private chat with the bot tells: the one
    they chose with /language, else the one they last wrote in; None when they never wrote."""
    statement = select(Customer).where(
        Customer.channel == channel, Customer.external_id == external_id
    )
    found = (await session.exec(statement)).first()
    return found.language if found is not None else None
