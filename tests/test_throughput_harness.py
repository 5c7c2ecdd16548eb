"""The throughput benchmark's own parts work: its fake Bot API server serves updates by long
polling and sees the replies, and a tiny burst against the echo bot is measured whole. (The
benchmark itself is not a test: it runs for minutes and prints figures.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from benchmarks.fake_telegram import FakeTelegram
from benchmarks.throughput import ECHO_TOKEN, Bench, apologies, faq_questions, start_bot

pytestmark = pytest.mark.slow


def test_the_questions_leave_out_those_that_open_a_form() -> None:
    questions = faq_questions()
    assert len(questions) > 500
    assert "how do i return an item" not in questions  # the returns entry starts a form
    assert not [q for q in questions if "human" in q.lower()]
    assert apologies()[0].startswith("Sorry, something went wrong")


async def test_a_burst_against_the_echo_bot_is_measured(tmp_path: Path) -> None:
    server = FakeTelegram()
    url = await server.start()
    bench = Bench(server, faq_questions(), apologies(), reply_timeout=20)
    log = tmp_path / "echo.log"
    command = [sys.executable, "-m", "benchmarks.echo_bot", url, ECHO_TOKEN]
    echo = await start_bot("echo", ECHO_TOKEN, command, server, log)
    try:
        result = await bench.measure(echo, "tiny", bench.burst(echo, 30, bench.customers(3)))
    finally:
        await echo.stop()
        await server.stop()
    assert (result.updates, result.answered, result.lost, result.errors) == (30, 30, 0, 0)
    assert result.per_second > 0
    assert 0 < result.percentile(0.5) <= result.percentile(0.99) < 20  # type: ignore[operator]
    assert result.cpu_seconds > 0
    assert server.bot(ECHO_TOKEN).polls >= 1
