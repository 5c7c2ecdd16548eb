"""The Tickets pages: the list as filtered, and one ticket's whole story (card, transcript,
events and notes, outcome, survey and revisit), with phones and addresses masked for the roles
that may not read them and every look at a ticket written to the audit log."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.config import Config
from bot.orders.lookup import OrderStatusService
from bot.orders.providers import OrdersUnavailable, OrderView, mask_address, mask_phone
from bot.texts import Say
from bot.tickets.labels import customer_label
from bot.tickets.outcomes import outcome_label
from bot.tickets.transcript import DESCRIBED, SAID, Entry, agent_names, ticket_entries
from bot.web.console.access import Staff
from storage.models import (
    Customer,
    Feedback,
    FeedbackKind,
    Ticket,
    TicketCategory,
    TicketEvent,
    TicketPriority,
    TicketStatus,
    find_ticket_id,
)
from storage.privacy import record_access
from storage.ticket_search import TicketFilter, agents_on_tickets, find_tickets

# A phone number written in a customer's words: 7 or more digits, spaces or dashes between.
PHONE_IN_TEXT = re.compile(r"(?<!\d)\+?\d(?:[ -]?\d){6,}(?!\d)")


def masked_text(text: str) -> str:
    return PHONE_IN_TEXT.sub(lambda found: mask_phone(re.sub(r"\D", "", found.group())), text)


class Unmasking:
    """Whether a reader sees customers' phones and addresses as written."""

    def __init__(self, config: Config, staff: Staff) -> None:
        self.full = staff.role in config.console.unmasked_roles

    def text(self, text: str | None) -> str:
        return (text or "") if self.full else masked_text(text or "")

    def phone(self, phone: str | None) -> str:
        return (phone or "") if self.full else mask_phone(phone)

    def address(self, address: str | None) -> str:
        return (address or "") if self.full else mask_address(address)


def _choice(value: str, kind: type[TicketStatus | TicketPriority | TicketCategory]) -> object:
    try:
        return kind(value) if value else None
    except ValueError:
        return None


def ticket_filter(query: dict[str, str], zone: ZoneInfo, teams: list[str]) -> TicketFilter:
    """What the list's form asks for; a value that does not read (a team not in `teams`, the
    ids of [teams]) is left out (the form shows what it was read as)."""

    def day(name: str, shift: int) -> datetime | None:
        try:
            found = date.fromisoformat(query.get(name, "").strip())
        except ValueError:
            return None
        return datetime.combine(found + timedelta(days=shift), time(), zone)

    agent = query.get("agent", "").strip()
    return TicketFilter(
        words=query.get("q", "")[:100],
        status=_choice(query.get("status", ""), TicketStatus),  # type: ignore[arg-type]
        priority=_choice(query.get("priority", ""), TicketPriority),  # type: ignore[arg-type]
        category=_choice(query.get("category", ""), TicketCategory),  # type: ignore[arg-type]
        agent=int(agent) if agent.isdigit() and len(agent) < 19 else None,
        team=query.get("team") if query.get("team") in teams else None,
        since=day("since", 0),
        until=day("until", 1),
    )


@dataclass(frozen=True)
class Row:
    ticket: Ticket
    customer: str
    agent: str
    summary: str


@dataclass
class TicketList:
    wanted: TicketFilter
    rows: list[Row]
    agents: dict[int, str]


async def ticket_list(
    session: AsyncSession, wanted: TicketFilter, staff: Staff, config: Config, say: Say
) -> TicketList:
    unmasking = Unmasking(config, staff)
    names = await agent_names(session)
    agents = {agent: names.get(agent) or str(agent) for agent in await agents_on_tickets(session)}
    rows = [
        Row(
            ticket,
            customer_label(say, customer),
            agents.get(ticket.assigned_agent, "") if ticket.assigned_agent else "",
            unmasking.text((ticket.description or "")[:120]),
        )
        for ticket, customer in await find_tickets(session, wanted)
    ]
    return TicketList(wanted, rows, agents)


@dataclass(frozen=True)
class Line:
    """One line of the record as the page shows it."""

    at: datetime
    who: str
    kind: str  # "said", "note" or "change"
    text: str
    part: str  # "bot" or "ticket"
    photo: str | None = None  # Telegram's file id of a photo sent on the ticket


@dataclass
class TicketStory:
    ticket: Ticket
    customer: str
    description: str
    agent: str
    order: OrderView | None
    order_phone: str
    order_address: str
    order_unavailable: bool
    lines: list[Line]
    cause: str
    remedy: str
    surveys: list[Feedback] = field(default_factory=list)


class TicketPages:
    def __init__(self, config: Config, clock: Clock, order_status: OrderStatusService) -> None:
        self.config = config
        self.clock = clock
        self.order_status = order_status

    async def story(
        self, session: AsyncSession, number: str, staff: Staff, say: Say
    ) -> TicketStory | None:
        """The ticket a number names, read by `staff` (recorded in the audit log); None when
        there is no such ticket."""
        ticket_id = find_ticket_id(number)
        ticket = await session.get(Ticket, ticket_id) if ticket_id and ticket_id < 2**31 else None
        if ticket is None:
            return None
        customer = await session.get(Customer, ticket.customer_id)
        names = await agent_names(session)
        unmasking = Unmasking(self.config, staff)
        customer_name = (customer.first_name if customer else None) or "-"

        def who(actor: str) -> str:
            kind, _, ident = actor.partition(":")
            if kind == "customer":
                return say("transcript_who_customer", name=customer_name)
            if kind == "agent" and ident.isdigit():
                return names.get(int(ident)) or say("transcript_who_agent", id=ident)
            return say(f"transcript_who_{'bot' if kind == 'bot' else 'system'}")

        entries = await ticket_entries(session, ticket)
        lines = [self._line(entry, who, unmasking, say) for entry in entries]
        order, unavailable = None, False
        if ticket.order_number:
            try:
                order = await self.order_status.provider.find(ticket.order_number)
            except OrdersUnavailable:
                unavailable = True
        surveys = (
            await session.exec(
                select(Feedback)
                .where(Feedback.ticket_id == ticket.id)
                .order_by(col(Feedback.answered_at))
            )
        ).all()
        await record_access(
            session,
            actor=staff.actor,
            customer_id=ticket.customer_id,
            kind="console",
            detail=ticket.number,
            now=self.clock.now(),
        )
        await session.commit()
        agent = ticket.assigned_agent
        return TicketStory(
            ticket=ticket,
            customer=customer_label(say, customer) if customer else "-",
            description=unmasking.text(ticket.description),
            agent=(names.get(agent) or str(agent)) if agent else "",
            order=order,
            order_phone=unmasking.phone(order.phone) if order else "",
            order_address=unmasking.address(order.address) if order else "",
            order_unavailable=unavailable,
            lines=lines,
            cause=outcome_label(say.texts, "cause", ticket.cause, say.language)
            if ticket.cause
            else "",
            remedy=outcome_label(say.texts, "remedy", ticket.remedy, say.language)
            if ticket.remedy
            else "",
            surveys=[s for s in surveys if s.kind in (FeedbackKind.CSAT, FeedbackKind.REVISIT)],
        )

    async def holds_photo(self, session: AsyncSession, number: str, file_id: str) -> bool:
        """Whether a photo was sent on the ticket a number names: only those are shown."""
        ticket_id = find_ticket_id(number)
        if not ticket_id or ticket_id >= 2**31 or not file_id:
            return False
        found = await session.exec(
            select(TicketEvent.id).where(
                TicketEvent.ticket_id == ticket_id,
                TicketEvent.file_id == file_id,
                TicketEvent.media == "photo",
            )
        )
        return found.first() is not None

    @staticmethod
    def _line(entry: Entry, who: Callable[[str], str], unmasking: Unmasking, say: Say) -> Line:
        name = who(entry.actor)
        part = "bot" if entry.kind.startswith("bot_") else "ticket"
        if part == "bot" or entry.kind in SAID:
            text = unmasking.text(entry.text)
            if entry.media:
                media = say("console_media", media=entry.media)
                text = media if text == f"[{entry.media}]" else f"{media} {text}"
            kind = "note" if entry.kind == "note" else "said"
            photo = entry.file_id if entry.media == "photo" else None
            return Line(entry.at, name, kind, text, part, photo)
        detail = entry.text
        if entry.kind in ("assigned", "transferred") and detail.startswith("agent:"):
            detail = who(detail)
        event = (
            say(f"transcript_event_{entry.kind}", detail=detail)
            if entry.kind in DESCRIBED
            else f"{entry.kind} {detail}".strip()
        )
        return Line(entry.at, name, "change", unmasking.text(event), part)
