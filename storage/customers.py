"""Customers: found or created on every update, with their language."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.forms import remember_no_form
from storage.models import OPEN_STATUSES, Customer, FormState, Ticket, TicketStatus


@dataclass
class Arrival:
    """What every update from a customer needs to know, read in the statement that records
    their visit: the customer and whether a ticket of theirs is open. Asked for by its key,
    whether a form is in progress is read too, and its absence told to storage.forms."""

    customer: Customer
    has_open_ticket: bool  # or one resolved within the reopen window: messages go to it


async def find_customer(session: AsyncSession, channel: str, external_id: str) -> Customer | None:
    statement = select(Customer).where(
        Customer.channel == channel, Customer.external_id == external_id
    )
    return (await session.exec(statement)).first()


async def touch_customer(
    session: AsyncSession,
    channel: str,
    external_id: str,
    *,
    now: datetime,
    first_name: str | None = None,
    username: str | None = None,
    language: str | None = None,
) -> Customer:
    """The customer behind an update, created on first contact; `last_seen` moves to now.

    One statement whether the customer is new or not (an insert that updates on conflict), so
    that two first updates from one customer cannot race and every update pays one round trip.
    The app's language is kept only until the customer writes in one."""
    arrival = await arrive(
        session,
        channel,
        external_id,
        now=now,
        first_name=first_name,
        username=username,
        language=language,
    )
    return arrival.customer


async def arrive(
    session: AsyncSession,
    channel: str,
    external_id: str,
    *,
    now: datetime,
    first_name: str | None = None,
    username: str | None = None,
    language: str | None = None,
    form_key: str | None = None,
    reopen_window: timedelta = timedelta(0),
) -> Arrival:
    """touch_customer, and in the same round trip whether the customer has a ticket their
    messages go to (open, or resolved within `reopen_window`) and (with `form_key`) the form
    stored under that key: three reads every update makes, in the one statement it has to make
    anyway."""
    dialect = session.get_bind().dialect.name
    upsert = _upsert(dialect, bool(first_name), bool(language), form_key is not None)
    values = {
        "channel": channel,
        "external_id": external_id,
        "first_name": first_name,
        "username": username,
        "language": language,
        "now": now,
        "form_key": form_key,
        "reopen_since": now - reopen_window,
    }
    while True:
        found = await session.exec(
            upsert, params=values, execution_options={"populate_existing": True}
        )
        row = found.one_or_none()
        if row is not None:
            break
        # PostgreSQL: another update of this customer committed while this one waited for the
        # row; read again, now that it is visible (see _unchanged_since_snapshot). The row
        # stays locked by this transaction all the same, so the second run finds it unchanged.
    if form_key is not None and not row[2]:
        remember_no_form(session, form_key)
    return Arrival(customer=row[0], has_open_ticket=bool(row[1]))


@functools.cache
def _upsert(dialect: str, first_name: bool, language: bool, form: bool) -> Any:
    """arrive's statement, built once for each shape: the values are bound parameters, so
    that every update reuses its construction and its cache key instead of building both. A
    Core upsert whose rows the ORM loads (from_statement): given as an ORM insert with its
    values, it would take the ORM's bulk-insert path, which rebuilds the statement each time."""
    table: sa.Table = Customer.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert

    def bound(name: str, column: str) -> Any:
        return sa.bindparam(name, type_=table.c[column].type)

    statement = insert(table).values(
        channel=bound("channel", "channel"),
        external_id=bound("external_id", "external_id"),
        first_name=bound("first_name", "first_name"),
        username=bound("username", "username"),
        language=bound("language", "language"),
        language_chosen=False,
        surveys_opt_out=False,
        first_seen=bound("now", "first_seen"),
        last_seen=bound("now", "last_seen"),
    )
    changes: dict[str, Any] = {"last_seen": statement.excluded.last_seen}
    if first_name:  # a Telegram user as they are now: a @username removed is gone here too
        changes["first_name"] = statement.excluded.first_name
        changes["username"] = statement.excluded.username
    if language:
        changes["language"] = sa.func.coalesce(table.c.language, statement.excluded.language)
    # named by hand: a column of the table would put it in the subquery's FROM, uncorrelated
    customer_id: sa.ColumnElement[int] = sa.literal_column("customer.id")
    # statuses as plain comparisons: an IN list would be expanded into the SQL on every run
    reopen_since = sa.bindparam("reopen_since", type_=Ticket.__table__.c.resolved_at.type)  # type: ignore[attr-defined]
    open_ticket = sa.exists().where(
        col(Ticket.customer_id) == customer_id,
        sa.or_(
            *(col(Ticket.status) == status for status in OPEN_STATUSES),
            sa.and_(
                col(Ticket.status) == TicketStatus.RESOLVED,
                col(Ticket.resolved_at) >= reopen_since,
            ),
        ),
    )
    returned: list[Any] = [open_ticket.label("open_ticket")]
    if form:
        key = sa.bindparam("form_key", type_=sa.String())
        returned.append(sa.exists().where(col(FormState.key) == key).label("has_form"))
    upsert = statement.on_conflict_do_update(
        index_elements=[table.c.channel, table.c.external_id],
        set_=changes,
        where=_unchanged_since_snapshot(table) if dialect == "postgresql" else None,
    ).returning(*table.c, *returned)
    return select(Customer, *returned).from_statement(upsert)


def _unchanged_since_snapshot(table: sa.Table) -> Any:
    """On PostgreSQL an upsert that waited for the customer's row (another update of theirs
    was writing it) updates the newest version of that row, but its subqueries read the
    database as it was when the statement began: they would miss the form or the ticket that
    the other update has just committed, and a description typed right after a button would be
    taken for a question. So the upsert updates only a row whose version is the one its
    snapshot sees (same xmin); otherwise it returns nothing and is run again, with a snapshot
    that sees the other update. (SQLite has one writer at a time: a statement that waited
    for the write lock reads what was committed before it got it.)"""
    seen = table.alias("seen")
    version_seen = (
        sa.select(sa.literal_column("seen.xmin"))
        .select_from(seen)
        .where(seen.c.id == sa.literal_column("customer.id"))
        .scalar_subquery()
    )
    return sa.literal_column("customer.xmin") == version_seen


async def choose_language(session: AsyncSession, customer: Customer, language: str) -> None:
    customer.language = language
    customer.language_chosen = True
    session.add(customer)
    await session.flush()


async def language_of(session: AsyncSession, channel: str, external_id: str) -> str | None:
    """The language a person reads, as far as their private chat with the bot tells: the one
    they chose with /language, else the one they last wrote in; None when they never wrote."""
    statement = select(Customer).where(
        Customer.channel == channel, Customer.external_id == external_id
    )
    found = (await session.exec(statement)).first()
    return found.language if found is not None else None
