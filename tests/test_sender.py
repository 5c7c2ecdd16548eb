"""The retries on the bot's session: every request the bot makes, whoever makes it, waits out
Telegram's 429, backs off on 5xx and network errors, and hands any other error to its caller."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import AnswerCallbackQuery, SendMessage

from bot.app import Services, create_dispatcher, create_services
from bot.channels.retries import DeliveryFailed, DeliveryUncertain, RetryMiddleware
from bot.channels.telegram import SessionShut, TelegramSession, create_bot
from bot.clock import ManualClock
from bot.config import load_config
from tests.chat import PrivateChat
from tests.fake_bot_api import FakeBotAPI
from tests.mocked_bot import MockedBot

METHOD = SendMessage(chat_id=1, text="hi")


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def retries(waits: list[float]) -> RetryMiddleware:
    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    return RetryMiddleware(attempts=4, sleep=sleep)


@pytest.fixture
def bot(retries: RetryMiddleware) -> MockedBot:
    """Fails as told (bot.recorder.fail_next), then succeeds; its requests are the calls."""
    return MockedBot(retries)


async def test_a_429_waits_as_long_as_telegram_says(bot: MockedBot, waits: list[float]) -> None:
    bot.recorder.fail_next(
        SendMessage, TelegramRetryAfter(METHOD, "Too Many Requests", retry_after=7)
    )
    sent = await bot.send_message(1, "hi")
    assert sent.text == "hi"
    assert waits == [7]


async def test_server_errors_back_off_then_give_up(bot: MockedBot, waits: list[float]) -> None:
    for _ in range(4):
        bot.recorder.fail_next(SendMessage, TelegramServerError(METHOD, "Bad Gateway"))
    with pytest.raises(DeliveryFailed):
        await bot.send_message(1, "hi")
    assert waits == [1, 2, 4]  # no wait after the last try
    assert len(bot.recorder.requests) == 4


async def test_a_blocked_customer_is_passed_to_the_caller(bot: MockedBot) -> None:
    bot.recorder.fail_next(
        SendMessage, TelegramForbiddenError(METHOD, "Forbidden: bot was blocked by the user")
    )
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(1, "hi")
    assert len(bot.recorder.requests) == 1


async def test_network_errors_are_retried_and_giving_up_is_a_telegram_error(
    bot: MockedBot, waits: list[float]
) -> None:
    bot.recorder.fail_next(SendMessage, refused())
    bot.recorder.fail_next(SendMessage, TelegramServerError(METHOD, "Bad Gateway"))
    assert (await bot.send_message(1, "hi")).text == "hi"
    assert waits == [1, 2]

    for _ in range(4):
        bot.recorder.fail_next(SendMessage, refused())
    with pytest.raises(TelegramAPIError) as failed:  # callers that handle Telegram's errors
        await bot.send_message(1, "hi")
    assert isinstance(failed.value, DeliveryFailed)
    assert isinstance(failed.value.__cause__, TelegramNetworkError)


def refused() -> TelegramNetworkError:
    """What aiogram raises when no connection could be made: surely not delivered."""
    error = TelegramNetworkError(METHOD, "Cannot connect to host")
    error.__cause__ = ConnectionRefusedError()
    return error


async def test_a_message_whose_answer_was_lost_is_not_sent_again(
    bot: MockedBot, waits: list[float]
) -> None:
    bot.recorder.fail_next(SendMessage, TelegramNetworkError(METHOD, "Request timeout error"))
    with pytest.raises(DeliveryUncertain):
        await bot.send_message(1, "hi")
    assert len(bot.recorder.requests) == 1 and waits == []
    # Answering a button twice shows nothing twice: that is tried again.
    query = AnswerCallbackQuery(callback_query_id="1")
    bot.recorder.fail_next(AnswerCallbackQuery, TelegramNetworkError(query, "Request timeout"))
    assert await bot.answer_callback_query("1") is True
    assert waits == [1]


async def test_requests_to_one_chat_keep_their_order_through_a_storm() -> None:
    async def sleep(seconds: float) -> None:
        await asyncio.sleep(0.01)  # lets the other requests run meanwhile

    bot = MockedBot(RetryMiddleware(sleep=sleep))
    bot.recorder.fail_next(
        SendMessage, TelegramRetryAfter(METHOD, "Too Many Requests", retry_after=30)
    )
    first = asyncio.create_task(bot.send_message(1, "first"))
    await asyncio.sleep(0)
    second = asyncio.create_task(bot.send_message(1, "second"))
    other_chat = asyncio.create_task(bot.send_message(2, "elsewhere"))
    await asyncio.gather(first, second, other_chat)
    to_chat_one = [r.text for r in bot.recorder.sent_messages() if r.chat_id == 1]
    assert to_chat_one == ["first", "first", "second"]  # refused, retried, then the next
    assert [r.text for r in bot.recorder.sent_messages()][1] == "elsewhere"  # not held up


@pytest.mark.parametrize(
    "error",
    [
        TelegramBadRequest(METHOD, "Bad Request: chat not found"),
        TelegramEntityTooLarge(METHOD, "Request Entity Too Large"),
    ],
)
async def test_other_client_errors_are_not_retried(
    bot: MockedBot, waits: list[float], error: TelegramAPIError
) -> None:
    bot.recorder.fail_next(SendMessage, error)
    with pytest.raises(type(error)):
        await bot.send_message(1, "hi")
    assert len(bot.recorder.requests) == 1 and waits == []


@pytest.fixture
async def services(
    write_config: Callable[..., Path], clock: ManualClock
) -> AsyncIterator[Services]:
    services = await create_services(load_config(write_config(), environ={}), clock=clock)
    yield services
    await services.close()


async def test_a_handlers_reply_is_retried_after_a_429(
    services: Services, bot: MockedBot, waits: list[float]
) -> None:
    bot.recorder.fail_next(
        SendMessage, TelegramRetryAfter(METHOD, "Too Many Requests", retry_after=3)
    )
    mei = PrivateChat(create_dispatcher(services), bot, 7, "en")
    refused, greeting = await mei.say("/start")  # Telegram refused the first try
    assert greeting.text.startswith("Hello, Mei!") and refused.text == greeting.text
    assert waits == [3]


async def test_the_telegram_bot_retries_on_its_real_session(
    telegram: tuple[FakeBotAPI, str],
    write_config: Callable[..., Path],
    retries: RetryMiddleware,
    waits: list[float],
) -> None:
    fake, url = telegram
    config = load_config(
        write_config(
            replace={
                'token = ""': 'token = "123456:TEST"',
                'api_server = ""': f'api_server = "{url}"',
            }
        ),
        environ={},
    )
    bot = create_bot(config, retries=retries)
    try:
        assert retries in list(bot.session.middleware)
        fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 5", retry_after=5)
        fake.fail_next("sendMessage", 502, "Bad Gateway")
        sent = await bot.send_message(5551234, "hi")
    finally:
        await bot.session.close()
    assert sent.text == "hi"
    assert waits == [5, 1]  # a 429 is not counted as a try: the 502 came on the first
    assert [method for method, _ in fake.sent] == ["sendmessage"] * 3


async def test_a_send_after_shutdown_fails_instead_of_opening_a_connection_nobody_closes(
    telegram: tuple[FakeBotAPI, str], write_config: Callable[..., Path]
) -> None:
    """A handler still running when the process shuts down (aiogram does not cancel them) must
    not open a new connection pool after the bot's session was closed."""
    fake, url = telegram
    config = load_config(
        write_config(
            replace={
                'token = ""': 'token = "123456:TEST"',
                'api_server = ""': f'api_server = "{url}"',
            }
        ),
        environ={},
    )
    bot = create_bot(config)
    await bot.send_message(5551234, "before")
    await bot.session.close()
    with pytest.raises(SessionShut):
        await bot.send_message(5551234, "after")
    assert isinstance(bot.session, TelegramSession)
    assert bot.session._session is not None and bot.session._session.closed
    assert [p["text"] for m, p in fake.sent] == ["before"]
