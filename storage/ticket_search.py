"""Finding tickets for the console's list: by words (a ticket or order number, the description,
the customer's name) and by status, priority, agent, category, team and when they were opened."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, func, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Customer, Ticket, TicketCategory, TicketPriority, TicketStatus
from storage.models import find_ticket_id as ticket_id_in


@dataclass(frozen=True)
class TicketFilter:
    words: str = ""
    status: TicketStatus | None = None
    priority: TicketPriority | None = None
    agent: int | None = None
    category: TicketCategory | None = None
    team: str | None = None  # an id of [teams]
    since: datetime | None = None
    until: datetime | None = None


async def find_tickets(
    session: AsyncSession, wanted: TicketFilter, limit: int = 200
) -> list[tuple[Ticket, Customer]]:
    """The newest first, with their customers."""
    statement = select(Ticket, Customer).join(
        Customer, col(Customer.id) == col(Ticket.customer_id)
    )
    if wanted.status is not None:
        statement = statement.where(Ticket.status == wanted.status)
    if wanted.priority is not None:
        statement = statement.where(Ticket.priority == wanted.priority)
    if wanted.agent is not None:
        statement = statement.where(Ticket.assigned_agent == wanted.agent)
    if wanted.category is not None:
        statement = statement.where(Ticket.category == wanted.category)
    if wanted.team is not None:
        statement = statement.where(Ticket.team == wanted.team)
    if wanted.since is not None:
        statement = statement.where(Ticket.created_at >= wanted.since)
    if wanted.until is not None:
        statement = statement.where(Ticket.created_at < wanted.until)
    words = wanted.words.strip()
    if words:
        number = ticket_id_in(words)
        if number is not None:
            statement = statement.where(Ticket.id == number)
        else:
            lowered = words.lower()
            statement = statement.where(
                or_(
                    func.lower(col(Ticket.description)).contains(lowered, autoescape=True),
                    func.lower(col(Ticket.order_number)).contains(lowered, autoescape=True),
                    func.lower(col(Customer.first_name)).contains(lowered, autoescape=True),
                    func.lower(col(Customer.username)).contains(lowered, autoescape=True),
                )
            )
    statement = statement.order_by(col(Ticket.id).desc()).limit(limit)
    return [(ticket, customer) for ticket, customer in (await session.exec(statement)).all()]


async def agents_on_tickets(session: AsyncSession) -> list[int]:
    """Every agent a ticket was ever assigned to, for the list's filter."""
    statement = (
        select(Ticket.assigned_agent)
        .where(col(Ticket.assigned_agent).is_not(None))
        .distinct()
        .order_by(col(Ticket.assigned_agent))
    )
    return [agent for agent in (await session.exec(statement)).all() if agent is not None]
