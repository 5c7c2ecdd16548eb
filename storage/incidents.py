"""Incident notices: started, ended, and those in force."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, or_, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Incident


async def in_force(session: AsyncSession, now: datetime) -> list[Incident]:
    statement = (
        select(Incident)
        .where(col(Incident.ended_at).is_(None), col(Incident.expires_at) > now)
        .order_by(col(Incident.id))
    )
    return list((await session.exec(statement)).all())


async def recent(session: AsyncSession, since: datetime) -> list[Incident]:
    """Those in force or ended since `since`, the newest first."""
    statement = (
        select(Incident)
        .where(or_(col(Incident.ended_at).is_(None), col(Incident.ended_at) >= since))
        .order_by(col(Incident.id).desc())
    )
    return list((await session.exec(statement)).all())


async def end(
    session: AsyncSession, now: datetime, by: str, incident_id: int | None = None
) -> list[int]:
    """End one incident in force, or all of them; the ids ended."""
    statement = (
        update(Incident)
        .where(col(Incident.ended_at).is_(None), col(Incident.expires_at) > now)
        .values(ended_at=now, ended_by=by)
        .returning(col(Incident.id))
    )
    if incident_id is not None:
        statement = statement.where(col(Incident.id) == incident_id)
    options = {"synchronize_session": False}
    return list((await session.exec(statement, execution_options=options)).scalars().all())
