from __future__ import annotations

import pytest
from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import SendMessage

from bot.channels.retries import DeliveryFailed, Sender

METHOD = SendMessage(chat_id=1, text="hi")


class Telegram:
    """Fails as told, then succeeds; counts the calls."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def send(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "sent"


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def sender(waits: list[float]) -> Sender:
    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    return Sender(attempts=4, sleep=sleep)


async def test_a_429_waits_as_long_as_telegram_says(sender: Sender, waits: list[float]) -> None:
    telegram = Telegram(TelegramRetryAfter(METHOD, "Too Many Requests", retry_after=7))
    assert await sender.send(telegram.send) == "sent"
    assert waits == [7]


async def test_server_errors_back_off_then_give_up(sender: Sender, waits: list[float]) -> None:
    telegram = Telegram(*[TelegramServerError(METHOD, "Bad Gateway")] * 4)
    with pytest.raises(DeliveryFailed):
        await sender.send(telegram.send)
    assert waits == [1, 2, 4]  # no wait after the last try
    assert telegram.calls == 4


async def test_a_blocked_customer_is_passed_to_the_caller(sender: Sender) -> None:
    telegram = Telegram(TelegramForbiddenError(METHOD, "Forbidden: bot was blocked by the user"))
    with pytest.raises(TelegramForbiddenError):
        await sender.send(telegram.send)
    assert telegram.calls == 1
