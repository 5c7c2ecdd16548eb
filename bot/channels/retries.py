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
from aiogram.methods import (
    CopyMessage,
    CopyMessages,
    ForwardMessage,
    GetUpdates,
    Response,
    SendDocument,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiohttp import ClientConnectorError

if TYPE_CHECKING:
    from aiogram import Bot

log = logging.getLogger(__name__)


class DeliveryFailed(TelegramAPIError):
    """Telegram kept failing; the caller must report it. A TelegramAPIError, so that code that
    handles Telegram's errors handles this one too."""


class DeliveryUncertain(DeliveryFailed):
    """The request left and its answer was lost (a timeout, a dropped connection): Telegram may
    have delivered it, so it is not sent again; the caller records it as uncertain."""


# Sending these twice shows the customer something twice; the others can safely be repeated.
NOT_REPEATABLE = (SendMessage, CopyMessage, CopyMessages, ForwardMessage, SendDocument, SendPhoto)


def never_reached(error: TelegramNetworkError) -> bool:
    """Whether the request surely never reached Telegram (no connection was made)."""
    return isinstance(error.__cause__, ClientConnectorError | ConnectionRefusedError)


class RetryMiddleware(BaseRequestMiddleware):
    """Requests to one chat go out in the order they were made, each waiting for the ones
    before it (and their retries), so a storm does not shuffle a conversation."""

    def __init__(
        self,
        *,
        attempts: int = 8,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_backoff: float = 30.0,
        max_wait: float = 900.0,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.attempts = attempts
        self.sleep = sleep
        self.max_backoff = max_backoff
        self.max_wait = max_wait
        self._chats: dict[int | str, asyncio.Lock] = {}

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        polling = isinstance(method, GetUpdates)
        if polling:  # long polling has its own backoff, and must see the real error to apply it
            return await make_request(bot, method)
        chat = getattr(method, "chat_id", None)
        if not isinstance(chat, int | str):
            return await self._with_retries(make_request, bot, method)
        lock = self._chats.setdefault(chat, asyncio.Lock())
        try:
            async with lock:
                return await self._with_retries(make_request, bot, method)
        finally:
            if not lock.locked() and self._chats.get(chat) is lock:
                del self._chats[chat]

    async def _with_retries(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        """A 429 waits what Telegram says (up to max_wait in all, not counted as a try); 5xx
        and unreached requests back off 1, 2, 4... s for `attempts` tries in all."""
        name = method.__api_method__
        repeatable = not isinstance(method, NOT_REPEATABLE)
        attempt = 0
        waited = 0.0
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as error:
                failure: TelegramAPIError = error
                delay = float(error.retry_after)
                if waited + delay > self.max_wait:
                    break
            except TelegramEntityTooLarge:
                raise  # a 413: the same file fails the same way again
            except TelegramNetworkError as error:
                if not repeatable and not never_reached(error):
                    log.error("%s: %s, may have been delivered; not sent again", name, error)
                    raise DeliveryUncertain(method, f"answer lost: {error.message}") from error
                failure, attempt = error, attempt + 1
                delay = min(2.0 ** (attempt - 1), self.max_backoff)
                if attempt == self.attempts:
                    break
            except TelegramServerError as error:
                failure, attempt = error, attempt + 1
                delay = min(2.0 ** (attempt - 1), self.max_backoff)
                if attempt == self.attempts:
                    break
            log.warning(
                "%s: %s, retrying in %.0f s (try %d of %d)",
                name,
                type(failure).__name__,
                delay,
                attempt + 1,
                self.attempts,
            )
            waited += delay
            await self.sleep(delay)
        raise DeliveryFailed(
            method, f"gave up after {attempt} tries and {waited:.0f} s ({type(failure).__name__})"
        ) from failure
