"""What one update costs inside kefu, counted: SQL statements, transactions and commits,
connections taken from the pool, requests to Telegram, thread hops, log lines, and the time spent
in each, per kind of update. The dispatcher is driven in-process, one update at a time, with a bot
that records requests instead of sending them (tests/mocked_bot.py), so the figures are kefu's own
work with no network and no concurrency.

    .venv/bin/python -m benchmarks.update_costs [--repeat 100] [--only "FAQ"] [--database-url URL]

A SQLite file always; PostgreSQL too when a URL is given (or $KEFU_BENCH_DATABASE_URL): its public
schema is dropped and recreated.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiogram import Dispatcher
from aiogram.methods import SendMessage
from sqlalchemy import event

from benchmarks.throughput import faq_questions, reset_postgres, write_config
from bot.app import Services, create_dispatcher, create_services
from bot.config import load_config
from knowledge import Matcher
from tests.chat import PrivateChat
from tests.mocked_bot import MockedBot

UNKNOWN = ["what's the weather on mars", "do you sell used cars", "can i bring my dog"]


@dataclass
class Tally:
    """Counted while one kind of update runs."""

    updates: int = 0
    statements: Counter[str] = field(default_factory=Counter)
    commits: int = 0
    rollbacks: int = 0
    checkouts: int = 0
    bot_requests: int = 0
    thread_hops: int = 0
    log_records: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # the whole process: the event loop and the database threads
    thread_hop_seconds: float = 0.0
    sql_seconds: float = 0.0
    commit_seconds: float = 0.0
    match_seconds: float = 0.0

    def per_update(self, value: float) -> float:
        return value / self.updates if self.updates else 0.0


class Meter:
    """Hooks into the engine, the pool, asyncio.to_thread, logging and the matcher; counts into
    whichever Tally is current."""

    def __init__(self, services: Services) -> None:
        self.tally = Tally()
        self.inline_sync_calls = False  # what if aiogram called plain filters in place
        engine = services.engine.sync_engine
        event.listen(engine, "before_cursor_execute", self._before_execute)
        event.listen(engine, "after_cursor_execute", self._after_execute)
        event.listen(engine, "commit", self._commit)
        event.listen(engine, "rollback", self._rollback)
        event.listen(engine.pool, "checkout", self._checkout)
        self._started: list[float] = []
        self._patch_to_thread()
        self._patch_commit()
        self._patch_matcher()
        logging.getLogger().addHandler(_Counting(self))

    def _before_execute(self, *args: Any) -> None:
        statement: str = args[2]
        self.tally.statements[statement.lstrip().split(None, 1)[0].upper()] += 1
        self._started.append(time.perf_counter())

    def _after_execute(self, *args: Any) -> None:
        self.tally.sql_seconds += time.perf_counter() - self._started.pop()

    def _commit(self, connection: Any) -> None:
        self.tally.commits += 1

    def _rollback(self, connection: Any) -> None:
        self.tally.rollbacks += 1

    def _checkout(self, *args: Any) -> None:
        self.tally.checkouts += 1

    def _patch_to_thread(self) -> None:
        # aiogram runs every plain (non-async) filter and handler in a worker thread.
        original = asyncio.to_thread
        meter = self

        async def counted(function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
            meter.tally.thread_hops += 1
            start = time.perf_counter()
            try:
                if meter.inline_sync_calls:
                    return function(*args, **kwargs)
                return await original(function, *args, **kwargs)
            finally:
                meter.tally.thread_hop_seconds += time.perf_counter() - start

        asyncio.to_thread = counted

    def _patch_commit(self) -> None:
        from sqlalchemy.ext.asyncio import AsyncSession

        original = AsyncSession.commit
        meter = self

        async def timed(session: AsyncSession) -> None:
            start = time.perf_counter()
            try:
                await original(session)
            finally:
                meter.tally.commit_seconds += time.perf_counter() - start

        AsyncSession.commit = timed  # type: ignore[method-assign,assignment]

    def _patch_matcher(self) -> None:
        original = Matcher.match
        meter = self

        def timed(matcher: Matcher, text: str, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(matcher, text, *args, **kwargs)
            finally:
                meter.tally.match_seconds += time.perf_counter() - start

        Matcher.match = timed  # type: ignore[method-assign,assignment]

    @contextmanager
    def measuring(self) -> Iterator[Tally]:
        self.tally = Tally()
        start, cpu = time.perf_counter(), time.process_time()
        yield self.tally
        self.tally.seconds = time.perf_counter() - start
        self.tally.cpu_seconds = time.process_time() - cpu


class _Counting(logging.Handler):
    def __init__(self, meter: Meter) -> None:
        super().__init__(logging.INFO)
        self.meter = meter

    def emit(self, record: logging.LogRecord) -> None:
        self.meter.tally.log_records += 1


@dataclass
class Kind:
    name: str
    run: Callable[[int], Awaitable[int]]  # the repetition's number -> updates it sent


def kinds(dispatcher: Dispatcher, bot: MockedBot, repeat: int) -> list[tuple[Kind, int]]:
    """The kinds of update to measure, each with how many times to run it."""
    ids = itertools.count(5_000_000)
    # Telegram numbers a bot's updates once for all its chats; tests/chat.py numbers each chat's
    # from 1. aiogram caches Update.event_type by update (hashed by its id), so repeated ids made
    # every new customer's first update compare whole updates field by field (3-4 ms of CPU).
    update_ids = itertools.count(1)

    def chat_with(user_id: int) -> PrivateChat:
        chat = PrivateChat(dispatcher, bot, user_id, "en")
        chat.ids = update_ids
        return chat

    questions = faq_questions()
    regular = chat_with(next(ids))

    async def new_customer_question(n: int) -> int:
        chat = chat_with(next(ids))
        await chat.say(questions[n % len(questions)])
        return 1

    async def returning_customer_question(n: int) -> int:
        await regular.say(questions[n % len(questions)])
        return 1

    async def unknown_question(n: int) -> int:
        await regular.say(UNKNOWN[n % len(UNKNOWN)])
        return 1

    async def order_lookup(n: int) -> int:
        chat = chat_with(next(ids))
        await chat.say(f"/order A-{1001 + n % 6}")
        return 1

    async def intake(n: int) -> int:
        chat = chat_with(next(ids))
        [choose] = await chat.say("/human")
        [asked] = await chat.press(choose, _labels(choose)[0])
        [order] = await chat.say("the parcel arrived with the box crushed")
        await chat.press(order, _labels(order)[0])
        return 4

    return [
        (Kind("FAQ question, new customer", new_customer_question), repeat),
        (Kind("FAQ question, returning customer", returning_customer_question), repeat),
        (Kind("unknown question (fallback), returning customer", unknown_question), repeat),
        (Kind("`/order A-100x`, new customer", order_lookup), repeat),
        (Kind("handoff intake, per step (4 steps)", intake), max(1, repeat // 4)),
    ]


def _labels(reply: SendMessage) -> list[str]:
    markup: Any = reply.reply_markup
    return [b.text for row in markup.inline_keyboard for b in row] if markup else []


async def measure(
    database: str, url: str, folder: Path, repeat: int, what_if: bool, only: str | None = None
) -> list[tuple[str, Tally]]:
    config = load_config(write_config(folder, "http://127.0.0.1:9", url), environ={})
    await import_sample_orders(folder)
    services = await create_services(config)
    bot = MockedBot()
    dispatcher = create_dispatcher(services)
    meter = Meter(services)
    results = []
    try:
        for kind, times in kinds(dispatcher, bot, repeat):
            if only is not None and only.lower() not in kind.name.lower():
                continue
            await kind.run(0)  # warm: first-use costs are not the update's
            before = len(bot.recorder.requests)
            with meter.measuring() as tally:
                for n in range(1, times + 1):
                    tally.updates += await kind.run(n)
            tally.bot_requests = len(bot.recorder.requests) - before
            results.append((kind.name, tally))
            print(f"  {database}: {kind.name}: {tally.per_update(tally.seconds) * 1000:.1f} ms")
        if what_if:
            results += await what_ifs(meter, bot, kinds(dispatcher, bot, repeat)[1][0], repeat)
    finally:
        await services.close()
    return results


async def what_ifs(
    meter: Meter, bot: MockedBot, kind: Kind, repeat: int
) -> list[tuple[str, Tally]]:
    """The same kind of update again with one cost taken away at a time, to weigh it. These
    only patch things inside this process (asyncio.to_thread, logging); kefu's code is as is."""

    async def run(name: str) -> tuple[str, Tally]:
        await kind.run(0)
        before = len(bot.recorder.requests)
        with meter.measuring() as tally:
            for n in range(1, repeat + 1):
                tally.updates += await kind.run(n)
        tally.bot_requests = len(bot.recorder.requests) - before
        return f"{kind.name}: {name}", tally

    results = [await run("as is, again")]
    meter.inline_sync_calls = True
    try:
        results.append(await run("what if plain filters ran in place (no thread hop)"))
    finally:
        meter.inline_sync_calls = False
    logging.disable(logging.CRITICAL)
    try:
        results.append(await run("what if nothing were logged"))
    finally:
        logging.disable(logging.NOTSET)
    return results


async def import_sample_orders(folder: Path) -> None:
    """The demo orders, through the same command the README gives."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(folder / "config.toml"), "orders",
        "import", str(Path(__file__).resolve().parent.parent / "storage" / "sample_orders.csv"),
        stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    await process.wait()


def table(database: str, results: list[tuple[str, Tally]]) -> str:
    lines = [
        f"**{database}**, per update (in-process, one at a time)",
        "",
        "| update | SQL statements | commits | pool checkouts | Telegram requests "
        "| log lines | ms | CPU ms | in SQL statements | in commit | thread hops: ms "
        "| in matching |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, t in results:
        total = sum(t.statements.values())
        verbs = ", ".join(f"{v} {t.per_update(n):.1f}" for v, n in t.statements.most_common())
        ms = 1000 * t.per_update(t.seconds)
        lines.append(
            f"| {name} | {t.per_update(total):.1f} ({verbs}) | {t.per_update(t.commits):.1f} "
            f"| {t.per_update(t.checkouts):.1f} | {t.per_update(t.bot_requests):.1f} "
            f"| {t.per_update(t.log_records):.1f} | {ms:.1f} "
            f"| {1000 * t.per_update(t.cpu_seconds):.1f} "
            f"| {1000 * t.per_update(t.sql_seconds):.1f} "
            f"| {1000 * t.per_update(t.commit_seconds):.1f} "
            f"| {t.per_update(t.thread_hops):.0f}: "
            f"{1000 * t.per_update(t.thread_hop_seconds):.1f} "
            f"| {1000 * t.per_update(t.match_seconds):.1f} |"
        )
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> None:
    postgres = args.database_url or os.environ.get("KEFU_BENCH_DATABASE_URL")
    tables = []
    with tempfile.TemporaryDirectory(prefix="kefu-costs-") as temporary:
        folder = Path(temporary)
        targets = [("SQLite", f"sqlite+aiosqlite:///{folder / 'kefu.db'}")]
        if postgres:
            targets.append(("PostgreSQL", postgres))
        for database, url in targets:
            if database == "PostgreSQL":
                await reset_postgres(url)
            run_folder = folder / database.lower()
            run_folder.mkdir()
            results = await measure(
                database, url, run_folder, args.repeat, args.what_if, args.only
            )
            tables.append(table(database, results))
    print()
    for text in tables:
        print(text)
        print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=100, help="updates per kind")
    parser.add_argument(
        "--what-if",
        action="store_true",
        help="weigh the thread hops and the logging by running without them",
    )
    parser.add_argument("--only", help="only the kinds of update whose name holds this")
    parser.add_argument("--database-url", help="PostgreSQL too (default $KEFU_BENCH_DATABASE_URL)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, handlers=[logging.NullHandler()])
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
