"""Throughput of the real `kefu run` under a busy day's traffic, beside an aiogram echo bot
measured in the same run against the same fake Telegram Bot API server.

    .venv/bin/python -m benchmarks.throughput [--quick] [--database-url URL]
        [--only a,b,c,d,memory] [--reply-timeout 60] [--json FILE]

Everything talks over 127.0.0.1: a fake Bot API server (benchmarks/fake_telegram.py) in this
process serves updates by long polling to two processes, kefu (`python -m bot run`, a fresh
SQLite file, then PostgreSQL when a URL is given by --database-url or $KEFU_BENCH_DATABASE_URL:
its public schema is dropped and recreated) and the echo bot (benchmarks/echo_bot.py).
Scenarios, each run against the echo bot and then kefu, back to back, so that both see the same
load on the machine:

(a) 1,000 FAQ questions pushed at once, from 1, 100 and 1,000 new customers;
(b) questions paced at 10, 30, 60 and 120 a second for 15 s (5 s with --quick);
(c) 60 simultaneous `/order A-100x` lookups (kefu only; the demo orders are imported first);
(d) 30 customers at once through the handoff intake: /human, a category button, a description,
    then skip (kefu only);
memory: RSS (VmRSS) after serving 10,000 distinct customers (2,000 with --quick).

A reply's latency runs from the moment its update is available to the bot (queued for getUpdates)
to the moment the bot's sendMessage reaches the server. Updates and replies are paired first in,
first out per chat. An error is a reply with kefu's apology (bot/locales: `error`); a reply is
lost when none comes within --reply-timeout seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from benchmarks.fake_telegram import FakeTelegram, Reply

ROOT = Path(__file__).resolve().parent.parent
KEFU_TOKEN = "222222:KEFU-BENCH"
ECHO_TOKEN = "111111:ECHO-BENCH"
AGENTS_GROUP = -1009000
AGENT = 9000
STARTUP_SECONDS = 120.0
SETTLE_SECONDS = 1.0  # no reply for this long: the bot has finished the previous scenario
SETTLE_LIMIT = 90.0
# Questions that would start a form (the intake, an order lookup, a return) are left out of the
# FAQ traffic: a customer in a form gets a different conversation, and after the intake their
# messages are relayed to agents with no reply at all. These words start the intake by themselves.
HUMAN_WORDS = ("人工", "真人", "投诉", "客服", "complain", "agent", "human")
ORDER_NUMBER = re.compile(r"[A-Z]-\d{4,}", re.IGNORECASE)
DESCRIPTION = "the parcel arrived with the box crushed and the shoes inside are scuffed"


def faq_questions() -> list[str]:
    """The sample shop's own test questions and its knowledge base's question variants, in
    Chinese and English, without those that lead into a form."""
    sample = ROOT / "knowledge" / "sample"
    questions: list[str] = []
    actions: set[str] = set()
    for path in sorted(sample.glob("*.yaml")):
        content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for entry in content.get("entries", []):
            if entry.get("action"):
                actions.add(entry["id"])
                continue
            for variants in entry.get("questions", {}).values():
                questions.extend(variants)
    cases = yaml.safe_load((ROOT / "knowledge" / "sample_cases.yaml").read_text("utf-8"))
    questions += [case["text"] for case in cases if case["expect"] not in actions]
    questions = [
        q
        for q in questions
        if not any(word in q.lower() for word in HUMAN_WORDS) and not ORDER_NUMBER.search(q)
    ]
    random.Random(20).shuffle(questions)  # a fixed order: runs stay comparable
    return questions


def apologies() -> tuple[str, ...]:
    """The start of kefu's "something went wrong" text in each language."""
    prefixes = []
    for path in sorted((ROOT / "bot" / "locales").glob("*.toml")):
        catalogue = tomllib.loads(path.read_text(encoding="utf-8"))
        prefixes.append(catalogue["error"].split("{")[0])
    return tuple(prefixes)


def language_of(text: str) -> str:
    return "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in text) else "en"


# The bots under test


@dataclass
class BotProcess:
    name: str
    token: str
    process: asyncio.subprocess.Process
    log_path: Path
    log_offset: int = 0
    probe_file: Path | None = None  # kefu runs through benchmarks.kefu_probe

    def cpu_seconds(self) -> tuple[float, float]:
        """CPU time used so far: the whole process, and its main thread (the event loop)."""
        ticks = os.sysconf("SC_CLK_TCK")

        def used(stat: Path) -> float:
            fields = stat.read_text().rpartition(")")[2].split()
            return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime

        pid = self.process.pid
        return used(Path(f"/proc/{pid}/stat")), used(Path(f"/proc/{pid}/task/{pid}/stat"))

    async def probe(self) -> dict[str, Any] | None:
        """A snapshot of the probe's figures (None when not probed)."""
        if self.probe_file is None:
            return None
        previous = -1
        if self.probe_file.exists():
            previous = json.loads(self.probe_file.read_text())["snapshot"]
        self.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            if self.probe_file.exists():
                figures = json.loads(self.probe_file.read_text())
                if figures["snapshot"] > previous:
                    return figures
        raise RuntimeError(f"{self.name}: no probe snapshot within 10 s")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024  # reported in kB
        raise RuntimeError(f"no VmRSS for {self.name}")

    def new_log(self) -> str:
        """What the bot logged since the last call."""
        with self.log_path.open("rb") as file:
            file.seek(self.log_offset)
            content = file.read()
        self.log_offset += len(content)
        return content.decode(errors="replace")

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


def clean_environment() -> dict[str, str]:
    """The environment without KEFU_* overrides, which would change the written config."""
    return {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}


async def start_bot(
    name: str,
    token: str,
    command: list[str],
    server: FakeTelegram,
    log_path: Path,
    probe_file: Path | None = None,
) -> BotProcess:
    """Start a bot process and wait for its first getUpdates."""
    state = server.bot(token)
    polls = state.polls
    environment = clean_environment()
    if probe_file is not None:
        environment["BENCH_PROBE_FILE"] = str(probe_file)
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=environment
        )
    bot = BotProcess(name, token, process, log_path, probe_file=probe_file)
    deadline = time.monotonic() + STARTUP_SECONDS
    while state.polls == polls:
        if process.returncode is not None or time.monotonic() > deadline:
            await bot.stop()
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{name} did not start polling:\n{tail}")
        await asyncio.sleep(0.05)
    return bot


def write_config(folder: Path, api_server: str, database_url: str) -> Path:
    """config.example.toml with the fake server, the database and an agents' group."""
    config = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    replacements = {
        'token = ""': f'token = "{KEFU_TOKEN}"',
        'api_server = ""': f'api_server = "{api_server}"',
        'path = "knowledge/sample"': f'path = "{ROOT / "knowledge" / "sample"}"',
        'url = "sqlite+aiosqlite:///data/kefu.db"': f'url = "{database_url}"',
        "group_id = 0": f"group_id = {AGENTS_GROUP}",
        "agents = []": f"agents = [{AGENT}]",
        # the bursts measure the message path, not the per-customer flood limit
        "messages_per_minute = 20": "messages_per_minute = 1000000",
        "burst = 10": "burst = 1000000",
        "port = 8080": "port = 0",  # the operations endpoints on any free port
        # Telegram's 30 messages a second per bot capped every burst at about 25 a second
        # since the send limit came in: the fake server has no such limit, nor has the echo
        # bot, so kefu's own work is measured without it (against Telegram it is the ceiling)
        "max_sends_per_second = 30": "max_sends_per_second = 1000000",
    }
    for old, new in replacements.items():
        if old not in config:
            raise RuntimeError(f"{old!r} is no longer in config.example.toml")
        config = config.replace(old, new)
    path = folder / "config.toml"
    path.write_text(config, encoding="utf-8")
    return path


async def reset_postgres(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


# Measuring


@dataclass
class Result:
    scenario: str
    bot: str
    updates: int
    answered: int = 0
    errors: int = 0
    lost: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list, repr=False)
    log_errors: int = 0
    causes: dict[str, int] = field(default_factory=dict)
    cpu_seconds: float = 0.0  # the bot process's CPU time during the scenario
    main_cpu_seconds: float = 0.0  # of which its main thread (the event loop)
    probe: dict[str, Any] | None = None  # what kefu_probe counted during the scenario

    @property
    def per_second(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0

    def percentile(self, share: float) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        del data["latencies"]
        data.update(
            per_second=round(self.per_second, 1),
            p50_ms=_ms(self.percentile(0.5)),
            p99_ms=_ms(self.percentile(0.99)),
        )
        return data


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


class Collector:
    """Pairs the replies to a set of chats with the updates pushed to them, first in, first
    out per chat, and keeps every reply for the flows that read buttons."""

    def __init__(self, token: str, apologies: tuple[str, ...], timeout: float) -> None:
        self.token = token
        self.apologies = apologies
        self.timeout = timeout
        self.pending: dict[int, deque[float]] = {}
        self.replies: dict[int, list[Reply]] = {}
        self.latencies: list[float] = []
        self.errors = 0
        self.expected = 0
        self.first_push = 0.0
        self.last_reply = 0.0
        self.changed = asyncio.Event()

    def pushed(self, chat_id: int, at: float) -> None:
        if not self.expected:
            self.first_push = at
        self.expected += 1
        self.pending.setdefault(chat_id, deque()).append(at)
        self.replies.setdefault(chat_id, [])

    def on_reply(self, token: str, reply: Reply) -> None:
        if token != self.token or reply.chat_id not in self.replies:
            return
        self.replies[reply.chat_id].append(reply)
        if reply.text.startswith(self.apologies):
            self.errors += 1
        waiting = self.pending[reply.chat_id]
        if waiting:
            latency = reply.at - waiting.popleft()
            if latency <= self.timeout:
                self.latencies.append(latency)
                self.last_reply = reply.at
        self.changed.set()

    @property
    def answered(self) -> int:
        return len(self.latencies)

    async def wait_all(self, deadline: float) -> None:
        """Until every pushed update has its reply, or the deadline (perf_counter) passes."""
        while self.answered < self.expected and time.perf_counter() < deadline:
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), deadline - time.perf_counter())

    async def next_reply(self, chat_id: int, after: int, deadline: float) -> Reply | None:
        """The first reply to `chat_id` past the first `after` ones."""
        while time.perf_counter() < deadline:
            replies = self.replies[chat_id]
            if len(replies) > after:
                return replies[after]
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), deadline - time.perf_counter())
        return None

    def result(self, scenario: str, bot: str) -> Result:
        seconds = self.last_reply - self.first_push if self.latencies else 0.0
        return Result(
            scenario,
            bot,
            self.expected,
            answered=self.answered,
            errors=self.errors,
            lost=self.expected - self.answered,
            seconds=seconds,
            latencies=self.latencies,
        )


@dataclass
class Bench:
    server: FakeTelegram
    questions: list[str]
    apologies: tuple[str, ...]
    reply_timeout: float
    profile_dir: Path | None = None
    echo: BotProcess | None = None
    customer_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(10**7))
    question_index: itertools.count[int] = field(default_factory=itertools.count)

    def customers(self, count: int) -> list[int]:
        """`count` customers the bots have never seen."""
        return [next(self.customer_ids) for _ in range(count)]

    def next_question(self) -> str:
        return self.questions[next(self.question_index) % len(self.questions)]

    async def measure(
        self,
        bot: BotProcess,
        scenario: str,
        run: Callable[[Collector], Awaitable[None]],
    ) -> Result:
        """Run one scenario against one bot, then wait for the bot to settle so that nothing
        spills into the next measurement."""
        collector = Collector(bot.token, self.apologies, self.reply_timeout)
        self.server.listen(collector.on_reply)
        bot.new_log()
        probe_before = await bot.probe()
        cpu_before, main_before = bot.cpu_seconds()
        profiler = await self.start_profiler(bot, scenario)
        try:
            await run(collector)
        finally:
            self.server.unlisten(collector.on_reply)
            self.server.drop_pending(bot.token)
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                await profiler.wait()
        await self.settle(bot)
        cpu_after, main_after = bot.cpu_seconds()
        probe_after = await bot.probe()
        result = collector.result(scenario, bot.name)
        result.cpu_seconds = cpu_after - cpu_before
        result.main_cpu_seconds = main_after - main_before
        if probe_before is not None and probe_after is not None:
            result.probe = probe_difference(probe_before, probe_after)
        result.log_errors, result.causes = log_errors(bot.new_log())
        return result

    async def start_profiler(
        self, bot: BotProcess, scenario: str
    ) -> asyncio.subprocess.Process | None:
        """py-spy on kefu for one scenario, with --profile: collapsed stacks per thread, one
        file per scenario. Non-blocking, so that sampling does not pause the process (its
        figures still run a little slower: the table of a profiled run is not the baseline)."""
        if self.profile_dir is None or bot is self.echo or scenario == "warm-up":
            return None
        slug = re.sub(r"[^a-z0-9]+", "-", f"{bot.name} {scenario}".lower()).strip("-")
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        return await asyncio.create_subprocess_exec(
            spy, "record", "--pid", str(bot.process.pid), "--format", "raw", "--threads",
            "--nolineno", "--nonblocking", "--rate", "200",
            "--output", str(self.profile_dir / f"{slug[:80]}.txt"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    async def settle(self, bot: BotProcess) -> None:
        state = self.server.bot(bot.token)
        limit = time.perf_counter() + SETTLE_LIMIT
        while time.perf_counter() < limit:
            if time.perf_counter() - state.last_send > SETTLE_SECONDS:
                return
            await asyncio.sleep(0.1)

    def paced(
        self, bot: BotProcess, rate: float, seconds: float, chats: list[int]
    ) -> Callable[[Collector], Awaitable[None]]:
        """`rate` questions a second for `seconds`, from `chats` in turn; all at once when
        `rate` is 0."""

        async def run(collector: Collector) -> None:
            count = len(chats) if rate == 0 else int(rate * seconds)
            start = time.perf_counter()
            for n in range(count):
                if rate:
                    delay = start + n / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                question = self.next_question()
                chat = chats[n % len(chats)]
                at = self.server.push_message(
                    bot.token, chat, question, language_code=language_of(question)
                )
                collector.pushed(chat, at)
            await collector.wait_all(time.perf_counter() + self.reply_timeout)

        return run

    def burst(
        self, bot: BotProcess, count: int, chats: list[int]
    ) -> Callable[[Collector], Awaitable[None]]:
        """`count` questions at once, spread over `chats` in turn."""
        senders = [chats[n % len(chats)] for n in range(count)]
        return self.paced(bot, 0, 0, senders)

    def messages(
        self, bot: BotProcess, texts: dict[int, str]
    ) -> Callable[[Collector], Awaitable[None]]:
        """One given message from each chat, at once."""

        async def run(collector: Collector) -> None:
            for chat, message in texts.items():
                collector.pushed(chat, self.server.push_message(bot.token, chat, message))
            await collector.wait_all(time.perf_counter() + self.reply_timeout)

        return run

    def intakes(self, bot: BotProcess, chats: list[int]) -> Callable[[Collector], Awaitable[None]]:
        """Each chat at once through /human, a category, a description and skip; every step
        waits for the bot's reply to the one before, as a customer would."""
        server = self.server

        async def intake(collector: Collector, chat: int) -> None:
            deadline = time.perf_counter() + self.reply_timeout * 2
            seen = 0

            async def step(push: Callable[[], float]) -> Reply | None:
                nonlocal seen
                collector.pushed(chat, push())
                reply = await collector.next_reply(chat, seen, deadline)
                if reply is not None:
                    seen = len(collector.replies[chat])
                    if reply.text.startswith(self.apologies):
                        return None
                return reply

            choose = await step(lambda: server.push_message(bot.token, chat, "/human"))
            if choose is None or not choose.buttons():
                return
            category = choose.buttons()[0]["callback_data"]
            asked = await step(lambda: server.push_callback(bot.token, chat, category, choose))
            if asked is None:
                return
            order = await step(lambda: server.push_message(bot.token, chat, DESCRIPTION))
            if order is None or not order.buttons():
                return
            skip = order.buttons()[0]["callback_data"]
            await step(lambda: server.push_callback(bot.token, chat, skip, order))

        async def run(collector: Collector) -> None:
            await asyncio.gather(*(intake(collector, chat) for chat in chats))

        return run


def probe_difference(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What happened between two snapshots of kefu_probe's figures."""
    difference: dict[str, Any] = {}
    for key, value in after.items():
        if key == "statements":
            counted = Counter(value)
            counted.subtract(before[key])
            difference[key] = {verb: n for verb, n in counted.items() if n}
        elif key in ("longest_transaction", "most_checked_out"):
            difference[key] = value  # the peak since the previous snapshot
        else:
            difference[key] = value - before.get(key, 0)
    return difference


def log_errors(log: str) -> tuple[int, dict[str, int]]:
    """ERROR lines, and the exceptions named in tracebacks, in what a bot logged."""
    count = sum(1 for line in log.splitlines() if " ERROR " in line)
    causes: Counter[str] = Counter()
    for match in re.finditer(r"^([A-Za-z_][\w.]*(?:Error|Exception|Timeout)\b.*)$", log, re.M):
        cause = match[1]
        if re.match(r"sqlalchemy\.exc\.\w+: \(", cause):
            continue  # SQLAlchemy's wrapper of a driver's error, which is counted already
        cause = re.sub(r"\s*\(Background on this error at:.*$", "", cause)
        causes[cause[:150]] += 1
    return count, dict(causes.most_common(5))


# The run


@dataclass
class Plan:
    burst: int = 1000
    burst_senders: tuple[int, ...] = (1, 100, 1000)
    rates: tuple[int, ...] = (10, 30, 60, 120)
    paced_seconds: float = 15.0
    paced_customers: int = 200
    orders: int = 60
    intakes: int = 30
    memory_customers: int = 10_000
    memory_batch: int = 1000
    only: frozenset[str] = frozenset({"a", "b", "c", "d", "memory"})
    probe: bool = False

    @classmethod
    def quick(cls) -> Plan:
        return cls(paced_seconds=5.0, memory_customers=2000)


@dataclass
class DatabaseRun:
    database: str
    results: list[tuple[Result | None, Result]] = field(default_factory=list)  # (echo, kefu)
    rss_start_mb: float = 0.0
    rss_after_mb: float = 0.0
    echo_rss_start_mb: float = 0.0
    echo_rss_after_mb: float = 0.0
    customers_served: int = 0  # answered, apologies included
    memory_errors: int = 0  # apologies among them
    memory_lost: int = 0


async def run_database(
    bench: Bench, echo: BotProcess, database: str, url: str, folder: Path, plan: Plan
) -> DatabaseRun:
    server = bench.server
    config = write_config(folder, server.url, url)
    python = sys.executable
    importing = await asyncio.create_subprocess_exec(
        python, "-m", "bot", "--config", str(config), "orders", "import",
        str(ROOT / "storage" / "sample_orders.csv"),
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=clean_environment(),
    )  # fmt: skip
    _, stderr = await importing.communicate()
    if importing.returncode:
        raise RuntimeError(f"kefu orders import failed: {stderr.decode()[-2000:]}")
    module, probe_file = "bot", None
    if plan.probe:
        module, probe_file = "benchmarks.kefu_probe", folder / "probe.json"
    command = [python, "-m", module, "--config", str(config), "run"]
    kefu = await start_bot(
        f"kefu-{database}", KEFU_TOKEN, command, server, folder / "kefu.log", probe_file
    )
    run = DatabaseRun(database)
    try:
        await warm_up(bench, kefu)
        run.rss_start_mb = kefu.rss_mb()
        run.echo_rss_start_mb = echo.rss_mb()
        await run_scenarios(bench, echo, kefu, plan, run)
    finally:
        await kefu.stop()
    return run


async def warm_up(bench: Bench, bot: BotProcess) -> None:
    """A few questions first, so that first-use costs (lazy imports, the first connections)
    are not counted in the first scenario."""
    await bench.measure(bot, "warm-up", bench.burst(bot, 20, bench.customers(5)))


def burst_of(
    bench: Bench, count: int, senders: int, bot: BotProcess
) -> Callable[[Collector], Awaitable[None]]:
    return bench.burst(bot, count, bench.customers(senders))


def paced_at(
    bench: Bench, rate: int, seconds: float, customers: int, bot: BotProcess
) -> Callable[[Collector], Awaitable[None]]:
    return bench.paced(bot, rate, seconds, bench.customers(customers))


async def run_scenarios(
    bench: Bench, echo: BotProcess, kefu: BotProcess, plan: Plan, run: DatabaseRun
) -> None:
    async def both(
        name: str, scenario: Callable[[BotProcess], Callable[[Collector], Awaitable[None]]]
    ) -> None:
        echo_result = await bench.measure(echo, name, scenario(echo))
        kefu_result = await bench.measure(kefu, name, scenario(kefu))
        run.results.append((echo_result, kefu_result))
        show_progress(echo_result)
        show_progress(kefu_result)

    async def kefu_only(name: str, scenario: Callable[[Collector], Awaitable[None]]) -> None:
        result = await bench.measure(kefu, name, scenario)
        run.results.append((None, result))
        show_progress(result)

    if "a" in plan.only:
        for senders in plan.burst_senders:
            name = f"(a) {plan.burst:,} questions at once from {senders:,} customer" + (
                "s" if senders > 1 else ""
            )
            await both(name, partial(burst_of, bench, plan.burst, senders))
    if "b" in plan.only:
        for rate in plan.rates:
            name = f"(b) {rate} questions/s for {plan.paced_seconds:g} s"
            await both(
                name,
                partial(paced_at, bench, rate, plan.paced_seconds, plan.paced_customers),
            )
    if "c" in plan.only:
        numbers = [f"A-{1001 + n % 6}" for n in range(plan.orders)]
        chats = bench.customers(plan.orders)
        orders = {chat: f"/order {number}" for chat, number in zip(chats, numbers, strict=True)}
        await kefu_only(
            f"(c) {plan.orders} `/order` lookups at once", bench.messages(kefu, orders)
        )
    if "d" in plan.only:
        name = f"(d) {plan.intakes} handoff intakes at once (4 steps each)"
        await kefu_only(name, bench.intakes(kefu, bench.customers(plan.intakes)))
    if "memory" in plan.only:
        served = 0
        for start in range(0, plan.memory_customers, plan.memory_batch):
            count = min(plan.memory_batch, plan.memory_customers - start)
            for bot in (echo, kefu):
                result = await bench.measure(
                    bot, "memory", bench.burst(bot, count, bench.customers(count))
                )
                if bot is kefu:
                    served += result.answered
                    run.memory_errors += result.errors
                    run.memory_lost += result.lost
        run.customers_served = served
        run.rss_after_mb = kefu.rss_mb()
        run.echo_rss_after_mb = echo.rss_mb()
        print(f"  memory: kefu {run.rss_after_mb:.0f} MB after {served:,} customers", flush=True)


def show_progress(result: Result) -> None:
    p99 = _latency(result.percentile(0.99))
    print(
        f"  {result.bot:>16} {result.scenario}: {result.answered}/{result.updates} in "
        f"{result.seconds:.1f} s, {result.per_second:.0f}/s, p99 {p99}, errors {result.errors}, "
        f"lost {result.lost}, log errors {result.log_errors}",
        flush=True,
    )


# The report


def _latency(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 1:
        return f"{seconds:.1f} s"
    milliseconds = seconds * 1000
    return f"{milliseconds:.0f} ms" if milliseconds >= 10 else f"{milliseconds:.1f} ms"


def table(run: DatabaseRun) -> str:
    lines = [
        f"**kefu on {run.database}**",
        "",
        "| scenario | echo: handled/s | echo: p50 / p99 | kefu: handled/s | kefu: p50 / p99 "
        "| kefu ÷ echo | CPU ms per update: echo / kefu (its event loop) | errors shown "
        "| replies lost |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for echo, kefu in run.results:
        cpu = "-"
        if kefu.updates:
            cpu = (
                f"{1000 * kefu.cpu_seconds / kefu.updates:.1f} "
                f"(loop {1000 * kefu.main_cpu_seconds / kefu.updates:.1f})"
            )
        if echo is not None:
            echo_rate = f"{echo.per_second:.0f}"
            echo_latency = f"{_latency(echo.percentile(0.5))} / {_latency(echo.percentile(0.99))}"
            ratio = f"{kefu.per_second / echo.per_second:.0%}" if echo.per_second else "-"
            cpu = f"{1000 * echo.cpu_seconds / echo.updates:.1f} / {cpu}"
        else:
            echo_rate = echo_latency = ratio = "-"
        lost = f"{kefu.lost} of {kefu.updates:,}"
        if echo is not None and echo.lost:
            lost += f" (echo: {echo.lost})"
        lines.append(
            f"| {kefu.scenario} | {echo_rate} | {echo_latency} | {kefu.per_second:.0f} "
            f"| {_latency(kefu.percentile(0.5))} / {_latency(kefu.percentile(0.99))} "
            f"| {ratio} | {cpu} | {kefu.errors} | {lost} |"
        )
    if run.customers_served:
        lines += [
            "",
            f"Memory (VmRSS): kefu {run.rss_after_mb:.0f} MB after serving "
            f"{run.customers_served:,} distinct customers, in bursts of "
            f"{Plan.memory_batch:,} ({run.memory_errors:,} of them got the apology, "
            f"{run.memory_lost:,} no reply; {run.rss_start_mb:.0f} MB after "
            f"start-up); the echo bot {run.echo_rss_after_mb:.0f} MB "
            f"({run.echo_rss_start_mb:.0f} MB before this database's scenarios).",
        ]
    causes: Counter[str] = Counter()
    logged = 0
    for _, kefu in run.results:
        logged += kefu.log_errors
        causes.update(kefu.causes)
    if logged:
        named = "; ".join(f"{cause} ×{n}" for cause, n in causes.most_common(5))
        lines += ["", f"kefu logged {logged} ERROR lines in these scenarios: {named}."]
    return "\n".join(lines)


def probe_table(run: DatabaseRun) -> str:
    """What kefu_probe counted inside kefu, per update of each scenario."""
    lines = [
        f"**Inside kefu on {run.database}** (`--probe`), per update",
        "",
        "| scenario | SQL statements | commits | transaction open, mean | writing transaction "
        "from first write to commit | time in SQL statements | longest transaction "
        "| peak connections |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for _, kefu in run.results:
        probe = kefu.probe
        if probe is None or not kefu.updates:
            continue
        n = kefu.updates
        statements = Counter(probe["statements"])
        verbs = ", ".join(f"{verb} {count / n:.1f}" for verb, count in statements.most_common(4))
        transactions = probe["transactions"] or 1
        lines.append(
            f"| {kefu.scenario} | {statements.total() / n:.1f} ({verbs}) "
            f"| {probe['commits'] / n:.1f} "
            f"| {_latency(probe['transaction_seconds'] / transactions)} "
            f"| {_latency(probe['write_seconds'] / (probe['write_transactions'] or 1))} "
            f"| {_latency(probe['statement_seconds'] / n)} "
            f"| {_latency(probe['longest_transaction'])} | {probe['most_checked_out']} |"
        )
    return "\n".join(lines)


def describe_machine() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        commit = "?"
    return (
        f"commit {commit or '?'}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )


def shown_command(argv: list[str]) -> str:
    """The command as typed, with a database URL's password hidden."""
    shown = [re.sub(r"(://[^:/@]+:)[^@]+@", r"\1***@", arg) for arg in argv]
    return ".venv/bin/python -m benchmarks.throughput " + shlex.join(shown)


async def main_async(args: argparse.Namespace) -> int:
    plan = Plan.quick() if args.quick else Plan()
    if args.only:
        plan.only = frozenset(args.only.split(","))
    plan.probe = args.probe
    databases: list[tuple[str, str | None]] = [("SQLite", None)]
    postgres = args.database_url or os.environ.get("KEFU_BENCH_DATABASE_URL")
    if postgres:
        databases.append(("PostgreSQL", postgres))
    server = FakeTelegram()
    await server.start()
    bench = Bench(server, faq_questions(), apologies(), args.reply_timeout)
    if args.profile:
        bench.profile_dir = Path(args.profile)
        bench.profile_dir.mkdir(parents=True, exist_ok=True)
    runs: list[DatabaseRun] = []
    with tempfile.TemporaryDirectory(prefix="kefu-bench-") as temporary:
        folder = Path(args.keep) if args.keep else Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        echo_command = [sys.executable, "-m", "benchmarks.echo_bot", server.url, ECHO_TOKEN]
        echo = await start_bot("echo", ECHO_TOKEN, echo_command, server, folder / "echo.log")
        bench.echo = echo
        try:
            await warm_up(bench, echo)
            for database, url in databases:
                print(f"kefu on {database}:", flush=True)
                if url is None:
                    url = f"sqlite+aiosqlite:///{folder / 'kefu.db'}"
                else:
                    await reset_postgres(url)
                run_folder = folder / database.lower()
                run_folder.mkdir(exist_ok=True)
                runs.append(await run_database(bench, echo, database, url, run_folder, plan))
        finally:
            await echo.stop()
            await server.stop()
    print()
    print(f"`{shown_command(sys.argv[1:])}` ({describe_machine()})")
    for run in runs:
        print()
        print(table(run))
        if plan.probe:
            print()
            print(probe_table(run))
    if not postgres:
        print("\n(PostgreSQL skipped: give --database-url or $KEFU_BENCH_DATABASE_URL)")
    if args.json:
        figures = [
            {
                "database": run.database,
                "results": [
                    {"echo": e.summary() if e else None, "kefu": k.summary()}
                    for e, k in run.results
                ],
                "rss_start_mb": run.rss_start_mb,
                "rss_after_mb": run.rss_after_mb,
                "echo_rss_after_mb": run.echo_rss_after_mb,
                "customers_served": run.customers_served,
                "memory_errors": run.memory_errors,
                "memory_lost": run.memory_lost,
            }
            for run in runs
        ]
        Path(args.json).write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="5 s paced runs, 2,000 customers")
    parser.add_argument(
        "--database-url",
        help="PostgreSQL (postgresql+asyncpg://...) for the second table; its public schema is "
        "dropped and recreated (default: $KEFU_BENCH_DATABASE_URL; none: SQLite only)",
    )
    parser.add_argument("--only", help="scenarios to run, e.g. a,b (a, b, c, d, memory)")
    parser.add_argument("--reply-timeout", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument(
        "--profile", metavar="DIR", help="record kefu with py-spy during each scenario into DIR"
    )
    parser.add_argument(
        "--probe",
        action="store_true",
        help="run kefu through benchmarks.kefu_probe and add its SQL figures per update",
    )
    parser.add_argument("--keep", metavar="DIR", help="keep configs, databases and logs in DIR")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
