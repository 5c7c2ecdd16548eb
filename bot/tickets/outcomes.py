"""How tickets end: the cause of the problem and the remedy given, chosen by the agent on
resolving from [tickets] causes and remedies, and shown in the reader's language."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import OutcomeCallback
from bot.channels.replies import Reply
from bot.config import TicketsConfig
from bot.texts import Texts
from storage.models import Ticket

PARTS = ("cause", "remedy")


def outcome_choices(settings: TicketsConfig, part: str) -> list[str]:
    return settings.causes if part == "cause" else settings.remedies


def outcome_label(texts: Texts, part: str, value: str, language: str) -> str:
    """A cause or remedy in the reader's language when the catalogue has it (cause_<id>,
    remedy_<id>), else its id as the config writes it."""
    key = f"{part}_{value}"
    return texts(key, language) if key in texts.keys(language) else value


def outcome_question(
    texts: Texts, settings: TicketsConfig, ticket: Ticket, part: str, language: str
) -> Reply:
    """The cause of a resolved ticket's problem (or the remedy given) asked with a button for
    each configured choice, two to a row."""
    buttons = [
        InlineKeyboardButton(
            text=outcome_label(texts, part, value, language),
            callback_data=OutcomeCallback(ticket_id=ticket.id or 0, part=part, value=value).pack(),
        )
        for value in outcome_choices(settings, part)
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    question = texts(f"outcome_ask_{part}", language, number=ticket.number)
    return Reply(question, InlineKeyboardMarkup(inline_keyboard=rows))
