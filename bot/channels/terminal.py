"""The terminal channel: the same dispatcher and handlers, talking through standard input/output.

A custom aiogram session prints what the bot sends instead of calling Telegram, and typed lines
become updates. Buttons are printed numbered; typing a number presses the button.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from aiogram import Bot, Dispatcher
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageReplyMarkup,
    EditMessageText,
    GetMe,
    SendDocument,
    SendMessage,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    Update,
    User,
)

from bot.channels.own_session import OwnChannelSession

TERMINAL_TOKEN = "1:terminal"
BOT_USER = User(id=1, is_bot=True, first_name="kefu", username="kefu_bot")


class TerminalSession(OwnChannelSession):
    """Answers the bot's API calls locally and shows the messages on a text stream."""

    def __init__(self, output: TextIO, chat: Chat) -> None:
        super().__init__()
        self.output = output
        self.chat = chat
        self._message_ids = itertools.count(1)
        self.buttons: list[InlineKeyboardButton] = []
        self.button_message: Message | None = None

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        result: Any
        if isinstance(method, GetMe):
            result = BOT_USER
        elif isinstance(method, SendMessage | EditMessageText):
            result = self._show(method.text or "", method.reply_markup)
        elif isinstance(method, EditMessageReplyMarkup):
            markup = method.reply_markup
            if isinstance(markup, InlineKeyboardMarkup) and markup.inline_keyboard:
                self._show("", markup)
            result = True
        elif isinstance(method, SendDocument):
            document = method.document
            size = len(document.data) if isinstance(document, BufferedInputFile) else 0
            name = getattr(document, "filename", None) or "file"
            result = self._show(f"[a file: {name}, {size} bytes] {method.caption or ''}", None)
        elif isinstance(method, AnswerCallbackQuery):
            if method.text:
                self.say(f"  ({method.text})")
            result = True
        else:
            result = True
        return result

    def say(self, text: str) -> None:
        self.output.write(text + "\n")
        self.output.flush()

    def _show(self, text: str, markup: Any) -> Message:
        if text:
            self.say("bot> " + text.replace("\n", "\n     "))
        message = Message(
            message_id=next(self._message_ids),
            date=datetime.now(UTC),
            chat=self.chat,
            from_user=BOT_USER,
            text=text,
            reply_markup=markup if isinstance(markup, InlineKeyboardMarkup) else None,
        )
        if isinstance(markup, InlineKeyboardMarkup) and markup.inline_keyboard:
            self.buttons = [button for row in markup.inline_keyboard for button in row]
            self.button_message = message
            for number, button in enumerate(self.buttons, start=1):
                link = f"  -> {button.url}" if button.url else ""
                self.say(f"     [{number}] {button.text}{link}")
        return message


class TerminalChat:
    """Turns lines typed by one person into updates for the dispatcher."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        output: TextIO | None = None,
        *,
        user_id: int = 1000,
        first_name: str = "",
        language_code: str | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.dispatcher = dispatcher
        self.user = User(
            id=user_id, is_bot=False, first_name=first_name, language_code=language_code
        )
        self.chat = Chat(id=user_id, type="private", first_name=first_name)
        # sys.stdout when called, not when this module was imported: tests (and anyone
        # embedding the chat) may have replaced it since
        self.session = TerminalSession(output or sys.stdout, self.chat)
        self.bot = Bot(TERMINAL_TOKEN, session=self.session)
        self.now = now
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1_000_000)

    async def send(self, line: str) -> None:
        """Feed one typed line: a button number presses that button, anything else is a message."""
        line = line.strip()
        if not line:
            return
        update = self._button_press(line) or self._message(line)
        if update is not None:
            await self.dispatcher.feed_update(self.bot, update)

    def _button_press(self, line: str) -> Update | None:
        if not line.isdigit() or not self.session.buttons:
            return None
        number = int(line)
        if not 1 <= number <= len(self.session.buttons):
            return None
        button = self.session.buttons[number - 1]
        if button.url:
            self.session.say(f"     (open {button.url} in your browser)")
            return None
        query = CallbackQuery(
            id=str(next(self._update_ids)),
            from_user=self.user,
            chat_instance=str(self.chat.id),
            message=self.session.button_message,
            data=button.callback_data,
        )
        return Update(update_id=next(self._update_ids), callback_query=query)

    def _message(self, line: str) -> Update:
        entities = None
        if line.startswith("/"):
            command = line.split()[0]
            entities = [MessageEntity(type="bot_command", offset=0, length=len(command))]
        message = Message(
            message_id=next(self._message_ids),
            date=self.now(),
            chat=self.chat,
            from_user=self.user,
            text=line,
            entities=entities,
        )
        return Update(update_id=next(self._update_ids), message=message)

    async def run(self, input_stream: TextIO | None = None) -> None:
        """Read lines (from sys.stdin by default) until the end of input; works for a person
        typing and for a pipe."""
        input_stream = input_stream or sys.stdin
        interactive = input_stream.isatty()
        loop = asyncio.get_running_loop()
        while True:
            if interactive:
                self.session.output.write("you> ")
                self.session.output.flush()
            line = await loop.run_in_executor(None, input_stream.readline)
            if not line:
                break
            if not interactive:
                self.session.say("you> " + line.rstrip("\n"))
            await self.send(line)
        await self.bot.session.close()
