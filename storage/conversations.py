"""Conversations and the messages in them, unanswered questions, and answer votes."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import AnswerVote, Conversation, Customer, Message, UnansweredQuestion

# A customer who writes again after this long starts a new conversation.
CONVERSATION_IDLE = timedelta(minutes=30)


async def current_conversation(
    session: AsyncSession, customer: Customer, now: datetime
) -> Conversation:
    """The customer's conversation, moved on to now, or a new one after a pause: one statement
    when the conversation goes on. Kept on the session, so that a question and its answer in
    one update look it up once."""
    remembered = ("conversation", customer.id)
    conversation: Conversation | None = session.info.get(remembered)
    if conversation is not None and now - conversation.last_message_at <= CONVERSATION_IDLE:
        return conversation  # within one update: its start is recent enough
    assert customer.id is not None
    latest = (
        select(Conversation.id)
        .where(Conversation.customer_id == customer.id)
        .order_by(col(Conversation.last_message_at).desc())
        .limit(1)
        .scalar_subquery()
    )
    goes_on = (
        update(Conversation)
        .where(
            col(Conversation.id) == latest,
            col(Conversation.last_message_at) >= now - CONVERSATION_IDLE,
        )
        .values(last_message_at=now)
        .returning(Conversation)
    )
    options = {"populate_existing": True, "synchronize_session": False}
    conversation = (await session.exec(goes_on, execution_options=options)).scalar_one_or_none()
    if conversation is None:
        conversation = Conversation(customer_id=customer.id, started_at=now, last_message_at=now)
        session.add(conversation)
        await session.flush()
    session.info[remembered] = conversation
    return conversation


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
    flush: bool = True,
) -> Message:
    """One message of a conversation with the bot. With `flush=False` it is written with the
    next flush (its id unknown until then), so that a question and its answer are one INSERT."""
    conversation = await current_conversation(session, customer, now)
    assert conversation.id is not None and customer.id is not None
    message = Message(
        conversation_id=conversation.id,
        customer_id=customer.id,
        direction=direction,
        text=text,
        entry_id=entry_id,
        score=score,
        decision=decision,
        created_at=now,
    )
    session.add(message)
    if flush:
        await session.flush()
    return message


async def record_unanswered(
    session: AsyncSession,
    customer: Customer,
    message: Message,
    *,
    now: datetime,
    best_entry_id: str | None,
    best_score: float | None,
) -> UnansweredQuestion:
    assert customer.id is not None and message.id is not None
    question = UnansweredQuestion(
        customer_id=customer.id,
        message_id=message.id,
        text=message.text,
        best_entry_id=best_entry_id,
        best_score=best_score,
        created_at=now,
    )
    session.add(question)
    await session.flush()
    return question


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
