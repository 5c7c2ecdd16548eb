"""Service figures over a period, from what the tickets and conversations recorded."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    OPEN_STATUSES,
    Conversation,
    Customer,
    Feedback,
    FeedbackKind,
    ScheduledMessage,
    ScheduledStatus,
    Ticket,
    TicketCategory,
)


@dataclass(frozen=True)
class ServiceFigures:
    conversations: int
    handed_off: int  # conversations that became a ticket
    direct_tickets: int  # tickets the customer opened without asking the bot first (/human)
    bot_alone: int
    tickets: int
    first_response_minutes_median: float | None
    first_response_on_time: int
    first_response_late: int
    resolution_hours_median: float | None
    resolution_on_time: int
    resolution_late: int
    reopened: int
    resolved_first_time: int  # resolved and never reopened


async def service_figures(
    session: AsyncSession, since: datetime, until: datetime
) -> ServiceFigures:
    conversations = (
        await session.exec(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.started_at >= since, Conversation.started_at < until)
        )
    ).one()
    tickets = (
        await session.exec(
            select(Ticket).where(Ticket.created_at >= since, Ticket.created_at < until)
        )
    ).all()
    handed_off = len({t.conversation_id for t in tickets if t.conversation_id is not None})
    responded = [t for t in tickets if t.first_response_at is not None]
    resolved = [t for t in tickets if t.resolved_at is not None]
    first_minutes = [
        (t.first_response_at - t.created_at).total_seconds() / 60
        for t in responded
        if t.first_response_at
    ]
    resolution_hours = [
        (t.resolved_at - t.created_at).total_seconds() / 3600 for t in resolved if t.resolved_at
    ]
    return ServiceFigures(
        conversations=conversations,
        handed_off=handed_off,
        direct_tickets=sum(1 for t in tickets if t.conversation_id is None),
        bot_alone=max(conversations - handed_off, 0),
        tickets=len(tickets),
        first_response_minutes_median=statistics.median(first_minutes) if first_minutes else None,
        first_response_on_time=sum(
            1
            for t in responded
            if t.first_response_at and t.first_response_at <= t.first_response_due
        ),
        first_response_late=sum(
            1
            for t in tickets
            if (t.first_response_at or until) > t.first_response_due
            and (t.first_response_at is not None or t.first_response_due <= until)
        ),
        resolution_hours_median=statistics.median(resolution_hours) if resolution_hours else None,
        resolution_on_time=sum(
            1 for t in resolved if t.resolved_at and t.resolved_at <= t.resolution_due
        ),
        resolution_late=sum(
            1
            for t in tickets
            if (t.resolved_at or until) > t.resolution_due
            and (t.resolved_at is not None or t.resolution_due <= until)
        ),
        reopened=sum(t.reopen_count for t in tickets),
        resolved_first_time=sum(1 for t in resolved if t.reopen_count == 0),
    )


@dataclass(frozen=True)
class FeedbackFigures:
    """What customers answered: CSAT as a mean score out of 100 (5 stars = 100, the policy's
    target is 90), overall and per agent, category and day; revisits; NPS (-100 to 100)."""

    csat_answers: int
    csat: float | None
    csat_by_agent: dict[int, float]
    csat_by_category: dict[TicketCategory, float]
    csat_by_day: dict[str, float]
    low_scores: int  # 1 or 2 stars
    revisits_solved: int
    revisits_not_solved: int
    nps_answers: int
    nps: float | None


def _out_of_100(scores: list[int]) -> float:
    return round(statistics.mean(scores) * 20, 1)


K = TypeVar("K")


def _grouped(pairs: Iterable[tuple[K | None, int]]) -> dict[K, float]:
    groups: dict[K, list[int]] = {}
    for key, score in pairs:
        if key is not None:
            groups.setdefault(key, []).append(score)
    ordered = sorted(groups.items(), key=lambda group: str(group[0]))
    return {key: _out_of_100(scores) for key, scores in ordered}


async def feedback_figures(
    session: AsyncSession, since: datetime, until: datetime, zone: ZoneInfo
) -> FeedbackFigures:
    answers = (
        await session.exec(
            select(Feedback).where(Feedback.answered_at >= since, Feedback.answered_at < until)
        )
    ).all()
    csat = [f for f in answers if f.kind == FeedbackKind.CSAT and f.score is not None]
    scores = [f.score for f in csat if f.score is not None]
    revisits = [f for f in answers if f.kind == FeedbackKind.REVISIT]
    nps = [f.score for f in answers if f.kind == FeedbackKind.NPS and f.score is not None]
    promoters = sum(1 for score in nps if score >= 9)
    detractors = sum(1 for score in nps if score <= 6)
    return FeedbackFigures(
        csat_answers=len(scores),
        csat=_out_of_100(scores) if scores else None,
        csat_by_agent=_grouped([(f.agent_id, f.score or 0) for f in csat]),
        csat_by_category=_grouped([(f.category, f.score or 0) for f in csat]),
        csat_by_day=_grouped(
            [(f.answered_at.astimezone(zone).date().isoformat(), f.score or 0) for f in csat]
        ),
        low_scores=sum(1 for score in scores if score <= 2),
        revisits_solved=sum(1 for f in revisits if f.solved),
        revisits_not_solved=sum(1 for f in revisits if f.solved is False),
        nps_answers=len(nps),
        nps=round((promoters - detractors) * 100 / len(nps), 1) if nps else None,
    )


# An outcome's count: (tickets, of which complaints).
Counts = dict[str | None, tuple[int, int]]


@dataclass(frozen=True)
class OutcomeFigures:
    """Tickets opened in a period, by category, and by the cause and remedy agents gave on
    resolving them (None: a resolved ticket without one)."""

    tickets: int
    by_category: dict[str, int]
    by_cause: Counts
    by_remedy: Counts


def _tally(values: Iterable[tuple[str | None, bool]]) -> Counts:
    counts: Counts = {}
    for value, complaint in values:
        tickets, complaints = counts.get(value, (0, 0))
        counts[value] = (tickets + 1, complaints + complaint)
    return counts


async def outcome_figures(
    session: AsyncSession, since: datetime, until: datetime
) -> OutcomeFigures:
    tickets = (
        await session.exec(
            select(Ticket).where(Ticket.created_at >= since, Ticket.created_at < until)
        )
    ).all()
    by_category: dict[str, int] = {}
    for ticket in tickets:
        by_category[str(ticket.category)] = by_category.get(str(ticket.category), 0) + 1
    # outcomes are asked on resolving: a ticket closed without being resolved has none to give
    ended = [t for t in tickets if t.resolved_at is not None or t.cause or t.remedy]
    return OutcomeFigures(
        tickets=len(tickets),
        by_category=by_category,
        by_cause=_tally((t.cause, t.category == TicketCategory.COMPLAINT) for t in ended),
        by_remedy=_tally((t.remedy, t.category == TicketCategory.COMPLAINT) for t in ended),
    )


@dataclass(frozen=True)
class LiveFigures:
    """How the service stands at one moment, for the operations endpoint's gauges."""

    tickets_by_status: dict[str, int]
    first_response_overdue: int  # open tickets no agent has answered past their due time
    resolution_overdue: int  # open tickets not resolved past their due time
    scheduled_pending: int  # messages waiting to be sent (pending or claimed)
    scheduled_overdue: int  # of those, due more than `late` ago
    scheduled_uncertain: int


async def live_figures(session: AsyncSession, now: datetime, late: timedelta) -> LiveFigures:
    by_status = (
        await session.exec(select(Ticket.status, func.count()).group_by(col(Ticket.status)))
    ).all()
    still_open = col(Ticket.status).in_(OPEN_STATUSES)
    no_answer = (
        await session.exec(
            select(func.count()).where(
                still_open,
                col(Ticket.first_response_at).is_(None),
                Ticket.first_response_due < now,
            )
        )
    ).one()
    unresolved = (
        await session.exec(select(func.count()).where(still_open, Ticket.resolution_due < now))
    ).one()
    waiting = col(ScheduledMessage.status).in_((ScheduledStatus.PENDING, ScheduledStatus.CLAIMED))
    pending = (await session.exec(select(func.count()).where(waiting))).one()
    overdue = (
        await session.exec(
            select(func.count()).where(waiting, ScheduledMessage.due_at < now - late)
        )
    ).one()
    uncertain = (
        await session.exec(
            select(func.count()).where(ScheduledMessage.status == ScheduledStatus.UNCERTAIN)
        )
    ).one()
    return LiveFigures(
        tickets_by_status={str(status): count for status, count in by_status},
        first_response_overdue=no_answer,
        resolution_overdue=unresolved,
        scheduled_pending=pending,
        scheduled_overdue=overdue,
        scheduled_uncertain=uncertain,
    )


# Where the distributions of response and resolution times are cut: a ticket falls in the first
# bucket its time is within; the last bucket holds the rest.
FIRST_RESPONSE_MINUTES = (5, 15, 30, 60, 120, 240)
RESOLUTION_HOURS = (1, 4, 8, 24, 48, 72)


def _bucketed(values: Iterable[float], edges: tuple[int, ...]) -> list[int]:
    counts = [0] * (len(edges) + 1)
    for value in values:
        counts[next((i for i, edge in enumerate(edges) if value <= edge), len(edges))] += 1
    return counts


@dataclass(frozen=True)
class VolumeFigures:
    """How much came in over a period, in the shop's time zone: conversations and tickets by
    day (every day of the period, quiet ones too) and by hour of the day, tickets by category
    and channel, conversations by channel, and how long first responses (minutes) and
    resolutions (hours) took, counted in the buckets of FIRST_RESPONSE_MINUTES and
    RESOLUTION_HOURS."""

    conversations_by_day: dict[str, int]
    tickets_by_day: dict[str, int]
    conversations_by_hour: list[int]
    tickets_by_hour: list[int]
    tickets_by_category: dict[str, int]
    tickets_by_channel: dict[str, int]
    conversations_by_channel: dict[str, int]
    first_response_buckets: list[int]
    resolution_buckets: list[int]


def _days_of(since: datetime, until: datetime, zone: ZoneInfo) -> list[str]:
    first, last = (
        since.astimezone(zone).date(),
        (until - timedelta(microseconds=1)).astimezone(zone).date(),
    )
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


async def volume_figures(
    session: AsyncSession, since: datetime, until: datetime, zone: ZoneInfo
) -> VolumeFigures:
    started = (
        await session.exec(
            select(Conversation.started_at, Customer.channel)
            .join(Customer, col(Customer.id) == col(Conversation.customer_id))
            .where(Conversation.started_at >= since, Conversation.started_at < until)
        )
    ).all()
    tickets = (
        await session.exec(
            select(Ticket).where(Ticket.created_at >= since, Ticket.created_at < until)
        )
    ).all()
    days = _days_of(since, until, zone)
    conversations_by_day = dict.fromkeys(days, 0)
    tickets_by_day = dict.fromkeys(days, 0)
    conversations_by_hour, tickets_by_hour = [0] * 24, [0] * 24
    conversations_by_channel: dict[str, int] = {}
    for moment, channel in started:
        local = moment.astimezone(zone)
        day = local.date().isoformat()
        conversations_by_day[day] = conversations_by_day.get(day, 0) + 1
        conversations_by_hour[local.hour] += 1
        conversations_by_channel[channel] = conversations_by_channel.get(channel, 0) + 1
    by_category: dict[str, int] = {}
    by_channel: dict[str, int] = {}
    for ticket in tickets:
        local = ticket.created_at.astimezone(zone)
        day = local.date().isoformat()
        tickets_by_day[day] = tickets_by_day.get(day, 0) + 1
        tickets_by_hour[local.hour] += 1
        by_category[str(ticket.category)] = by_category.get(str(ticket.category), 0) + 1
        by_channel[ticket.channel] = by_channel.get(ticket.channel, 0) + 1
    first_minutes = [
        (t.first_response_at - t.created_at).total_seconds() / 60
        for t in tickets
        if t.first_response_at
    ]
    resolution_hours = [
        (t.resolved_at - t.created_at).total_seconds() / 3600 for t in tickets if t.resolved_at
    ]
    return VolumeFigures(
        conversations_by_day=conversations_by_day,
        tickets_by_day=tickets_by_day,
        conversations_by_hour=conversations_by_hour,
        tickets_by_hour=tickets_by_hour,
        tickets_by_category=dict(sorted(by_category.items(), key=lambda item: -item[1])),
        tickets_by_channel=dict(sorted(by_channel.items(), key=lambda item: -item[1])),
        conversations_by_channel=dict(
            sorted(conversations_by_channel.items(), key=lambda item: -item[1])
        ),
        first_response_buckets=_bucketed(first_minutes, FIRST_RESPONSE_MINUTES),
        resolution_buckets=_bucketed(resolution_hours, RESOLUTION_HOURS),
    )
