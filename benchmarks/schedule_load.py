"""The schedule under load: start-up and memory with 100,000 pending scheduled messages, next to
an empty database in the same run, and due messages sent at Telegram's rate without drift.

    .venv/bin/python -m benchmarks.schedule_load [--pending 100000] [--due 300]

Telegram is replaced by a bot whose send_message returns at once, so that what is measured is
the service's own pacing. Figures go into the README.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bot.app import Services, create_services
from bot.config import load_config
from storage.database import create_engine, migrate
from storage.models import Customer, ScheduledMessage

ROOT = Path(__file__).resolve().parent.parent


class InstantBot:
    """Accepts every message at once and remembers when."""

    def __init__(self) -> None:
        self.sent_at: list[float] = []

    async def send_message(self, chat_id: int, text: str, **options: Any) -> None:
        self.sent_at.append(time.perf_counter())


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024


def write_config(folder: Path, database: Path) -> Path:
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    text = text.replace(
        'url = "sqlite+aiosqlite:///data/kefu.db"', f'url = "sqlite+aiosqlite:///{database}"'
    )
    text = text.replace('quiet_hours = "21:00-09:00"', 'quiet_hours = ""')
    text = text.replace('path = "knowledge/sample"', f'path = "{ROOT / "knowledge" / "sample"}"')
    path = folder / f"{database.stem}.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def fill(database: Path, pending: int, due: int) -> None:
    """`pending` customers with a survey due next week, and `due` with one due now."""
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    await migrate(engine)
    now = datetime.now(UTC)
    total = pending + due
    async with engine.begin() as connection:
        for start in range(0, total, 10_000):
            numbers = range(start, min(start + 10_000, total))
            await connection.execute(
                insert(Customer),
                [
                    {"id": n + 1, "channel": "telegram", "external_id": str(10_000 + n),
                     "language": "en", "first_seen": now, "last_seen": now,
                     "language_chosen": False, "surveys_opt_out": False}
                    for n in numbers
                ],
            )  # fmt: skip
            await connection.execute(
                insert(ScheduledMessage),
                [
                    {"key": f"survey:bench:{n}", "kind": "survey", "customer_id": n + 1,
                     "status": "pending", "created_at": now,
                     "due_at": now - timedelta(minutes=1) if n < due else now + timedelta(days=7),
                     "expires_at": now + timedelta(days=10)}
                    for n in numbers
                ],
            )  # fmt: skip
    await engine.dispose()


async def start_and_poll(config: Path) -> tuple[Services, float, float]:
    """Start the services and run one delivery round with nothing due."""
    before = rss_mb()
    started = time.perf_counter()
    services = await create_services(load_config(config, environ={}))
    await services.delivery.deliver_due(InstantBot())  # type: ignore[arg-type]
    return services, time.perf_counter() - started, rss_mb() - before


async def main(pending: int, due: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        empty, full = Path(folder) / "empty.db", Path(folder) / "full.db"
        await fill(empty, 0, 0)
        await fill(full, pending, 0)
        warm_up, _, _ = await start_and_poll(write_config(Path(folder), empty))
        await warm_up.close()  # imports and first-time setup, not counted below
        rows = []
        for name, database in (("empty database", empty), (f"{pending:,} pending", full)):
            services, seconds, memory = await start_and_poll(write_config(Path(folder), database))
            rows.append((name, seconds, memory))
            await services.close()
        print("| database | start + first delivery round | memory added |")
        print("|---|---|---|")
        for name, seconds, memory in rows:
            print(f"| {name} | {seconds:.2f} s | {memory:.0f} MB |")

        paced = Path(folder) / "paced.db"
        await fill(paced, pending, due)
        services = await create_services(
            load_config(write_config(Path(folder), paced), environ={})
        )
        bot = InstantBot()
        before = rss_mb()
        started = time.perf_counter()
        sent = await services.delivery.deliver_due(bot)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - started
        await services.close()
        per_second = services.config.schedule.messages_per_second
        ideal = (sent - 1) // per_second  # a full second's allowance at once, then the next
        busiest = max(  # 1 ms of tolerance for the timer
            sum(1 for t in bot.sent_at if first <= t < first + 0.999) for first in bot.sent_at
        )
        print()
        print(f"{sent} due messages among {pending:,} pending: sent in {elapsed:.2f} s "
              f"(at {per_second}/s the ideal is {ideal} s, drift {elapsed - ideal:+.2f} s); "
              f"busiest second {busiest}; memory added {rss_mb() - before:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=300)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.pending, arguments.due))
