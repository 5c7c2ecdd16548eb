"""A banned customer's updates end here, after the customer is known and before anything reads,
stores, answers or relays what they sent: the bot stays silent to them."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.exceptions import TelegramAPIError
from aiogram.types import TelegramObject, Update

from storage.bans import ban_of
from storage.models import Customer

log = logging.getLogger(__name__)


class BanMiddleware(BaseMiddleware):
    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        customer: Customer | None = data.get("customer")
        if customer is None or customer.id is None:
            return await handler(event, data)
        if await ban_of(data["session"], customer.id) is None:
            return await handler(event, data)
        log.debug("update from banned customer=%s dropped", customer.id)
        if isinstance(event, Update) and event.callback_query is not None:
            # silent, but without leaving a spinner turning in their app
            with contextlib.suppress(TelegramAPIError):
                await event.callback_query.answer()
        return None
