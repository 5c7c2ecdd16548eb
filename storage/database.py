"""The engine, sessions, and the schema's migrations: where the database stands against them."""

from __future__ import annotations

import functools
import logging
import os
import time
import tomllib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from storage.sqlite_driver import OneTripDBAPI

ALEMBIC_INI = Path(__file__).resolve().parent / "alembic.ini"
# What Alembic compares besides tables, columns and indexes; env.py's autogenerate uses the same,
# so that a new migration holds exactly what the drift test would report.
COMPARE_OPTIONS: dict[str, Any] = {"compare_type": True, "compare_server_default": True}
# The places `kefu` looks for its config, for the `alembic` command line (bot/config.py decides
# for kefu itself; storage does not import it).
CONFIG_ENV = "KEFU_CONFIG"
CONFIG_FILES = ("config.toml", "config.example.toml")
URL_ENV = "KEFU_DATABASE_URL"
SQLITE_PREFIX = "sqlite+aiosqlite:///"

SessionFactory = async_sessionmaker[AsyncSession]


class DatabaseUnreachable(Exception):
    """The database could not be opened; the message says why, without the URL's password."""


def database_away(error: BaseException) -> bool:
    """The database could not be reached or the connection to it broke (as opposed to a
    statement it refused): what is worth doing again once it answers. Whatever the driver
    raises, SQLAlchemy wraps as an OperationalError or InterfaceError (or a pool timeout); a
    connection refused may also come through as the OSError itself."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(
            seen, OperationalError | InterfaceError | PoolTimeout | OSError | ConnectionError
        ):
            return True
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class SchemaNotCurrent(Exception):
    """The database's schema is not the one this kefu's migrations end at."""

    def __init__(self, current: str | None, head: str) -> None:
        super().__init__(f"the database schema is at {current or 'no revision'}, not at {head}")
        self.current = current
        self.head = head


def create_engine(
    url: str, *, pool_size: int | None = None, pool_timeout: float | None = None
) -> AsyncEngine:
    """The engine; `pool_size` connections at most (no overflow), waited for `pool_timeout`
    seconds. SQLite files run in WAL mode (readers never wait for the writer), with
    synchronous=NORMAL (durable at each checkpoint, no fsync per commit) and a busy timeout,
    so that a writer waits for another instead of failing with "database is locked"."""
    parsed = make_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    file = sqlite and parsed.database not in (None, "", ":memory:")
    if file:
        Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {}
    if pool_size is not None and not (sqlite and not file):
        options |= {"pool_size": pool_size, "max_overflow": 0}
    if pool_timeout is not None:
        options["pool_timeout"] = pool_timeout
    # hide_parameters: the statements' values (customers' words, phones) stay out of logs and
    # error messages, at every log level; the drivers' own debug lines are cut down likewise
    keep_values_out_of_driver_logs()
    if sqlite and parsed.get_driver_name() == "aiosqlite":
        options["module"] = OneTripDBAPI()  # a statement in one trip to aiosqlite's thread
    engine = create_async_engine(url, hide_parameters=True, **options)
    if file:
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
    if not sqlite:
        event.listen(engine.sync_engine.pool, "checkin", _note_returned)
        event.listen(engine.sync_engine.pool, "checkout", _ping_if_idle)
    return engine


# A pooled connection back in use within this many seconds is not pinged first. SQLAlchemy's
# pool_pre_ping pinged on every checkout: on asyncpg that is BEGIN, a query and ROLLBACK, three
# round trips of the eight and a half a FAQ question made. A connection that broke while busy
# fails its update's first statement instead; that update is held and handled again
# (bot/channels/update_runs.py), and SQLAlchemy drops the pool's older connections with it.
PING_AFTER_IDLE_SECONDS = 2.0
_RETURNED = "kefu_returned_at"


def _note_returned(dbapi_connection: Any, record: Any) -> None:
    record.info[_RETURNED] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    returned = record.info.get(_RETURNED)
    if returned is None or time.monotonic() - returned < PING_AFTER_IDLE_SECONDS:
        return  # just connected, or just used
    try:
        dbapi_connection.ping()
    except Exception as error:
        # the pool drops this connection and checks out (or opens) another
        raise DisconnectionError("a pooled connection no longer answers") from error


class _ValuesOutOfLog(logging.Filter):
    """aiosqlite logs each call it runs with its arguments (a statement's values) and what it
    raised, and SQLAlchemy logs result rows at DEBUG: such lines keep only what was called."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "aiosqlite" and isinstance(record.args, tuple):
            record.args = tuple(_called(arg) for arg in record.args)
        elif record.name.startswith("sqlalchemy.engine") and str(record.msg).startswith("Row "):
            record.msg, record.args = "Row (values not logged)", None
        return True


def _called(value: object) -> object:
    if isinstance(value, functools.partial):
        return f"{getattr(value.func, '__name__', 'call')}(...)"
    if isinstance(value, BaseException):
        return type(value).__name__
    return value if isinstance(value, int | float) else type(value).__name__


_VALUES_OUT_OF_LOG = _ValuesOutOfLog()


def keep_values_out_of_driver_logs() -> None:
    for name in ("aiosqlite", "sqlalchemy.engine.Engine"):
        logger = logging.getLogger(name)
        if _VALUES_OUT_OF_LOG not in logger.filters:
            logger.addFilter(_VALUES_OUT_OF_LOG)


def _tune_sqlite(connection: Any, record: Any) -> None:
    cursor = connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=15000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


# The session of the unit of work in progress (an update, set by the bot's database middleware).
# Whatever needs the database while an update is handled uses it rather than a second pooled
# connection: one connection waiting for another is how a pool runs dry under load, and a second
# SQLite connection would wait for the write lock the first one holds.
UNIT_OF_WORK: ContextVar[AsyncSession | None] = ContextVar("unit_of_work", default=None)


@asynccontextmanager
async def unit_of_work(session_factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    """The session in progress (committed by whoever opened it), else a short one of its own,
    committed when the block ends."""
    current = UNIT_OF_WORK.get()
    if current is not None:
        yield current
        return
    async with session_factory() as session:
        yield session
        await session.commit()


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def alembic_config(connection: Connection | None = None) -> AlembicConfig:
    """Alembic's config from storage/alembic.ini, with the connection env.py is to migrate."""
    config = AlembicConfig(str(ALEMBIC_INI))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The revision the migrations end at."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("storage/migrations/versions holds no migration")
    return head


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at; None when Alembic has never migrated it."""
    async with engine.connect() as connection:
        return await connection.run_sync(_current_revision)


# PostgreSQL's advisory lock that migrations hold, so that replicas starting together take
# turns: the first migrates, the others then find the schema current.
MIGRATION_LOCK = 0x6B656675  # "kefu"


async def migrate(engine: AsyncEngine) -> None:
    """Bring the database schema up to the newest migration (on PostgreSQL, one process at a
    time; the lock goes with the transaction)."""

    def upgrade(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), "head")

    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
            )
        await connection.run_sync(upgrade)


def schema_differences(connection: Connection, metadata: MetaData | None = None) -> list[Any]:
    """What Alembic's autogenerate would put in a new migration: the ways the database differs
    from the models (or from `metadata`). Empty when models and migrations agree."""
    context = MigrationContext.configure(connection, opts=COMPARE_OPTIONS)
    return compare_metadata(context, metadata if metadata is not None else SQLModel.metadata)


def _describe(url: str, error: BaseException) -> str:
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        shown = "not a database URL"
    reason = getattr(error, "orig", None) or error
    return f"{shown}: {str(reason).splitlines()[0] if str(reason) else type(reason).__name__}"


async def start_engine(
    url: str, *, pool_size: int | None = None, pool_timeout: float | None = None
) -> AsyncEngine:
    """The service's engine, its database migrated; DatabaseUnreachable (which names the URL
    without its password) when it cannot be opened."""
    try:
        engine = create_engine(url, pool_size=pool_size, pool_timeout=pool_timeout)
    except (OSError, ImportError, SQLAlchemyError) as error:  # bad URL, missing driver, folder
        raise DatabaseUnreachable(_describe(url, error)) from error
    try:
        await migrate(engine)
    except (OSError, SQLAlchemyError) as error:
        await engine.dispose()
        raise DatabaseUnreachable(_describe(url, error)) from error
    return engine


@asynccontextmanager
async def open_engine(url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on `url` that has answered once; DatabaseUnreachable when it does not."""
    try:
        engine = create_engine(url)
    except (OSError, ImportError, SQLAlchemyError) as error:  # bad URL, missing driver, folder
        raise DatabaseUnreachable(_describe(url, error)) from error
    try:
        try:
            async with engine.connect() as connection:
                # reads the schema, which a file that is no database fails and SELECT 1 does not
                await connection.run_sync(_current_revision)
        except (OSError, SQLAlchemyError) as error:
            raise DatabaseUnreachable(_describe(url, error)) from error
        yield engine
    finally:
        await engine.dispose()


@asynccontextmanager
async def migrated_session(url: str) -> AsyncIterator[AsyncSession]:
    """A session on `url`'s database, brought to the current schema first: what a command run
    on the server needs (DatabaseUnreachable when the database does not answer)."""
    async with open_engine(url) as engine:
        await migrate(engine)
        async with create_session_factory(engine)() as session:
            yield session


def _is_missing_sqlite_file(url: str) -> bool:
    try:
        parsed = make_url(url)
    except ArgumentError:
        return False  # open_engine says what is wrong with it
    return (
        parsed.get_backend_name() == "sqlite"
        and parsed.database not in (None, "", ":memory:")
        and not Path(parsed.database).exists()
    )


async def database_revision(url: str) -> str | None:
    """The revision of the database at `url`, None when never migrated; a SQLite file that is
    not there yet stays so."""
    if _is_missing_sqlite_file(url):
        return None
    async with open_engine(url) as engine:
        return await current_revision(engine)


def _state(connection: Connection) -> tuple[str | None, bool]:
    return _current_revision(connection), not inspect(connection).get_table_names()


@asynccontextmanager
async def reading(url: str) -> AsyncIterator[SessionFactory]:
    """Sessions for a command that only reads: the database is never migrated nor created.
    A database where nothing was ever recorded (a SQLite file not there yet, or no tables at
    all) reads as an empty schema held in memory; one whose schema is not at head raises
    SchemaNotCurrent, since the queries of this kefu expect head's tables."""
    if _is_missing_sqlite_file(url):
        async with _empty_schema() as sessions:
            yield sessions
        return
    async with open_engine(url) as engine:
        async with engine.connect() as connection:
            current, empty = await connection.run_sync(_state)
        if current is None and empty:
            async with _empty_schema() as sessions:
                yield sessions
            return
        head = head_revision()
        if current != head:
            raise SchemaNotCurrent(current, head)
        yield create_session_factory(engine)


@asynccontextmanager
async def _empty_schema() -> AsyncIterator[SessionFactory]:
    # the drift test keeps the models equal to the migrations, so create_all builds head's schema
    engine = create_async_engine("sqlite+aiosqlite://")
    try:
        async with engine.begin() as connection:
            await connection.run_sync(SQLModel.metadata.create_all)
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


def command_line_url(x_url: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The database the `alembic` command line migrates: `-x url=...`, else $KEFU_DATABASE_URL,
    else `[database] url` of the config kefu would read from the current folder; else None."""
    environ = os.environ if environ is None else environ
    if x_url:
        return x_url
    if environ.get(URL_ENV):
        return environ[URL_ENV]
    named = environ.get(CONFIG_ENV)
    candidates = [Path(named)] if named else [Path(name) for name in CONFIG_FILES]
    for path in candidates:
        if path.exists():
            return _url_in_config(path)
    return None


def _url_in_config(path: Path) -> str:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    url = str(raw.get("database", {}).get("url", SQLITE_PREFIX + "data/kefu.db"))
    # kefu reads a relative SQLite path from the config file's folder; so must the command line
    if url.startswith(SQLITE_PREFIX) and not url.startswith(SQLITE_PREFIX + "/"):
        relative = url.removeprefix(SQLITE_PREFIX)
        if relative and relative != ":memory:":
            url = SQLITE_PREFIX + str(path.resolve().parent / relative)
    return url
