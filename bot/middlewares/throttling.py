"""Floods held off before they cost anything: each customer may send `messages_per_minute` with
a `burst` allowance (a token bucket); past that, one polite notice, and the excess is neither
stored nor matched, so one customer's burst never delays anyone else's replies."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update, User

from bot.clock import Clock
from bot.config import FloodConfig
from bot.middlewares.language import language_from_code
from bot.texts import Texts

log = logging.getLogger(__name__)

FORGET_AFTER_SECONDS = 600.0  # a bucket idle this long is full again: no need to keep it


@dataclass
class Bucket:
    tokens: float
    at: float  # seconds, on the clock's timeline
    warned: bool = False


class ThrottlingMiddleware(BaseMiddleware):
    def __init__(self, settings: FloodConfig, clock: Clock, texts: Texts, default: str) -> None:
        self.rate = settings.messages_per_minute / 60.0
        self.burst = float(settings.burst)
        self.clock = clock
        self.texts = texts
        self.default = default
        self._buckets: dict[int, Bucket] = {}

    def allow(self, user_id: int) -> Bucket | None:
        """The customer's bucket when this update is over the limit, else None."""
        now = self.clock.now().timestamp()
        bucket = self._buckets.get(user_id)
        if bucket is None:
            if len(self._buckets) > 100_000:
                self._forget_idle(now)
            bucket = self._buckets[user_id] = Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            bucket.warned = False
            return None
        return bucket

    def _forget_idle(self, now: float) -> None:
        self._buckets = {
            user: bucket
            for user, bucket in self._buckets.items()
            if now - bucket.at < FORGET_AFTER_SECONDS
        }

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        user: User | None = data.get("event_from_user")
        private = event.message is not None and event.message.chat.type == "private"
        query = event.callback_query
        if user is None or user.is_bot or not (private or query is not None):
            return await handler(event, data)
        bucket = self.allow(user.id)
        if bucket is None:
            return await handler(event, data)
        language = language_from_code(user.language_code) or self.default
        notice = self.texts("flood_notice", language)
        if query is not None:
            await query.answer(notice)  # every button press gets an answer
        elif not bucket.warned and event.message is not None:
            log.warning("user=%s is over the message limit; ignoring the excess", user.id)
            await event.message.answer(notice)
        bucket.warned = True
        return None
