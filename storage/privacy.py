"""A customer's data: all of it gathered for an export, their personal data erased, old texts
expired, and the audit log of staff access. Erasing and expiring replace texts and drop links
to a person; rows, times and scores stay, so that every figure counted from them stays the same."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import SQLModel, col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    AnswerVote,
    Conversation,
    Customer,
    Feedback,
    FormState,
    Message,
    Order,
    OrderProof,
    ScheduledMessage,
    StaffAccess,
    Ticket,
    TicketEvent,
    TicketStatus,
    UnansweredQuestion,
    WebChatEvent,
    WebChatFile,
)

# What a text becomes when it is erased or expired.
REMOVED = "[removed]"
# Ticket events whose detail is free text: the customer's messages and the agents' replies kept
# on the ticket (its transcript), and internal notes; their files' ids go with them.
FREE_TEXT_EVENTS = ("message", "reply", "note")
SETTLED = (TicketStatus.RESOLVED, TicketStatus.CLOSED)


async def record_access(
    session: AsyncSession,
    *,
    actor: str,
    customer_id: int,
    kind: str,
    now: datetime,
    detail: str = "",
) -> StaffAccess:
    entry = StaffAccess(
        at=now, actor=actor[:64], customer_id=customer_id, kind=kind, detail=detail[:128]
    )
    session.add(entry)
    await session.flush()
    return entry


async def accesses(
    session: AsyncSession, since: datetime, customer_id: int | None = None
) -> list[StaffAccess]:
    """The audit log since a moment, the oldest first."""
    statement = select(StaffAccess).where(col(StaffAccess.at) >= since)
    if customer_id is not None:
        statement = statement.where(StaffAccess.customer_id == customer_id)
    return list((await session.exec(statement.order_by(col(StaffAccess.id)))).all())


Row = TypeVar("Row", bound=SQLModel)


async def _rows_of(session: AsyncSession, table: type[Row], customer_id: int) -> list[Row]:
    """A table's rows of one customer, in the order they were written."""
    columns = sa.inspect(table).columns
    statement = select(table).where(columns["customer_id"] == customer_id).order_by(columns["id"])
    return list((await session.exec(statement)).all())


@dataclass
class CustomerRecord:
    """Everything kept about one customer."""

    customer: Customer
    conversations: list[tuple[Conversation, list[Message]]] = field(default_factory=list)
    unanswered: list[UnansweredQuestion] = field(default_factory=list)
    votes: list[AnswerVote] = field(default_factory=list)
    tickets: list[tuple[Ticket, list[TicketEvent]]] = field(default_factory=list)
    feedback: list[Feedback] = field(default_factory=list)
    scheduled: list[ScheduledMessage] = field(default_factory=list)
    proven_orders: list[str] = field(default_factory=list)
    accesses: list[StaffAccess] = field(default_factory=list)


async def customer_record(session: AsyncSession, customer_id: int) -> CustomerRecord | None:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        return None
    record = CustomerRecord(customer)
    messages = await _rows_of(session, Message, customer_id)
    for conversation in await _rows_of(session, Conversation, customer_id):
        record.conversations.append(
            (conversation, [m for m in messages if m.conversation_id == conversation.id])
        )
    record.unanswered = await _rows_of(session, UnansweredQuestion, customer_id)
    record.votes = await _rows_of(session, AnswerVote, customer_id)
    for ticket in await _rows_of(session, Ticket, customer_id):
        events = (
            await session.exec(
                select(TicketEvent)
                .where(TicketEvent.ticket_id == ticket.id)
                .order_by(col(TicketEvent.id))
            )
        ).all()
        record.tickets.append((ticket, list(events)))
    record.feedback = await _rows_of(session, Feedback, customer_id)
    record.scheduled = await _rows_of(session, ScheduledMessage, customer_id)
    proofs = await session.exec(
        select(OrderProof.order_number)
        .where(OrderProof.customer_id == customer_id)
        .distinct()
        .order_by(col(OrderProof.order_number))
    )
    record.proven_orders = list(proofs.all())
    record.accesses = list(
        (
            await session.exec(
                select(StaffAccess)
                .where(StaffAccess.customer_id == customer_id)
                .order_by(col(StaffAccess.id))
            )
        ).all()
    )
    return record


@dataclass(frozen=True)
class Erasure:
    """What erasing one customer changed, in rows."""

    messages: int
    unanswered: int
    tickets: int
    ticket_events: int
    comments: int
    order_links: int
    forms: int


def telegram_user_id(customer: Customer) -> int | None:
    if customer.channel != "telegram" or not customer.external_id.lstrip("-").isdigit():
        return None
    return int(customer.external_id)


async def _remove(session: AsyncSession, text: Any, *where: Any) -> int:
    """Replace one text column by the placeholder in the rows matching `where` that still hold
    a text; how many were replaced."""
    column = col(text)
    replace = update(text.class_).where(column.is_not(None), column != REMOVED, *where)
    result = await session.exec(replace.values({text.key: REMOVED}))
    return int(result.rowcount)


async def _forget_files(session: AsyncSession, *where: Any) -> None:
    """Drop the Telegram file ids of the ticket events matching `where`: with one, the file a
    customer sent (or was sent) could still be fetched from Telegram."""
    await session.exec(
        update(TicketEvent)
        .where(col(TicketEvent.file_id).is_not(None), *where)
        .values(file_id=None)
    )


async def erase_customer(session: AsyncSession, customer: Customer, now: datetime) -> Erasure:
    """Replace everything the customer wrote or was told, their tickets' descriptions and free
    text, and their survey comments; forget their name, account, order links and forms. The
    customer row stays under a placeholder id ("erased:<id>"), so that their conversations,
    tickets and answers still count. Open tickets and pending messages are the caller's to
    settle first (a ticket's topic and the schedule are not storage's business)."""
    assert customer.id is not None
    customer_id = customer.id
    messages = await _remove(session, Message.text, col(Message.customer_id) == customer_id)
    unanswered = await _remove(
        session, UnansweredQuestion.text, col(UnansweredQuestion.customer_id) == customer_id
    )
    ticket_ids = select(Ticket.id).where(Ticket.customer_id == customer_id)
    tickets = await _remove(session, Ticket.description, col(Ticket.customer_id) == customer_id)
    # the order a ticket was about leads to the order's phone and address
    await session.exec(
        update(Ticket).where(col(Ticket.customer_id) == customer_id).values(order_number=None)
    )
    events = await _remove(
        session,
        TicketEvent.detail,
        col(TicketEvent.ticket_id).in_(ticket_ids),
        col(TicketEvent.kind).in_(FREE_TEXT_EVENTS),
    )
    await _forget_files(session, col(TicketEvent.ticket_id).in_(ticket_ids))
    comments = await _remove(session, Feedback.comment, col(Feedback.customer_id) == customer_id)
    proofs = (
        await session.exec(select(OrderProof).where(OrderProof.customer_id == customer_id))
    ).all()
    for proof in proofs:
        await session.delete(proof)
    linked = 0
    user_id = telegram_user_id(customer)
    if user_id is not None:
        unlinked = await session.exec(
            update(Order).where(col(Order.telegram_id) == user_id).values(telegram_id=None)
        )
        linked = int(unlinked.rowcount)
    forms = 0
    if customer.external_id and not customer.external_id.startswith("erased:"):
        rows = (
            await session.exec(
                select(FormState).where(col(FormState.key).contains(f":{customer.external_id}:"))
            )
        ).all()
        for row in rows:
            await session.delete(row)
        forms = len(rows)
    if customer.channel == "web" and customer.external_id.isdigit():
        # the web chat's copy of the conversation, which its page would show again
        shown = await session.exec(
            delete(WebChatEvent).where(col(WebChatEvent.visitor_id) == int(customer.external_id))
        )
        messages += int(shown.rowcount)
        await session.exec(
            delete(WebChatFile).where(col(WebChatFile.visitor_id) == int(customer.external_id))
        )
    customer.external_id = f"erased:{customer_id}"
    customer.first_name = None
    customer.username = None
    customer.vip_tier = None
    customer.surveys_opt_out = True
    customer.erased_at = now
    session.add(customer)
    await session.flush()
    return Erasure(
        messages=messages,
        unanswered=unanswered,
        tickets=tickets,
        ticket_events=events,
        comments=comments,
        order_links=linked + len(proofs),
        forms=forms,
    )


@dataclass(frozen=True)
class Expired:
    """Texts replaced by the placeholder in one retention run, per kind."""

    messages: int = 0
    comments: int = 0
    ticket_texts: int = 0
    unanswered: int = 0
    forms: int = 0  # left half way and untouched since

    @property
    def total(self) -> int:
        return self.messages + self.comments + self.ticket_texts + self.unanswered + self.forms


async def expire_texts(
    session: AsyncSession,
    *,
    messages_before: datetime | None,
    tickets_before: datetime | None,
    unanswered_before: datetime | None,
) -> Expired:
    """Replace texts older than each moment (None: keep them) by the placeholder. A ticket's
    texts wait until it is resolved or closed and unchanged since the moment. Forms left half
    way (they hold what was written so far) go with the messages of their age."""
    messages = comments = ticket_texts = unanswered = forms = 0
    if messages_before is not None:
        result = await session.exec(
            delete(FormState).where(col(FormState.updated_at) < messages_before)
        )
        forms = int(result.rowcount)
        messages = await _remove(session, Message.text, col(Message.created_at) < messages_before)
        shown = await session.exec(
            delete(WebChatEvent).where(col(WebChatEvent.created_at) < messages_before)
        )
        messages += int(shown.rowcount)
        await session.exec(
            delete(WebChatFile).where(col(WebChatFile.created_at) < messages_before)
        )
        comments = await _remove(
            session, Feedback.comment, col(Feedback.answered_at) < messages_before
        )
    if tickets_before is not None:
        settled = select(Ticket.id).where(
            col(Ticket.status).in_(SETTLED), col(Ticket.updated_at) < tickets_before
        )
        ticket_texts = await _remove(session, Ticket.description, col(Ticket.id).in_(settled))
        ticket_texts += await _remove(
            session,
            TicketEvent.detail,
            col(TicketEvent.ticket_id).in_(settled),
            col(TicketEvent.kind).in_(FREE_TEXT_EVENTS),
        )
        await _forget_files(session, col(TicketEvent.ticket_id).in_(settled))
    if unanswered_before is not None:
        unanswered = await _remove(
            session,
            UnansweredQuestion.text,
            col(UnansweredQuestion.created_at) < unanswered_before,
        )
    return Expired(messages, comments, ticket_texts, unanswered, forms)
