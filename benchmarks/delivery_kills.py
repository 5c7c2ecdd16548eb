"""Scheduled messages under `kill -9`: none lost, none sent twice.

    .venv/bin/python -m benchmarks.delivery_kills [--messages 2000] [--kills 100]
        [--window 1.0] [--seed 20] [--database-url URL] [--json FILE]

The schedule is filled with `--messages` surveys, all due now, one per customer. The real
`kefu run` (`python -m bot run`) then delivers them to a fake Telegram Bot API server on
127.0.0.1 (benchmarks/fake_telegram.py, which counts what reaches it per chat) and is killed
with SIGKILL `--kills` times, each time at a random moment within `--window` seconds of the
first survey of its run reaching Telegram, and started again on the same database (a fresh
SQLite file, or PostgreSQL with --database-url or $KEFU_BENCH_DATABASE_URL: its public schema
is dropped and recreated). A last run is left to finish and stopped cleanly. Then, per message:

- doubled: it reached Telegram more than once;
- lost: it never reached Telegram and is not `uncertain` (whatever its status: a message still
  pending or claimed after the last run, or recorded as sent, or anything else);
- uncertain: the process was killed after recording that the request was leaving, so the
  message is never sent again; counted apart, by whether the request reached Telegram (the
  kill came before the answer) or not (the kill came before the request arrived). Each kill can
  leave at most one message uncertain: one message is sent at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text

from benchmarks.fake_telegram import FakeTelegram, Reply
from benchmarks.throughput import clean_environment, reset_postgres
from storage.database import create_engine, migrate
from storage.models import Customer, ScheduledMessage

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "333333:KILLS-BENCH"
FIRST_CHAT = 100_000
SURVEY = "How did we do?"
STARTUP_SECONDS = 120.0
SETTLED = ("sent", "uncertain", "cancelled", "expired", "failed")


@dataclass
class Figures:
    database: str
    messages: int
    kills: int = 0
    received_once: int = 0
    doubled: int = 0
    lost: int = 0
    uncertain_received: int = 0  # killed after the request reached Telegram
    uncertain_in_flight: int = 0  # killed after recording `sending`, before it arrived
    statuses: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def table(self) -> str:
        uncertain = self.uncertain_received + self.uncertain_in_flight
        return (
            "| database | messages | kills | received once | doubled | lost | uncertain "
            "(reached Telegram / in flight) | time |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|\n"
            f"| {self.database} | {self.messages:,} | {self.kills} | {self.received_once:,} "
            f"| {self.doubled} | {self.lost} | {uncertain} ({self.uncertain_received} / "
            f"{self.uncertain_in_flight}) | {self.seconds:.0f} s |"
        )


def write_config(folder: Path, api_server: str, database_url: str) -> Path:
    """config.example.toml against the fake server, with every survey sendable now (no quiet
    hours: the run's real clock may be in them) and abandoned claims settled after 3 s."""
    config = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    replacements = {
        'token = ""': f'token = "{TOKEN}"',
        'api_server = ""': f'api_server = "{api_server}"',
        'path = "knowledge/sample"': f'path = "{ROOT / "knowledge" / "sample"}"',
        'url = "sqlite+aiosqlite:///data/kefu.db"': f'url = "{database_url}"',
        'quiet_hours = "21:00-09:00"': 'quiet_hours = ""',
        "poll_seconds = 5": "poll_seconds = 0.2",
        "claim_timeout_minutes = 10": "claim_timeout_minutes = 0.05",
    }
    for old, new in replacements.items():
        if old not in config:
            raise RuntimeError(f"{old!r} is no longer in config.example.toml")
        config = config.replace(old, new)
    path = folder / "config.toml"
    path.write_text(config, encoding="utf-8")
    return path


async def fill(database_url: str, messages: int) -> None:
    """`messages` customers, each with a survey due a minute ago."""
    engine = create_engine(database_url)
    await migrate(engine)
    now = datetime.now(UTC)
    async with engine.begin() as connection:
        await connection.execute(
            insert(Customer),
            [
                {"id": n + 1, "channel": "telegram", "external_id": str(FIRST_CHAT + n),
                 "language": "en", "first_seen": now, "last_seen": now,
                 "language_chosen": False, "surveys_opt_out": False}
                for n in range(messages)
            ],
        )  # fmt: skip
        await connection.execute(
            insert(ScheduledMessage),
            [
                {"key": f"survey:kills:{n}", "kind": "survey", "customer_id": n + 1,
                 "status": "pending", "created_at": now, "due_at": now - timedelta(minutes=1),
                 "expires_at": now + timedelta(days=3)}
                for n in range(messages)
            ],
        )  # fmt: skip
        if engine.dialect.name == "postgresql":  # ids were given: move the sequence past them
            await connection.execute(
                text("SELECT setval(pg_get_serial_sequence('customer', 'id'), :last)"),
                {"last": messages},
            )
    await engine.dispose()


async def statuses(database_url: str) -> dict[int, str]:
    """Each survey's status, by the customer's chat."""
    engine = create_engine(database_url)
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT c.external_id, s.status FROM scheduledmessage s "
                "JOIN customer c ON c.id = s.customer_id WHERE s.kind = 'survey'"
            )
        )
        found = {int(chat): str(status) for chat, status in rows}
    await engine.dispose()
    return found


async def unsent(database_url: str) -> int:
    """How many surveys may still be sent: pending or claimed (a claim left by a kill is
    pending again after claim_timeout)."""
    found = await statuses(database_url)
    return sum(status in ("pending", "claimed") for status in found.values())


async def start_kefu(config: Path, log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as output:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--config", str(config), "run",
            cwd=ROOT, stdout=output, stderr=asyncio.subprocess.STDOUT, env=clean_environment(),
        )  # fmt: skip


async def kill(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        os.kill(process.pid, signal.SIGKILL)
    await process.wait()


async def soak(
    database_url: str | None,
    folder: Path,
    *,
    messages: int,
    kills: int,
    window: float,
    seed: int,
    say: Callable[[str], None] = print,
) -> Figures:
    """Fill, kill `kills` times, finish cleanly, count."""
    url = database_url or f"sqlite+aiosqlite:///{folder / 'kefu.db'}"
    if database_url:
        await reset_postgres(database_url)
    await fill(url, messages)
    figures = Figures("PostgreSQL" if database_url else "SQLite", messages)
    server = FakeTelegram()
    api = await server.start()
    config = write_config(folder, api, url)
    log = folder / "kefu.log"
    received: Counter[int] = Counter()
    arrived = asyncio.Event()  # a survey reached the server in this run

    def count(token: str, reply: Reply) -> None:
        if reply.method == "sendmessage" and reply.text.startswith(SURVEY):
            received[reply.chat_id] += 1
            arrived.set()

    server.listen(count)
    chance = random.Random(seed)
    started = time.perf_counter()
    try:
        for run in range(kills):
            if not await unsent(url):
                say(f"nothing left to send after {run} kills")
                break
            arrived.clear()
            process = await start_kefu(config, log)
            try:
                await asyncio.wait_for(arrived.wait(), STARTUP_SECONDS)
            except TimeoutError:
                await kill(process)
                if not await unsent(url):  # what was left became uncertain: nothing to send
                    say(f"nothing left to send after {run} kills")
                    break
                raise RuntimeError(f"no survey within {STARTUP_SECONDS} s; see {log}") from None
            await asyncio.sleep(chance.uniform(0, window))
            await kill(process)
            figures.kills += 1
            if (run + 1) % 10 == 0:
                say(f"{run + 1} kills, {sum(received.values()):,} surveys received")
        polls = server.bot(TOKEN).polls
        process = await start_kefu(config, log)
        try:
            while True:  # the claims left by the last kill settle after claim_timeout
                found = await statuses(url)
                if all(status in SETTLED for status in found.values()):
                    break
                await asyncio.sleep(0.5)
            # stopped once it is up and polling (its signal handlers in place), a while after
            # anything sent twice would have arrived
            await asyncio.sleep(1.0)
            deadline = time.monotonic() + STARTUP_SECONDS
            while server.bot(TOKEN).polls == polls and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGINT)
            await asyncio.wait_for(process.wait(), 60)
    finally:
        await server.stop()
    figures.seconds = time.perf_counter() - started

    found = await statuses(url)
    figures.statuses = dict(Counter(found.values()))
    for chat, status in found.items():
        times = received[chat]
        if times > 1:
            figures.doubled += 1
        elif times == 1:
            figures.received_once += 1
        if status == "uncertain":
            if times:
                figures.uncertain_received += 1
            else:
                figures.uncertain_in_flight += 1
        elif times == 0:
            figures.lost += 1
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--window", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument(
        "--database-url", default=os.environ.get("KEFU_BENCH_DATABASE_URL"), help="PostgreSQL"
    )
    parser.add_argument("--keep", type=Path, help="a folder for the database and the log")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="kefu-kills-"))
    folder.mkdir(parents=True, exist_ok=True)
    figures = asyncio.run(
        soak(
            args.database_url,
            folder,
            messages=args.messages,
            kills=args.kills,
            window=args.window,
            seed=args.seed,
        )
    )
    print(figures.table())
    print("statuses:", figures.statuses, f"(log and database in {folder})")
    if args.json:
        args.json.write_text(json.dumps(asdict(figures), indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
