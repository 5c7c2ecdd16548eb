"""Texts longer than Telegram takes in one message (4,096 characters, counted as Telegram
counts them, in UTF-16 units) go out as several messages instead of being refused: a request
middleware on the bot's session, so an agent's long reply with its signature, a long answer or
a long alert all arrive whole. The buttons go with the last part."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.methods import Response, SendMessage, TelegramMethod
from aiogram.methods.base import TelegramType

if TYPE_CHECKING:
    from aiogram import Bot

TEXT_LIMIT = 4096


def telegram_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _cut(text: str, limit: int) -> int:
    """How many characters of `text` fit in `limit` UTF-16 units."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return index
    return len(text)


def cut_to_fit(text: str, limit: int = TEXT_LIMIT) -> str:
    """`text` whole when it fits in one message, else cut, ending with an ellipsis."""
    if telegram_length(text) <= limit:
        return text
    return text[: _cut(text, limit - 1)] + "…"


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Parts of at most `limit` units, broken at a paragraph, else a line, else a space."""
    parts: list[str] = []
    rest = text
    while telegram_length(rest) > limit:
        fits = _cut(rest, limit)
        head = rest[:fits]
        breaks = (head.rfind(mark) for mark in ("\n\n", "\n", " "))
        # the strongest break in the second half, else cut where the part is full
        cut = next((at for at in breaks if at > fits // 2), fits)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    parts.append(rest)
    return [part for part in parts if part]


class SplitLongText(BaseRequestMiddleware):
    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if not isinstance(method, SendMessage) or telegram_length(method.text) <= TEXT_LIMIT:
            return await make_request(bot, method)
        *first, last = split_text(method.text)
        for part in first:
            early: Any = method.model_copy(update={"text": part, "reply_markup": None})
            await make_request(bot, early)
        final: Any = method.model_copy(update={"text": last})
        return await make_request(bot, final)
