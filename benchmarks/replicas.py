"""Throughput of kefu in webhook mode: one `kefu run --webhook` process against two replicas
sharing PostgreSQL and Redis, under the same paced questions.

    .venv/bin/python -m benchmarks.replicas --database-url URL --redis-url URL
        [--rates 60,120] [--seconds 15] [--connections 10] [--keep DIR]

Everything talks over 127.0.0.1. The fake Bot API server of benchmarks/throughput.py receives
what kefu sends; in place of Telegram's webhook calls, a small poster in this process takes each
update as it is queued and posts it to the replicas in turn (round robin, as a proxy in front of
them would), with at most --connections posts in flight per replica (kefu asks Telegram for as
many as its database pool has connections). Both layouts run the same config: PostgreSQL (its
public schema dropped and recreated before each layout), forms in Redis and the send limit
shared through Redis; the send limit is raised to 1,000 a second so that the figures measure
kefu rather than Telegram's 30 (the shared limiter's two Redis calls per message still run).

Latency runs from the moment an update is queued to the moment kefu's reply reaches the fake
server; a reply is lost when none comes within --reply-timeout seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from benchmarks.fake_telegram import FakeTelegram
from benchmarks.throughput import (
    KEFU_TOKEN,
    ROOT,
    SETTLE_LIMIT,
    SETTLE_SECONDS,
    BotProcess,
    Collector,
    Result,
    _latency,
    apologies,
    clean_environment,
    describe_machine,
    faq_questions,
    language_of,
    reset_postgres,
    write_config,
)

SECRET = "bench-secret"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
STARTUP_SECONDS = 120.0


@dataclass
class Replica:
    bot: BotProcess
    port: int
    slots: asyncio.Semaphore

    @property
    def webhook(self) -> str:
        return f"http://127.0.0.1:{self.port}/telegram/webhook"


@dataclass
class Poster:
    """Telegram's side of the webhook: each queued update posted to the next replica."""

    server: FakeTelegram
    replicas: list[Replica]
    failures: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def run(self) -> None:
        state = self.server.bot(KEFU_TOKEN)
        turn = itertools.cycle(self.replicas)
        headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            while True:
                while not state.updates:
                    state.wake.clear()
                    await state.wake.wait()
                _, body = state.updates.popleft()
                replica = next(turn)
                await replica.slots.acquire()
                task = asyncio.create_task(self._post(http, replica, body, headers))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _post(
        self, http: aiohttp.ClientSession, replica: Replica, body: bytes, headers: dict[str, str]
    ) -> None:
        try:
            async with http.post(replica.webhook, data=body, headers=headers) as response:
                if response.status != 200:
                    self.failures += 1
        except aiohttp.ClientError:
            self.failures += 1
        finally:
            replica.slots.release()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def start_replica(folder: Path, base: str, number: int, connections: int) -> Replica:
    port = free_port()
    config = folder / f"replica{number}.toml"
    config.write_text(base.replace("port = 0", f"port = {port}"), encoding="utf-8")
    log_path = folder / f"replica{number}.log"
    command = [sys.executable, "-m", "bot", "--config", str(config), "run", "--webhook"]
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=clean_environment()
        )
    bot = BotProcess(f"replica{number}", KEFU_TOKEN, process, log_path)
    deadline = time.monotonic() + STARTUP_SECONDS
    async with aiohttp.ClientSession() as http:
        while True:
            if process.returncode is not None or time.monotonic() > deadline:
                await bot.stop()
                raise RuntimeError(f"replica {number} did not start:\n{log_path.read_text()}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{port}/readyz") as ready:
                    if ready.status == 200:
                        break
            await asyncio.sleep(0.2)
    return Replica(bot, port, asyncio.Semaphore(connections))


def replica_config(folder: Path, server: FakeTelegram, database: str, redis: str) -> str:
    path = write_config(folder, server.url, database)
    config = path.read_text(encoding="utf-8")
    for old, new in {
        'fsm_storage = "database"': 'fsm_storage = "redis"',
        '# redis_url = "redis://127.0.0.1:6379/0"': f'redis_url = "{redis}"',
        "max_sends_per_second = 30": "max_sends_per_second = 1000",
        'mode = "polling"': 'mode = "webhook"',
        'webhook_url = ""': 'webhook_url = "https://bench.example/telegram/webhook"',
        '# webhook_secret = ""': f'webhook_secret = "{SECRET}"',
    }.items():
        if old not in config:
            raise RuntimeError(f"{old!r} is no longer in config.example.toml")
        config = config.replace(old, new)
    return config


async def paced(
    server: FakeTelegram,
    collector: Collector,
    questions: list[str],
    rate: float,
    seconds: float,
    chats: list[int],
    timeout: float,
) -> None:
    start = time.perf_counter()
    for n in range(int(rate * seconds)):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        question = questions[n % len(questions)]
        chat = chats[n % len(chats)]
        at = server.push_message(KEFU_TOKEN, chat, question, language_code=language_of(question))
        collector.pushed(chat, at)
    await collector.wait_all(time.perf_counter() + timeout)


async def settle(server: FakeTelegram) -> None:
    state = server.bot(KEFU_TOKEN)
    limit = time.perf_counter() + SETTLE_LIMIT
    while time.perf_counter() < limit:
        if time.perf_counter() - state.last_send > SETTLE_SECONDS:
            return
        await asyncio.sleep(0.1)


@dataclass
class Row:
    layout: str
    result: Result
    failures: int


async def measure_layout(
    args: argparse.Namespace, server: FakeTelegram, folder: Path, count: int
) -> list[Row]:
    layout = "1 process" if count == 1 else f"{count} replicas"
    print(f"{layout}:", flush=True)
    await reset_postgres(args.database_url)
    from redis.asyncio import Redis

    redis = Redis.from_url(args.redis_url)
    for pattern in ("fsm:*", "kefu:sends:*"):
        async for key in redis.scan_iter(pattern):
            await redis.delete(key)
    await redis.aclose()
    layout_folder = folder / f"replicas-{count}"
    layout_folder.mkdir(parents=True, exist_ok=True)
    base = replica_config(layout_folder, server, args.database_url, args.redis_url)
    replicas = []
    rows: list[Row] = []
    customer_ids = itertools.count(10**7)
    questions = faq_questions()
    try:
        # one after the other: the first migrates the fresh database
        for number in range(count):
            replicas.append(await start_replica(layout_folder, base, number, args.connections))
        poster = Poster(server, replicas)
        posting = asyncio.create_task(poster.run())
        try:
            rates = [("warm-up", 10.0, 2.0)] + [
                (f"{rate} questions/s for {args.seconds:g} s", float(rate), args.seconds)
                for rate in args.rates
            ]
            for name, rate, seconds in rates:
                collector = Collector(KEFU_TOKEN, apologies(), args.reply_timeout)
                server.listen(collector.on_reply)
                failures_before = poster.failures
                cpu_before = sum(r.bot.cpu_seconds()[0] for r in replicas)
                chats = [next(customer_ids) for _ in range(200)]
                try:
                    await paced(
                        server, collector, questions, rate, seconds, chats, args.reply_timeout
                    )
                finally:
                    server.unlisten(collector.on_reply)
                    server.drop_pending(KEFU_TOKEN)
                await settle(server)
                result = collector.result(name, layout)
                result.cpu_seconds = sum(r.bot.cpu_seconds()[0] for r in replicas) - cpu_before
                if name == "warm-up":
                    continue
                row = Row(layout, result, poster.failures - failures_before)
                rows.append(row)
                print(
                    f"  {name}: {result.answered}/{result.updates}, "
                    f"{result.per_second:.0f}/s, p99 {_latency(result.percentile(0.99))}, "
                    f"lost {result.lost}, failed posts {row.failures}",
                    flush=True,
                )
        finally:
            posting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await posting
    finally:
        for replica in replicas:
            await replica.bot.stop()
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| layout | paced questions | handled/s | reply p50 / p99 | CPU ms per update "
        "(all processes) | errors shown | replies lost |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        result = row.result
        cpu = f"{1000 * result.cpu_seconds / result.updates:.1f}" if result.updates else "-"
        lines.append(
            f"| {row.layout} | {result.scenario} | {result.per_second:.0f} "
            f"| {_latency(result.percentile(0.5))} / {_latency(result.percentile(0.99))} "
            f"| {cpu} | {result.errors} | {result.lost} of {result.updates:,} |"
        )
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> int:
    server = FakeTelegram()
    await server.start()
    rows: list[Row] = []
    try:
        with tempfile.TemporaryDirectory(prefix="kefu-replicas-") as temporary:
            folder = Path(args.keep) if args.keep else Path(temporary)
            for count in (1, 2):
                rows += await measure_layout(args, server, folder, count)
    finally:
        await server.stop()
    print()
    shown = [re.sub(r"://[^/@]*@", "://***@", arg) for arg in sys.argv[1:]]
    print(f"`.venv/bin/python -m benchmarks.replicas {shlex.join(shown)}` ({describe_machine()})")
    print()
    print(table(rows))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", required=True, help="PostgreSQL; its schema is reset")
    parser.add_argument("--redis-url", required=True, help="Redis; kefu's keys are removed")
    parser.add_argument(
        "--rates",
        type=lambda text: [int(rate) for rate in text.split(",")],
        default=[60, 120],
        help="questions a second, e.g. 60,120",
    )
    parser.add_argument("--seconds", type=float, default=15.0, help="of each paced run")
    parser.add_argument("--connections", type=int, default=10, help="posts in flight per replica")
    parser.add_argument("--reply-timeout", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--keep", metavar="DIR", help="keep configs and logs in DIR")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
