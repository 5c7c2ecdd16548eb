"""The web console's sign-in links and sessions, each kept as its token's SHA-256 so that a copy
of the database opens nothing."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlmodel import col, delete, or_, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ConsoleLink, ConsoleSession


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def add_link(
    session: AsyncSession, token: str, telegram_id: int, now: datetime, expires_at: datetime
) -> None:
    session.add(
        ConsoleLink(
            token_hash=token_hash(token),
            telegram_id=telegram_id,
            created_at=now,
            expires_at=expires_at,
        )
    )
    await session.flush()


async def use_link(session: AsyncSession, token: str, now: datetime) -> int | None:
    """Marks an unused, unexpired link used and gives whose it was; None for any other. One
    statement, so that two tabs opening the same link cannot both succeed."""
    hashed = token_hash(token)
    used = await session.exec(
        update(ConsoleLink)
        .where(
            col(ConsoleLink.token_hash) == hashed,
            col(ConsoleLink.used_at).is_(None),
            col(ConsoleLink.expires_at) > now,
        )
        .values(used_at=now)
    )
    if used.rowcount != 1:
        return None
    link = await session.get(ConsoleLink, hashed)
    return link.telegram_id if link else None


async def add_session(
    session: AsyncSession, token: str, telegram_id: int, now: datetime, expires_at: datetime
) -> ConsoleSession:
    row = ConsoleSession(
        token_hash=token_hash(token),
        telegram_id=telegram_id,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(row)
    await session.flush()
    return row


async def live_session(session: AsyncSession, token: str, now: datetime) -> ConsoleSession | None:
    """The session a cookie's token names, unless it ended or expired."""
    row = await session.get(ConsoleSession, token_hash(token))
    if row is None or row.ended_at is not None or row.expires_at <= now:
        return None
    return row


async def end_session(session: AsyncSession, token: str, now: datetime) -> None:
    row = await session.get(ConsoleSession, token_hash(token))
    if row is not None and row.ended_at is None:
        row.ended_at = now
        session.add(row)
        await session.flush()


async def forget_sign_ins(session: AsyncSession, before: datetime) -> int:
    """Links and sessions that expired (or were ended) before `before`: nothing they could
    open is left. How many rows went."""
    links = await session.exec(delete(ConsoleLink).where(col(ConsoleLink.expires_at) < before))
    ended = or_(col(ConsoleSession.expires_at) < before, col(ConsoleSession.ended_at) < before)
    sessions = await session.exec(delete(ConsoleSession).where(ended))
    return int(links.rowcount) + int(sessions.rowcount)
