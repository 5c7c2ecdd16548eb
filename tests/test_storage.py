from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import text, update
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel, func, select

import storage.database
from bot.clock import ManualClock
from storage.conversations import record_message, record_unanswered, record_vote
from storage.customers import arrive, choose_language, find_customer, touch_customer
from storage.database import (
    ALEMBIC_INI,
    command_line_url,
    create_engine,
    create_session_factory,
    current_revision,
    database_away,
    head_revision,
    migrate,
    schema_differences,
)
from storage.forms import read_form, write_form
from storage.models import (
    AnswerVote,
    Conversation,
    Ticket,
    TicketCategory,
    TicketPriority,
    TicketStatus,
    UnansweredQuestion,
)
from tests.conftest import POSTGRES_URL, _reset_postgres


async def _differences(engine: AsyncEngine, metadata: sa.MetaData | None = None) -> list[Any]:
    async with engine.connect() as connection:
        return await connection.run_sync(schema_differences, metadata)


async def test_migrations_apply_twice_without_change(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
    await migrate(engine)
    async with engine.connect() as connection:
        again = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
    assert await current_revision(engine) == head_revision()
    assert sorted(again) == sorted(tables)
    assert await _differences(engine) == []


async def test_the_models_declare_what_the_migrations_make(engine: AsyncEngine) -> None:
    assert await _differences(engine) == []


async def test_the_schedule_has_its_index_on_status_and_due_time(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        indexes = await connection.run_sync(
            lambda sync: sa.inspect(sync).get_indexes("scheduledmessage")
        )
    assert {"name": "ix_scheduledmessage_status_due", "columns": ["status", "due_at"]} in [
        {"name": index["name"], "columns": index["column_names"]} for index in indexes
    ]


def _add_index(metadata: sa.MetaData) -> None:
    sa.Index("ix_ticket_priority", metadata.tables["ticket"].c.priority)


def _add_column(metadata: sa.MetaData) -> None:
    metadata.tables["order"].append_column(sa.Column("gift_note", sa.Text(), nullable=True))


def _drop_the_schedule_index(metadata: sa.MetaData) -> None:
    table = metadata.tables["scheduledmessage"]
    [index] = [i for i in table.indexes if i.name == "ix_scheduledmessage_status_due"]
    table.indexes.remove(index)


def _widen_a_column(metadata: sa.MetaData) -> None:
    metadata.tables["ticket"].c.status.type = sa.String(64)


def _drop_a_server_default(metadata: sa.MetaData) -> None:
    metadata.tables["customer"].c.surveys_opt_out.server_default = None


@pytest.mark.parametrize(
    ("change", "operation"),
    [
        (_add_index, "add_index"),
        (_add_column, "add_column"),
        (_drop_the_schedule_index, "remove_index"),
        (_widen_a_column, "modify_type"),
        (_drop_a_server_default, "modify_default"),
    ],
)
async def test_a_model_change_without_a_migration_is_caught(
    engine: AsyncEngine, change: Callable[[sa.MetaData], None], operation: str
) -> None:
    changed = sa.MetaData()
    for table in SQLModel.metadata.sorted_tables:
        table.to_metadata(changed)
    change(changed)
    differences = await _differences(engine, changed)
    # a column's changes come as a list of operations, the others one by one
    flat = [d for item in differences for d in (item if isinstance(item, list) else [item])]
    assert [d[0] for d in flat] == [operation]


@pytest.mark.slow
def test_the_alembic_command_line_migrates_and_checks(tmp_path: Path) -> None:
    database = tmp_path / "data" / "cli.db"

    def alembic(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "alembic", "-c", str(ALEMBIC_INI), *args],
            env={**os.environ, "KEFU_DATABASE_URL": f"sqlite+aiosqlite:///{database}"},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    upgrade = alembic("upgrade", "head")
    assert upgrade.returncode == 0, upgrade.stderr
    with sqlite3.connect(database) as connection:
        versions = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    assert versions == [(head_revision(),)]
    # `alembic check` autogenerates through env.py: nothing to put in a new migration
    check = alembic("check")
    assert check.returncode == 0, check.stderr
    assert "No new upgrade operations detected" in check.stdout + check.stderr


def test_the_command_line_url_comes_from_x_then_the_environment_then_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    environ = {"KEFU_DATABASE_URL": "postgresql+asyncpg://kefu@db/kefu"}
    assert command_line_url("sqlite+aiosqlite:///x.db", environ) == "sqlite+aiosqlite:///x.db"
    assert command_line_url(None, environ) == "postgresql+asyncpg://kefu@db/kefu"
    assert command_line_url(None, {}) is None
    (tmp_path / "config.toml").write_text('[database]\nurl = "sqlite+aiosqlite:///data/k.db"\n')
    assert command_line_url(None, {}) == f"sqlite+aiosqlite:///{tmp_path / 'data' / 'k.db'}"
    elsewhere = tmp_path / "etc" / "kefu.toml"
    elsewhere.parent.mkdir()
    elsewhere.write_text('[database]\nurl = "postgresql+asyncpg://kefu@db/other"\n')
    named = {"KEFU_CONFIG": str(elsewhere)}
    assert command_line_url(None, named) == "postgresql+asyncpg://kefu@db/other"


async def test_a_customer_is_created_once_and_keeps_a_chosen_language(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    sessions = create_session_factory(engine)
    async with sessions() as session:
        first = await touch_customer(
            session, "telegram", "777", now=clock.now(), first_name="Li", language="zh"
        )
        await choose_language(session, first, "en")
        await session.commit()
    clock.advance(timedelta(hours=1))
    async with sessions() as session:
        again = await touch_customer(session, "telegram", "777", now=clock.now(), language="zh")
        await session.commit()
    assert again.id == first.id
    assert again.language == "en"
    assert again.last_seen == clock.now()
    assert again.first_seen == clock.now() - timedelta(hours=1)
    assert again.first_seen.tzinfo is not None
    async with sessions() as session:
        assert await find_customer(session, "terminal", "777") is None


async def test_a_customers_username_follows_their_telegram_account(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    sessions = create_session_factory(engine)
    for username in ("li_wei", "li_wei_2", None):  # set, changed, removed in Telegram
        async with sessions() as session:
            customer = await touch_customer(
                session, "telegram", "777", now=clock.now(), first_name="Li", username=username
            )
            await session.commit()
        assert customer.username == username


async def test_messages_start_a_new_conversation_after_a_pause(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    sessions = create_session_factory(engine)
    async with sessions() as session:
        customer = await touch_customer(session, "telegram", "1", now=clock.now())
        first = await record_message(session, customer, direction="in", text="hi", now=clock.now())
        clock.advance(timedelta(minutes=10))
        second = await record_message(
            session,
            customer,
            direction="out",
            text="hello",
            now=clock.now(),
            entry_id="greeting",
            score=88.5,
            decision="answer",
        )
        clock.advance(timedelta(hours=2))
        third = await record_message(
            session, customer, direction="in", text="再问", now=clock.now()
        )
        await session.commit()
        conversations = (await session.exec(select(func.count()).select_from(Conversation))).one()
    assert first.conversation_id == second.conversation_id != third.conversation_id
    assert conversations == 2


async def test_votes_count_once_per_answer_and_only_from_its_customer(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    sessions = create_session_factory(engine)
    async with sessions() as session:
        customer = await touch_customer(session, "telegram", "1", now=clock.now())
        stranger = await touch_customer(session, "telegram", "2", now=clock.now())
        answer = await record_message(
            session, customer, direction="out", text="a", now=clock.now(), entry_id="returns"
        )
        question = await record_message(
            session, customer, direction="in", text="q", now=clock.now()
        )
        assert answer.id is not None and question.id is not None
        assert (
            await record_vote(session, stranger, answer.id, helpful=True, now=clock.now()) is None
        )
        assert (
            await record_vote(session, customer, question.id, helpful=True, now=clock.now())
            is None
        )
        await record_vote(session, customer, answer.id, helpful=True, now=clock.now())
        vote = await record_vote(session, customer, answer.id, helpful=False, now=clock.now())
        await session.commit()
        votes = (await session.exec(select(AnswerVote))).all()
    assert vote is not None and vote.entry_id == "returns"
    assert [(v.message_id, v.helpful) for v in votes] == [(answer.id, False)]


async def test_unanswered_questions_keep_the_text_and_best_guess(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    sessions = create_session_factory(engine)
    async with sessions() as session:
        customer = await touch_customer(session, "telegram", "1", now=clock.now())
        message = await record_message(
            session, customer, direction="in", text="火星天气", now=clock.now()
        )
        await record_unanswered(
            session, customer, message, now=clock.now(), best_entry_id=None, best_score=None
        )
        await session.commit()
    async with sessions() as session:
        stored = (await session.exec(select(UnansweredQuestion))).one()
    assert stored.text == "火星天气"
    assert stored.created_at == clock.now()


async def test_a_visit_reads_the_open_ticket_and_the_form_in_the_same_statement(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    sessions = create_session_factory(engine)
    statements: list[str] = []
    sa.event.listen(
        engine.sync_engine, "before_cursor_execute", lambda *args: statements.append(args[2])
    )
    now = clock.now()
    async with sessions() as session:
        first = await arrive(session, "telegram", "9", now=now, form_key="fsm:9")
        assert first.customer.id is not None and not first.has_open_ticket
        assert await read_form(session, "fsm:9") == (None, {})
        assert len(statements) == 1  # the form's absence was read with the customer
        ticket = Ticket(
            customer_id=first.customer.id,
            channel="telegram",
            category=TicketCategory.PAYMENT,
            priority=TicketPriority.NORMAL,
            status=TicketStatus.NEW,
            created_at=now,
            updated_at=now,
            first_response_due=now,
            resolution_due=now,
        )
        session.add(ticket)
        await write_form(session, "fsm:9", now, state="IntakeForm:description")
        await session.commit()
    async with sessions() as session:
        again = await arrive(session, "telegram", "9", now=now, form_key="fsm:9")
        other = await arrive(session, "telegram", "10", now=now, form_key="fsm:10")
        assert again.customer.id == first.customer.id and again.has_open_ticket
        assert not other.has_open_ticket
        assert await read_form(session, "fsm:9") == ("IntakeForm:description", {})
        ticket.status = TicketStatus.RESOLVED
        await session.merge(ticket)
        await session.commit()
    async with sessions() as session:
        assert not (await arrive(session, "telegram", "9", now=now)).has_open_ticket


async def test_a_visit_waiting_for_another_update_of_the_customer_sees_what_it_committed(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    """Two updates of one customer at once: the second reads the form and the ticket that the
    first committed while it waited for the customer's row (PostgreSQL; SQLite has one writer
    at a time)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: a waiting write reads what was committed")
    sessions = create_session_factory(engine)
    now = clock.now()
    async with sessions() as session:
        await arrive(session, "telegram", "9", now=now)
        await session.commit()
    async with sessions() as first, sessions() as second:
        customer = (await arrive(first, "telegram", "9", now=now, form_key="fsm:9")).customer
        assert customer.id is not None
        first.add(
            Ticket(
                customer_id=customer.id,
                channel="telegram",
                category=TicketCategory.PAYMENT,
                priority=TicketPriority.NORMAL,
                status=TicketStatus.NEW,
                created_at=now,
                updated_at=now,
                first_response_due=now,
                resolution_due=now,
            )
        )
        await write_form(first, "fsm:9", now, state="IntakeForm:description")
        await first.flush()
        waiting = asyncio.create_task(arrive(second, "telegram", "9", now=now, form_key="fsm:9"))
        async with engine.connect() as watcher:
            for _ in range(1000):  # until the second waits for the customer's row (10 s at most)
                waits = await watcher.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    )
                )
                if waits.scalar_one():
                    break
                # pg_stat_activity is read once per transaction: a new one sees it anew
                await watcher.rollback()
                await asyncio.sleep(0.01)
            else:
                pytest.fail("the second update never waited for the customer's row")
        await first.commit()
        arrival = await waiting
        assert arrival.has_open_ticket
        assert await read_form(second, "fsm:9") == ("IntakeForm:description", {})


async def test_enum_columns_keep_plain_strings_and_refuse_unknown_values(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    sessions = create_session_factory(engine)
    now = clock.now()
    async with sessions() as session:
        customer = await touch_customer(session, "telegram", "5", now=now)
        assert customer.id is not None
        ticket = Ticket(
            customer_id=customer.id,
            channel="telegram",
            category=TicketCategory.PAYMENT,
            priority=TicketPriority.HIGH,
            status=TicketStatus.WAITING,
            created_at=now,
            updated_at=now,
            first_response_due=now,
            resolution_due=now,
        )
        session.add(ticket)
        await session.commit()
        connection = await session.connection()
        stored = await connection.execute(text("SELECT category, priority, status FROM ticket"))
        assert tuple(stored.one()) == ("payment", "high", "waiting")
    async with sessions() as session:
        again = await session.get(Ticket, ticket.id)
        assert again is not None
        assert again.status is TicketStatus.WAITING
        assert again.priority is TicketPriority.HIGH
        with pytest.raises(StatementError, match="'wating' is not a valid TicketStatus"):
            await session.exec(update(Ticket).values(status="wating"))


async def test_replicas_starting_together_on_postgresql_migrate_once() -> None:
    """Three processes' worth of engines upgrading a fresh database at the same moment."""
    if not POSTGRES_URL:
        pytest.skip("KEFU_TEST_DATABASE_URL is not set")
    engines = [create_engine(POSTGRES_URL) for _ in range(3)]
    try:
        await _reset_postgres(engines[0])
        await asyncio.gather(*(migrate(engine) for engine in engines))
        async with engines[0].connect() as connection:
            assert await connection.run_sync(schema_differences) == []
            versions = (
                await connection.execute(text("SELECT version_num FROM alembic_version"))
            ).all()
        assert len(versions) == 1
    finally:
        for engine in engines:
            await engine.dispose()


@pytest.mark.parametrize("idle", [True, False])
async def test_a_pooled_connection_is_pinged_only_after_it_sat_idle(
    idle: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection whose server process ended while it sat in the pool is replaced before
    use; one back in use at once is not pinged (three round trips on asyncpg), so its death
    shows in the statement, which the caller holds and runs again (update_runs.py)."""
    if not POSTGRES_URL:
        pytest.skip("KEFU_TEST_DATABASE_URL is not set")
    monkeypatch.setattr(storage.database, "PING_AFTER_IDLE_SECONDS", 0.0 if idle else 3600.0)
    engine = create_engine(POSTGRES_URL, pool_size=1)
    other = create_engine(POSTGRES_URL)
    try:
        async with engine.connect() as connection:
            pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with other.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await asyncio.sleep(0.1)
        if idle:
            async with engine.connect() as connection:
                again = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            assert again != pid
        else:
            with pytest.raises(sa.exc.DBAPIError) as failed:
                async with engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
            assert database_away(failed.value)
            async with engine.connect() as connection:  # the broken one was dropped
                assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await engine.dispose()
        await other.dispose()
