"""Telegram's global send limit: every message waits its turn, in one process or, through Redis,
across replicas; the fake Bot API says when each message reached it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer
from redis.asyncio import Redis

from bot.channels.send_limit import LocalSendLimit, RedisSendLimit, create_send_limit
from bot.channels.telegram import TelegramSession, create_bot
from bot.config import Config, load_config
from tests.fake_bot_api import FakeBotAPI
from tests.test_web import free_port

REDIS_URL = os.environ.get("KEFU_TEST_REDIS_URL")
MESSAGES = {"sendmessage"}


def telegram_bot(config: Config, api: str, limit: Any) -> Bot:
    session = TelegramSession(api=TelegramAPIServer.from_base(api))
    return create_bot(config, session=session, send_limit=limit)


async def burst(bots: list[Bot], count: int) -> None:
    """`count` messages at once, to as many chats, spread over the bots."""
    await asyncio.gather(
        *(bots[n % len(bots)].send_message(1000 + n, f"notice {n}") for n in range(count))
    )


def chats_reached(fake: FakeBotAPI) -> list[int]:
    return sorted(int(p["chat_id"]) for m, p in fake.sent if m == "sendmessage")


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Config:
    return load_config(write_config(replace={'token = ""': 'token = "123456:TEST"'}), environ={})


@pytest.fixture
async def redis_limits() -> AsyncIterator[list[RedisSendLimit]]:
    if not REDIS_URL:
        pytest.skip("KEFU_TEST_REDIS_URL is not set")
    limits = [RedisSendLimit(Redis.from_url(REDIS_URL), per_second=10) for _ in range(2)]
    await limits[0].redis.delete("kefu:sends:123456")
    yield limits
    for limit in limits:
        await limit.close()


async def test_a_burst_from_one_process_keeps_to_the_limit_and_all_arrive(
    telegram: tuple[FakeBotAPI, str], config: Config
) -> None:
    fake, api = telegram
    bot = telegram_bot(config, api, LocalSendLimit(per_second=10))
    try:
        await burst([bot], 25)
    finally:
        await bot.session.close()
    assert chats_reached(fake) == list(range(1000, 1025))
    assert fake.busiest_second(MESSAGES) == 10


async def test_two_replicas_sharing_redis_keep_to_the_limit_together(
    telegram: tuple[FakeBotAPI, str], config: Config, redis_limits: list[RedisSendLimit]
) -> None:
    fake, api = telegram
    bots = [telegram_bot(config, api, limit) for limit in redis_limits]
    try:
        await burst(bots, 30)
    finally:
        for bot in bots:
            await bot.session.close()
    assert chats_reached(fake) == list(range(1000, 1030))
    # each replica alone would have let 10 a second go, 20 together
    assert fake.busiest_second(MESSAGES) == 10


async def test_without_redis_a_replica_keeps_the_limit_on_its_own(
    telegram: tuple[FakeBotAPI, str], config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    fake, api = telegram
    limit = create_send_limit(10, f"redis://127.0.0.1:{free_port()}/0")  # nothing listens
    assert isinstance(limit, RedisSendLimit)
    bot = telegram_bot(config, api, limit)
    try:
        await burst([bot], 15)
    finally:
        await bot.session.close()
        await limit.close()
    assert chats_reached(fake) == list(range(1000, 1015))
    assert fake.busiest_second(MESSAGES) == 10
    assert caplog.text.count("keeps Telegram's send limit on its own") == 1


class Waited(Exception):
    pass


async def refuse_to_wait(seconds: float) -> None:
    raise Waited(seconds)


async def test_only_messages_wait_their_turn(
    telegram: tuple[FakeBotAPI, str], config: Config
) -> None:
    """Edits, button answers, commands and chat actions are not Telegram's messages: they go
    past a full limit; a second message in the same second waits."""
    fake, api = telegram
    bot = telegram_bot(config, api, LocalSendLimit(per_second=1, sleep=refuse_to_wait))
    try:
        await bot.send_message(1, "the one message of this second")
        await bot.answer_callback_query("5")
        await bot.set_my_commands([])
        await bot.send_chat_action(1, "typing")
        with pytest.raises(Waited):
            await bot.copy_message(2, 1, 1)
    finally:
        await bot.session.close()
    assert [m for m, _ in fake.sent] == [
        "sendmessage",
        "answercallbackquery",
        "setmycommands",
        "sendchataction",
    ]


async def test_a_send_holds_its_place_until_a_second_after_it_ended() -> None:
    """What counts is when a message reached Telegram, somewhere between its start and its
    answer: a place is free only a second after the answer came back."""
    now = 0.0
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        nonlocal now
        slept.append(seconds)
        now += seconds

    limit = LocalSendLimit(per_second=2, now=lambda: now, sleep=sleep)
    assert await limit.take() == 0
    assert await limit.take() == 0
    third = asyncio.create_task(limit.take())
    await asyncio.sleep(0)
    assert not third.done()  # both places are held by sends still in flight
    now = 0.4
    limit.give_back()  # the first send's answer came back
    assert await third == pytest.approx(1.4)  # waited for the first's second to end
    assert slept == [pytest.approx(1.0)]
    assert now == pytest.approx(1.4)
