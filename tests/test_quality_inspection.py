"""Quality inspection (质检): the weekly draw is random but reproducible with a seed and never
takes a ticket twice; the supervisor scores with buttons in their private chat (the real
dispatcher, a recording bot session), comments, and the score reaches the scorecard."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiogram import Dispatcher
from aiogram.methods import AnswerCallbackQuery, SendDocument, SendMessage
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import Services
from bot.clock import ManualClock
from bot.quality.inspection import draw, week_of
from bot.reports.scorecards import scorecards
from storage.models import AgentDuty, Customer, QaReview, Ticket
from tests.chat import PrivateChat
from tests.conftest import TEST_KB, StartServices
from tests.mocked_bot import MockedBot
from tests.test_scorecards import ticket

ALICE, BEN = 501, 502
SUPERVISOR, SECOND_SUPERVISOR, MEI = 777, 778, 42
SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI)  # the draw of the week Nov 23-29


def test_the_draw_is_random_but_the_same_for_the_same_seed() -> None:
    candidates = list(range(100, 140))
    first = draw(candidates, 5, "s1", "2026-11-23", ALICE)
    assert len(first) == len(set(first)) == 5 and set(first) <= set(candidates)
    assert draw(list(reversed(candidates)), 5, "s1", "2026-11-23", ALICE) == first
    others = {
        tuple(draw(candidates, 5, seed, week, agent))
        for seed, week, agent in [
            ("s2", "2026-11-23", ALICE),
            ("s1", "2026-11-30", ALICE),
            ("s1", "2026-11-23", BEN),
        ]
    }
    assert tuple(first) not in others and len(others) == 3
    assert draw([7, 8], 5, "s1", "2026-11-23", ALICE) == [7, 8]


def test_the_week_inspected_is_the_seven_days_before_the_draw_day() -> None:
    first, start, end = week_of(MONDAY, SHANGHAI, "mon")
    assert (first.isoformat(), start, end) == (
        "2026-11-23",
        datetime(2026, 11, 23, tzinfo=SHANGHAI),
        datetime(2026, 11, 30, tzinfo=SHANGHAI),
    )
    # a late run (the bot was down on Monday) still inspects the same week
    assert week_of(MONDAY + timedelta(days=2), SHANGHAI, "mon")[0] == first


@pytest.fixture
async def services(start_services: StartServices, clock: ManualClock, database: str) -> Services:
    """On SQLite, and on PostgreSQL when KEFU_TEST_DATABASE_URL is set."""
    clock.set(MONDAY)
    services = await start_services(
        kb=TEST_KB,
        database=database,
        replace={
            "supervisors = []": f"supervisors = [{SUPERVISOR}, {SECOND_SUPERVISOR}]",
            "agents = []": f"agents = [{ALICE}, {BEN}]",
            'seed = ""': 'seed = "fixed"',
        },
    )
    async with services.session_factory() as session:
        session.add(
            Customer(
                channel="telegram",
                external_id=str(MEI),
                first_name="Mei",
                first_seen=MONDAY,
                last_seen=MONDAY,
            )
        )
        session.add(AgentDuty(telegram_id=ALICE, name="Alice"))
        await session.flush()
        await resolved_tickets(session, ALICE, 8, datetime(2026, 11, 24, 10, tzinfo=SHANGHAI))
        await resolved_tickets(session, BEN, 2, datetime(2026, 11, 25, 10, tzinfo=SHANGHAI))
        # resolved the week before: not this week's to draw
        await resolved_tickets(session, BEN, 3, datetime(2026, 11, 18, 10, tzinfo=SHANGHAI))
        await session.commit()
    return services


async def resolved_tickets(session: AsyncSession, agent: int, count: int, when: datetime) -> None:
    for _ in range(count):
        made = ticket(agent, when, when + timedelta(minutes=5), when + timedelta(hours=1))
        made.customer_id = 1
        session.add(made)
    await session.flush()


async def reviews(services: Services) -> list[QaReview]:
    async with services.session_factory() as session:
        return list((await session.exec(select(QaReview).order_by(col(QaReview.id)))).all())


async def test_each_agent_gets_a_sample_and_no_ticket_is_drawn_twice(
    services: Services, clock: ManualClock
) -> None:
    async with services.session_factory() as session:
        drawn = await services.quality.draw_week(session, clock.now())
    by_agent = {
        agent: [d.review.ticket_id for d in drawn if d.review.agent_id == agent]
        for agent in (ALICE, BEN)
    }
    assert len(by_agent[ALICE]) == 5 and len(by_agent[BEN]) == 2  # Ben resolved only 2
    assert all(
        datetime(2026, 11, 23, tzinfo=SHANGHAI) <= d.ticket.resolved_at < MONDAY  # type: ignore[operator]
        for d in drawn
    )
    # the supervisors take them in turn
    assert {d.review.reviewer_id for d in drawn} == {SUPERVISOR, SECOND_SUPERVISOR}
    # drawn once a week, whichever replica runs the job again
    async with services.session_factory() as session:
        assert await services.quality.draw_week(session, clock.now()) == []
    # the same seed draws the same tickets
    async with services.session_factory() as session:
        alice_ids = (
            await session.exec(select(Ticket.id).where(Ticket.assigned_agent == ALICE))
        ).all()
    assert by_agent[ALICE] == draw([i for i in alice_ids if i], 5, "fixed", "2026-11-23", ALICE)

    # the next week: Alice's 3 not drawn are resolved again; no ticket is drawn twice
    clock.set(MONDAY + timedelta(days=7))
    async with services.session_factory() as session:
        old = await session.exec(select(Ticket).where(col(Ticket.id).not_in(by_agent[ALICE])))
        for left in old.all():
            if left.assigned_agent == ALICE:
                left.resolved_at = datetime(2026, 12, 1, 10, tzinfo=SHANGHAI)
                session.add(left)
        await session.commit()
        again = await services.quality.draw_week(session, clock.now())
    assert len(again) == 3
    everything = [r.ticket_id for r in await reviews(services)]
    assert len(everything) == len(set(everything)) == 10


async def test_a_supervisor_scores_with_buttons_and_the_score_reaches_the_scorecard(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    await services.quality.weekly(services.session_factory, bot)
    sent = [r for r in bot.recorder.requests if isinstance(r, SendDocument | SendMessage)]
    assert len(sent) == 14  # 7 drawn: a transcript and a rubric each
    mine = [r for r in sent if isinstance(r, SendMessage) and r.chat_id == SUPERVISOR]
    assert len(mine) == 4
    rubric = mine[0]
    assert rubric.text.startswith("🔍 质检 T-")  # staff who never wrote: the agents' language

    supervisor = PrivateChat(dispatcher, bot, SUPERVISOR, "en")
    [listed] = await supervisor.say("/qa")
    lines = listed.text.splitlines()
    assert lines[0] == "Quality inspections waiting for scores: 4"
    assert lines[1].endswith("· Alice · week of 2026-11-23 · 0/5 scored")
    before = len(bot.recorder.requests)
    replies = await supervisor.press(listed, listed.reply_markup.inline_keyboard[0][0].text)  # type: ignore[union-attr]
    documents = [r for r in bot.recorder.requests[before:] if isinstance(r, SendDocument)]
    assert len(documents) == 1 and documents[0].chat_id == SUPERVISOR
    [rubric] = replies
    assert rubric.text.splitlines()[-1] == (
        "1/5 · Greeting (a proper greeting and closing): 1 (poor) to 5 (excellent)?"
    )
    for score in ("4", "5", "4", "5"):
        [rubric] = await supervisor.press(rubric, score)
    assert rubric.text.splitlines()[1:5] == [
        "Greeting: 4",
        "Accuracy: 5",
        "Courtesy: 4",
        "Compliance: 5",
    ]
    [done] = await supervisor.press(rubric, "4")
    number = rubric.text.split()[4]
    assert done.text == (f"{number} scored: 88 of 100. Write a comment if you have one, or skip.")
    [saved] = await supervisor.say("Polite, but the refund rule was explained late.")
    assert saved.text == "Comment saved. Thank you."
    # a stale button: that criterion is scored already
    assert await supervisor.press(rubric, "1") == []
    assert alert(bot) == "This was already scored."
    [review] = [r for r in await reviews(services) if r.scored_at is not None]
    assert review.scores() == [4, 5, 4, 5, 4]
    assert review.comment == "Polite, but the refund rule was explained late."

    [listed] = await supervisor.say("/qa")
    assert listed.text.splitlines()[0] == "Quality inspections waiting for scores: 3"

    async with services.session_factory() as session:
        cards = await scorecards(
            session,
            MONDAY - timedelta(days=30),
            clock.now() + timedelta(minutes=1),
            services.config.report.scorecard,
        )
    alice = next(card for card in cards if card.name == "Alice")
    assert (alice.figures.qa, alice.figures.qa_reviews) == (88.0, 1)

    # someone else's inspection cannot be scored, and a customer has no /qa
    clock.advance(timedelta(minutes=1))  # past the flood limit
    theirs = next(r for r in sent if isinstance(r, SendMessage) and r.chat_id == SECOND_SUPERVISOR)
    assert await supervisor.press(theirs, "5") == []
    assert alert(bot) == "This inspection is not yours to score."
    customer = PrivateChat(dispatcher, bot, MEI, "en")
    [refused] = await customer.say("/qa")
    assert refused.text == "Sorry, quality inspection is for supervisors and admins."
    assert await customer.press(theirs, "5") == []
    assert alert(bot) == "Sorry, quality inspection is for supervisors and admins."


def alert(bot: MockedBot) -> str | None:
    answered = [r for r in bot.recorder.requests if isinstance(r, AnswerCallbackQuery)]
    return answered[-1].text
