"""Alembic's entry: migrates the connection storage.database.migrate hands it or, from the
`alembic` command line, the database named by `-x url=...`, $KEFU_DATABASE_URL or kefu's config."""

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

from storage.database import COMPARE_OPTIONS, command_line_url, create_engine


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        # SQLite alters a table by copying it; Alembic's batch mode does the copying
        render_as_batch=connection.dialect.name == "sqlite",
        **COMPARE_OPTIONS,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_from_command_line(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


config = context.config
handed = config.attributes.get("connection")
if handed is not None:
    # kefu's own logging stays as kefu configured it
    run_migrations(handed)
elif context.is_offline_mode():
    raise SystemExit("kefu migrates a live database; offline (--sql) mode is not set up")
else:
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    url = command_line_url(context.get_x_argument(as_dictionary=True).get("url"))
    if url is None:
        raise SystemExit(
            "no database to migrate: pass -x url=..., set $KEFU_DATABASE_URL, or run where "
            "kefu's config.toml is (or name it with $KEFU_CONFIG)"
        )
    asyncio.run(run_from_command_line(url))
