"""Service figures over a period, from what the tickets and conversations recorded."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Conversation, Ticket


@dataclass(frozen=True)
class ServiceFigures:
    conversations: int
    handed_off: int  # conversations that became a ticket
    bot_alone: int
    tickets: int
    first_response_minutes_median: float | None
    first_response_on_time: int
    first_response_late: int
    resolution_hours_median: float | None
    resolution_on_time: int
    resolution_late: int
    reopened: int


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
    )
