"""The engine, sessions, and the schema's migrations: where the database stands against them."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)

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


def create_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return create_async_engine(url, pool_pre_ping=parsed.get_backend_name() != "sqlite")


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


async def migrate(engine: AsyncEngine) -> None:
    """Bring the database schema up to the newest migration."""

    def upgrade(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), "head")

    async with engine.begin() as connection:
        await connection.run_sync(upgrade)


def schema_differences(connection: Connection, metadata: MetaData | None = None) -> list[Any]:
    """What Alembic's autogenerate would put in a new migration: the ways the database differs
    from the models (or from `metadata`). Empty when models and migrations agree."""
    context = MigrationContext.configure(connection, opts=COMPARE_OPTIONS)
    return compare_metadata(context, metadata if metadata is not None else SQLModel.metadata)


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
