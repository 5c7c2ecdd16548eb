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
    AnswerVote,
    Conversation,
    Customer,
    Feedback,
    FeedbackKind,
    Message,
    ScheduledMessage,
    ScheduledStatus,
    Ticket,
    TicketCategory,
)

FALLBACK = "fallback"  # knowledge.matcher.Decision.FALLBACK, as stored with the bot's answer


# Where the distributions of response and resolution times are cut: a ticket falls in the first
# bucket its time is within; the last bucket holds the rest.
FIRST_RESPONSE_MINUTES = (5, 15, 30, 60, 120, 240)
RESOLUTION_HOURS = (1, 4, 8, 24, 48, 72)


def _bucketed(values: Iterable[float], edges: tuple[int, ...]) -> list[int]:
    counts = [0] * (len(edges) + 1)
    for value in values:
        counts[next((i for i, edge in enumerate(edges) if value <= edge), len(edges))] += 1
    return counts


def first_response_minutes(tickets: Iterable[Ticket]) -> list[float]:
    """Minutes from opening to an agent's first response, of the tickets that had one."""
    return [
        (t.first_response_at - t.created_at).total_seconds() / 60
        for t in tickets
        if t.first_response_at is not None
    ]


def resolution_hours(tickets: Iterable[Ticket]) -> list[float]:
    """Hours from opening to resolution, of the tickets resolved."""
    return [
        (t.resolved_at - t.created_at).total_seconds() / 3600
        for t in tickets
        if t.resolved_at is not None
    ]


def responded_on_time(ticket: Ticket) -> bool:
    return (
        ticket.first_response_at is not None
        and ticket.first_response_at <= ticket.first_response_due
    )


def responded_late(ticket: Ticket, until: datetime) -> bool:
    """Answered after its due time, or still waiting past it at the period's end."""
    if ticket.first_response_at is not None:
        return ticket.first_response_at > ticket.first_response_due
    return ticket.first_response_due < until


def resolved_on_time(ticket: Ticket) -> bool:
    return ticket.resolved_at is not None and ticket.resolved_at <= ticket.resolution_due


@dataclass(frozen=True)
class ServiceFigures:
    conversations: int
    handed_off: int  # conversations that became a ticket
    direct_tickets: int  # tickets the customer opened without asking the bot first (/human)
    bot_alone: int  # conversations the bot settled alone: no ticket, no fallback at the end, no 👎
    tickets: int
    first_response_minutes_median: float | None
    first_response_on_time: int
    first_response_late: int
    resolution_hours_median: float | None
    resolution_on_time: int
    resolution_late: int
    reopened: int
    resolved_first_time: int  # resolved and never reopened
    # conversations without a ticket that ended in a fallback or got a 👎: not settled
    bot_unsettled: int = 0


async def unsettled_conversations(
    session: AsyncSession, since: datetime, until: datetime
) -> set[int]:
    """Conversations started in the period whose bot's last answer was a fallback, or in
    which the customer marked an answer unhelpful (👎): the bot did not settle them."""
    in_period = (
        select(Conversation.id)
        .where(Conversation.started_at >= since, Conversation.started_at < until)
        .scalar_subquery()
    )
    answers = (
        await session.exec(
            select(Message.conversation_id, Message.decision)
            .where(
                col(Message.conversation_id).in_(in_period),
                Message.direction == "out",
                col(Message.decision).is_not(None),
            )
            .order_by(col(Message.created_at), col(Message.id))
        )
    ).all()
    last: dict[int, str | None] = {}
    for conversation_id, decision in answers:
        last[conversation_id] = decision
    unsettled = {conversation for conversation, decision in last.items() if decision == FALLBACK}
    voted_down = (
        await session.exec(
            select(Message.conversation_id)
            .join(AnswerVote, col(AnswerVote.message_id) == col(Message.id))
            .where(col(Message.conversation_id).in_(in_period), col(AnswerVote.helpful).is_(False))
        )
    ).all()
    return unsettled | set(voted_down)


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
    handed = {t.conversation_id for t in tickets if t.conversation_id is not None}
    handed_off = len(handed)
    unsettled = len(await unsettled_conversations(session, since, until) - handed)
    responded = [t for t in tickets if t.first_response_at is not None]
    resolved = [t for t in tickets if t.resolved_at is not None]
    first_minutes = first_response_minutes(responded)
    hours = resolution_hours(resolved)
    return ServiceFigures(
        conversations=conversations,
        handed_off=handed_off,
        direct_tickets=sum(1 for t in tickets if t.conversation_id is None),
        bot_alone=max(conversations - handed_off - unsettled, 0),
        tickets=len(tickets),
        first_response_minutes_median=statistics.median(first_minutes) if first_minutes else None,
        first_response_on_time=sum(map(responded_on_time, responded)),
        first_response_late=sum(responded_late(t, until) for t in tickets),
        resolution_hours_median=statistics.median(hours) if hours else None,
        resolution_on_time=sum(map(resolved_on_time, resolved)),
        resolution_late=sum(
            1
            for t in tickets
            if (t.resolved_at or until) > t.resolution_due
            and (t.resolved_at is not None or t.resolution_due <= until)
        ),
        reopened=sum(t.reopen_count for t in tickets),
        resolved_first_time=sum(1 for t in resolved if t.reopen_count == 0),
        bot_unsettled=unsettled,
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


@dataclass(frozen=True)
class Comment:
    answered_at: datetime
    ticket_id: int | None
    agent_id: int | None
    score: int | None
    text: str


@dataclass(frozen=True)
class PeriodDetails:
    """What a report over a period shows beside its headline figures: each day's volume and
    satisfaction, how long first responses took, how customers scored, what they wrote."""

    conversations_by_day: dict[str, int]
    tickets_by_day: dict[str, int]
    csat_by_day: dict[str, float]
    first_response_buckets: list[int]  # one per FIRST_RESPONSE_MINUTES limit, then the rest
    waiting_for_first_response: int
    csat_scores: dict[int, int]  # stars (1-5) -> answers
    nps_groups: dict[str, int]  # detractors (0-6), passives (7-8), promoters (9-10)
    complaints: int
    comments: list[Comment]


def _days_between(since: datetime, until: datetime, zone: ZoneInfo) -> list[str]:
    first, last = (
        since.astimezone(zone).date(),
        (until - timedelta(microseconds=1)).astimezone(zone).date(),
    )
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


async def period_details(
    session: AsyncSession, since: datetime, until: datetime, zone: ZoneInfo
) -> PeriodDetails:
    days = _days_between(since, until, zone)
    started = (
        await session.exec(
            select(Conversation.started_at).where(
                Conversation.started_at >= since, Conversation.started_at < until
            )
        )
    ).all()
    tickets = (
        await session.exec(
            select(Ticket).where(Ticket.created_at >= since, Ticket.created_at < until)
        )
    ).all()
    answers = (
        await session.exec(
            select(Feedback)
            .where(Feedback.answered_at >= since, Feedback.answered_at < until)
            .order_by(col(Feedback.answered_at))
        )
    ).all()

    def by_day(moments: Iterable[datetime]) -> dict[str, int]:
        counts = dict.fromkeys(days, 0)
        for moment in moments:
            day = moment.astimezone(zone).date().isoformat()
            counts[day] = counts.get(day, 0) + 1
        return counts

    csat = [f for f in answers if f.kind == FeedbackKind.CSAT and f.score is not None]
    nps = [f.score for f in answers if f.kind == FeedbackKind.NPS and f.score is not None]
    return PeriodDetails(
        conversations_by_day=by_day(started),
        tickets_by_day=by_day(t.created_at for t in tickets),
        csat_by_day=_grouped(
            [(f.answered_at.astimezone(zone).date().isoformat(), f.score or 0) for f in csat]
        ),
        first_response_buckets=_bucketed(first_response_minutes(tickets), FIRST_RESPONSE_MINUTES),
        waiting_for_first_response=sum(1 for t in tickets if t.first_response_at is None),
        csat_scores={stars: sum(1 for f in csat if f.score == stars) for stars in range(1, 6)},
        nps_groups={
            "detractors": sum(1 for score in nps if score <= 6),
            "passives": sum(1 for score in nps if 7 <= score <= 8),
            "promoters": sum(1 for score in nps if score >= 9),
        },
        complaints=sum(1 for t in tickets if t.category == TicketCategory.COMPLAINT),
        comments=[
            Comment(f.answered_at, f.ticket_id, f.agent_id, f.score, f.comment)
            for f in answers
            if f.comment
        ],
    )


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
    days = _days_between(since, until, zone)
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
        first_response_buckets=_bucketed(first_response_minutes(tickets), FIRST_RESPONSE_MINUTES),
        resolution_buckets=_bucketed(resolution_hours(tickets), RESOLUTION_HOURS),
    )


@dataclass(frozen=True)
class TeamFigures:
    """Tickets opened in a period by the team that holds them (None: no team), how many of
    those are resolved, and satisfaction (CSAT answered in the period) by the ticket's team."""

    tickets_by_team: dict[str | None, int]
    resolved_by_team: dict[str | None, int]
    csat_by_team: dict[str | None, float]
    csat_answers_by_team: dict[str | None, int]


async def team_figures(session: AsyncSession, since: datetime, until: datetime) -> TeamFigures:
    opened = (
        await session.exec(
            select(Ticket.team, Ticket.resolved_at).where(
                Ticket.created_at >= since, Ticket.created_at < until
            )
        )
    ).all()
    tickets: dict[str | None, int] = {}
    resolved: dict[str | None, int] = {}
    for team, resolved_at in opened:
        tickets[team] = tickets.get(team, 0) + 1
        resolved[team] = resolved.get(team, 0) + (resolved_at is not None)
    answers = (
        await session.exec(
            select(Ticket.team, Feedback.score)
            .join(Ticket, col(Ticket.id) == col(Feedback.ticket_id))
            .where(
                Feedback.kind == FeedbackKind.CSAT,
                Feedback.answered_at >= since,
                Feedback.answered_at < until,
                col(Feedback.score).is_not(None),
            )
        )
    ).all()
    scores: dict[str | None, list[int]] = {}
    for team, score in answers:
        scores.setdefault(team, []).append(score or 0)

    def order(key: str | None) -> tuple[bool, str]:
        return key is None, key or ""

    return TeamFigures(
        tickets_by_team={key: tickets[key] for key in sorted(tickets, key=order)},
        resolved_by_team={key: resolved[key] for key in sorted(resolved, key=order)},
        csat_by_team={key: _out_of_100(scores[key]) for key in sorted(scores, key=order)},
        csat_answers_by_team={key: len(scores[key]) for key in sorted(scores, key=order)},
    )
