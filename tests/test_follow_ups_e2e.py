"""Follow-ups in the real service process, against the fake Bot API server: killed and started
again at any point, the survey and the revisit go out once; two processes on one PostgreSQL
database send each scheduled message once."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import create_services
from bot.config import load_config
from storage.database import create_engine
from tests.conftest import POSTGRES_URL, TEST_KB, _reset_postgres
from tests.fake_bot_api import FakeBotAPI
from tests.test_schedule import schedule_surveys

pytestmark = pytest.mark.slow

CHAT = 5551234
GROUP = -1009876
AGENT = 4321
STARTUP = 90.0
SURVEY = "How did we do?"
REVISIT = "A few days ago we resolved your request"

# Short real durations, so that a day of follow-ups passes in seconds.
FAST = {
    'quiet_hours = "21:00-09:00"': 'quiet_hours = ""',
    "poll_seconds = 5": "poll_seconds = 0.2",
    "delay_minutes = 10": "delay_minutes = 0.05",
    "reminder_hours = 24": "reminder_hours = 0.005",
    "claim_timeout_minutes = 10": "claim_timeout_minutes = 0.05",
    "\ndays = 3\n": "\ndays = 0.0002\n",  # the revisit's, not the surveys' expire_days
}


def service_config(write_config: Callable[..., Path], url: str, database: str) -> Path:
    return write_config(
        kb=TEST_KB,
        database=database,
        replace={
            'token = ""': 'token = "123456:TEST"',
            'api_server = ""': f'api_server = "{url}"',
            "group_id = 0": f"group_id = {GROUP}",
            "agents = []": f"agents = [{AGENT}]",
            **FAST,
        },
    )


async def start_service(config: Path) -> asyncio.subprocess.Process:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(config), "run",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=environment,
    )  # fmt: skip


async def kill(process: asyncio.subprocess.Process) -> str:
    """Stop the process at once, as a crash or `kill -9` would."""
    if process.returncode is None:
        process.send_signal(signal.SIGKILL)
    await process.wait()
    return (await process.stderr.read()).decode() if process.stderr else ""


def buttons(params: dict[str, Any]) -> dict[str, str]:
    markup = params.get("reply_markup") or {}
    return {
        b["text"]: b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row
    }


def messages_starting(fake: FakeBotAPI, prefix: str) -> list[dict[str, Any]]:
    return [
        params
        for method, params in fake.sent
        if method == "sendmessage" and str(params.get("text", "")).startswith(prefix)
    ]


async def wait_for_text(fake: FakeBotAPI, prefix: str, start: int) -> dict[str, Any]:
    _, params = await fake.wait_for(
        lambda method, p: method == "sendmessage" and str(p.get("text", "")).startswith(prefix),
        start=start,
        timeout=STARTUP,
    )
    return params


async def resolve_a_ticket(fake: FakeBotAPI) -> None:
    start = len(fake.sent)
    fake.push_message(CHAT, "/human", language_code="en")
    choose = await fake.wait_for_message(CHAT, start=start, timeout=STARTUP)
    fake.push_callback(CHAT, buttons(choose)["Shipping"], message_id=choose["message_id"])
    await wait_for_text(fake, "Please describe the problem", start)
    start = len(fake.sent)
    fake.push_message(CHAT, "my parcel is lost", language_code="en")
    ask_order = await wait_for_text(fake, "Do you have an order number?", start)
    fake.push_callback(CHAT, buttons(ask_order)["Skip"], message_id=ask_order["message_id"])
    _, card = await fake.wait_for(
        lambda method, p: method == "sendmessage" and int(p["chat_id"]) == GROUP
        and "已解决" in buttons(p),
        start=start,
    )  # fmt: skip
    start = len(fake.sent)
    resolve = buttons(card)["已解决"]  # Resolve, in the team's language
    fake.push_callback(GROUP, resolve, message_id=card["message_id"], user_id=AGENT)
    await fake.wait_for(lambda method, p: method == "answercallbackquery", start=start)


async def stored(database: Path, query: str) -> None:
    """Wait until the service has committed what `query` counts."""
    for _ in range(300):
        with sqlite3.connect(database) as connection:
            if connection.execute(query).fetchone()[0]:
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never stored: {query}")


async def test_killed_and_restarted_the_service_sends_each_follow_up_once(
    telegram: tuple[FakeBotAPI, str], write_config: Callable[..., Path], tmp_path: Path
) -> None:
    fake, url = telegram
    database = tmp_path / "kefu.db"
    config = service_config(write_config, url, f"sqlite+aiosqlite:///{database}")
    logs = []

    # Killed right after the resolution: the survey is stored but not yet due.
    service = await start_service(config)
    try:
        await resolve_a_ticket(fake)
        await stored(database, "select count(*) from scheduledmessage where kind = 'survey'")
    finally:
        logs.append(await kill(service))

    # Started again: the survey comes; killed the moment Telegram has it.
    service = await start_service(config)
    try:
        survey = await wait_for_text(fake, SURVEY, 0)
    finally:
        logs.append(await kill(service))

    # Started again: the customer answers; the revisit comes, once; No reopens the ticket.
    service = await start_service(config)
    try:
        start = len(fake.sent)
        fake.push_callback(CHAT, buttons(survey)["4 ⭐"], message_id=survey["message_id"])
        await wait_for_text(fake, "Thank you! Anything you would like to add?", start)
        revisit = await wait_for_text(fake, REVISIT, 0)
        start = len(fake.sent)
        no = buttons(revisit)["No, not yet"]
        fake.push_callback(CHAT, no, message_id=revisit["message_id"])
        await wait_for_text(fake, "Sorry it is not solved yet. T-000001 is open again.", start)
        await asyncio.sleep(2)  # time for anything that would wrongly be sent again
    finally:
        logs.append(await kill(service))

    assert len(messages_starting(fake, SURVEY)) == 1, logs
    assert len(messages_starting(fake, REVISIT)) == 1, logs
    assert messages_starting(fake, "A gentle reminder") == []  # the survey was answered
    assert not any("Traceback" in log for log in logs), logs


async def test_two_processes_on_one_postgresql_send_each_message_once(
    telegram: tuple[FakeBotAPI, str], write_config: Callable[..., Path]
) -> None:
    if not POSTGRES_URL:
        pytest.skip("KEFU_TEST_DATABASE_URL is not set")
    engine = create_engine(POSTGRES_URL)
    await _reset_postgres(engine)
    await engine.dispose()
    fake, url = telegram
    config = service_config(write_config, url, POSTGRES_URL)
    services = await create_services(load_config(config, environ={}))
    try:
        await schedule_surveys(services, 60, timedelta(seconds=5))
    finally:
        await services.close()

    first, second = await start_service(config), await start_service(config)
    try:
        for _ in range(int(STARTUP * 10)):
            if len(messages_starting(fake, SURVEY)) >= 60:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(2)  # time for any second copy to arrive
    finally:
        logs = [await kill(first), await kill(second)]
    chats = sorted(int(p["chat_id"]) for p in messages_starting(fake, SURVEY))
    assert chats == list(range(1000, 1060)), logs
