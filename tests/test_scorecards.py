"""Agent scorecards on a seeded database: every figure computed by hand beside the seed, the
composite weighted as [report.scorecard] says, `/scorecard` through the real dispatcher and
`kefu report agents` on the command line."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiogram import Dispatcher
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import Services
from bot.clock import ManualClock
from bot.config import ScorecardConfig
from bot.reports.scorecards import scorecards
from storage.database import create_engine, create_session_factory, migrate
from storage.models import (
    QA_CRITERIA,
    AgentDuty,
    Customer,
    Feedback,
    FeedbackKind,
    QaReview,
    ScheduledKind,
    ScheduledMessage,
    ScheduledStatus,
    Ticket,
    TicketCategory,
    TicketPriority,
    TicketStatus,
)
from tests.chat import PrivateChat
from tests.conftest import TEST_KB, Kefu, StartServices
from tests.mocked_bot import MockedBot

ALICE, BEN, CAROL = 501, 502, 503
SUPERVISOR, ADMIN, MEI = 777, 900, 42
SINCE = datetime(2026, 11, 1, tzinfo=UTC)
UNTIL = datetime(2026, 12, 1, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def ticket(
    agent: int,
    created: datetime,
    responded: datetime | None,
    resolved: datetime | None,
    reopened: int = 0,
) -> Ticket:
    """First response due 30 minutes after it was opened, resolution a day after."""
    return Ticket(
        customer_id=1,
        channel="telegram",
        category=TicketCategory.SHIPPING,
        priority=TicketPriority.NORMAL,
        status=TicketStatus.RESOLVED if resolved else TicketStatus.ASSIGNED,
        assigned_agent=agent,
        created_at=created,
        updated_at=created,
        first_response_due=created + timedelta(minutes=30),
        resolution_due=created + timedelta(days=1),
        first_response_at=responded,
        resolved_at=resolved,
        reopen_count=reopened,
    )


async def add_csat(
    session: AsyncSession,
    ticket_id: int,
    agent: int,
    stars: int,
    answered: datetime | None = None,
    comment: str | None = None,
) -> None:
    scheduled = ScheduledMessage(
        key=f"survey:{ticket_id}",
        kind=ScheduledKind.SURVEY,
        customer_id=1,
        ticket_id=ticket_id,
        status=ScheduledStatus.SENT,
        due_at=at(25, 9),
        expires_at=at(28, 9),
        created_at=at(25, 9),
    )
    session.add(scheduled)
    await session.flush()
    assert scheduled.id is not None
    session.add(
        Feedback(
            scheduled_id=scheduled.id,
            kind=FeedbackKind.CSAT,
            customer_id=1,
            ticket_id=ticket_id,
            agent_id=agent,
            category=TicketCategory.SHIPPING,
            score=stars,
            comment=comment,
            answered_at=answered or at(25, 10),
        )
    )


def review(ticket_id: int, agent: int, scores: list[int] | None, when: datetime) -> QaReview:
    made = QaReview(
        ticket_id=ticket_id,
        agent_id=agent,
        reviewer_id=SUPERVISOR,
        week="2026-11-23",
        sampled_at=when,
        scored_at=when if scores else None,
    )
    for criterion, score in zip(QA_CRITERIA, scores or [], strict=False):
        setattr(made, criterion, score)
    return made


async def seed(session: AsyncSession) -> None:
    """Alice: 3 tickets in November (and one in October, not counted), Ben 2, Carol none but a
    quality inspection of an October ticket scored in November. Figures by hand in the tests."""
    session.add(
        Customer(channel="telegram", external_id=str(MEI), first_seen=at(1, 0), last_seen=at(1, 0))
    )
    # Ben is known by his private chat with the bot, Alice by the name she took tickets under
    session.add(
        Customer(
            channel="telegram",
            external_id=str(BEN),
            first_name="Ben",
            first_seen=at(1, 0),
            last_seen=at(1, 0),
        )
    )
    session.add(AgentDuty(telegram_id=ALICE, name="Alice"))
    await session.flush()
    tickets = [
        # first response after 10 min (on time), resolved after 2 h (on time)
        ticket(ALICE, at(10, 10), at(10, 10, 10), at(10, 12)),
        # 40 min (late), 48 h (late), reopened once
        ticket(ALICE, at(10, 10), at(10, 10, 40), at(12, 10), reopened=1),
        # 20 min (on time), 4 h (on time)
        ticket(ALICE, at(10, 10), at(10, 10, 20), at(10, 14)),
        # October: outside the period
        ticket(ALICE, at(31, 10, month=10), at(31, 10, 5, month=10), at(31, 11, month=10)),
        # 5 min (on time), 1 h (on time)
        ticket(BEN, at(20, 9), at(20, 9, 5), at(20, 10)),
        # never answered nor resolved, both due long before the period ends: late twice
        ticket(BEN, at(20, 9), None, None),
        ticket(CAROL, at(30, 9, month=10), at(30, 9, 1, month=10), at(30, 10, month=10)),
    ]
    session.add_all(tickets)
    await session.flush()
    ids = [t.id for t in tickets]
    assert all(ids)
    await add_csat(session, ids[0] or 0, ALICE, 5)
    await add_csat(session, ids[1] or 0, ALICE, 4)
    await add_csat(session, ids[4] or 0, BEN, 2)
    session.add_all(
        [
            review(ids[2] or 0, ALICE, [4, 4, 4, 4, 4], at(24, 9)),  # 80
            review(ids[0] or 0, ALICE, None, at(24, 9)),  # not scored yet: not counted
            review(ids[6] or 0, CAROL, [5, 5, 5, 5, 4], at(24, 9)),  # 96
        ]
    )
    await session.commit()


@pytest.fixture
async def seeded(engine: AsyncEngine) -> Callable[[], AsyncSession]:
    """The seed in SQLite, and in PostgreSQL when KEFU_TEST_DATABASE_URL is set."""
    factory = create_session_factory(engine)
    async with factory() as session:
        await seed(session)
    return factory


async def test_every_figure_matches_the_hand_computed_one(
    seeded: Callable[[], AsyncSession],
) -> None:
    async with seeded() as session:
        cards = await scorecards(session, SINCE, UNTIL, ScorecardConfig())
    by_name = {card.name: card for card in cards}
    assert [card.name for card in cards] == ["Alice", "Ben", str(CAROL)]
    alice = by_name["Alice"].figures
    assert (alice.handled, alice.first_response_minutes_median) == (3, 20.0)
    assert (alice.first_response_on_time, alice.first_response_late) == (2, 1)
    assert alice.first_response_share == 66.7
    assert (alice.resolved, alice.resolution_hours_median, alice.resolution_share) == (
        3,
        4.0,
        66.7,
    )
    assert alice.reopen_rate == 33.3
    assert (alice.csat, alice.csat_answers) == (90.0, 2)  # 4.5 stars
    assert (alice.qa, alice.qa_reviews) == (80.0, 1)
    # 0.6 × 90 + 0.4 × 66.7
    assert by_name["Alice"].composite == 80.7
    ben = by_name["Ben"].figures
    assert (ben.handled, ben.first_response_minutes_median, ben.first_response_share) == (
        2,
        5.0,
        50.0,
    )
    assert (ben.resolved, ben.resolution_hours_median, ben.resolution_share) == (1, 1.0, 50.0)
    assert (ben.reopen_rate, ben.csat, ben.qa) == (0.0, 40.0, None)
    assert by_name["Ben"].composite == 44.0  # 0.6 × 40 + 0.4 × 50
    carol = by_name[str(CAROL)]
    assert (carol.figures.handled, carol.figures.qa, carol.composite) == (0, 96.0, None)


async def test_the_weights_come_from_the_config(seeded: Callable[[], AsyncSession]) -> None:
    weights = ScorecardConfig(satisfaction_weight=0.5, completion_weight=0.3, quality_weight=0.2)
    async with seeded() as session:
        cards = await scorecards(session, SINCE, UNTIL, weights)
    # Carol has only the quality score; Ben has no QA, so his two parts share the weight
    assert [(card.name, card.composite) for card in cards] == [
        (str(CAROL), 96.0),
        ("Alice", 81.0),  # 0.5 × 90 + 0.3 × 66.7 + 0.2 × 80
        ("Ben", 43.8),  # (0.5 × 40 + 0.3 × 50) / 0.8
    ]


@pytest.fixture
async def services(start_services: StartServices, clock: ManualClock) -> Services:
    clock.set(datetime(2026, 12, 2, 3, 0, tzinfo=UTC))
    services = await start_services(
        kb=TEST_KB,
        replace={
            "supervisors = []": f"supervisors = [{SUPERVISOR}]",
            "admins = []": f"admins = [{ADMIN}]",
            "agents = []": f"agents = [{ALICE}, {BEN}]",
        },
    )
    async with services.session_factory() as session:
        await seed(session)
    return services


async def test_a_supervisor_reads_the_scorecards_in_their_language(
    services: Services, dispatcher: Dispatcher, bot: MockedBot
) -> None:
    supervisor = PrivateChat(dispatcher, bot, SUPERVISOR, "en")
    [shown] = await supervisor.say("/scorecard 2026-11-01 2026-11-30")
    lines = shown.text.splitlines()
    assert lines[0] == "Agent scorecards 2026-11-01 00:00 to 2026-12-01 00:00 (Asia/Shanghai)"
    assert lines[2] == (
        "1. Alice: 80.7 · tickets 3 · first response median 20 min, 66.7% on time · "
        "resolution median 4 h, 66.7% on time · reopened 33.3% · CSAT 90 (2 answers) · "
        "QA 80 (1 reviews)"
    )
    assert lines[3].startswith("2. Ben: 44 · tickets 2 ·")
    assert lines[4].startswith(f"3. {CAROL}: – · tickets 0 ·")
    assert lines[-2:] == ["Top 2: Alice 80.7, Ben 44", "Below the target of 80: Ben 44"]

    chinese = PrivateChat(dispatcher, bot, ADMIN, "zh")
    [shown] = await chinese.say("/scorecard 2026-11-01 2026-11-30")
    assert shown.text.splitlines()[-1] == "低于目标 80：Ben 44"

    [usage] = await supervisor.say("/scorecard 2026-11-30 2026-11-01")
    assert usage.text == "Usage: /scorecard [days], with days from 1 to 366."
    customer = PrivateChat(dispatcher, bot, MEI, "en")
    [refused] = await customer.say("/scorecard")
    assert refused.text == "Sorry, scorecards are for supervisors and admins."


async def seed_file(path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    await migrate(engine)
    async with create_session_factory(engine)() as session:
        await seed(session)
    await engine.dispose()


def test_the_scorecards_from_the_command_line(
    write_config: Callable[..., Path], kefu: Kefu, tmp_path: Path
) -> None:
    config = write_config()
    asyncio.run(seed_file(tmp_path / "kefu.db"))
    period = ("--since", "2026-11-01", "--until", "2026-11-30")
    ran = kefu(config, "report", "agents", *period)
    assert ran.returncode == 0
    assert "1. Alice: 80.7 · tickets 3 ·" in ran.stdout
    ran = kefu(config, "report", "agents", *period, "--json")
    rows = json.loads(ran.stdout)
    assert [(row["name"], row["composite"], row["below_target"]) for row in rows] == [
        ("Alice", 80.7, False),
        ("Ben", 44.0, True),
        (str(CAROL), None, False),
    ]
    ran = kefu(config, "report", "agents", *period, "--csv")
    header, first = ran.stdout.splitlines()[:2]
    assert header.startswith("place,agent_id,name,composite,below_target,handled,")
    assert first.startswith(f"1,{ALICE},Alice,80.7,False,3,")
