"""A Telegram user writing to the bot in a private chat, through the real dispatcher."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from aiogram import Dispatcher
from aiogram.methods import SendMessage
from aiogram.types import (
    CallbackQuery,
    Chat,
    Document,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    PhotoSize,
    Update,
    User,
)

from tests.mocked_bot import MockedBot

AGENTS_GROUP = -1001234


class PrivateChat:
    """One Telegram user writing to the bot in a private chat."""

    def __init__(self, dispatcher: Dispatcher, bot: MockedBot, user_id: int, language: str | None):
        self.dispatcher = dispatcher
        self.bot = bot
        self.user = User(id=user_id, is_bot=False, first_name="Mei", language_code=language)
        self.chat = Chat(id=user_id, type="private", first_name="Mei")
        self.ids = itertools.count(1)

    async def say(self, text: str) -> list[SendMessage]:
        entities = None
        if text.startswith("/"):
            entities = [MessageEntity(type="bot_command", offset=0, length=len(text.split()[0]))]
        message = Message(
            message_id=next(self.ids),
            date=datetime.now(UTC),
            chat=self.chat,
            from_user=self.user,
            text=text,
            entities=entities,
        )
        return await self._feed(Update(update_id=next(self.ids), message=message))

    async def send_photo(
        self, file_id: str = "p", caption: str | None = None
    ) -> list[SendMessage]:
        message = Message(
            message_id=next(self.ids),
            date=datetime.now(UTC),
            chat=self.chat,
            from_user=self.user,
            photo=[
                PhotoSize(file_id=f"{file_id}-small", file_unique_id="s", width=1, height=1),
                PhotoSize(file_id=file_id, file_unique_id=file_id, width=9, height=9),
            ],
            caption=caption,
        )
        return await self._feed(Update(update_id=next(self.ids), message=message))

    async def send_document(
        self, file_id: str, file_name: str, file_size: int | None = None
    ) -> list[SendMessage]:
        document = Document(
            file_id=file_id, file_unique_id=file_id, file_name=file_name, file_size=file_size
        )
        message = Message(
            message_id=next(self.ids),
            date=datetime.now(UTC),
            chat=self.chat,
            from_user=self.user,
            document=document,
        )
        return await self._feed(Update(update_id=next(self.ids), message=message))

    async def press(self, reply: SendMessage, label: str) -> list[SendMessage]:
        markup = reply.reply_markup
        assert isinstance(markup, InlineKeyboardMarkup)
        buttons = [b for row in markup.inline_keyboard for b in row]
        button = next((b for b in buttons if b.text == label), None)
        assert button is not None, f"no button {label!r} in {[b.text for b in buttons]}"
        shown = Message(
            message_id=500,
            date=datetime.now(UTC),
            chat=self.chat,
            text=reply.text,
            reply_markup=markup,
        )
        query = CallbackQuery(
            id=str(next(self.ids)),
            from_user=self.user,
            chat_instance="1",
            message=shown,
            data=button.callback_data,
        )
        return await self._feed(Update(update_id=next(self.ids), callback_query=query))

    async def _feed(self, update: Update) -> list[SendMessage]:
        before = len(self.bot.recorder.requests)
        await self.dispatcher.feed_update(self.bot, update)
        new = self.bot.recorder.requests[before:]
        return [r for r in new if isinstance(r, SendMessage) and r.chat_id == self.chat.id]


class AgentInGroup:
    """Someone writing in the agents' forum group."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        bot: MockedBot,
        user_id: int,
        name: str,
        group_id: int = AGENTS_GROUP,
    ) -> None:
        self.dispatcher = dispatcher
        self.bot = bot
        self.user = User(id=user_id, is_bot=False, first_name=name)
        self.chat = Chat(id=group_id, type="supergroup", title="Agents", is_forum=True)
        self.ids = itertools.count(10_000 + user_id * 1000)

    async def write(self, topic: int, text: str) -> None:
        message = Message(
            message_id=next(self.ids),
            date=datetime.now(UTC),
            chat=self.chat,
            from_user=self.user,
            text=text,
            message_thread_id=topic,
            is_topic_message=True,
        )
        await self.dispatcher.feed_update(
            self.bot, Update(update_id=next(self.ids), message=message)
        )

    async def send_photo(self, topic: int, file_id: str, caption: str | None = None) -> None:
        message = Message(
            message_id=next(self.ids),
            date=datetime.now(UTC),
            chat=self.chat,
            from_user=self.user,
            photo=[PhotoSize(file_id=file_id, file_unique_id=file_id, width=9, height=9)],
            caption=caption,
            message_thread_id=topic,
            is_topic_message=True,
        )
        await self.dispatcher.feed_update(
            self.bot, Update(update_id=next(self.ids), message=message)
        )

    async def send_document(
        self, topic: int, file_id: str, file_name: str, caption: str | None = None
    ) -> None:
        message = Message(
            message_id=next(self.ids),
            date=datetime.now(UTC),
            chat=self.chat,
            from_user=self.user,
            document=Document(file_id=file_id, file_unique_id=file_id, file_name=file_name),
            caption=caption,
            message_thread_id=topic,
            is_topic_message=True,
        )
        await self.dispatcher.feed_update(
            self.bot, Update(update_id=next(self.ids), message=message)
        )

    async def write_general(self, text: str) -> None:
        entities = None
        if text.startswith("/"):
            entities = [MessageEntity(type="bot_command", offset=0, length=len(text.split()[0]))]
        message = Message(
            message_id=next(self.ids),
            date=datetime.now(UTC),
            chat=self.chat,
            from_user=self.user,
            text=text,
            entities=entities,
        )
        await self.dispatcher.feed_update(
            self.bot, Update(update_id=next(self.ids), message=message)
        )

    async def press(self, card: SendMessage, label: str) -> None:
        markup = card.reply_markup
        assert isinstance(markup, InlineKeyboardMarkup)
        button = next(b for row in markup.inline_keyboard for b in row if b.text == label)
        topic = card.message_thread_id
        shown = Message(
            message_id=1,
            date=datetime.now(UTC),
            chat=self.chat,
            text=card.text,
            message_thread_id=topic,
            is_topic_message=bool(topic),
        )
        query = CallbackQuery(
            id=str(next(self.ids)),
            from_user=self.user,
            chat_instance="g",
            message=shown,
            data=button.callback_data,
        )
        await self.dispatcher.feed_update(
            self.bot, Update(update_id=next(self.ids), callback_query=query)
        )
