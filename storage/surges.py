"""What customers asked about in a window of time, for surge alerts, and the alerts sent."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Message, SurgeAlert

UNANSWERED = "unanswered"
TOPICAL = ("answer", "suggest")  # decisions that name what a question was about


def _subject(entry_id: str | None, decision: str | None) -> str | None:
    if decision in TOPICAL and entry_id:
        return f"entry:{entry_id}"
    if decision == "fallback":
        return UNANSWERED
    return None


async def questions_between(session: AsyncSession, start: datetime, end: datetime) -> Counter[str]:
    """Customers' questions from `start` to `end`, counted by the entry they were about (as
    "entry:<id>") or as "unanswered"."""
    statement = (
        select(Message.entry_id, Message.decision, func.count())
        .where(
            Message.direction == "in",
            col(Message.created_at) > start,
            col(Message.created_at) <= end,
        )
        .group_by(col(Message.entry_id), col(Message.decision))
    )
    counts: Counter[str] = Counter()
    for entry_id, decision, number in (await session.exec(statement)).all():
        subject = _subject(entry_id, decision)
        if subject is not None:
            counts[subject] += number
    return counts


async def first_question_at(session: AsyncSession) -> datetime | None:
    statement = select(func.min(Message.created_at)).where(Message.direction == "in")
    first: datetime | None = (await session.exec(statement)).one()
    return first


async def latest_questions(
    session: AsyncSession, start: datetime, end: datetime, entry_ids: list[str] | None, limit: int
) -> list[str]:
    """The texts of the latest questions in the window about these entries (None: the
    unanswered ones)."""
    statement = select(Message.text).where(
        Message.direction == "in",
        col(Message.created_at) > start,
        col(Message.created_at) <= end,
    )
    if entry_ids is None:
        statement = statement.where(Message.decision == "fallback")
    else:
        statement = statement.where(
            col(Message.entry_id).in_(entry_ids), col(Message.decision).in_(TOPICAL)
        )
    statement = statement.order_by(col(Message.id).desc()).limit(limit)
    return list((await session.exec(statement)).all())


async def claim_alert(
    session: AsyncSession, subject: str, period: int, count: int, usual: float, now: datetime
) -> bool:
    """True for the first to alert about `subject` in `period` (of all replicas)."""
    try:
        async with session.begin_nested():
            session.add(
                SurgeAlert(
                    subject=subject, period=period, count=count, usual=usual, alerted_at=now
                )
            )
    except IntegrityError:
        return False
    return True
