"""Customers banned by an admin."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import CustomerBan


async def banned_ids(session: AsyncSession) -> set[int]:
    return set((await session.exec(select(CustomerBan.customer_id))).all())


async def ban_of(session: AsyncSession, customer_id: int) -> CustomerBan | None:
    return await session.get(CustomerBan, customer_id)


async def ban(session: AsyncSession, customer_id: int, by: int, now: datetime) -> bool:
    """False when the customer was banned already."""
    if await ban_of(session, customer_id) is not None:
        return False
    session.add(CustomerBan(customer_id=customer_id, banned_by=by, banned_at=now))
    await session.flush()
    return True


async def unban(session: AsyncSession, customer_id: int) -> bool:
    """False when the customer was not banned."""
    found = await ban_of(session, customer_id)
    if found is None:
        return False
    await session.delete(found)
    await session.flush()
    return True
