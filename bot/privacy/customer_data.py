"""What a customer (or an admin for them) can ask of their data: a copy of everything kept
about them, and its erasure. A copy is an HTML page in the customer's language, which any phone
or computer opens and reads (Telegram hands it to the browser); the same content is available
as JSON for an admin who needs it machine-readable. Orders appear as the customer was shown
them, phone and address masked."""

from __future__ import annotations

import html
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import EraseCallback
from bot.channels.replies import FileReply, Pressed, Reply
from bot.clock import Clock
from bot.orders.lookup import OrderStatusService
from bot.orders.providers import OrdersUnavailable, OrderView
from bot.schedule.delivery import Schedule
from bot.texts import Texts
from bot.tickets.lifecycle import OPEN_STATUSES, TicketService
from storage.models import Customer, TicketEvent
from storage.privacy import (
    FREE_TEXT_EVENTS,
    REMOVED,
    CustomerRecord,
    Erasure,
    customer_record,
    erase_customer,
    record_access,
    telegram_user_id,
)

log = logging.getLogger(__name__)

# Ticket events whose detail a customer may read besides free text (no staff ids in them).
SHOWN_DETAILS = (*FREE_TEXT_EVENTS, "priority", "follow_up_ticket", "sla_breach")


def _when(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else None


def _who(actor: str) -> str:
    if actor.startswith("customer:"):
        return "you"
    if actor.startswith("agent:"):
        return "agent"
    return "system"


def _event(event: TicketEvent) -> dict[str, Any]:
    return {
        "at": _when(event.created_at),
        "by": _who(event.actor),
        "what": event.kind,
        "text": event.detail if event.kind in SHOWN_DETAILS else "",
    }


@dataclass(frozen=True)
class Export:
    """A customer's data, as plain values (JSON) and as a page to read (HTML)."""

    customer_id: int
    language: str
    data: dict[str, Any]
    page: str

    def json(self) -> str:
        return json.dumps(self.data, ensure_ascii=False, indent=2)

    def file(self, caption: str) -> FileReply:
        day = str(self.data["exported_at"])[:10]
        return FileReply(f"my-data-{day}.html", self.page.encode("utf-8"), caption)


class CustomerData:
    def __init__(
        self,
        order_status: OrderStatusService,
        tickets: TicketService,
        schedule: Schedule,
        texts: Texts,
        clock: Clock,
    ) -> None:
        self.order_status = order_status
        self.tickets = tickets
        self.schedule = schedule
        self.texts = texts
        self.clock = clock

    async def export(
        self,
        session: AsyncSession,
        customer_id: int,
        language: str,
        *,
        by: str | None = None,
    ) -> Export | None:
        """Everything kept about the customer; `by` (staff, or "cli") is written to the audit
        log. None when there is no such customer."""
        record = await customer_record(session, customer_id)
        if record is None:
            return None
        now = self.clock.now()
        if by is not None:
            await record_access(session, actor=by, customer_id=customer_id, kind="export", now=now)
        data = await self._data(record, language, now)
        return Export(customer_id, language, data, self._page(data, language))

    async def my_data(self, session: AsyncSession, customer: Customer, language: str) -> FileReply:
        assert customer.id is not None
        export = await self.export(session, customer.id, language)
        assert export is not None
        log.info("customer=%s asked for their data", customer.id)
        return export.file(self.texts("my_data_caption", language))

    async def _orders(self, record: CustomerRecord, language: str) -> list[dict[str, Any]] | None:
        """The orders linked to the customer or proven theirs, described as the bot shows them
        (masked); None when the orders cannot be looked up now."""
        user_id = telegram_user_id(record.customer)
        try:
            orders: list[OrderView] = []
            if user_id is not None:
                orders = await self.order_status.provider.recent_for(user_id, limit=100)
            known = {order.number for order in orders}
            for number in record.proven_orders:
                if number not in known:
                    found = await self.order_status.provider.find(number)
                    if found is not None:
                        orders.append(found)
                        known.add(number)
        except OrdersUnavailable:
            return None
        return [
            {"number": order.number, "shown": self.order_status.describe(order, language)}
            for order in orders
        ]

    async def _data(self, record: CustomerRecord, language: str, now: datetime) -> dict[str, Any]:
        customer = record.customer
        numbers = {ticket.id: ticket.number for ticket, _ in record.tickets}
        return {
            "exported_at": _when(now),
            "language": language,
            "profile": {
                "customer": customer.id,
                "channel": customer.channel,
                "account": customer.external_id,
                "name": customer.first_name,
                "username": customer.username,
                "language": customer.language,
                "language_chosen": customer.language_chosen,
                "vip_tier": customer.vip_tier,
                "surveys_stopped": customer.surveys_opt_out,
                "broadcasts_stopped": customer.broadcasts_opt_out,
                "first_seen": _when(customer.first_seen),
                "last_seen": _when(customer.last_seen),
                "unreachable_since": _when(customer.unreachable_at),
                "erased_at": _when(customer.erased_at),
            },
            "conversations": [
                {
                    "started_at": _when(conversation.started_at),
                    "messages": [
                        {
                            "at": _when(message.created_at),
                            "by": "you" if message.direction == "in" else "bot",
                            "text": message.text,
                        }
                        for message in messages
                    ],
                }
                for conversation, messages in record.conversations
            ],
            "questions_noted": [
                {"at": _when(question.created_at), "text": question.text}
                for question in record.unanswered
            ],
            "votes": [
                {"at": _when(vote.created_at), "answer": vote.entry_id, "helpful": vote.helpful}
                for vote in record.votes
            ],
            "tickets": [
                {
                    "number": ticket.number,
                    "category": str(ticket.category),
                    "status": str(ticket.status),
                    "priority": str(ticket.priority),
                    "opened_at": _when(ticket.created_at),
                    "resolved_at": _when(ticket.resolved_at),
                    "closed_at": _when(ticket.closed_at),
                    "description": ticket.description,
                    "order_number": ticket.order_number,
                    "history": [_event(event) for event in events],
                }
                for ticket, events in record.tickets
            ],
            "survey_answers": [
                {
                    "at": _when(answer.answered_at),
                    "kind": str(answer.kind),
                    "ticket": numbers.get(answer.ticket_id),
                    "score": answer.score,
                    "solved": answer.solved,
                    "comment": answer.comment,
                }
                for answer in record.feedback
            ],
            "scheduled_messages": [
                {
                    "kind": str(message.kind),
                    "due_at": _when(message.due_at),
                    "status": str(message.status),
                }
                for message in record.scheduled
            ],
            "orders": await self._orders(record, language),
            "staff_access": [
                {"at": _when(access.at), "what": access.kind} for access in record.accesses
            ],
        }

    def _page(self, data: dict[str, Any], language: str) -> str:
        say = self.texts
        sections = [
            self._table(
                language,
                "profile",
                [["field", "value"]]
                + [
                    [say(f"export_field_{key}", language), value]
                    for key, value in data["profile"].items()
                ],
            ),
        ]
        conversation_rows: list[list[Any]] = [["when", "who", "text"]]
        for conversation in data["conversations"]:
            for message in conversation["messages"]:
                conversation_rows.append(
                    [message["at"], say(f"export_by_{message['by']}", language), message["text"]]
                )
        sections.append(self._table(language, "conversations", conversation_rows))
        sections.append(
            self._table(
                language,
                "questions",
                [["when", "text"]] + [[q["at"], q["text"]] for q in data["questions_noted"]],
            )
        )
        sections.append(
            self._table(
                language,
                "votes",
                [["when", "answer", "helpful"]]
                + [[v["at"], v["answer"], v["helpful"]] for v in data["votes"]],
            )
        )
        ticket_rows: list[list[Any]] = [["ticket", "when", "who", "what", "text"]]
        for ticket in data["tickets"]:
            summary = (
                f"{say('category_' + ticket['category'], language)} · "
                f"{say('status_' + ticket['status'], language)}"
            )
            ticket_rows.append([ticket["number"], ticket["opened_at"], "", summary, ""])
            ticket_rows.append(
                [
                    ticket["number"],
                    "",
                    say("export_by_you", language),
                    say("export_field_description", language),
                    ticket["description"],
                ]
            )
            if ticket["order_number"]:
                ticket_rows.append(
                    [
                        ticket["number"],
                        "",
                        "",
                        say("export_field_order", language),
                        ticket["order_number"],
                    ]
                )
            for event in ticket["history"]:
                ticket_rows.append(
                    [
                        ticket["number"],
                        event["at"],
                        say(f"export_by_{event['by']}", language),
                        self._term("event", event["what"], language),
                        event["text"],
                    ]
                )
        sections.append(self._table(language, "tickets", ticket_rows))
        sections.append(
            self._table(
                language,
                "surveys",
                [["when", "ticket", "what", "score", "comment"]]
                + [
                    [
                        a["at"],
                        a["ticket"],
                        self._term("answer", a["kind"], language),
                        a["score"] if a["solved"] is None else a["solved"],
                        a["comment"],
                    ]
                    for a in data["survey_answers"]
                ],
            )
        )
        sections.append(
            self._table(
                language,
                "scheduled",
                [["when", "what", "status"]]
                + [
                    [
                        m["due_at"],
                        self._term("planned", m["kind"], language),
                        self._term("planned", m["status"], language),
                    ]
                    for m in data["scheduled_messages"]
                ],
            )
        )
        if data["orders"] is None:
            orders = f"<p>{html.escape(say('export_orders_unavailable', language))}</p>"
        else:
            orders = (
                "".join(f"<pre>{html.escape(order['shown'])}</pre>" for order in data["orders"])
                or f"<p>{html.escape(say('export_none', language))}</p>"
            )
        sections.append(f"<h2>{html.escape(say('export_section_orders', language))}</h2>{orders}")
        sections.append(
            self._table(
                language,
                "access",
                [["when", "what"]]
                + [
                    [a["at"], self._term("access", a["what"], language)]
                    for a in data["staff_access"]
                ],
            )
        )
        title = html.escape(say("export_title", language))
        intro = html.escape(say("export_intro", language, date=data["exported_at"]))
        return (
            f'<!DOCTYPE html>\n<html lang="{language}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title}</title><style>{STYLE}</style></head><body>"
            f"<h1>{title}</h1><p>{intro}</p>" + "".join(sections) + "</body></html>\n"
        )

    def _table(self, language: str, section: str, rows: list[list[Any]]) -> str:
        say = self.texts
        heading = f"<h2>{html.escape(say(f'export_section_{section}', language))}</h2>"
        header, *body = rows
        if not body:
            return heading + f"<p>{html.escape(say('export_none', language))}</p>"
        head = "".join(f"<th>{html.escape(say(f'export_col_{c}', language))}</th>" for c in header)
        lines = "".join(
            "<tr>" + "".join(f"<td>{self._cell(value, language)}</td>" for value in row) + "</tr>"
            for row in body
        )
        return f"{heading}<table><tr>{head}</tr>{lines}</table>"

    def _term(self, kind: str, code: str, language: str) -> str:
        """A code (an event, a status) in the reader's words; the code itself when new."""
        key = f"export_{kind}_{code}"
        return self.texts(key, language) if key in self.texts.keys(language) else code

    def _cell(self, value: Any, language: str) -> str:
        if value is None or value == "":
            return "-"
        if isinstance(value, bool):
            return html.escape(self.texts("export_yes" if value else "export_no", language))
        if value == REMOVED:
            return f"<i>{html.escape(self.texts('export_removed', language))}</i>"
        return html.escape(str(value)).replace("\n", "<br>")

    def confirm_erase(self, language: str) -> Reply:
        buttons = [
            [
                InlineKeyboardButton(
                    text=self.texts("erase_yes", language),
                    callback_data=EraseCallback(confirm=True).pack(),
                ),
                InlineKeyboardButton(
                    text=self.texts("erase_no", language),
                    callback_data=EraseCallback(confirm=False).pack(),
                ),
            ]
        ]
        return Reply(
            self.texts("erase_confirm", language), InlineKeyboardMarkup(inline_keyboard=buttons)
        )

    def keep(self, language: str) -> Pressed:
        return Pressed(clear_buttons=True, replies=(Reply(self.texts("erase_kept", language)),))

    async def erase(
        self, session: AsyncSession, customer: Customer, *, by: str | None = None
    ) -> Erasure:
        """Erase the customer's personal data. Their open tickets are closed (agents can no
        longer reach them) and what was scheduled for them is cancelled first; `by` (staff, or
        "cli") is written to the audit log."""
        assert customer.id is not None
        actor = by or f"customer:{customer.id}"
        for ticket in await self.tickets.tickets_of(session, customer):
            if ticket.status in OPEN_STATUSES:
                await self.tickets.close(session, ticket, actor)
                await self.tickets.record(session, ticket, actor, "erased")
        await self.schedule.cancel_for_customer(session, customer.id, "personal data erased")
        erasure = await erase_customer(session, customer, self.clock.now())
        if by is not None:
            await record_access(
                session, actor=by, customer_id=customer.id, kind="erase", now=self.clock.now()
            )
        log.info("customer=%s personal data erased by %s", customer.id, by or "themselves")
        return erasure

    async def erase_confirmed(
        self, session: AsyncSession, customer: Customer, language: str
    ) -> Pressed:
        await self.erase(session, customer)
        return Pressed(clear_buttons=True, replies=(Reply(self.texts("erase_done", language)),))


STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1em;line-height:1.4}"
    "table{border-collapse:collapse;width:100%;margin-bottom:1em}"
    "td,th{border:1px solid #ccc;padding:4px;vertical-align:top;text-align:left}"
    "pre{white-space:pre-wrap;background:#f6f6f6;padding:8px}"
)
