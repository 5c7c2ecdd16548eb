"""Which language to answer a customer in."""

from __future__ import annotations

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
