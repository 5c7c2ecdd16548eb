"""Retries for every request the bot makes (handler replies, relays, alerts, scheduled sends), as
a middleware on the bot's session: Telegram's 429 waits its retry_after, 5xx and network errors
retry with backoff. Any other error (a customer who blocked the bot, a bad request) is the
caller's to handle and passes straight through."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramEntityTooLarge,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import GetUpdates, Response, TelegramMethod
from aiogram.methods.base import TelegramType

if TYPE_CHECKING:
    from aiogram import Bot

log = logging.getLogger(__name__)


class DeliveryFailed(TelegramAPIError):
    """Telegram kept failing; the caller must report it. A TelegramAPIError, so that code that
    handles Telegram's errors handles this one too."""


class RetryMiddleware(BaseRequestMiddleware):
    def __init__(
        self,
        *,
        attempts: int = 5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_backoff: float = 30.0,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.attempts = attempts
        self.sleep = sleep
        self.max_backoff = max_backoff

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        polling = isinstance(method, GetUpdates)
        if polling:  # long polling has its own backoff, and must see the real error to apply it
            return await make_request(bot, method)
        name = method.__api_method__
        for attempt in range(1, self.attempts + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as error:
                failure: TelegramAPIError = error
                delay = float(error.retry_after)
            except TelegramEntityTooLarge:
                raise  # a 413: the same file fails the same way again
            except (TelegramServerError, TelegramNetworkError) as error:
                failure = error
                delay = min(2.0 ** (attempt - 1), self.max_backoff)
            if attempt == self.attempts:
                break
            log.warning(
                "%s: %s, retrying in %.0f s (attempt %d of %d)",
                name,
                type(failure).__name__,
                delay,
                attempt,
                self.attempts,
            )
            await self.sleep(delay)
        raise DeliveryFailed(
            method, f"gave up after {self.attempts} attempts ({type(failure).__name__})"
        ) from failure
