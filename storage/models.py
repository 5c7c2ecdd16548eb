"""The tables. Times are stored in UTC; every datetime read back is timezone-aware."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class UTCDateTime(sa.TypeDecorator[datetime]):
    """SQLite forgets time zones; this keeps every stored time in UTC and gives it back aware."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; pass an aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _time(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


E = TypeVar("E", bound=StrEnum)


class StoredEnum(sa.TypeDecorator[E], Generic[E]):
    """A StrEnum stored as its plain string in a VARCHAR, as the migrations created it (no
    database enum type to alter when a member is added). A value outside the enum is refused on
    the way in, and values come back as members."""

    impl = sa.String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Any) -> E | None:
        return None if value is None else self.enum(value)


def _enum(enum: type[StrEnum], length: int, **kwargs: Any) -> Any:
    return Field(sa_type=StoredEnum(enum, length), **kwargs)


class TicketStatus(StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    WAITING = "waiting"  # for the customer's answer
    RESOLVED = "resolved"
    CLOSED = "closed"


# A ticket waiting for an agent or for the customer.
OPEN_STATUSES = (TicketStatus.NEW, TicketStatus.ASSIGNED, TicketStatus.WAITING)


class TicketPriority(StrEnum):
    """In order, the most urgent first."""

    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class TicketCategory(StrEnum):
    ORDER = "order"
    SHIPPING = "shipping"
    PRODUCT_QUALITY = "product_quality"
    RETURN_REFUND = "return_refund"
    PAYMENT = "payment"
    ACCOUNT = "account"
    COMPLAINT = "complaint"
    OTHER = "other"


class OrderStatus(StrEnum):
    PAID = "paid"
    PACKED = "packed"
    SHIPPED = "shipped"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    RETURNED = "returned"


class ScheduledKind(StrEnum):
    SURVEY = "survey"  # CSAT, 1-5
    REMINDER = "reminder"  # of an unanswered survey
    REVISIT = "revisit"  # 回访: solved or not, days later
    NPS = "nps"  # 0-10, after a first contact
    BROADCAST = "broadcast"  # an admin's announcement to a segment of customers


class ScheduledStatus(StrEnum):
    """See ScheduledMessage."""

    PENDING = "pending"
    CLAIMED = "claimed"
    SENDING = "sending"
    SENT = "sent"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    FAILED = "failed"
    UNCERTAIN = "uncertain"


class FeedbackKind(StrEnum):
    CSAT = "csat"
    REVISIT = "revisit"
    NPS = "nps"


class LearnedStatus(StrEnum):
    PENDING = "pending"  # waiting for an admin
    APPROVED = "approved"  # in the knowledge base's learned.yaml
    REJECTED = "rejected"  # not proposed again, however often it is confirmed


class Customer(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("channel", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=32)
    external_id: str = Field(max_length=64)
    first_name: str | None = Field(default=None, max_length=128)
    username: str | None = Field(default=None, max_length=64)  # Telegram's @username, if any
    language: str | None = Field(default=None, max_length=8)
    language_chosen: bool = False
    vip_tier: str | None = Field(default=None, max_length=16)
    # /stop_surveys; the server default filled the rows that existed when the column came
    surveys_opt_out: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # /stop_news or the button under a broadcast: no more broadcasts
    broadcasts_opt_out: bool = Field(
        default=False, sa_column_kwargs={"server_default": sa.false()}
    )
    unreachable_at: datetime | None = _time(default=None)  # blocked the bot
    erased_at: datetime | None = _time(default=None)  # personal data erased (/delete_me)

    first_seen: datetime = _time()
    last_seen: datetime = _time()


class Conversation(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    started_at: datetime = _time()
    last_message_at: datetime = _time()


class Message(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    direction: str = Field(max_length=3)  # "in" from the customer, "out" from the bot
    text: str = Field(sa_type=sa.Text)
    entry_id: str | None = Field(default=None, max_length=64)
    score: float | None = None
    decision: str | None = Field(default=None, max_length=16)
    created_at: datetime = _time(index=True)


class UnansweredQuestion(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    message_id: int = Field(foreign_key="message.id")
    text: str = Field(sa_type=sa.Text)
    best_entry_id: str | None = Field(default=None, max_length=64)
    best_score: float | None = None
    created_at: datetime = _time(index=True)


class AnswerVote(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("message_id"),)

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id")
    customer_id: int = Field(foreign_key="customer.id", index=True)
    entry_id: str | None = Field(default=None, max_length=64)
    helpful: bool
    created_at: datetime = _time()


class KnowledgeVersion(SQLModel, table=True):
    """A published state of the knowledge base's files, for history and rollback."""

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = _time(index=True)
    author: str = Field(max_length=64)  # who published it: "telegram:<user id>"
    summary: str = Field(sa_type=sa.Text)
    files: str = Field(sa_type=sa.Text)  # JSON object: file name -> file text


class KnowledgeEvaluation(SQLModel, table=True):
    """`kefu kb eval` of the configured knowledge base on a file of cases: what it measured,
    for the console's knowledge-base page."""

    id: int | None = Field(default=None, primary_key=True)
    evaluated_at: datetime = _time(index=True)
    cases: str = Field(max_length=200)  # the cases file's name
    entries: int  # how many entries the knowledge base had
    figures: str = Field(sa_type=sa.Text)  # JSON: knowledge.evaluation.Evaluation.as_dict()


class Ticket(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id")
    channel: str = Field(max_length=32)
    category: TicketCategory = _enum(TicketCategory, 32)

    priority: TicketPriority = _enum(TicketPriority, 16)
    status: TicketStatus = _enum(TicketStatus, 16, index=True)
    assigned_agent: int | None = Field(default=None, sa_type=sa.BigInteger)  # Telegram user id
    description: str | None = Field(default=None, sa_type=sa.Text)
    order_number: str | None = Field(default=None, max_length=64)
    topic_id: int | None = Field(default=None, sa_type=sa.BigInteger)  # agents' forum topic

    created_at: datetime = _time()
    updated_at: datetime = _time()
    first_response_due: datetime = _time()
    resolution_due: datetime = _time()
    first_response_at: datetime | None = _time(default=None)
    resolved_at: datetime | None = _time(default=None)
    closed_at: datetime | None = _time(default=None)
    reopen_count: int = 0
    first_response_alerted: bool = False
    resolution_alerted: bool = False
    announced_at: datetime | None = _time(default=None)  # last "still unassigned" notice
    # the outcome the agent gave on resolving: ids from [tickets] causes and remedies
    cause: str | None = Field(default=None, max_length=32)
    remedy: str | None = Field(default=None, max_length=32)
    team: str | None = Field(default=None, max_length=32)  # an id of [teams]; None: no team
    vip_tier: str | None = Field(default=None, max_length=16)  # the customer's, kept current
    # Escalation of an SLA breach: 1 the team's supervisors were alerted, 2 the admins; the
    # last alert (or reminder) at `escalated_at`; it stops once staff act after `breached_at`.
    escalation_level: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    breached_at: datetime | None = _time(default=None)
    escalated_at: datetime | None = _time(default=None)
    staff_acted_at: datetime | None = _time(default=None)  # the last change made by staff

    @property
    def number(self) -> str:
        return f"T-{self.id:06d}"


# A ticket's number as a customer may write it (t-000123 too); order numbers never take it.
TICKET_NUMBER = re.compile(r"(?<![A-Z0-9])T-(\d{6,9})(?!\d)", re.IGNORECASE)


def find_ticket_id(text: str | None) -> int | None:
    """The id behind the first ticket number in a text, if it has one."""
    found = TICKET_NUMBER.search(text or "")
    return int(found.group(1)) if found else None


class TicketEvent(SQLModel, table=True):
    """One change in a ticket's history, internal notes included."""

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    created_at: datetime = _time()
    actor: str = Field(max_length=64)  # "customer:<id>", "agent:<telegram id>", "system"
    kind: str = Field(max_length=32)
    detail: str = Field(default="", sa_type=sa.Text)
    # a message of the human conversation that carried a file: its kind ("photo", "document",
    # "voice", ...) and Telegram's file id (the caption, if any, is the detail)
    media: str | None = Field(default=None, max_length=16)
    file_id: str | None = Field(default=None, max_length=255)


class AgentDuty(SQLModel, table=True):
    """Whether an agent takes new tickets now, for round-robin assignment."""

    telegram_id: int = Field(sa_type=sa.BigInteger, primary_key=True)
    name: str = Field(default="", max_length=128)
    on_duty: bool = False
    last_assigned_at: datetime | None = _time(default=None)
    username: str | None = Field(default=None, max_length=64)  # Telegram's, for /team add @x


class TeamMember(SQLModel, table=True):
    """An agent in a team of [teams] (one agent may be in several), added by an admin."""

    team: str = Field(max_length=32, primary_key=True)
    telegram_id: int = Field(sa_type=sa.BigInteger, primary_key=True)
    added_by: int = Field(sa_type=sa.BigInteger)  # the admin's Telegram id; 0: the command line
    added_at: datetime = _time()


class StaffRole(SQLModel, table=True):
    """A role given (or taken away: role "none") by an admin's command; overrides the config."""

    telegram_id: int = Field(sa_type=sa.BigInteger, primary_key=True)
    role: str = Field(max_length=16)
    changed_by: int = Field(sa_type=sa.BigInteger)
    changed_at: datetime = _time()


class Order(SQLModel, table=True):
    """A shop order, for the built-in orders provider."""

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=64, unique=True, index=True)
    phone: str | None = Field(default=None, max_length=32)
    telegram_id: int | None = Field(default=None, sa_type=sa.BigInteger, index=True)
    items: str = Field(sa_type=sa.Text)  # JSON list of {"name", "category", "quantity"}
    status: OrderStatus = _enum(OrderStatus, 16)
    carrier: str | None = Field(default=None, max_length=64)
    tracking_number: str | None = Field(default=None, max_length=64)
    address: str | None = Field(default=None, sa_type=sa.Text)
    ordered_at: datetime = _time()
    shipped_at: datetime | None = _time(default=None)
    delivered_at: datetime | None = _time(default=None)
    expected_delivery_at: datetime | None = _time(default=None)
    late_notice_sent_at: datetime | None = _time(default=None)
    vip_tier: str | None = Field(default=None, max_length=16)  # the customer's, from the shop


class BroadcastStatus(StrEnum):
    DRAFT = "draft"  # previewed, waiting for Send
    SENDING = "sending"  # its messages are in the schedule
    CANCELLED = "cancelled"  # discarded as a draft, or stopped while sending


class Broadcast(SQLModel, table=True):
    """An admin's message to a segment of customers, in zh and en: who wrote it, for whom, who
    sent and who cancelled it, and when. Its messages are ScheduledMessages (kind broadcast)."""

    id: int | None = Field(default=None, primary_key=True)
    segment: str = Field(sa_type=sa.Text)  # as written: "status=shipped carrier=SF", "everyone"
    text_zh: str = Field(sa_type=sa.Text)
    text_en: str = Field(sa_type=sa.Text)
    status: BroadcastStatus = _enum(BroadcastStatus, 16, default=BroadcastStatus.DRAFT)
    created_by: str = Field(max_length=64)  # "admin:<telegram id>" or "cli"
    created_at: datetime = _time()
    sent_by: str | None = Field(default=None, max_length=64)
    sent_at: datetime | None = _time(default=None)
    cancelled_by: str | None = Field(default=None, max_length=64)
    cancelled_at: datetime | None = _time(default=None)
    recipients: int = 0  # messages scheduled on Send
    # in the segment on Send but left out: opted out, blocked the bot, banned
    left_out_opted_out: int = 0
    left_out_unreachable: int = 0
    left_out_banned: int = 0


class ScheduledMessage(SQLModel, table=True):
    """A message the bot sends on its own later (survey, reminder, revisit, NPS). `key` makes
    each one unique (one survey per ticket, ...), whoever schedules it and however often.
    pending -> sending (claimed by one instance) -> sent; or cancelled, expired, failed, and
    uncertain when an instance stopped between claiming it and recording the send."""

    # the delivery round asks for what is pending and due; without this it reads the whole table
    __table_args__ = (sa.Index("ix_scheduledmessage_status_due", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=128, unique=True, index=True)
    kind: ScheduledKind = _enum(ScheduledKind, 16)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id")
    broadcast_id: int | None = Field(default=None, foreign_key="broadcast.id", index=True)
    status: ScheduledStatus = _enum(ScheduledStatus, 16, default=ScheduledStatus.PENDING)
    due_at: datetime = _time()
    expires_at: datetime = _time()
    created_at: datetime = _time()
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_at: datetime | None = _time(default=None)
    sent_at: datetime | None = _time(default=None)
    note: str | None = Field(default=None, max_length=200)


class Feedback(SQLModel, table=True):
    """A customer's answer to a survey (csat 1-5), a revisit (solved yes/no) or NPS (0-10),
    kept with the ticket's agent and category for the reports."""

    __table_args__ = (sa.UniqueConstraint("scheduled_id"),)

    id: int | None = Field(default=None, primary_key=True)
    scheduled_id: int = Field(foreign_key="scheduledmessage.id")
    kind: FeedbackKind = _enum(FeedbackKind, 16)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    agent_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    category: TicketCategory | None = _enum(TicketCategory, 32, default=None)
    score: int | None = None
    solved: bool | None = None
    comment: str | None = Field(default=None, sa_type=sa.Text)
    answered_at: datetime = _time()


class FormState(SQLModel, table=True):
    """Where a conversation's form stands (the step it waits at and what was given so far),
    so that a restart in the middle of an intake, a lookup or a return continues it."""

    key: str = Field(primary_key=True, max_length=200)
    state: str | None = Field(default=None, max_length=128)
    data: str = Field(default="{}", sa_type=sa.Text)  # JSON object
    updated_at: datetime = _time()


class OrderProof(SQLModel, table=True):
    """A customer showed an order is theirs (the phone's last digits), at `proven_at`."""

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    order_number: str = Field(max_length=64)
    proven_at: datetime = _time()


class OrderProofFailure(SQLModel, table=True):
    """Wrong digits given for an order: counted for the lock-out that stops guessing."""

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    order_number: str = Field(max_length=64)
    failed_at: datetime = _time(index=True)


class LearnedQuestion(SQLModel, table=True):
    """A customer's wording confirmed to mean an entry: a candidate question for it, kept only
    with personal details taken out and added to the knowledge base only once an admin approves
    it. One row per entry and normalised wording (`key`), however often it was confirmed."""

    __table_args__ = (sa.UniqueConstraint("entry_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    entry_id: str = Field(max_length=64)
    text: str = Field(max_length=200)  # the first wording seen, scrubbed
    key: str = Field(max_length=200)
    confirmations: int = 0
    sources: str = Field(default="", max_length=64)  # "agent,suggestion,vote", as seen
    status: LearnedStatus = _enum(LearnedStatus, 16, default=LearnedStatus.PENDING, index=True)
    first_confirmed_at: datetime = _time()
    last_confirmed_at: datetime = _time()
    decided_at: datetime | None = _time(default=None)
    decided_by: str | None = Field(default=None, max_length=64)  # "telegram:<id>", "cli"


class LearnedConfirmation(SQLModel, table=True):
    """What confirmed a learned question, so that one piece of evidence (a customer's message,
    a ticket) counts once: "message:<id>" or "ticket:<id>". No customer is named here."""

    __table_args__ = (sa.UniqueConstraint("question_id", "evidence"),)

    id: int | None = Field(default=None, primary_key=True)
    question_id: int = Field(foreign_key="learnedquestion.id")
    evidence: str = Field(max_length=64)
    source: str = Field(max_length=16)  # suggestion, vote, agent
    confirmed_at: datetime = _time()


class CustomerBan(SQLModel, table=True):
    """A customer an admin banned: the bot stays silent to them until an admin lifts it."""

    customer_id: int = Field(foreign_key="customer.id", primary_key=True)
    banned_by: int = Field(sa_type=sa.BigInteger)  # the admin's Telegram user id
    banned_at: datetime = _time()


class StaffAccess(SQLModel, table=True):
    """The audit log: someone at the shop saw (or exported, or erased) a customer's data.
    `actor` is "agent:<telegram id>", "admin:<telegram id>", "group:<chat id>" (a card posted
    to the agents' group) or "cli"; `detail` holds ids only (a ticket or order number)."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _time(index=True)
    actor: str = Field(max_length=64)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    kind: str = Field(max_length=32)  # "transcript", "order", "export", "erase"
    detail: str = Field(default="", max_length=128)


class Incident(SQLModel, table=True):
    """A notice to customers while something goes wrong (a storm, a shortage, an outage): shown
    before the answers it concerns, and in the fallback, until it is ended or expires."""

    id: int | None = Field(default=None, primary_key=True)
    text_zh: str = Field(sa_type=sa.Text)
    text_en: str = Field(sa_type=sa.Text)
    # knowledge-base entry ids it concerns, comma-separated; empty: every answer
    entries: str = Field(default="", sa_type=sa.Text)
    started_at: datetime = _time()
    expires_at: datetime = _time()
    started_by: str = Field(max_length=64)  # "admin:<telegram id>" or "cli"
    ended_at: datetime | None = _time(default=None)
    ended_by: str | None = Field(default=None, max_length=64)


class SurgeAlert(SQLModel, table=True):
    """A surge the supervisors were alerted to: one per subject and quiet period, whichever
    replica saw it first."""

    __table_args__ = (sa.UniqueConstraint("subject", "period"),)

    id: int | None = Field(default=None, primary_key=True)
    subject: str = Field(max_length=80)  # "entry:<id>", "category:<name>" or "unanswered"
    period: int  # the quiet period it falls in, counted from the epoch
    count: int
    usual: float
    alerted_at: datetime = _time()


class DeliveredUpdate(SQLModel, table=True):
    """A Telegram update handled through the webhook, recorded with the update's own work: when
    Telegram posts it again (the replica that handled it was killed before answering the post),
    it is acknowledged instead of being handled a second time."""

    update_id: int = Field(sa_type=sa.BigInteger, primary_key=True)
    handled_at: datetime = _time(index=True)


class WebChatEvent(SQLModel, table=True):
    """One message on a web visitor's page, from the visitor or the bot, kept so that the page
    shows the conversation again on the next visit (with what the bot sent while it was
    closed). Its id is the message's id in the web channel."""

    id: int | None = Field(default=None, primary_key=True)
    visitor_id: int = Field(sa_type=sa.BigInteger, index=True)  # the visitor's chat id
    sender: str = Field(max_length=8)  # "visitor" or "bot"
    text: str = Field(sa_type=sa.Text)
    buttons: str | None = Field(default=None, sa_type=sa.Text)  # JSON: rows of buttons
    created_at: datetime = _time()
    # the photo or file the message carries (WebChatFile), shown on the page; its kind
    # ("photo" or "document") and its name as the page offers it
    file_id: int | None = Field(default=None)
    media: str | None = Field(default=None, max_length=16)
    file_name: str | None = Field(default=None, max_length=255)


class WebChatFile(SQLModel, table=True):
    """A photo or file on a web visitor's page: one the visitor uploaded (relayed from here to
    the agents' topic), or one an agent posted in the ticket's topic (fetched from Telegram
    once). Only that visitor's page may open it; it goes with the visitor's data."""

    id: int | None = Field(default=None, primary_key=True)
    visitor_id: int = Field(sa_type=sa.BigInteger, index=True)
    content_type: str = Field(max_length=64)  # found from the content, never from the name
    name: str = Field(max_length=255)
    size: int
    data: bytes = Field(sa_type=sa.LargeBinary)
    created_at: datetime = _time()


# The rubric of a quality inspection (质检), in the order a supervisor scores it, 1-5 each.
QA_CRITERIA = ("greeting", "accuracy", "courtesy", "compliance", "resolution")


class QaReview(SQLModel, table=True):
    """A resolved ticket drawn for quality inspection (质检) and, once a supervisor scored it,
    the scores. A ticket is drawn at most once, ever (the unique ticket id is also the claim
    that keeps two replicas from drawing it twice)."""

    __table_args__ = (sa.UniqueConstraint("ticket_id"),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id")
    agent_id: int = Field(sa_type=sa.BigInteger, index=True)  # whose work is inspected
    reviewer_id: int | None = Field(default=None, sa_type=sa.BigInteger)  # the supervisor
    week: str = Field(max_length=10)  # the first day of the week it was drawn for, ISO
    sampled_at: datetime = _time()
    greeting: int | None = None
    accuracy: int | None = None
    courtesy: int | None = None
    compliance: int | None = None
    resolution: int | None = None
    comment: str | None = Field(default=None, sa_type=sa.Text)
    scored_at: datetime | None = _time(default=None, index=True)  # when the last score came

    def scores(self) -> list[int | None]:
        return [getattr(self, criterion) for criterion in QA_CRITERIA]


class JobRun(SQLModel, table=True):
    """A job done once a period, whichever replica comes first: its key names the job and
    the period ("qa:2026-11-23", "report-weekly:2026-11-30"); inserting it is the claim."""

    key: str = Field(primary_key=True, max_length=40)
    claimed_at: datetime = _time()


class ConsoleLink(SQLModel, table=True):
    """A one-time sign-in link to the web console, given to a member of staff by /console or
    `kefu console link`: only its token's SHA-256 is kept; it opens one session, once, before
    it expires."""

    token_hash: str = Field(primary_key=True, max_length=64)
    telegram_id: int = Field(sa_type=sa.BigInteger)
    created_at: datetime = _time()
    expires_at: datetime = _time()
    used_at: datetime | None = _time(default=None)


class ConsoleSession(SQLModel, table=True):
    """A signed-in console session, named by its cookie's token (kept as its SHA-256); ended by
    logging out or by time. The role is not kept: it is read afresh at each request."""

    token_hash: str = Field(primary_key=True, max_length=64)
    telegram_id: int = Field(sa_type=sa.BigInteger, index=True)
    created_at: datetime = _time()
    expires_at: datetime = _time()
    ended_at: datetime | None = _time(default=None)
    language: str | None = Field(default=None, max_length=8)  # chosen in the console
