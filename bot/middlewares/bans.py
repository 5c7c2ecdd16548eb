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

from bot.tickets.bans import BanList
from storage.models import Customer

log = logging.getLogger(__name__)


class BanMiddleware(BaseMiddleware):
    def __init__(self, ban_list: BanList) -> None:
        self.ban_list = ban_list

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        customer: Customer | None = data.get("customer")
        if customer is None or customer.id is None:
            return await handler(event, data)
        if not self.ban_list.holds(customer.id):
            return await handler(event, data)
        log.debug("update from banned customer=%s dropped", customer.id)
        if isinstance(event, Update) and event.callback_query is not None:
            # silent, but without leaving a spinner turning in their app
            with contextlib.suppress(TelegramAPIError):
                await event.callback_query.answer()
        return None
