"""An update the bot's library cannot read (a field of an unexpected type) is logged by its id
and skipped: it never blocks the updates behind it, before or after a restart. The real
dispatcher polls a fake Bot API server on 127.0.0.1 over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.app import Services, create_dispatcher
from bot.channels.telegram import create_bot
from tests.conftest import TEST_KB, StartServices
from tests.fake_bot_api import FakeBotAPI

ANN = 7001
SECRET_TEXT = "my card number is 4111"


def unreadable(chat_id: int) -> dict[str, Any]:
    """A message whose date is not a date: aiogram's types refuse it."""
    return {
        "message": {
            "message_id": 99,
            "date": "yesterday",
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "Ann"},
            "text": SECRET_TEXT,
        }
    }


@contextlib.asynccontextmanager
async def polling(services: Services) -> AsyncIterator[None]:
    bot = create_bot(services.config)
    dispatcher = create_dispatcher(services, channel="terminal")  # no timed jobs
    task = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await bot.session.close()


async def confirmed(fake: FakeBotAPI, update_id: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(u["update_id"] != update_id for u in fake.pending):
            return True
        await asyncio.sleep(0.05)
    return False


async def test_an_unreadable_update_is_skipped_before_and_after_a_restart(
    telegram: tuple[FakeBotAPI, str],
    start_services: StartServices,
    write_config: Callable[..., Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake, url = telegram
    config = write_config(
        kb=TEST_KB,
        replace={
            'token = ""': 'token = "123456:TEST"',
            'api_server = ""': f'api_server = "{url}"',
        },
    )
    services = await start_services(config)
    caplog.set_level(logging.DEBUG)

    bad = fake.push_raw(unreadable(ANN))
    fake.push_message(ANN, "/start")
    async with polling(services):
        greeting = await fake.wait_for_message(ANN)
        assert greeting["text"].startswith("Hello")
        # the last update pending is an unreadable one: it is confirmed all the same
        last_bad = fake.push_raw(unreadable(ANN))
        assert await confirmed(fake, last_bad["update_id"])

    # stopped with an unreadable update waiting: the next start reads past it
    waiting = fake.push_raw(unreadable(ANN))
    start = len(fake.sent)
    fake.push_message(ANN, "/start")
    async with polling(services):
        assert (await fake.wait_for_message(ANN, start=start))["text"].startswith("Hello")
        assert await confirmed(fake, waiting["update_id"])

    skipped = [r.getMessage() for r in caplog.records if "cannot be read" in r.getMessage()]
    for update in (bad, last_bad, waiting):
        assert any(f"update={update['update_id']} " in line for line in skipped)
    assert all(SECRET_TEXT not in r.getMessage() for r in caplog.records)
