"""Conversations and the messages in them, unanswered questions, and answer votes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import AnswerVote, Conversation, Customer, Message, UnansweredQuestion

# A customer who writes again after this long starts a new conversation.
CONVERSATION_IDLE = timedelta(minutes=30)


@dataclass(frozen=True)
class Draft:
    """One message of a conversation with the bot, to be recorded."""

    direction: str  # "in" from the customer, "out" from the bot
    text: str
    entry_id: str | None = None
    score: float | None = None
    decision: str | None = None


@dataclass(frozen=True)
class Recorded:
    """A message as recorded: what votes, suggestions and unanswered questions refer to."""

    id: int
    conversation_id: int
    text: str


_MESSAGE: sa.Table = Message.__table__  # type: ignore[attr-defined]
_CONVERSATION: sa.Table = Conversation.__table__  # type: ignore[attr-defined]
_UNANSWERED: sa.Table = UnansweredQuestion.__table__  # type: ignore[attr-defined]
# The conversation moved on within one update, kept on the session: (its id, its last message)
_CURRENT = "current conversation"


def _bound(name: str, column: str) -> Any:
    return sa.bindparam(name, type_=_CONVERSATION.c[column].type)


# Built once, values bound: every update reuses their construction and cache keys.
_GOES_ON = (
    sa.update(_CONVERSATION)
    .where(
        _CONVERSATION.c.id
        == sa.select(_CONVERSATION.c.id)
        .where(_CONVERSATION.c.customer_id == _bound("customer", "customer_id"))
        .order_by(_CONVERSATION.c.last_message_at.desc())
        .limit(1)
        .scalar_subquery(),
        _CONVERSATION.c.last_message_at >= _bound("since", "last_message_at"),
    )
    .values(last_message_at=_bound("now", "last_message_at"))
    .returning(_CONVERSATION.c.id)
)
_STARTS = (
    sa.insert(_CONVERSATION)
    .values(
        customer_id=_bound("customer", "customer_id"),
        started_at=_bound("now", "started_at"),
        last_message_at=_bound("now", "last_message_at"),
    )
    .returning(_CONVERSATION.c.id)
)
_RECORDS = sa.insert(_MESSAGE).returning(_MESSAGE.c.id, sort_by_parameter_order=True)


async def current_conversation(session: AsyncSession, customer: Customer, now: datetime) -> int:
    """The id of the customer's conversation, moved on to now, or of a new one after a pause:
    one statement when the conversation goes on, none more within the same update."""
    assert customer.id is not None
    known: tuple[int, datetime] | None = session.info.get((_CURRENT, customer.id))
    if known is not None and now - known[1] <= CONVERSATION_IDLE:
        return known[0]  # within one update: its start is recent enough
    moved = {"customer": customer.id, "now": now, "since": now - CONVERSATION_IDLE}
    conversation_id: int | None = (await session.exec(_GOES_ON, params=moved)).scalar_one_or_none()
    if conversation_id is None:
        started = {"customer": customer.id, "now": now}
        conversation_id = (await session.exec(_STARTS, params=started)).scalar_one()
    session.info[(_CURRENT, customer.id)] = (conversation_id, now)
    return conversation_id


async def record_messages(
    session: AsyncSession, customer: Customer, now: datetime, drafts: Sequence[Draft]
) -> list[Recorded]:
    """Messages of the customer's conversation (a question and its answer), in one INSERT
    where the database returns the ids of several rows in order (PostgreSQL). Core statements:
    nothing for the ORM's unit of work to track."""
    conversation_id = await current_conversation(session, customer, now)
    rows = [
        {
            "conversation_id": conversation_id,
            "customer_id": customer.id,
            "direction": draft.direction,
            "text": draft.text,
            "entry_id": draft.entry_id,
            "score": draft.score,
            "decision": draft.decision,
            "created_at": now,
        }
        for draft in drafts
    ]
    ids = list((await session.exec(_RECORDS, params=rows)).scalars())
    return [
        Recorded(id=id_, conversation_id=conversation_id, text=draft.text)
        for id_, draft in zip(ids, drafts, strict=True)
    ]


async def record_message(
    session: AsyncSession,
    customer: Customer,
    *,
    direction: str,
    text: str,
    now: datetime,
    entry_id: str | None = None,
    score: float | None = None,
    decision: str | None = None,
) -> Recorded:
    """One message of a conversation with the bot."""
    draft = Draft(direction, text, entry_id=entry_id, score=score, decision=decision)
    [recorded] = await record_messages(session, customer, now, [draft])
    return recorded


async def record_unanswered(
    session: AsyncSession,
    customer: Customer,
    message: Recorded,
    *,
    now: datetime,
    best_entry_id: str | None,
    best_score: float | None,
) -> None:
    assert customer.id is not None
    await session.exec(
        sa.insert(_UNANSWERED).values(
            customer_id=customer.id,
            message_id=message.id,
            text=message.text,
            best_entry_id=best_entry_id,
            best_score=best_score,
            created_at=now,
        )
    )


async def record_vote(
    session: AsyncSession, customer: Customer, message_id: int, *, helpful: bool, now: datetime
) -> AnswerVote | None:
    """Store (or change) the customer's vote on one of the bot's answers to them.

    Returns None when the message is not an answer the bot sent to this customer.
    """
    message = await session.get(Message, message_id)
    if message is None or message.customer_id != customer.id or message.direction != "out":
        return None
    statement = select(AnswerVote).where(AnswerVote.message_id == message_id)
    vote = (await session.exec(statement)).first()
    if vote is None:
        assert customer.id is not None
        vote = AnswerVote(
            message_id=message_id,
            customer_id=customer.id,
            entry_id=message.entry_id,
            helpful=helpful,
            created_at=now,
        )
    vote.helpful = helpful
    vote.created_at = now
    session.add(vote)
    await session.flush()
    return vote


async def questions_to_review(session: AsyncSession, since: datetime) -> list[tuple[str, str]]:
    """Customers' questions since a moment that the bot did not answer well, each with why:
    'unanswered' (it fell back), 'unsure' (it only suggested), 'downvoted' (👎 on its answer)."""
    found: list[tuple[str, str]] = []
    unanswered = select(UnansweredQuestion.text).where(UnansweredQuestion.created_at >= since)
    found += [(text, "unanswered") for text in (await session.exec(unanswered)).all()]
    unsure = select(Message.text).where(
        Message.direction == "in", Message.decision == "suggest", Message.created_at >= since
    )
    found += [(text, "unsure") for text in (await session.exec(unsure)).all()]
    downvoted_answers = (
        await session.exec(
            select(Message)
            .join(AnswerVote, col(AnswerVote.message_id) == col(Message.id))
            .where(col(AnswerVote.helpful).is_(False), AnswerVote.created_at >= since)
        )
    ).all()
    for answer in downvoted_answers:
        question = (
            await session.exec(
                select(Message.text)
                .where(
                    Message.conversation_id == answer.conversation_id,
                    Message.direction == "in",
                    col(Message.id) < answer.id,
                    Message.entry_id == answer.entry_id,
                )
                .order_by(col(Message.id).desc())
                .limit(1)
            )
        ).first()
        if question is not None:
            found.append((question, "downvoted"))
    return found
