"""What a service answers, for a handler to render on whichever channel the customer is on."""

from __future__ import annotations

from dataclasses import dataclass

from aiogram import Bot
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message


@dataclass(frozen=True)
class Reply:
    """One message to send back."""

    text: str
    markup: InlineKeyboardMarkup | None = None

    async def send(self, message: Message) -> None:
        await message.answer(self.text, reply_markup=self.markup)


@dataclass(frozen=True)
class FileReply:
    """A file to send back, with a caption."""

    name: str
    content: bytes
    caption: str | None = None

    async def send(self, message: Message) -> None:
        document = BufferedInputFile(self.content, filename=self.name)
        await message.answer_document(document, caption=self.caption)


@dataclass(frozen=True)
class Pressed:
    """The answer to a button press: the note on the button (an alert when `alert`), the
    pressed message's buttons replaced (`buttons`) or removed (`clear_buttons`), and the
    messages that follow."""

    note: str | None = None
    alert: bool = False
    clear_buttons: bool = False
    buttons: InlineKeyboardMarkup | None = None
    replies: tuple[Reply, ...] = ()

    async def render(self, query: CallbackQuery) -> None:
        await query.answer(self.note, show_alert=self.alert)
        if not isinstance(query.message, Message):
            return
        if self.clear_buttons or self.buttons is not None:
            await query.message.edit_reply_markup(reply_markup=self.buttons)
        for reply in self.replies:
            await reply.send(query.message)


def press_then(*replies: Reply, clear_buttons: bool = False) -> Pressed:
    return Pressed(clear_buttons=clear_buttons, replies=replies)


def bot_of(event: Message | CallbackQuery) -> Bot:
    """The bot an update came through (aiogram binds every event to it)."""
    assert event.bot is not None
    return event.bot
