from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import ManualClock
from bot.config import Config, load_config
from storage.database import create_engine, migrate

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_KB = ROOT / "knowledge" / "sample"
POSTGRES_URL = os.environ.get("KEFU_TEST_DATABASE_URL")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a config file in tmp_path from the example, with some keys replaced."""

    def write(extra: str = "", *, kb: Path = SAMPLE_KB, database: str | None = None) -> Path:
        example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
        example = example.replace('path = "knowledge/sample"', f'path = "{kb}"')
        url = database or f"sqlite+aiosqlite:///{tmp_path / 'kefu.db'}"
        example = example.replace('url = "sqlite+aiosqlite:///data/kefu.db"', f'url = "{url}"')
        path = tmp_path / "config.toml"
        path.write_text(example + "\n" + extra, encoding="utf-8")
        return path

    return write


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Config:
    return load_config(write_config(), environ={})


async def _reset_postgres(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A migrated database: a SQLite file, and PostgreSQL when KEFU_TEST_DATABASE_URL is set."""
    if request.param == "postgresql":
        if not POSTGRES_URL:
            pytest.skip("KEFU_TEST_DATABASE_URL is not set")
        engine = create_engine(POSTGRES_URL)
        await _reset_postgres(engine)
    else:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
    await migrate(engine)
    yield engine
    await engine.dispose()
