"""Which language to answer a customer in."""

from __future__ import annotations

from aiogram.types import CallbackQuery, Message

from bot.config import Config
from knowledge.normalize import detect_language
from knowledge.schema import LANGUAGES
from storage.models import Customer


def language_from_code(code: str | None) -> str | None:
    """'zh-hans', 'zh-TW' -> 'zh'; 'en-GB' -> 'en'; anything else -> None."""
    if not code:
        return None
    base = code.lower().split("-")[0].split("_")[0]
    return base if base in LANGUAGES else None


def reply_language(
    customer: Customer, *, client_code: str | None, text: str | None, default: str
) -> str:
    """The customer's own choice (/language) first, then their app's language, then the script
    of what they wrote, then the language of their last message."""
    if customer.language_chosen and customer.language:
        return customer.language
    return (
        language_from_code(client_code)
        or detect_language(text or "")
        or customer.language
        or default
    )


def customer_language(customer: Customer, event: Message | CallbackQuery, config: Config) -> str:
    """The language to answer this update in; a command's text says nothing about it."""
    text = event.text if isinstance(event, Message) else None
    return reply_language(
        customer,
        client_code=event.from_user.language_code if event.from_user else None,
        text=None if text and text.startswith("/") else text,
        default=config.bot.default_language,
    )
