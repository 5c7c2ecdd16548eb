"""What people send, made safe to store and to send on: NUL characters (PostgreSQL refuses them
in text) and lone surrogates (which no UTF-8 encoder takes) removed, and names and button data
held to the length Telegram itself allows, so that a forged or odd update cannot fail a
handler. Texts are not cut here (what keeps one decides how much: see the intake)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.middlewares.user_context import UserContextMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject, Update, User

UNSAFE = re.compile("[\x00\ud800-\udfff]")

# Telegram's own limits on what a user can send
NAME_LIMIT = 64
USERNAME_LIMIT = 32
CALLBACK_DATA_LIMIT = 64


def clean_text(text: str, limit: int | None = None) -> str:
    """`text` without NUL characters and lone surrogates, at most `limit` characters."""
    return UNSAFE.sub("", text)[:limit]


def _needs_cleaning(text: str | None, limit: int) -> bool:
    return text is not None and (len(text) > limit or UNSAFE.search(text) is not None)


def _cleaned_user(user: User | None) -> User | None:
    if user is None:
        return None
    fields = {"first_name": NAME_LIMIT, "last_name": NAME_LIMIT, "username": USERNAME_LIMIT}
    changes = {
        name: clean_text(value, limit)
        for name, limit in fields.items()
        if _needs_cleaning(value := getattr(user, name), limit)
    }
    return user.model_copy(update=changes) if changes else user


def _cleaned_message(message: Message | None) -> Message | None:
    if message is None:
        return None
    changes: dict[str, Any] = {}
    for name in ("text", "caption"):
        value = getattr(message, name)
        if value is not None and UNSAFE.search(value):
            changes[name] = UNSAFE.sub("", value)
    user = _cleaned_user(message.from_user)
    if user is not message.from_user:
        changes["from_user"] = user
    return message.model_copy(update=changes) if changes else message


def _cleaned_query(query: CallbackQuery | None) -> CallbackQuery | None:
    if query is None:
        return None
    changes: dict[str, Any] = {}
    if _needs_cleaning(query.data, CALLBACK_DATA_LIMIT):
        changes["data"] = clean_text(query.data or "", CALLBACK_DATA_LIMIT)
    user = _cleaned_user(query.from_user)
    if user is not query.from_user:
        changes["from_user"] = user
    return query.model_copy(update=changes) if changes else query


def cleaned_update(update: Update) -> Update:
    """The update as it is when nothing in it needs cleaning (the usual case), else a copy."""
    changes: dict[str, Any] = {}
    for name in ("message", "edited_message"):
        message = getattr(update, name)
        cleaned = _cleaned_message(message)
        if cleaned is not message:
            changes[name] = cleaned
    query = _cleaned_query(update.callback_query)
    if query is not update.callback_query:
        changes["callback_query"] = query
    return update.model_copy(update=changes) if changes else update


class CleanInputMiddleware(BaseMiddleware):
    """The first of kefu's middlewares: what follows reads only cleaned fields."""

    def __init__(self) -> None:
        self._context = UserContextMiddleware()

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, Update):
            return await handler(event, data)
        cleaned = cleaned_update(event)
        if cleaned is event:
            return await handler(event, data)
        # the user and chat that aiogram put in `data` were read from the update before cleaning
        return await self._context(handler, cleaned, data)
