"""A bot whose session records every API call and answers like Telegram would, without network."""

from __future__ import annotations

import itertools
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import (
    AnswerCallbackQuery,
    CopyMessage,
    CreateForumTopic,
    EditMessageReplyMarkup,
    EditMessageText,
    GetFile,
    GetMe,
    SendDocument,
    SendMessage,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import Chat, File, ForumTopic, InlineKeyboardMarkup, Message, MessageId, User

from bot.channels.retries import RetryMiddleware
from bot.channels.telegram import prepare_session

BOT_USER = User(id=42, is_bot=True, first_name="kefu", username="kefu_test_bot")


class RecordingSession(BaseSession):
    def __init__(self) -> None:
        super().__init__()
        self.requests: list[TelegramMethod[Any]] = []
        # what users "uploaded", by file id; an exception is raised by the file's download
        self.files: dict[str, bytes | Exception] = {}
        self.failures: dict[type, list[Exception]] = {}

        self._message_ids = itertools.count(100)

    async def close(self) -> None:
        return None

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        content = self.files[url.rsplit("/", 1)[-1]]
        if isinstance(content, Exception):
            raise content
        yield content

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        self.requests.append(method)
        failures = self.failures.get(type(method))
        if failures:
            raise failures.pop(0)
        result: Any = True
        if isinstance(method, SendMessage) and len(method.text.encode("utf-16-le")) > 8192:
            raise TelegramBadRequest(method, "Bad Request: message is too long")
        if isinstance(method, GetMe):
            result = BOT_USER
        elif isinstance(method, SendMessage | EditMessageText):
            chat_id = int(method.chat_id) if method.chat_id is not None else 0
            result = Message(
                message_id=next(self._message_ids),
                date=datetime.now(UTC),
                chat=Chat(id=chat_id, type="private"),
                from_user=BOT_USER,
                text=method.text,
                reply_markup=method.reply_markup
                if isinstance(method.reply_markup, InlineKeyboardMarkup)
                else None,
            )
        elif isinstance(method, GetFile):
            result = File(
                file_id=method.file_id,
                file_unique_id=method.file_id,
                file_path=f"documents/{method.file_id}",
            )
        elif isinstance(method, SendDocument):
            result = Message(
                message_id=next(self._message_ids),
                date=datetime.now(UTC),
                chat=Chat(id=int(method.chat_id), type="private"),
                from_user=BOT_USER,
                caption=method.caption,
            )
        elif isinstance(method, CreateForumTopic):
            result = ForumTopic(
                message_thread_id=next(self._message_ids), name=method.name, icon_color=7322096
            )
        elif isinstance(method, CopyMessage):
            result = MessageId(message_id=next(self._message_ids))
        elif isinstance(method, EditMessageReplyMarkup | AnswerCallbackQuery):
            result = True

        return result

    def fail_next(self, kind: type[TelegramMethod[Any]], error: Exception) -> None:
        """The next call of that method raises `error`, as Telegram's answer would."""
        self.failures.setdefault(kind, []).append(error)

    def of_type(self, kind: type[TelegramMethod[Any]]) -> list[Any]:
        return [request for request in self.requests if isinstance(request, kind)]

    def sent_messages(self) -> list[SendMessage]:
        return self.of_type(SendMessage)


async def no_wait(seconds: float) -> None:
    return None


class MockedBot(Bot):
    """A bot whose session records; with the real retries on it, as create_bot registers them,
    which wait no time unless a test passes its own."""

    def __init__(self, retries: RetryMiddleware | None = None) -> None:
        super().__init__("42:TEST", session=RecordingSession())
        self.retries = retries or RetryMiddleware(sleep=no_wait)
        prepare_session(self.session, self.retries)

    @property
    def recorder(self) -> RecordingSession:
        assert isinstance(self.session, RecordingSession)
        return self.session
