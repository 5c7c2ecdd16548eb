"""An update's database work is committed before anything it says goes to Telegram: the
transaction (SQLite's write lock, PostgreSQL's row locks, a pooled connection) is not held
through a network round trip, and what the customer is told is already on record. From then on
the update is done for Telegram's polling (bot/channels/polling.py): after a crash it is not
handled again, which would repeat what the customer is about to be told."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.methods import GetUpdates, Response, TelegramMethod
from aiogram.methods.base import TelegramType

from bot.channels.update_runs import update_committed
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
        if not isinstance(method, GetUpdates):
            session = UNIT_OF_WORK.get()
            if session is not None and session.in_transaction():
                await session.commit()
            update_committed()
        return await make_request(bot, method)
