"""Candidate questions learned from customers' confirmed wordings, and their confirmations."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import LearnedConfirmation, LearnedQuestion, LearnedStatus


async def _question(
    session: AsyncSession, entry_id: str, text: str, key: str, now: datetime
) -> LearnedQuestion:
    """The entry's candidate with this key, created when there is none (two updates creating
    it at once: the second finds the first's)."""
    statement = select(LearnedQuestion).where(
        LearnedQuestion.entry_id == entry_id, LearnedQuestion.key == key
    )
    question = (await session.exec(statement)).first()
    if question is not None:
        return question
    question = LearnedQuestion(
        entry_id=entry_id, text=text, key=key, first_confirmed_at=now, last_confirmed_at=now
    )
    try:
        async with session.begin_nested():
            session.add(question)
    except IntegrityError:
        return (await session.exec(statement)).one()
    return question


async def confirm_question(
    session: AsyncSession,
    *,
    entry_id: str,
    text: str,
    key: str,
    evidence: str,
    source: str,
    now: datetime,
) -> LearnedQuestion | None:
    """Count one confirmation of `text` for the entry; None when this evidence was counted
    already (the same message or ticket confirming the same wording again)."""
    question = await _question(session, entry_id, text, key, now)
    assert question.id is not None
    confirmation = LearnedConfirmation(
        question_id=question.id, evidence=evidence, source=source, confirmed_at=now
    )
    try:
        async with session.begin_nested():
            session.add(confirmation)
    except IntegrityError:
        return None
    question.confirmations += 1
    question.last_confirmed_at = now
    sources = [s for s in question.sources.split(",") if s]
    if source not in sources:
        question.sources = ",".join(sorted([*sources, source]))
    session.add(question)
    await session.flush()
    return question


async def waiting_questions(
    session: AsyncSession, limit: int | None = None
) -> list[LearnedQuestion]:
    """Pending candidates, the most confirmed first."""
    statement = (
        select(LearnedQuestion)
        .where(LearnedQuestion.status == LearnedStatus.PENDING)
        .order_by(
            col(LearnedQuestion.confirmations).desc(),
            col(LearnedQuestion.last_confirmed_at).desc(),
            col(LearnedQuestion.id),
        )
    )
    if limit is not None:
        statement = statement.limit(limit)
    return list((await session.exec(statement)).all())


async def count_waiting(session: AsyncSession) -> int:
    statement = select(func.count()).where(LearnedQuestion.status == LearnedStatus.PENDING)
    return (await session.exec(statement)).one()


async def questions_by_id(session: AsyncSession, ids: Iterable[int]) -> dict[int, LearnedQuestion]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    statement = select(LearnedQuestion).where(col(LearnedQuestion.id).in_(wanted))
    return {q.id: q for q in (await session.exec(statement)).all() if q.id is not None}
