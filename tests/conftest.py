from __future__ import annotations

import asyncio
import io
import os
import shutil
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiogram import Dispatcher
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import bot.app as composition
from bot.app import Services, create_dispatcher, create_services
from bot.cli import main
from bot.clock import ManualClock
from bot.config import Config, load_config
from bot.knowledge_admin.publishing import fingerprint
from knowledge import KnowledgeBase, Matcher
from storage.database import create_engine, migrate
from tests.fake_bot_api import FakeBotAPI
from tests.mocked_bot import MockedBot

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_KB = ROOT / "knowledge" / "sample"
TEST_KB = Path(__file__).parent / "data" / "kb"  # small and fixed, for exact assertions
POSTGRES_URL = os.environ.get("KEFU_TEST_DATABASE_URL")


_MATCHERS: dict[Hashable, Matcher] = {}


@pytest.fixture(autouse=True)
def reuse_matchers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a matcher trains it (about half a second) and the run starts the services on
    the same few knowledge bases again and again: a matcher is built once per knowledge base as
    it stands on disk (files, placeholders, settings), and shared. The build is deterministic."""
    build = composition.create_matcher

    def built_once(config: Config, knowledge_base: KnowledgeBase) -> Matcher:
        path = config.knowledge.path
        key = (str(path), fingerprint(path), config.business, config.matching)
        if key not in _MATCHERS:
            _MATCHERS[key] = build(config, knowledge_base)
        return _MATCHERS[key]

    monkeypatch.setattr(composition, "create_matcher", built_once)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a config file in tmp_path from the example, with some keys replaced: the knowledge
    base, the database, and each of `replace`'s texts (which must be in the example)."""

    def write(
        extra: str = "",
        *,
        kb: Path = SAMPLE_KB,
        database: str | None = None,
        replace: dict[str, str] | None = None,
    ) -> Path:
        example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
        example = example.replace('path = "knowledge/sample"', f'path = "{kb}"')
        url = database or f"sqlite+aiosqlite:///{tmp_path / 'kefu.db'}"
        example = example.replace('url = "sqlite+aiosqlite:///data/kefu.db"', f'url = "{url}"')
        example = example.replace("port = 8080", "port = 0")  # processes side by side
        for old, new in (replace or {}).items():
            assert old in example, f"{old!r} is not in config.example.toml"
            example = example.replace(old, new)
        path = tmp_path / "config.toml"
        path.write_text(example + "\n" + extra, encoding="utf-8")
        return path

    return write


@pytest.fixture
async def telegram() -> AsyncIterator[tuple[FakeBotAPI, str]]:
    """A fake Telegram Bot API server on 127.0.0.1, and its address."""
    fake = FakeBotAPI()
    # a long poll whose process has gone away ends at once, as on Telegram's side, instead of
    # holding the cleanup for the rest of its timeout
    runner = web.AppRunner(fake.app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield fake, f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Config:
    return load_config(write_config(), environ={})


StartServices = Callable[..., Awaitable[Services]]


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once for the whole run, copied where a test's default database
    would be created: the services then start without running every migration again."""
    path = tmp_path_factory.mktemp("template") / "kefu.db"

    async def make() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        await migrate(engine)
        await engine.dispose()

    asyncio.run(make())
    return path


@pytest.fixture
async def start_services(
    write_config: Callable[..., Path],
    clock: ManualClock,
    tmp_path: Path,
    migrated_database: Path,
) -> AsyncIterator[StartServices]:
    """Start the services on `clock` from a Config, a config file, or (with neither)
    write_config's arguments; whatever was started is closed after the test."""
    started: list[Services] = []
    default = tmp_path / "kefu.db"

    async def start(config: Config | Path | None = None, **written: Any) -> Services:
        if not isinstance(config, Config):
            config = load_config(config or write_config(**written), environ={})
        if config.database.url == f"sqlite+aiosqlite:///{default}" and not default.exists():
            shutil.copyfile(migrated_database, default)
        services = await create_services(config, clock=clock)
        started.append(services)
        return services

    yield start
    for services in reversed(started):
        await services.close()


@pytest.fixture
def bot() -> MockedBot:
    return MockedBot()


@pytest.fixture
def dispatcher(services: Services) -> Dispatcher:
    """A fresh dispatcher over the test module's `services` fixture."""
    return create_dispatcher(services)


async def _reset_postgres(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database for a test to start services on: a new SQLite file, and
    PostgreSQL (its public schema dropped) when KEFU_TEST_DATABASE_URL is set."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    if not POSTGRES_URL:
        pytest.skip("KEFU_TEST_DATABASE_URL is not set")
    engine = create_engine(POSTGRES_URL)
    await _reset_postgres(engine)
    await engine.dispose()
    return POSTGRES_URL


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


ADMIN_ID = 900
GIFT_CARDS_ENTRY = """
  - id: gift_cards
    category: products
    questions:
      zh: [有礼品卡吗, 礼品卡怎么买]
      en: [do you sell gift cards, how to buy a gift card]
    answer:
      zh: 有的，礼品卡在首页购买。
      en: Yes, gift cards are sold on our home page.
"""


@pytest.fixture
def kb_copy(tmp_path: Path) -> Path:
    """A copy of the small test knowledge base that a test may edit."""
    folder = tmp_path / "kb"
    shutil.copytree(TEST_KB, folder)
    return folder


@pytest.fixture
async def admin_services(kb_copy: Path, start_services: StartServices) -> Services:
    """The services over `kb_copy`, with ADMIN_ID as admin and a fast file watch."""
    return await start_services(
        kb=kb_copy,
        replace={
            "admins = []": f"admins = [{ADMIN_ID}]",
            "watch_interval = 2.0": "watch_interval = 0.02",
        },
    )


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


Kefu = Callable[..., Ran]


@pytest.fixture
def kefu(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Kefu:
    """`kefu --config <config> <args>` in this process, with `stdin` as standard input."""

    def run(config: Path, *args: str, stdin: str | None = None) -> Ran:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin or ""))
        capsys.readouterr()  # what earlier commands printed is theirs
        code = main(["--config", str(config), *args])
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    return run
