from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import func, select

from bot.clock import ManualClock
from storage.conversations import record_message, record_unanswered, record_vote
from storage.customers import choose_language, find_customer, touch_customer
from storage.database import create_session_factory, migrate
from storage.models import (
    AnswerVote,
    Conversation,
    Ticket,
    TicketCategory,
    TicketPriority,
    TicketStatus,
    UnansweredQuestion,
)


async def test_migrations_apply_twice_without_change(engine: AsyncEngine) -> None:
    await migrate(engine)


async def test_a_customer_is_created_once_and_keeps_a_chosen_language(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    sessions = create_session_factory(engine)
    async with sessions() as session:
        first = await touch_customer(
            session, "telegram", "777", now=clock.now(), first_name="Li", language="zh"
        )
        await choose_language(session, first, "en")
        await session.commit()
    clock.advance(timedelta(hours=1))
    async with sessions() as session:
        again = await touch_customer(session, "telegram", "777", now=clock.now(), language="zh")
        await session.commit()
    assert again.id == first.id
    assert again.language == "en"
    assert again.last_seen == clock.now()
    assert again.first_seen == clock.now() - timedelta(hours=1)
    assert again.first_seen.tzinfo is not None
    async with sessions() as session:
        assert await find_customer(session, "terminal", "777") is None


async def test_messages_start_a_new_conversation_after_a_pause(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    sessions = create_session_factory(engine)
    async with sessions() as session:
        customer = await touch_customer(session, "telegram", "1", now=clock.now())
        first = await record_message(session, customer, direction="in", text="hi", now=clock.now())
        clock.advance(timedelta(minutes=10))
        second = await record_message(
            session,
            customer,
            direction="out",
            text="hello",
            now=clock.now(),
            entry_id="greeting",
            score=88.5,
            decision="answer",
        )
        clock.advance(timedelta(hours=2))
        third = await record_message(
            session, customer, direction="in", text="再问", now=clock.now()
        )
        await session.commit()
        conversations = (await session.exec(select(func.count()).select_from(Conversation))).one()
    assert first.conversation_id == second.conversation_id != third.conversation_id
    assert conversations == 2


async def test_votes_count_once_per_answer_and_only_from_its_customer(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    sessions = create_session_factory(engine)
    async with sessions() as session:
        customer = await touch_customer(session, "telegram", "1", now=clock.now())
        stranger = await touch_customer(session, "telegram", "2", now=clock.now())
        answer = await record_message(
            session, customer, direction="out", text="a", now=clock.now(), entry_id="returns"
        )
        question = await record_message(
            session, customer, direction="in", text="q", now=clock.now()
        )
        assert answer.id is not None and question.id is not None
        assert (
            await record_vote(session, stranger, answer.id, helpful=True, now=clock.now()) is None
        )
        assert (
            await record_vote(session, customer, question.id, helpful=True, now=clock.now())
            is None
        )
        await record_vote(session, customer, answer.id, helpful=True, now=clock.now())
        vote = await record_vote(session, customer, answer.id, helpful=False, now=clock.now())
        await session.commit()
        votes = (await session.exec(select(AnswerVote))).all()
    assert vote is not None and vote.entry_id == "returns"
    assert [(v.message_id, v.helpful) for v in votes] == [(answer.id, False)]


async def test_unanswered_questions_keep_the_text_and_best_guess(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    sessions = create_session_factory(engine)
    async with sessions() as session:
        customer = await touch_customer(session, "telegram", "1", now=clock.now())
        message = await record_message(
            session, customer, direction="in", text="火星天气", now=clock.now()
        )
        await record_unanswered(
            session, customer, message, now=clock.now(), best_entry_id=None, best_score=None
        )
        await session.commit()
    async with sessions() as session:
        stored = (await session.exec(select(UnansweredQuestion))).one()
    assert stored.text == "火星天气"
    assert stored.created_at == clock.now()


async def test_enum_columns_keep_plain_strings_and_refuse_unknown_values(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    sessions = create_session_factory(engine)
    now = clock.now()
    async with sessions() as session:
        customer = await touch_customer(session, "telegram", "5", now=now)
        assert customer.id is not None
        ticket = Ticket(
            customer_id=customer.id,
            channel="telegram",
            category=TicketCategory.PAYMENT,
            priority=TicketPriority.HIGH,
            status=TicketStatus.WAITING,
            created_at=now,
            updated_at=now,
            first_response_due=now,
            resolution_due=now,
        )
        session.add(ticket)
        await session.commit()
        connection = await session.connection()
        stored = await connection.execute(text("SELECT category, priority, status FROM ticket"))
        assert tuple(stored.one()) == ("payment", "high", "waiting")
    async with sessions() as session:
        again = await session.get(Ticket, ticket.id)
        assert again is not None
        assert again.status is TicketStatus.WAITING
        assert again.priority is TicketPriority.HIGH
        with pytest.raises(StatementError, match="'wating' is not a valid TicketStatus"):
            await session.exec(update(Ticket).values(status="wating"))
