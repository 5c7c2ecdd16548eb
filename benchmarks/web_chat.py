"""The web chat under 1,000 visitors at once: `kefu web` against a bare aiohttp WebSocket echo
server measured in the same run, on 127.0.0.1.

    .venv/bin/python -m benchmarks.web_chat [--visitors 1000] [--database-url URL]
        [--reply-timeout 120] [--json FILE]

Each visitor opens /chat (its cookie), then its WebSocket (/chat/socket), as a browser's page
does; once all of them are connected, each asks one question of the sample shop's knowledge
base, all at once, and waits for the bot's answer. A visitor's latency runs from sending its
question to receiving the bot's first message (the page's own echo of the question comes
before it and is not counted). The baseline, `python -m benchmarks.web_chat --echo-server PORT`,
answers each question at once with the same frames (the echo, the answer, "done"), so the
difference is kefu's work: the cookie, the dispatcher, the knowledge base, the database.

Memory is the server process's VmRSS: when it has started, with every socket open, and after
answering. kefu runs with a fresh SQLite file (or the PostgreSQL of --database-url, whose public
schema is dropped and recreated), the sample knowledge base, and [web] ip_messages_per_minute
raised out of the way: every visitor here comes from 127.0.0.1, which the per-address limit
would otherwise (rightly) refuse after its burst.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shlex
import signal
import socket
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from benchmarks.throughput import apologies, faq_questions

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 120.0
CONNECT_AT_ONCE = 100  # handshakes in flight at a time while the visitors arrive
CLOSED = "\0closed"  # what a visitor whose socket the server closed got


# The baseline: a bare aiohttp WebSocket server speaking the page's protocol


async def echo_socket(request: web.Request) -> web.WebSocketResponse:
    socket_ = web.WebSocketResponse()
    await socket_.prepare(request)
    await socket_.send_json({"type": "history", "messages": []})
    number = 0
    async for frame in socket_:
        if frame.type != WSMsgType.TEXT:
            continue
        asked = json.loads(frame.data)
        number += 2
        await socket_.send_json({"type": "message", "id": number - 1, "from": "visitor",
                                 "text": asked.get("text", ""), "buttons": []})  # fmt: skip
        await socket_.send_json({"type": "message", "id": number, "from": "bot",
                                 "text": asked.get("text", ""), "buttons": []})  # fmt: skip
        await socket_.send_json({"type": "done"})
    return socket_


async def echo_page(request: web.Request) -> web.Response:
    response = web.Response(text="<!doctype html><title>echo</title>", content_type="text/html")
    response.set_cookie("kefu_visitor", "1.echo", httponly=True, path="/chat")
    return response


def serve_echo(port: int) -> None:
    app = web.Application()
    app.router.add_get("/chat", echo_page)
    app.router.add_get("/chat/socket", echo_socket)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# The servers under test


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    process: asyncio.subprocess.Process
    address: str
    log_path: Path

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmRSS for {self.name}")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if server.process.returncode is not None:
                log = server.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{server.name} stopped at start:\n{log}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{server.address}/chat") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.25)
    raise RuntimeError(f"{server.name} did not start within {STARTUP_SECONDS:.0f} s")


async def start_echo(folder: Path) -> Server:
    port = free_port()
    log_path = folder / "echo.log"
    with log_path.open("w") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.web_chat", "--echo-server", str(port),
            cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
    server = Server("echo", process, f"http://127.0.0.1:{port}", log_path)
    await wait_until_up(server)
    return server


async def reset_postgres(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


async def start_kefu(folder: Path, database_url: str | None, visitors: int) -> Server:
    port = free_port()
    url = database_url or f"sqlite+aiosqlite:///{folder}/kefu.db"
    if database_url:
        await reset_postgres(database_url)
    config = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    for old, new in {
        'path = "knowledge/sample"': f'path = "{ROOT / "knowledge" / "sample"}"',
        'url = "sqlite+aiosqlite:///data/kefu.db"': f'url = "{url}"',
        "port = 8080": f"port = {port}",
        '# secret = ""': 'secret = "web-chat-benchmark"',
        # every visitor here comes from 127.0.0.1 (see the docstring)
        "ip_messages_per_minute = 120": f"ip_messages_per_minute = {visitors * 10}",
        "ip_burst = 60": f"ip_burst = {visitors * 2}",
    }.items():
        if old not in config:
            raise RuntimeError(f"config.example.toml has no {old!r}")
        config = config.replace(old, new)
    (folder / "config.toml").write_text(config, encoding="utf-8")
    log_path = folder / "kefu.log"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    with log_path.open("w") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--config", str(folder / "config.toml"), "web",
            cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=log, env=environment,
        )  # fmt: skip
    server = Server("kefu", process, f"http://127.0.0.1:{port}", log_path)
    await wait_until_up(server)
    return server


# The visitors


@dataclass
class Run:
    server: str
    visitors: int
    connected: int = 0
    answered: int = 0
    apologies: int = 0
    lost: int = 0  # no answer within --reply-timeout, or the socket closed (of which:)
    closed: int = 0
    connect_seconds: float = 0.0
    seconds: float = 0.0  # from the first question to the last answer
    rss_start_mb: float = 0.0
    rss_connected_mb: float = 0.0
    rss_after_mb: float = 0.0
    cpu_seconds: float = 0.0  # the server's, during the questions
    latencies: list[float] = field(default_factory=list)

    def percentile(self, share: float) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        del data["latencies"]
        p50, p99 = self.percentile(0.5), self.percentile(0.99)
        data.update(
            per_second=round(self.answered / self.seconds, 1) if self.seconds else 0.0,
            p50_ms=None if p50 is None else round(p50 * 1000, 1),
            p99_ms=None if p99 is None else round(p99 * 1000, 1),
        )
        return data


class Visitor:
    def __init__(self, http: aiohttp.ClientSession, address: str, question: str) -> None:
        self.http = http
        self.address = address
        self.question = question
        self.socket: aiohttp.ClientWebSocketResponse | None = None

    async def connect(self) -> None:
        async with self.http.get(f"{self.address}/chat") as response:
            response.raise_for_status()
            cookie = response.cookies["kefu_visitor"].value
        self.socket = await self.http.ws_connect(
            f"{self.address}/chat/socket?lang=en",
            headers={"Origin": self.address, "Cookie": f"kefu_visitor={cookie}"},
            heartbeat=None,
        )
        first = await self.socket.receive_json()
        assert first["type"] == "history"

    async def ask(self, timeout: float) -> tuple[float | None, str]:
        """The seconds to the bot's first message, and its text (None when none came)."""
        assert self.socket is not None
        started = time.perf_counter()
        await self.socket.send_json({"type": "write", "text": self.question})
        try:
            async with asyncio.timeout(timeout):
                while True:
                    received = await self.socket.receive()
                    if received.type != WSMsgType.TEXT:  # the server closed the socket
                        return None, CLOSED
                    frame = json.loads(received.data)
                    if frame.get("type") == "message" and frame.get("from") == "bot":
                        return time.perf_counter() - started, frame.get("text", "")
                    if frame.get("type") in ("refused", "done"):
                        return None, frame.get("text", "")
        except TimeoutError:
            return None, ""

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()


async def measure(server: Server, visitors: int, timeout: float) -> Run:
    run = Run(server.name, visitors, rss_start_mb=server.rss_mb())
    questions = faq_questions()
    connector = aiohttp.TCPConnector(limit=0)
    # one client session for all, its cookies set by hand: 1,000 sessions would cost the
    # measuring side more than the server
    async with aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.DummyCookieJar()
    ) as http:
        crowd = [
            Visitor(http, server.address, questions[i % len(questions)]) for i in range(visitors)
        ]
        gate = asyncio.Semaphore(CONNECT_AT_ONCE)

        async def connect(visitor: Visitor) -> bool:
            async with gate:
                try:
                    await visitor.connect()
                except (aiohttp.ClientError, AssertionError, OSError):
                    return False
                return True

        started = time.perf_counter()
        connected = await asyncio.gather(*(connect(v) for v in crowd))
        run.connect_seconds = time.perf_counter() - started
        run.connected = sum(connected)
        run.rss_connected_mb = server.rss_mb()
        crowd = [v for v, ok in zip(crowd, connected, strict=True) if ok]
        cpu = server.cpu_seconds()
        started = time.perf_counter()
        answers = await asyncio.gather(*(v.ask(timeout) for v in crowd))
        run.seconds = time.perf_counter() - started
        run.cpu_seconds = server.cpu_seconds() - cpu
        sorry = apologies()
        for latency, said in answers:
            if latency is None:
                run.lost += 1
                run.closed += said == CLOSED
                continue
            run.answered += 1
            run.latencies.append(latency)
            if said.startswith(sorry):
                run.apologies += 1
        run.rss_after_mb = server.rss_mb()
        await asyncio.gather(*(v.close() for v in crowd))
    return run


def table(runs: list[Run]) -> str:
    lines = [
        "| server | visitors connected | connect all | answered/s | p50 / p99 | "
        "server CPU | RSS: start / connected / after | apologies | lost (socket closed) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        summary = run.summary()
        lines.append(
            f"| {run.server} | {run.connected} of {run.visitors} | {run.connect_seconds:.1f} s "
            f"| {summary['per_second']:.0f} | {_time(run.percentile(0.5))} / "
            f"{_time(run.percentile(0.99))} | {run.cpu_seconds:.2f} s | "
            f"{run.rss_start_mb:.0f} / {run.rss_connected_mb:.0f} / {run.rss_after_mb:.0f} MB "
            f"| {run.apologies} | {run.lost} ({run.closed}) |"
        )
    return "\n".join(lines)


def _time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


async def main(arguments: argparse.Namespace) -> None:
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="kefu-web-bench-") as temporary:
        folder = Path(temporary)
        echo = await start_echo(folder)
        try:
            runs.append(await measure(echo, arguments.visitors, arguments.reply_timeout))
        finally:
            await echo.stop()
        kefu = await start_kefu(folder, arguments.database_url, arguments.visitors)
        try:
            runs.append(await measure(kefu, arguments.visitors, arguments.reply_timeout))
        finally:
            await kefu.stop()
            if arguments.kefu_log:
                Path(arguments.kefu_log).write_bytes(kefu.log_path.read_bytes())
    command = " ".join(["python -m benchmarks.web_chat", *map(shlex.quote, sys.argv[1:])])
    database = "PostgreSQL" if arguments.database_url else "SQLite"
    print(f"`{command}` on {platform.node()}, {os.cpu_count()} CPUs; kefu on {database}")
    print(table(runs))
    if arguments.json:
        Path(arguments.json).write_text(
            json.dumps([r.summary() for r in runs], indent=2), encoding="utf-8"
        )


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visitors", type=int, default=1000)
    parser.add_argument("--database-url", default=os.environ.get("KEFU_BENCH_DATABASE_URL"))
    parser.add_argument("--reply-timeout", type=float, default=120.0)
    parser.add_argument("--json")
    parser.add_argument("--kefu-log", help="keep kefu's log in this file")
    parser.add_argument("--echo-server", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    options = parse()
    if options.echo_server:
        serve_echo(options.echo_server)
    else:
        asyncio.run(main(options))
