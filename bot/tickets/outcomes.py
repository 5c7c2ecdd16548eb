"""How tickets end: the cause of the problem and the remedy given, chosen by the agent on
resolving from [tickets] causes and remedies, and shown in the reader's language."""

from __future__ import annotations

from bot.config import TicketsConfig
from bot.texts import Texts

PARTS = ("cause", "remedy")


def outcome_choices(settings: TicketsConfig, part: str) -> list[str]:
    return settings.causes if part == "cause" else settings.remedies


def outcome_label(texts: Texts, part: str, value: str, language: str) -> str:
    """A cause or remedy in the reader's language when the catalogue has it (cause_<id>,
    remedy_<id>), else its id as the config writes it."""
    key = f"{part}_{value}"
    return texts(key, language) if key in texts.keys(language) else value
