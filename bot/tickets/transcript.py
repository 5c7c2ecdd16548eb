"""A ticket's whole record as staff read it: the customer's conversation with the bot before the
handoff, then the human conversation both ways, internal notes and every change, in the order
they happened, each with its time in the shop's time zone written for the reader's language.
Sent as a file in the ticket's topic (/transcript), posted into a topic created again after its
deletion, printed by `kefu tickets show` and archived by `kefu tickets export`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.texts import Say, Texts
from bot.tickets.labels import category_label, customer_label, priority_label, status_label
from storage.models import AgentDuty, Customer, Ticket, TicketEvent
from storage.models import Message as StoredMessage

# Events that are words exchanged (shown as "who: text"); every other kind is a change.
SAID = ("message", "reply", "note")
# Events with a catalogue text of their own (transcript_event_<kind>); others are shown by kind.
DESCRIBED = (
    "created",
    "assigned",
    "transferred",
    "first_response",
    "waiting",
    "replied",
    "resolved",
    "closed",
    "reopened",
    "priority",
    "sla_breach",
    "unreachable",
    "follow_up_ticket",
    "erased",
    "topic_recreated",
    "team",
    "escalated",
    "sla_reminder",
    "supervisor_requested",
    "vip",
    "outcome",
)


@dataclass(frozen=True)
class Entry:
    """One line of the record: a message with the bot (kind "bot_in" or "bot_out") or one
    of the ticket's events."""

    at: datetime
    actor: str  # "customer:<id>", "agent:<telegram id>", "bot", "system"
    kind: str
    text: str
    media: str | None = None
    file_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "actor": self.actor,
            "kind": self.kind,
            "text": self.text,
            "media": self.media,
            "file_id": self.file_id,
        }


async def ticket_entries(session: AsyncSession, ticket: Ticket) -> list[Entry]:
    """The bot part (the ticket's conversation up to the handoff), then the ticket's events,
    in order: by time, the bot part first at the same moment, then as they were written."""
    entries: list[tuple[datetime, int, int, Entry]] = []
    if ticket.conversation_id is not None:
        statement = (
            select(StoredMessage)
            .where(
                StoredMessage.conversation_id == ticket.conversation_id,
                col(StoredMessage.created_at) <= ticket.created_at,
            )
            .order_by(col(StoredMessage.id))
        )
        for message in (await session.exec(statement)).all():
            actor = f"customer:{message.customer_id}" if message.direction == "in" else "bot"
            entry = Entry(message.created_at, actor, f"bot_{message.direction}", message.text)
            entries.append((message.created_at, 0, message.id or 0, entry))
    statement_events = (
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(col(TicketEvent.id))
    )
    for event in (await session.exec(statement_events)).all():
        entry = Entry(
            event.created_at, event.actor, event.kind, event.detail, event.media, event.file_id
        )
        entries.append((event.created_at, 1, event.id or 0, entry))
    return [entry for *_, entry in sorted(entries, key=lambda item: item[:3])]


async def agent_names(session: AsyncSession) -> dict[int, str]:
    """Agents' names as they gave them going on duty, by Telegram id."""
    return {duty.telegram_id: duty.name for duty in (await session.exec(select(AgentDuty))).all()}


class Transcripts:
    def __init__(self, texts: Texts, zone: ZoneInfo) -> None:
        self.texts = texts
        self.zone = zone

    def time(self, moment: datetime, language: str) -> str:
        return self.texts("transcript_time", language, at=moment.astimezone(self.zone))

    async def render(self, session: AsyncSession, ticket: Ticket, language: str) -> str:
        """The ticket's record as a text to read, in `language`."""
        say = self.texts
        customer = await session.get(Customer, ticket.customer_id)
        names = await agent_names(session)
        customer_name = (customer.first_name if customer else None) or "-"

        def who(actor: str) -> str:
            kind, _, ident = actor.partition(":")
            if kind == "customer":
                return say("transcript_who_customer", language, name=customer_name)
            if kind == "agent" and ident.isdigit():
                return names.get(int(ident)) or say("transcript_who_agent", language, id=ident)
            return say(f"transcript_who_{'bot' if kind == 'bot' else 'system'}", language)

        reader = Say(self.texts, language)
        lines = [
            say(
                "transcript_title",
                language,
                number=ticket.number,
                category=category_label(reader, ticket.category),
                priority=priority_label(reader, ticket.priority),
                status=status_label(reader, ticket.status),
            ),
            say(
                "transcript_customer",
                language,
                name=customer_label(reader, customer) if customer else "-",
                opened=self.time(ticket.created_at, language),
            ),
            say("transcript_zone", language, zone=self.zone.key),
        ]
        part = ""
        for entry in await ticket_entries(session, ticket):
            bot_part = entry.kind.startswith("bot_")
            if part != ("bot" if bot_part else "ticket"):
                part = "bot" if bot_part else "ticket"
                heading = "transcript_bot_part" if bot_part else "transcript_human_part"
                lines += ["", f"── {say(heading, language)} ──"]
            when = self.time(entry.at, language)
            if bot_part or entry.kind in SAID:
                text = entry.text
                if entry.media:
                    media = say("transcript_media", language, media=entry.media, id=entry.file_id)
                    text = media if text == f"[{entry.media}]" else f"{media} {text}"
                text = text.replace("\n", "\n    ")  # a message's own lines, indented under it
                key = "transcript_note" if entry.kind == "note" else "transcript_said"
                lines.append(say(key, language, time=when, who=who(entry.actor), text=text))
                continue
            detail = entry.text
            if entry.kind in ("assigned", "transferred") and detail.startswith("agent:"):
                detail = who(detail)
            event = (
                say(f"transcript_event_{entry.kind}", language, detail=detail)
                if entry.kind in DESCRIBED
                else f"{entry.kind} {detail}".strip()
            )
            lines.append(
                say("transcript_change", language, time=when, who=who(entry.actor), event=event)
            )
        return "\n".join(lines) + "\n"

    @staticmethod
    def file_name(ticket: Ticket) -> str:
        return f"{ticket.number}-transcript.txt"
