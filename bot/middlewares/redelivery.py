"""Telegram posts a webhook update again when it got no answer to the post: the replica that
was handling it was killed, or a proxy lost the answer. An update whose work was committed (and
whose first reply may already be on the customer's screen) must not be handled a second time:
a form would take the repeated message as the answer to its next question. So each update's id
is recorded in the same transaction as its work, and an update already recorded is acknowledged
without being handled. One killed before its work was committed left nothing, and is handled
anew by whichever replica gets it. (Polling has its own way: bot/channels/polling.py.)"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update
from sqlalchemy import delete
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from storage.database import SessionFactory
from storage.models import DeliveredUpdate

log = logging.getLogger(__name__)

# Telegram keeps trying an update for up to 24 hours; and after a week without updates it
# starts numbering them anew at random, so ids must not be kept for long.
KEEP_FOR = timedelta(days=2)


class SkipRedelivered(BaseMiddleware):
    """After the database middleware, whose session records the update with its work."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        session: AsyncSession | None = data.get("session")
        if not isinstance(event, Update) or session is None:
            return await handler(event, data)
        if await session.get(DeliveredUpdate, event.update_id) is not None:
            log.info(
                "update=%s was handled before and posted again; not handled twice", event.update_id
            )
            return None
        session.add(DeliveredUpdate(update_id=event.update_id, handled_at=self.clock.now()))
        return await handler(event, data)


async def forget_delivered_updates(session_factory: SessionFactory, clock: Clock) -> int:
    """The timed job: ids older than Telegram's re-deliveries are dropped."""
    async with session_factory() as session:
        result = await session.exec(
            delete(DeliveredUpdate).where(col(DeliveredUpdate.handled_at) < clock.now() - KEEP_FOR)
        )
        await session.commit()
    return int(result.rowcount)
