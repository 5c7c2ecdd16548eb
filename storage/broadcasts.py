"""Broadcasts: who a segment holds, the scheduled messages of a broadcast (one INSERT ... SELECT,
however many customers), and what became of them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    OPEN_STATUSES,
    Broadcast,
    BroadcastStatus,
    Customer,
    CustomerBan,
    Order,
    OrderStatus,
    ScheduledKind,
    ScheduledMessage,
    ScheduledStatus,
    Ticket,
    UTCDateTime,
)

# The channels a broadcast reaches: Telegram, and the web chat's visitors (on their page).
CHANNELS = ("telegram", "web")


@dataclass(frozen=True)
class Segment:
    """Customers chosen by their orders (every order condition holds for one same order), by
    their last contact, by their open tickets, or everyone. Conditions given together must all
    hold."""

    order_statuses: tuple[OrderStatus, ...] = ()
    carrier: str | None = None
    region: str | None = None  # a part of the order's address: "浙江", "Hangzhou"
    ordered_from: datetime | None = None
    ordered_before: datetime | None = None
    contacted_since: datetime | None = None
    open_tickets: bool = False
    everyone: bool = False

    @property
    def by_orders(self) -> bool:
        return bool(
            self.order_statuses
            or self.carrier
            or self.region
            or self.ordered_from
            or self.ordered_before
        )

    @property
    def empty(self) -> bool:
        return not (self.everyone or self.by_orders or self.contacted_since or self.open_tickets)


def _conditions(segment: Segment) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = [col(Customer.channel).in_(CHANNELS)]
    if segment.by_orders:
        # The built-in orders know their customer by Telegram id. Correlated EXISTS, each an
        # index lookup per customer: a plan that cannot turn quadratic, statistics or not (an
        # IN over the orders took PostgreSQL 15 minutes on 100,000 freshly imported rows).
        telegram_id = sa.case(
            (
                col(Customer.channel) == "telegram",
                sa.cast(col(Customer.external_id), sa.BigInteger),
            ),
            else_=None,
        )
        orders = sa.exists().where(col(Order.telegram_id) == telegram_id)
        if segment.order_statuses:
            orders = orders.where(col(Order.status).in_(segment.order_statuses))
        if segment.carrier:
            orders = orders.where(func.lower(col(Order.carrier)) == segment.carrier.lower())
        if segment.region:
            orders = orders.where(col(Order.address).icontains(segment.region, autoescape=True))
        if segment.ordered_from:
            orders = orders.where(col(Order.ordered_at) >= segment.ordered_from)
        if segment.ordered_before:
            orders = orders.where(col(Order.ordered_at) < segment.ordered_before)
        conditions += [col(Customer.channel) == "telegram", orders]
    if segment.contacted_since:
        conditions.append(col(Customer.last_seen) >= segment.contacted_since)
    if segment.open_tickets:
        conditions.append(
            sa.exists().where(
                col(Ticket.customer_id) == col(Customer.id),
                col(Ticket.status).in_(OPEN_STATUSES),
            )
        )
    return conditions


def _banned() -> sa.ColumnElement[bool]:
    return sa.exists().where(col(CustomerBan.customer_id) == col(Customer.id))


def _reachable() -> list[sa.ColumnElement[bool]]:
    """Whom a broadcast is sent to: not opted out, not known to have blocked the bot, not
    banned, their data not erased."""
    return [
        col(Customer.broadcasts_opt_out).is_(False),
        col(Customer.unreachable_at).is_(None),
        col(Customer.erased_at).is_(None),
        sa.not_(_banned()),
    ]


@dataclass(frozen=True)
class Audience:
    """A segment's customers now: how many, in which language, and those left out."""

    matched: int
    zh: int
    en: int
    opted_out: int
    unreachable: int
    banned: int

    @property
    def reachable(self) -> int:
        return self.zh + self.en


async def audience(session: AsyncSession, segment: Segment, default_language: str) -> Audience:
    """Counted in one statement: the segment's customers, those a broadcast would reach (by
    language), and those left out, each for the first reason that holds."""
    opted_out = col(Customer.broadcasts_opt_out).is_(True)
    unreachable = col(Customer.unreachable_at).is_not(None)
    erased = col(Customer.erased_at).is_not(None)
    banned = _banned()
    reached = sa.and_(*_reachable())
    language = func.coalesce(col(Customer.language), default_language)

    def count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return func.coalesce(func.sum(sa.case((condition, 1), else_=0)), 0)

    statement = sa.select(
        func.count(),
        count(sa.and_(reached, language == "zh")),
        count(sa.and_(reached, language != "zh")),
        count(sa.and_(opted_out, sa.not_(erased))),
        count(sa.and_(unreachable, sa.not_(opted_out), sa.not_(erased))),
        count(sa.and_(banned, sa.not_(unreachable), sa.not_(opted_out), sa.not_(erased))),
    ).where(*_conditions(segment))
    row = (await session.exec(statement)).one()  # type: ignore[call-overload]
    matched, zh, en, out, blocked, banned_count = (int(value) for value in row)
    return Audience(matched, zh, en, out, blocked, banned_count)


async def claim_draft(session: AsyncSession, broadcast_id: int, by: str, now: datetime) -> bool:
    """The draft becomes sending for one press of Send only, whoever presses and however
    often: a conditional UPDATE that one transaction alone can win."""
    result = await session.exec(
        update(Broadcast)
        .where(col(Broadcast.id) == broadcast_id)
        .where(col(Broadcast.status) == BroadcastStatus.DRAFT)
        .values(status=BroadcastStatus.SENDING, sent_by=by, sent_at=now)
    )
    return bool(result.rowcount == 1)


async def schedule_messages(
    session: AsyncSession,
    broadcast_id: int,
    segment: Segment,
    *,
    due_at: datetime,
    expires_at: datetime,
    now: datetime,
) -> int:
    """One scheduled message per reachable customer of the segment, in one statement (INSERT
    ... SELECT: no row travels to Python); how many."""
    key = sa.literal(f"broadcast:{broadcast_id}:") + sa.cast(col(Customer.id), sa.String)
    chosen = sa.select(
        key,
        sa.literal(ScheduledKind.BROADCAST.value),
        col(Customer.id),
        sa.literal(ScheduledStatus.PENDING.value),
        sa.literal(due_at, UTCDateTime()),
        sa.literal(expires_at, UTCDateTime()),
        sa.literal(now, UTCDateTime()),
        sa.literal(broadcast_id),
    ).where(*_conditions(segment), *_reachable())
    statement = sa.insert(ScheduledMessage).from_select(
        [
            "key",
            "kind",
            "customer_id",
            "status",
            "due_at",
            "expires_at",
            "created_at",
            "broadcast_id",
        ],
        chosen,
    )
    result = await session.exec(statement)
    return int(result.rowcount)


async def cancel_pending(session: AsyncSession, broadcast_id: int, note: str) -> int:
    """The broadcast's messages not yet taken for sending are not sent; how many."""
    result = await session.exec(
        update(ScheduledMessage)
        .where(col(ScheduledMessage.broadcast_id) == broadcast_id)
        .where(col(ScheduledMessage.status) == ScheduledStatus.PENDING)
        .values(status=ScheduledStatus.CANCELLED, note=note)
    )
    return int(result.rowcount)


async def outcomes(session: AsyncSession, broadcast_id: int) -> Counter[tuple[str, str]]:
    """The broadcast's messages counted by (status, note)."""
    statement = (
        select(ScheduledMessage.status, ScheduledMessage.note, func.count())
        .where(col(ScheduledMessage.broadcast_id) == broadcast_id)
        .group_by(col(ScheduledMessage.status), col(ScheduledMessage.note))
    )
    counts: Counter[tuple[str, str]] = Counter()
    for status, note, number in (await session.exec(statement)).all():
        counts[(str(status), note or "")] += int(number)
    return counts


async def recent(session: AsyncSession, limit: int = 10) -> list[Broadcast]:
    statement = select(Broadcast).order_by(col(Broadcast.id).desc()).limit(limit)
    return list((await session.exec(statement)).all())
