"""How long a broadcast to 100,000 customers takes to start (Send: the draft claimed and one
scheduled message per customer written), next to the baseline of one ORM object per customer,
in the same run and on the same database.

    .venv/bin/python -m benchmarks.broadcast_start [--customers 100000] [--url URL]

Without --url (or $KEFU_BENCH_DATABASE_URL), a fresh SQLite file; a PostgreSQL URL's public
schema is dropped first. Figures go into the README.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text
from sqlmodel import col, delete, func, select

from bot.clock import SystemClock
from bot.config import load_config
from bot.incidents.broadcasts import Broadcasts
from bot.schedule.delivery import Schedule
from bot.texts import Texts
from storage.database import create_engine, create_session_factory, migrate
from storage.models import Customer, Order, OrderStatus, ScheduledKind, ScheduledMessage

ROOT = Path(__file__).resolve().parent.parent


def write_config(folder: Path, url: str) -> Path:
    example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    example = example.replace('url = "sqlite+aiosqlite:///data/kefu.db"', f'url = "{url}"')
    example = example.replace('quiet_hours = "21:00-09:00"', 'quiet_hours = ""')
    example = example.replace(
        'path = "knowledge/sample"', f'path = "{ROOT / "knowledge" / "sample"}"'
    )
    path = folder / "broadcast_bench.toml"
    path.write_text(example, encoding="utf-8")
    return path


async def fill(url: str, customers: int) -> None:
    """`customers` Telegram customers, half reading Chinese; every other one with a shipped
    order, the rest with a delivered one."""
    engine = create_engine(url)
    if url.startswith("postgresql"):
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
    await migrate(engine)
    now = datetime.now(UTC)
    async with engine.begin() as connection:
        for start in range(0, customers, 10_000):
            numbers = range(start, min(start + 10_000, customers))
            await connection.execute(
                insert(Customer),
                [
                    {"id": n + 1, "channel": "telegram", "external_id": str(10_000 + n),
                     "language": "zh" if n % 2 else "en", "first_seen": now, "last_seen": now,
                     "language_chosen": False, "surveys_opt_out": False,
                     "broadcasts_opt_out": n % 100 == 0}
                    for n in numbers
                ],
            )  # fmt: skip
            await connection.execute(
                insert(Order),
                [
                    {"number": f"B{n:07d}", "telegram_id": 10_000 + n, "items": "[]",
                     "status": OrderStatus.SHIPPED if n % 2 else OrderStatus.DELIVERED,
                     "carrier": "SF", "address": "浙江省杭州市", "ordered_at": now}
                    for n in numbers
                ],
            )  # fmt: skip
    await engine.dispose()


async def measure(url: str, customers: int, config_path: Path) -> None:
    config = load_config(config_path, environ={})
    clock = SystemClock()
    zone = config.hours.business_hours().zone
    broadcasts = Broadcasts(
        config, Schedule(config.schedule, clock, zone, "bench"), clock, Texts.load()
    )
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    print(f"{customers:,} customers on {url.split(':', 1)[0]}")
    for segment in ("everyone", "status=shipped"):
        async with sessions() as session:
            started = time.perf_counter()
            audience = await broadcasts.audience(session, segment)
            counted = time.perf_counter() - started
            draft, _ = await broadcasts.draft(session, segment, "通知", "Notice", "bench")
            assert draft.id is not None
            started = time.perf_counter()
            sent = await broadcasts.send(session, draft.id, "bench")
            await session.commit()
            took = time.perf_counter() - started
        print(
            f"  {segment:<15} preview (count) {counted:6.2f} s; Send: {sent.recipients:,} "
            f"messages scheduled in {took:6.2f} s (reached {audience.reachable:,})"
        )
    async with sessions() as session:
        await session.exec(delete(ScheduledMessage))
        await session.commit()
        ids = list((await session.exec(select(Customer.id))).all())
        now = clock.now()
        started = time.perf_counter()
        session.add_all(
            ScheduledMessage(
                key=f"baseline:{customer_id}",
                kind=ScheduledKind.BROADCAST,
                customer_id=customer_id,
                due_at=now,
                expires_at=now + timedelta(hours=48),
                created_at=now,
            )
            for customer_id in ids
            if customer_id is not None
        )
        await session.commit()
        took = time.perf_counter() - started
        count = (await session.exec(select(func.count(col(ScheduledMessage.id))))).one()
    print(f"  baseline, one ORM object per customer: {count:,} messages in {took:6.2f} s")
    await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--url", default=os.environ.get("KEFU_BENCH_DATABASE_URL"))
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the service's own lines ("broadcast=1 sent ...")
    with tempfile.TemporaryDirectory() as folder:
        url = args.url or f"sqlite+aiosqlite:///{Path(folder) / 'broadcast.db'}"
        await fill(url, args.customers)
        await measure(url, args.customers, write_config(Path(folder), url))


if __name__ == "__main__":
    asyncio.run(main())
