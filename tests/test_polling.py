"""Long polling confirms an update to Telegram only once its work is done: the fake Bot API
server keeps whatever the bot has not confirmed by getUpdates' offset, as Telegram does."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message

from bot.channels.commit_first import CommitBeforeSending
from bot.channels.polling import ConfirmingDispatcher
from tests.fake_bot_api import FakeBotAPI


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


@pytest.fixture
async def polling(
    telegram: tuple[FakeBotAPI, str],
) -> AsyncIterator[tuple[FakeBotAPI, asyncio.Event, list[str]]]:
    """A dispatcher polling the fake: "slow" waits for the event, "answer then slow" answers
    first; what it was given is listed."""
    fake, url = telegram
    release = asyncio.Event()
    seen: list[str] = []
    dispatcher = ConfirmingDispatcher()

    @dispatcher.message()
    async def handle(message: Message) -> None:
        seen.append(message.text or "")
        if message.text == "answer then slow":
            await message.answer("on it")
        if message.text != "quick":
            await release.wait()

    session = AiohttpSession(api=TelegramAPIServer.from_base(url))
    session.middleware(CommitBeforeSending())
    bot = Bot("123456:TEST", session=session)
    task = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False))
    yield fake, release, seen
    release.set()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await bot.session.close()


async def test_an_update_being_handled_is_not_confirmed_until_done(polling) -> None:
    fake, release, seen = polling
    slow = fake.push_message(1, "slow")["update_id"]
    quick = fake.push_message(2, "quick")["update_id"]
    await until(lambda: seen == ["slow", "quick"])
    later = fake.push_message(3, "quick")["update_id"]
    await until(lambda: len(seen) == 3)  # new updates are still fetched meanwhile
    assert fake.unconfirmed[0] == slow  # and Telegram keeps the one being handled
    assert {quick, later} <= fake.served

    release.set()
    await until(lambda: fake.unconfirmed == [])
    assert seen == ["slow", "quick", "quick"]  # each handed out once


async def test_an_update_is_done_once_it_answers(polling) -> None:
    fake, _, seen = polling
    fake.push_message(1, "answer then slow")
    await fake.wait_for_message(1)
    await until(lambda: fake.unconfirmed == [])  # though its handler goes on
    assert seen == ["answer then slow"]


async def test_a_slow_update_does_not_stop_new_ones_when_a_batch_is_full(polling) -> None:
    fake, _, seen = polling
    fake.push_message(1, "slow")
    for n in range(100):  # done after it: a whole batch of getUpdates is handed out already
        fake.push_message(1000 + n, "quick")
    await until(lambda: len(seen) == 101)
    fake.push_message(2, "quick")
    await until(lambda: len(seen) == 102)  # fetched all the same
