"""An update's database work is committed before anything it says goes to Telegram: the
transaction (SQLite's write lock, PostgreSQL's row locks, a pooled connection) is not held
through a network round trip, and what the customer is told is already on record."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.methods import GetUpdates, Response, TelegramMethod
from aiogram.methods.base import TelegramType

from storage.database import UNIT_OF_WORK

if TYPE_CHECKING:
    from aiogram import Bot


class CommitBeforeSending(BaseRequestMiddleware):
    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        session = UNIT_OF_WORK.get()
        if session is not None and session.in_transaction() and not isinstance(method, GetUpdates):
            await session.commit()
        return await make_request(bot, method)
