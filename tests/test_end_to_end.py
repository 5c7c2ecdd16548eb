"""`kefu run` as a real process, talking to a fake Telegram Bot API server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_KB
from tests.fake_bot_api import FakeBotAPI

pytestmark = pytest.mark.slow

CHAT = 5551234
GROUP = -1009876
AGENT = 4321

STARTUP = 90.0  # the first answer waits for the process to import aiogram and start polling


def buttons(params: dict[str, Any]) -> list[dict[str, Any]]:
    markup = params.get("reply_markup") or {}
    return [button for row in markup.get("inline_keyboard", []) for button in row]


async def test_a_customer_chats_with_the_running_bot(
    telegram: tuple[FakeBotAPI, str], write_config: Callable[..., Path], tmp_path: Path
) -> None:
    fake, url = telegram
    database = tmp_path / "e2e.db"
    config = write_config(
        kb=TEST_KB,
        database=f"sqlite+aiosqlite:///{database}",
        replace={
            'token = ""': 'token = "123456:TEST"',
            'api_server = ""': f'api_server = "{url}"',
            "group_id = 0": f"group_id = {GROUP}",
            "agents = []": f"agents = [{AGENT}]",
        },
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--config",
        str(config),
        "run",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
    )
    try:
        start = len(fake.sent)
        fake.push_message(CHAT, "/start", language_code="en", first_name="Ann")
        greeting = await fake.wait_for_message(CHAT, start=start, timeout=STARTUP)
        assert greeting["text"].startswith("Hello, Ann! I am the customer-service assistant")
        menu = {b["text"]: b["callback_data"] for b in buttons(greeting)}
        assert list(menu) == ["what are your opening hours", "how do i return an item"]

        start = len(fake.sent)
        fake.push_message(CHAT, "when wil i get my refnd", language_code="en")
        answer = await fake.wait_for_message(CHAT, start=start)
        assert answer["text"].startswith("Refunds reach your original payment method")
        votes = {b["text"]: b["callback_data"] for b in buttons(answer)}
        assert set(votes) == {"👍 Yes", "👎 No"}

        start = len(fake.sent)
        fake.push_callback(
            CHAT, menu["how do i return an item"], message_id=greeting["message_id"]
        )
        returns = await fake.wait_for_message(CHAT, start=start)
        assert returns["text"].startswith("You can return items within 7 days")

        start = len(fake.sent)
        fake.push_callback(CHAT, votes["👍 Yes"], message_id=answer["message_id"])
        method, thanks = await fake.wait_for(
            lambda method, params: method.lower() == "answercallbackquery", start=start
        )
        assert thanks["text"] == "Thank you for your feedback!"
        method, edit = await fake.wait_for(
            lambda method, params: method.lower() == "editmessagereplymarkup", start=start
        )
        assert int(edit["message_id"]) == answer["message_id"]

        # The customer asks for a person; the case gets a topic in the agents' group.
        start = len(fake.sent)
        fake.push_message(CHAT, "/human", language_code="en")
        choose = await fake.wait_for_message(CHAT, start=start)
        categories = {b["text"]: b["callback_data"] for b in buttons(choose)}
        fake.push_callback(CHAT, categories["Shipping"], message_id=choose["message_id"])
        await fake.wait_for_message(CHAT, start=start + 1)
        start = len(fake.sent)
        fake.push_message(CHAT, "my parcel is lost", language_code="en")
        ask_order = await fake.wait_for_message(CHAT, start=start)
        skip = buttons(ask_order)[0]["callback_data"]
        start = len(fake.sent)
        fake.push_callback(CHAT, skip, message_id=ask_order["message_id"])
        _, topic = await fake.wait_for(
            lambda method, params: method == "createforumtopic", start=start
        )
        assert topic["name"].startswith("T-000001 · ")
        assert topic["name"].endswith(" · 物流 · 普通")  # in the team's language ([agents])

        expectation = await fake.wait_for(
            lambda method, params: (
                method == "sendmessage"
                and int(params["chat_id"]) == CHAT
                and "T-000001" in params["text"]
            ),
            start=start,
        )
        assert expectation
        _, card = await fake.wait_for(
            lambda method, params: method == "sendmessage" and int(params["chat_id"]) == GROUP,
            start=start,
        )
        thread = int(card["message_thread_id"])

        # The agent answers in the topic; the customer gets a copy.
        start = len(fake.sent)
        fake.push_group_message(GROUP, thread, "We found it!", user_id=AGENT)
        _, copy = await fake.wait_for(lambda method, params: method == "copymessage", start=start)
        assert (int(copy["chat_id"]), int(copy["from_chat_id"])) == (CHAT, GROUP)
        # the reply is put on record once it has reached the customer, in the same update;
        # an agent asks for the transcript after that, not in the same millisecond
        await reply_recorded(database)

        # /transcript in the topic: the whole conversation on record, as a file in the topic
        start = len(fake.sent)
        fake.push_group_message(GROUP, thread, "/transcript", user_id=AGENT)
        _, document = await fake.wait_for(
            lambda method, params: method == "senddocument", start=start
        )
        assert (int(document["chat_id"]), int(document["message_thread_id"])) == (GROUP, thread)
        attached = document[document["document"].removeprefix("attach://")]  # multipart
        assert attached["filename"] == "T-000001-transcript.txt"
        transcript = attached["content"].decode()
        assert transcript.startswith("T-000001 对话记录 · 物流 · 普通")
        assert "：when wil i get my refnd\n" in transcript  # the bot part
        assert f"客服 {AGENT}：We found it!" in transcript  # the agent's reply
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), timeout=30)
        except TimeoutError:
            process.kill()
            await process.wait()
        stderr = (await process.stderr.read()).decode() if process.stderr else ""
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    with sqlite3.connect(database) as connection:
        votes_stored = connection.execute("select entry_id, helpful from answervote").fetchall()
    assert votes_stored == [("refund_time", 1)]


async def reply_recorded(database: Path) -> None:
    for _ in range(100):
        with sqlite3.connect(database) as connection:
            if connection.execute("select 1 from ticketevent where kind = 'reply'").fetchone():
                return
        await asyncio.sleep(0.05)
    pytest.fail("the agent's reply was never put on record")
