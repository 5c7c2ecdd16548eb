"""Which language to answer in, worked out once per update and handed to the handlers as
`language` and `say` (the catalogue in that language)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import Chat, TelegramObject, Update, User

from bot.texts import Say, Texts
from knowledge.normalize import detect_language
from knowledge.schema import LANGUAGES
from storage.models import Customer


def language_from_code(code: str | None) -> str | None:
    """'zh-hans', 'zh-TW' -> 'zh'; 'en-GB' -> 'en'; anything else -> None."""
    if not code:
        return None
    base = code.lower().split("-")[0].split("_")[0]
    return base if base in LANGUAGES else None


def written_language(text: str) -> str | None:
    """The language a message is clearly written in: Chinese when it has Chinese characters (a
    Chinese sentence with English loan words is Chinese), English when it has two or more
    English words and no Chinese; None for what says nothing (an order number, "ok", "👍")."""
    found = detect_language(text)
    if found != "en":
        return found
    words = [
        word for word in text.split() if sum(ch.isascii() and ch.isalpha() for ch in word) >= 2
    ]
    return "en" if len(words) >= 2 else None


def reply_language(
    customer: Customer, *, client_code: str | None, text: str | None, default: str
) -> str:
    """The customer's own choice (/language) first; then the language the message is clearly
    written in; then the language the customer last wrote in (which starts as their app's);
    then their app's language."""
    if customer.language_chosen and customer.language:
        return customer.language
    return (
        written_language(text or "")
        or customer.language
        or language_from_code(client_code)
        or default
    )


def update_language(
    update: Update, user: User | None, customer: Customer | None, default: str
) -> str:
    """A customer's by the rule above (a command's text says nothing about it), remembered as
    the language they last wrote in; anyone else's (staff in the agents' group) by their app's
    language."""
    client_code = user.language_code if user else None
    if customer is None:
        return language_from_code(client_code) or default
    text = update.message.text if update.message else None
    if text and text.startswith("/"):
        text = None
    language = reply_language(customer, client_code=client_code, text=text, default=default)
    if (
        text
        and not customer.language_chosen
        and customer.language != language
        and written_language(text) == language
    ):
        # flushed with the update's session; set only when it changes, since an attribute set
        # to its own value still sends the session through a flush to find nothing to write
        customer.language = language
    return language


class LanguageMiddleware(BaseMiddleware):
    """Runs after the database middleware, which finds the customer. In the agents' group,
    where every agent reads what the bot posts, the group's language ([agents] language);
    staff in their private chat with the bot are readers like customers (their /language)."""

    def __init__(
        self,
        texts: Texts,
        default_language: str,
        group_id: int = 0,
        group_language: str | None = None,
    ) -> None:
        self.texts = texts
        self.default_language = default_language
        self.group_id = group_id
        self.group_language = group_language or default_language

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        chat: Chat | None = data.get("event_chat")
        if self.group_id and chat is not None and chat.id == self.group_id:
            language = self.group_language
        else:
            language = update_language(
                event, data.get("event_from_user"), data.get("customer"), self.default_language
            )
        data["language"] = language
        data["say"] = Say(self.texts, language)
        return await handler(event, data)
