"""Tickets: opening, reuse, VIP priority, SLA due times in business hours, history, breaches."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import ManualClock
from bot.config import SlaConfig
from bot.schedule.business_hours import BusinessHours
from bot.tickets.lifecycle import TicketError, TicketService
from storage.conversations import record_message
from storage.customers import touch_customer
from storage.database import create_session_factory
from storage.figures import service_figures
from storage.models import Customer

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOURS = BusinessHours(
    "Asia/Shanghai", {day: ["09:00-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
)


@pytest.fixture
def service(clock: ManualClock) -> TicketService:
    return TicketService(clock, HOURS, SlaConfig())


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with create_session_factory(engine)() as session:
        yield session


async def customer(session: AsyncSession, clock: ManualClock, vip: str | None = None) -> Customer:
    found = await touch_customer(session, "telegram", "42", now=clock.now())
    found.vip_tier = vip
    return found


def local(clock: ManualClock) -> str:
    return clock.now().astimezone(SHANGHAI).strftime("%a %H:%M")


async def test_a_ticket_gets_a_number_and_due_times_in_open_hours(
    service: TicketService, session: AsyncSession, clock: ManualClock
) -> None:
    # Friday 17:50 in Shanghai: 10 open minutes left this week.
    clock.set(clock.now().replace(year=2026, month=3, day=6, hour=9, minute=50))
    assert local(clock) == "Fri 17:50"
    mei = await customer(session, clock)
    ticket, created = await service.open_ticket(session, mei, category="shipping")
    assert created
    assert ticket.number == f"T-{ticket.id:06d}"
    assert (ticket.status, ticket.priority) == ("new", "normal")
    # 30 open minutes: 10 on Friday, 20 on Monday morning.
    assert ticket.first_response_due.astimezone(SHANGHAI).strftime("%a %H:%M") == "Mon 09:20"
    # 24 open hours: 10 minutes on Friday, 9 hours on Monday and on Tuesday, 5:50 on Wednesday.
    due = ticket.resolution_due.astimezone(SHANGHAI)
    assert due.strftime("%a %H:%M") == "Wed 14:50"


async def test_an_open_ticket_is_reused(
    service: TicketService, session: AsyncSession, clock: ManualClock
) -> None:
    mei = await customer(session, clock)
    first, _ = await service.open_ticket(session, mei, category="order")
    again, created = await service.open_ticket(session, mei, category="payment")
    assert (again.id, created) == (first.id, False)
    await service.resolve(session, first, "agent:1")
    third, created = await service.open_ticket(session, mei, category="payment")
    assert created and third.id != first.id


@pytest.mark.parametrize(
    ("category", "vip", "priority"),
    [
        ("order", None, "normal"),
        ("order", "gold", "high"),
        ("complaint", None, "high"),
        ("complaint", "gold", "urgent"),
    ],
)
async def test_vip_customers_start_one_level_higher(
    service: TicketService,
    session: AsyncSession,
    clock: ManualClock,
    category: str,
    vip: str | None,
    priority: str,
) -> None:
    ticket, _ = await service.open_ticket(
        session, await customer(session, clock, vip), category=category
    )
    assert ticket.priority == priority


async def test_every_change_is_in_the_history(
    service: TicketService, session: AsyncSession, clock: ManualClock
) -> None:
    ticket, _ = await service.open_ticket(
        session, await customer(session, clock), category="order"
    )
    await service.assign(session, ticket, 501, "agent:501")
    await service.note(session, ticket, 501, "customer sounds upset")
    await service.agent_replied(session, ticket, 501)
    await service.agent_replied(session, ticket, 501)  # only the first counts
    await service.assign(session, ticket, 502, "agent:501")
    await service.resolve(session, ticket, "agent:502")
    await service.reopen(session, ticket, "customer:1")
    await service.close(session, ticket, "agent:502")
    kinds = [(e.actor, e.kind, e.detail) for e in await service.history(session, ticket)]
    assert [k for _, k, _ in kinds] == [
        "created",
        "assigned",
        "note",
        "first_response",
        "transferred",
        "resolved",
        "reopened",
        "closed",
    ]
    assert kinds[2] == ("agent:501", "note", "customer sounds upset")
    assert ticket.reopen_count == 1
    with pytest.raises(TicketError):
        await service.resolve(session, ticket, "agent:502")


async def test_breaches_are_found_once(
    service: TicketService, session: AsyncSession, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI))  # Monday morning
    ticket, _ = await service.open_ticket(
        session, await customer(session, clock), category="order"
    )
    clock.advance(timedelta(minutes=29))
    assert await service.breaches(session) == []
    clock.advance(timedelta(minutes=2))
    [breach] = await service.breaches(session)
    assert (breach.ticket.id, breach.kind) == (ticket.id, "first_response")
    clock.advance(timedelta(hours=1))
    assert await service.breaches(session) == []
    clock.advance(timedelta(days=7))
    [late] = await service.breaches(session)
    assert late.kind == "resolution"


async def test_replicas_looking_at_once_alert_each_breach_and_announce_each_ticket_once(
    service: TicketService, engine: AsyncEngine, clock: ManualClock
) -> None:
    """Two replicas' SLA jobs at the same moment, each in its own transaction."""
    clock.set(datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI))  # Monday morning
    sessions = create_session_factory(engine)
    async with sessions() as session:
        for number in range(5):
            found = await touch_customer(session, "telegram", f"r{number}", now=clock.now())
            await service.open_ticket(session, found, category="order")
        await session.commit()
    clock.advance(timedelta(minutes=31))

    async def replica() -> tuple[list[tuple[int, str]], list[int]]:
        async with sessions() as session:
            breaches = await service.breaches(session)
            announced = await service.to_announce(session, timedelta(minutes=10))
            await session.commit()
        return [(b.ticket.id or 0, b.kind) for b in breaches], [t.id or 0 for t in announced]

    first, second = await asyncio.gather(replica(), replica())
    alerted = first[0] + second[0]
    assert sorted(alerted) == sorted({(ticket, "first_response") for ticket, _ in alerted})
    assert len(alerted) == 5
    assert sorted(first[1] + second[1]) == sorted({*first[1], *second[1]})
    assert len(first[1] + second[1]) == 5


async def test_service_figures_for_reports(
    service: TicketService, session: AsyncSession, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI))  # Monday morning
    start = clock.now()
    customers = []
    for number in range(3):
        found = await touch_customer(session, "telegram", f"c{number}", now=clock.now())
        await record_message(session, found, direction="in", text="hi", now=clock.now())
        customers.append(found)
    fast, _ = await service.open_ticket(session, customers[0], category="order")
    slow, _ = await service.open_ticket(session, customers[1], category="order")
    clock.advance(timedelta(minutes=10))
    await service.agent_replied(session, fast, 1)
    await service.resolve(session, fast, "agent:1")
    await service.reopen(session, fast, "customer:1")
    clock.advance(timedelta(minutes=50))
    await service.agent_replied(session, slow, 1)
    figures = await service_figures(session, start, clock.now() + timedelta(seconds=1))
    assert (figures.conversations, figures.handed_off, figures.bot_alone) == (3, 2, 1)
    assert figures.tickets == 2
    # The slow one answered after 60 minutes; the reopened one got no new answer in 30.
    assert (figures.first_response_on_time, figures.first_response_late) == (0, 2)

    assert figures.first_response_minutes_median == 60.0
    assert figures.reopened == 1
