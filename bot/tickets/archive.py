"""Tickets for the archive (`kefu tickets export`): each ticket with its whole record, as CSV
(one row per line of the record, the ticket's fields repeated) or JSON lines (one object per
ticket, its record nested). Every ticket exported is a look at a customer's conversation: it
goes to the audit log of staff access."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any, Literal

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.tickets.transcript import Entry, ticket_entries
from storage.models import Ticket
from storage.privacy import record_access

Format = Literal["csv", "jsonl"]
TICKET_FIELDS = (
    "ticket",
    "customer",
    "channel",
    "category",
    "priority",
    "status",
    "agent",
    "order_number",
    "opened_at",
    "first_response_at",
    "resolved_at",
    "closed_at",
    "reopen_count",
)
ENTRY_FIELDS = ("at", "actor", "kind", "text", "media", "file_id")


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def ticket_fields(ticket: Ticket) -> dict[str, Any]:
    return {
        "ticket": ticket.number,
        "customer": ticket.customer_id,
        "channel": ticket.channel,
        "category": str(ticket.category),
        "priority": str(ticket.priority),
        "status": str(ticket.status),
        "agent": ticket.assigned_agent,
        "order_number": ticket.order_number,
        "opened_at": _when(ticket.created_at),
        "first_response_at": _when(ticket.first_response_at),
        "resolved_at": _when(ticket.resolved_at),
        "closed_at": _when(ticket.closed_at),
        "reopen_count": ticket.reopen_count,
    }


async def export_tickets(
    session: AsyncSession, since: datetime, form: Format, *, actor: str, now: datetime
) -> tuple[str, int]:
    """The tickets opened since `since`, oldest first, in `form`; and how many there were."""
    statement = select(Ticket).where(col(Ticket.created_at) >= since).order_by(col(Ticket.id))
    tickets = list((await session.exec(statement)).all())
    records: list[tuple[Ticket, list[Entry]]] = []
    for ticket in tickets:
        records.append((ticket, await ticket_entries(session, ticket)))
        await record_access(
            session,
            actor=actor,
            customer_id=ticket.customer_id,
            kind="transcript",
            detail=ticket.number,
            now=now,
        )
    out = io.StringIO()
    if form == "jsonl":
        for ticket, entries in records:
            line = {**ticket_fields(ticket), "record": [entry.as_dict() for entry in entries]}
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
        return out.getvalue(), len(records)
    writer = csv.DictWriter(out, fieldnames=[*TICKET_FIELDS, *ENTRY_FIELDS], lineterminator="\n")
    writer.writeheader()
    for ticket, entries in records:
        for entry in entries:
            writer.writerow({**ticket_fields(ticket), **entry.as_dict()})
    return out.getvalue(), len(records)
