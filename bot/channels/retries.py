"""Sending on the bot's own initiative (relayed replies, alerts) without losing messages:
Telegram's 429 waits its retry_after, 5xx and network errors retry with backoff. A customer who
blocked the bot (403) is the caller's to handle: the error is passed on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError

log = logging.getLogger(__name__)

T = TypeVar("T")


class DeliveryFailed(Exception):
    """Telegram kept failing; the caller must report it."""


class Sender:
    def __init__(
        self,
        *,
        attempts: int = 5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_backoff: float = 30.0,
    ) -> None:
        self.attempts = attempts
        self.sleep = sleep
        self.max_backoff = max_backoff

    async def send(self, call: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return await call()
            except TelegramRetryAfter as error:
                if attempt == self.attempts:
                    break
                log.warning("rate limited, waiting %s s (attempt %d)", error.retry_after, attempt)
                await self.sleep(error.retry_after)
            except (TelegramServerError, TelegramNetworkError) as error:
                if attempt == self.attempts:
                    break
                delay = min(2.0 ** (attempt - 1), self.max_backoff)
                log.warning(
                    "%s, retrying in %.0f s (attempt %d)", type(error).__name__, delay, attempt
                )
                await self.sleep(delay)
        raise DeliveryFailed(f"gave up after {self.attempts} attempts")
