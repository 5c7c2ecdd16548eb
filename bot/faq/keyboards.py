"""Inline keyboards, built from entries and texts."""

from __future__ import annotations

from collections.abc import Iterable

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import (
    EntryCallback,
    HumanCallback,
    LanguageCallback,
    SuggestionCallback,
    VoteCallback,
)
from bot.texts import Texts
from knowledge import Entry, KnowledgeBase

BUTTON_LABEL_LIMIT = 60
CALLBACK_DATA_LIMIT = 64  # bytes, Telegram's limit


def _label(text: str) -> str:
    return text if len(text) <= BUTTON_LABEL_LIMIT else text[: BUTTON_LABEL_LIMIT - 1] + "…"


def entry_buttons(entries: Iterable[Entry], language: str) -> list[InlineKeyboardButton]:
    return [
        InlineKeyboardButton(
            text=_label(entry.title(language)),
            callback_data=EntryCallback(entry_id=entry.id).pack(),
        )
        for entry in entries
    ]


def menu_keyboard(entries: Iterable[Entry], language: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for button in entry_buttons(entries, language):
        builder.row(button)
    return builder.as_markup()


def answer_keyboard(
    entry: Entry,
    knowledge_base: KnowledgeBase,
    language: str,
    texts: Texts,
    message_id: int | None,
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for button in entry.buttons:
        if button.url:
            label = button.label.get(language) or next(iter(button.label.values()), button.url)
            builder.row(InlineKeyboardButton(text=_label(label), url=button.url))
        elif button.entry and (target := knowledge_base.get(button.entry)):
            builder.row(*entry_buttons([target], language))
    linked = {button.entry for button in entry.buttons}
    related = [
        target
        for entry_id in entry.related
        if entry_id not in linked and (target := knowledge_base.get(entry_id))
    ]
    for related_button in entry_buttons(related, language):
        builder.row(related_button)
    if message_id is not None:
        builder.row(*vote_buttons(message_id, language, texts))
    return builder.as_markup()


def vote_buttons(message_id: int, language: str, texts: Texts) -> list[InlineKeyboardButton]:
    return [
        InlineKeyboardButton(
            text=texts("vote_up", language),
            callback_data=VoteCallback(message_id=message_id, helpful=True).pack(),
        ),
        InlineKeyboardButton(
            text=texts("vote_down", language),
            callback_data=VoteCallback(message_id=message_id, helpful=False).pack(),
        ),
    ]


def suggestion_data(entry: Entry, message_id: int | None) -> str:
    """A suggestion names the customer's message it answers, so that pressing it confirms
    their words for the entry; an entry id too long for that is pressed as a plain entry."""
    if message_id is not None:
        data = SuggestionCallback(message_id=message_id, entry_id=entry.id).pack()
        if len(data.encode()) <= CALLBACK_DATA_LIMIT:
            return data
    return EntryCallback(entry_id=entry.id).pack()


def suggestions_keyboard(
    entries: Iterable[Entry], language: str, texts: Texts, message_id: int | None = None
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for entry in entries:
        builder.row(
            InlineKeyboardButton(
                text=_label(entry.title(language)),
                callback_data=suggestion_data(entry, message_id),
            )
        )
    builder.row(human_button(language, texts))
    return builder.as_markup()


def human_button(language: str, texts: Texts) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=texts("talk_to_human_button", language), callback_data=HumanCallback().pack()
    )


def fallback_keyboard(language: str, texts: Texts) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[human_button(language, texts)]])


def language_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text="中文", callback_data=LanguageCallback(language="zh").pack()
                ),
                InlineKeyboardButton(
                    text="English", callback_data=LanguageCallback(language="en").pack()
                ),
            ]
        ]
    )
