"""The web chat channel: the same dispatcher and handlers, talking to visitors' pages.

A visitor's page holds a WebSocket (bot/web/chat.py); what the visitor writes or presses becomes
an update for the web channel's dispatcher, as typed lines do in the terminal. What the bot sends
goes through `WebSession`, a channel session that keeps each message (WebChatEvent: the page
shows the conversation again on the next visit, with what came while it was closed) and pushes
it, as JSON, to the visitor's open pages. Requests for a chat that is no visitor (the agents'
group, for a ticket) go to Telegram when kefu serves it, and fail plainly when it does not.

Photos and files travel both ways as WebChatFile rows: a visitor's upload becomes a photo or
document message for the dispatcher (its file id "web:N"), and is sent to the agents' topic as
a photo or file when the handlers copy it there; an agent's photo or file is fetched from
Telegram once, kept, and shown on the page through a route only that visitor's cookie opens.
"""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import (
    AnswerCallbackQuery,
    CopyMessage,
    DeleteMessage,
    EditMessageReplyMarkup,
    EditMessageText,
    GetMe,
    SendChatAction,
    SendDocument,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    Chat,
    Document,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    PhotoSize,
    Update,
    User,
)

from bot.channels.own_session import OwnChannelSession
from bot.channels.web_push import ReplicaPush
from bot.clock import Clock
from storage.database import SessionFactory, unit_of_work
from storage.models import WebChatEvent, WebChatFile
from storage.web_chat import add_event, add_file, recent_events, visitor_event, visitor_file

log = logging.getLogger(__name__)

WEB_TOKEN = "2:webchat"  # its own bot id: the forms of the web and of Telegram never mix
BOT_USER = User(id=2, is_bot=True, first_name="kefu", username="kefu_web")
# Visitors' ids (their chat ids and user ids in the updates): far above Telegram's user ids, so
# that no visitor is ever taken for a member of staff, and no staff chat for a visitor.
FIRST_VISITOR_ID = 2**50
LAST_VISITOR_ID = 2**53 - 1  # the largest integer a page's JavaScript holds exactly
HISTORY = 50  # messages shown again when a page opens
MAX_TEXT = 4096  # as on Telegram
FILE_PREFIX = "web:"  # the file id of a visitor's upload in the updates: "web:<WebChatFile.id>"
# What a visitor may upload, told by the first bytes of the content (never by its name).
SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"%PDF-", "application/pdf"),
)
IMAGES = ("image/jpeg", "image/png", "image/webp")
EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "application/pdf": "pdf",
}

Push = Callable[[dict[str, Any]], Awaitable[None]]


def content_type_of(content: bytes) -> str | None:
    """JPEG, PNG, WebP or PDF, from the content itself; None for anything else."""
    for signature, content_type in SIGNATURES:
        if content.startswith(signature):
            return content_type
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def is_visitor(chat_id: object) -> bool:
    return isinstance(chat_id, int) and FIRST_VISITOR_ID <= chat_id <= LAST_VISITOR_ID


@dataclass(frozen=True)
class Visitor:
    id: int
    language: str | None = None  # "zh" or "en": the page's (the browser's, or chosen)

    @property
    def user(self) -> User:
        return User(id=self.id, is_bot=False, first_name="", language_code=self.language)

    @property
    def chat(self) -> Chat:
        return Chat(id=self.id, type="private")


def buttons_of(markup: object) -> str | None:
    """An inline keyboard as the page shows it: rows of {text, data} or {text, url}."""
    if not isinstance(markup, InlineKeyboardMarkup) or not markup.inline_keyboard:
        return None
    rows = [
        [
            {"text": b.text, "url": b.url} if b.url else {"text": b.text, "data": b.callback_data}
            for b in row
            if b.url or b.callback_data
        ]
        for row in markup.inline_keyboard
    ]
    return json.dumps(rows, ensure_ascii=False)


def shown(event: WebChatEvent) -> dict[str, Any]:
    """A kept message as the page receives it; a photo or file by its id, which the page opens
    at /chat/file/<id> with the visitor's cookie."""
    frame = {
        "type": "message",
        "id": event.id,
        "from": event.sender,
        "text": event.text,
        "buttons": json.loads(event.buttons) if event.buttons else [],
        "at": event.created_at.isoformat(),
    }
    if event.file_id is not None:
        frame["media"] = {"id": event.file_id, "kind": event.media, "name": event.file_name}
    return frame


class FileRefused(Exception):
    """A file that is not shown on a visitor's page (too large, or not to be had)."""


class FileTooLargeForPage(FileRefused):
    pass


class FileTooLarge(TelegramBadRequest):
    """An agent's photo or file over what the pages show ([web] file_max_mb): the agent is
    told, in their language."""

    def __init__(self, method: TelegramMethod[Any], limit_mb: float) -> None:
        super().__init__(method, f"the file is over the web chat's {limit_mb:g} MB")
        self.limit_mb = limit_mb


class WebSession(OwnChannelSession):
    """Answers the bot's requests for web visitors: keeps the message and pushes it to the
    visitor's open pages."""

    def __init__(self, chat: WebChat) -> None:
        super().__init__()
        self.web = chat

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        result: Any = await self._answer(method)
        return result

    async def _answer(self, method: TelegramMethod[Any]) -> Any:
        web = self.web
        if isinstance(method, GetMe):
            return BOT_USER
        if isinstance(method, AnswerCallbackQuery):
            visitor_id = int(method.callback_query_id.split(":")[0])
            if method.text:
                await web.push(
                    visitor_id, {"type": "note", "text": method.text, "alert": method.show_alert}
                )
            return True
        chat_id = getattr(method, "chat_id", None)
        if not is_visitor(chat_id):
            if isinstance(method, CopyMessage) and is_visitor(method.from_chat_id):
                method = await web.as_staff_copy(method)
            return await web.to_telegram(method)
        assert isinstance(chat_id, int)
        if isinstance(method, SendMessage):
            return await web.send(chat_id, method.text, method.reply_markup)
        if isinstance(method, EditMessageText | EditMessageReplyMarkup) and method.message_id:
            text = method.text if isinstance(method, EditMessageText) else None
            return await web.edit(chat_id, method.message_id, text, method.reply_markup)
        if isinstance(method, SendDocument) and isinstance(method.document, BufferedInputFile):
            return await web.send_file(chat_id, method.document, method.caption)
        if isinstance(method, SendPhoto | SendDocument):
            kind = "photo" if isinstance(method, SendPhoto) else "document"
            file = method.photo if isinstance(method, SendPhoto) else method.document
            if not isinstance(file, str):
                raise TelegramBadRequest(method, "only Telegram's files reach the web chat")
            try:
                return await web.send_media(chat_id, kind, file, method.caption)
            except FileTooLargeForPage:
                raise FileTooLarge(method, web.file_max_bytes / 1024 / 1024) from None
            except FileRefused as refused:
                raise TelegramBadRequest(method, str(refused)) from None
        if isinstance(method, SendChatAction | DeleteMessage):
            return True  # the page shows its own typing indicator; nothing is taken back
        log.warning("web chat: %s is not available to visitors", type(method).__name__)
        raise TelegramBadRequest(method, f"{type(method).__name__} is not available on the web")


class WebChat:
    """The visitors' open pages, and the web channel's bot that writes to them."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        session_factory: SessionFactory,
        clock: Clock,
        telegram: Bot | None = None,
        *,
        file_max_bytes: int = 20 * 1024 * 1024,
        redis_url: str | None = None,
        concurrency: int = 10,
    ) -> None:
        self.dispatcher = dispatcher
        self.session_factory = session_factory
        self.clock = clock
        self.telegram = telegram
        self.file_max_bytes = file_max_bytes
        self.bot = Bot(WEB_TOKEN, session=WebSession(self))
        self._pages: dict[int, set[Push]] = {}
        self._updates = itertools.count(1)
        # what visitors send is handled this many at a time (the database pool's size, as
        # Telegram's updates are): a crowd waits its turn instead of running the pool dry
        self._handling = asyncio.Semaphore(concurrency)
        # the visitor's pages held by other replicas, through Redis
        self.replicas = ReplicaPush(redis_url, self.push_here) if redis_url else None

    async def start(self) -> None:
        if self.replicas is not None:
            await self.replicas.start()

    async def stop(self) -> None:
        if self.replicas is not None:
            await self.replicas.stop()

    # the pages

    async def open_page(self, visitor_id: int, push: Push) -> None:
        pages = self._pages.setdefault(visitor_id, set())
        pages.add(push)
        if len(pages) == 1 and self.replicas is not None:
            await self.replicas.watch(visitor_id)

    async def close_page(self, visitor_id: int, push: Push) -> None:
        pages = self._pages.get(visitor_id)
        if pages is not None:
            pages.discard(push)
            if not pages:
                del self._pages[visitor_id]
                if self.replicas is not None:
                    await self.replicas.unwatch(visitor_id)

    async def push(self, visitor_id: int, event: dict[str, Any]) -> None:
        """To every page the visitor has open, here and on the other replicas."""
        await self.push_here(visitor_id, event)
        if self.replicas is not None:
            await self.replicas.publish(visitor_id, event)

    async def push_here(self, visitor_id: int, event: dict[str, Any]) -> None:
        """To the visitor's pages on this replica; a page that has gone away is dropped."""
        for push in list(self._pages.get(visitor_id, ())):
            try:
                await push(event)
            except (ConnectionError, RuntimeError) as error:
                log.info("web chat: a page of visitor=%s went away (%s)", visitor_id, error)
                await self.close_page(visitor_id, push)

    async def history(self, visitor_id: int) -> list[dict[str, Any]]:
        async with self.session_factory() as session:
            return [shown(event) for event in await recent_events(session, visitor_id, HISTORY)]

    # what visitors do

    async def write(self, visitor: Visitor, text: str) -> None:
        """A message the visitor wrote: shown on their pages, then handled."""
        async with self._handling:
            await self._write(visitor, text)

    async def _write(self, visitor: Visitor, text: str) -> None:
        async with self.session_factory() as session:
            event = await add_event(session, visitor.id, "visitor", text, now=self.clock.now())
            await session.commit()
        await self.push(visitor.id, shown(event))
        assert event.id is not None
        entities = None
        if text.startswith("/"):
            command = text.split()[0]
            entities = [MessageEntity(type="bot_command", offset=0, length=len(command))]
        message = Message(
            message_id=event.id,
            date=event.created_at,
            chat=visitor.chat,
            from_user=visitor.user,
            text=text,
            entities=entities,
        )
        await self._feed(visitor, Update(update_id=next(self._updates), message=message))

    async def upload(
        self, visitor: Visitor, content: bytes, content_type: str, caption: str | None
    ) -> None:
        """A photo (JPEG, PNG, WebP) or PDF the visitor sent, its type already checked: kept,
        shown on their pages, then handled as Telegram's photo or document message."""
        async with self._handling:
            await self._upload(visitor, content, content_type, caption)

    async def _upload(
        self, visitor: Visitor, content: bytes, content_type: str, caption: str | None
    ) -> None:
        kind = "photo" if content_type in IMAGES else "document"
        name = f"{kind}.{EXTENSIONS.get(content_type, 'bin')}"
        async with self.session_factory() as session:
            file = await add_file(
                session,
                visitor.id,
                content=content,
                content_type=content_type,
                name=name,
                now=self.clock.now(),
            )
            event = await add_event(
                session, visitor.id, "visitor", caption or "", now=self.clock.now(), file=file,
                media=kind,
            )  # fmt: skip
            await session.commit()
        assert event.id is not None and file.id is not None
        log.info("web chat: visitor=%s sent file=%s (%s bytes)", visitor.id, file.id, file.size)
        await self.push(visitor.id, shown(event))
        file_id = f"{FILE_PREFIX}{file.id}"
        photo = document = None
        if kind == "photo":
            photo = [
                PhotoSize(
                    file_id=file_id, file_unique_id=file_id, width=0, height=0, file_size=file.size
                )
            ]
        else:
            document = Document(
                file_id=file_id,
                file_unique_id=file_id,
                file_name=name,
                mime_type=content_type,
                file_size=file.size,
            )
        message = Message(
            message_id=event.id,
            date=event.created_at,
            chat=visitor.chat,
            from_user=visitor.user,
            photo=photo,
            document=document,
            caption=caption or None,
        )
        await self._feed(visitor, Update(update_id=next(self._updates), message=message))

    async def press(self, visitor: Visitor, message_id: int, data: str) -> bool:
        """A button the visitor pressed; False when that message of theirs has no such button
        (anymore), which the page is told as a stale button."""
        async with self._handling:
            return await self._press(visitor, message_id, data)

    async def _press(self, visitor: Visitor, message_id: int, data: str) -> bool:
        async with self.session_factory() as session:
            event = await visitor_event(session, visitor.id, message_id)
        rows = json.loads(event.buttons) if event is not None and event.buttons else []
        if (
            event is None
            or event.sender != "bot"
            or not any(button.get("data") == data for row in rows for button in row)
        ):
            return False
        number = next(self._updates)
        query = CallbackQuery(
            id=f"{visitor.id}:{number}",
            from_user=visitor.user,
            chat_instance=str(visitor.id),
            message=self._message(event),
            data=data,
        )
        await self._feed(visitor, Update(update_id=number, callback_query=query))
        return True

    async def _feed(self, visitor: Visitor, update: Update) -> None:
        try:
            await self.dispatcher.feed_update(self.bot, update)
        except Exception:  # the errors router answered what it could; the page must not hang
            log.exception("web chat: update=%s of visitor=%s failed", update.update_id, visitor.id)
        finally:
            await self.push(visitor.id, {"type": "done"})

    # what the bot sends

    async def send(self, visitor_id: int, text: str, markup: object = None) -> Message:
        async with unit_of_work(self.session_factory) as session:
            event = await add_event(
                session, visitor_id, "bot", text, now=self.clock.now(), buttons=buttons_of(markup)
            )
        await self.push(visitor_id, shown(event))
        return self._message(event)

    async def edit(
        self, visitor_id: int, message_id: int, text: str | None, markup: object
    ) -> Message | bool:
        async with unit_of_work(self.session_factory) as session:
            event = await visitor_event(session, visitor_id, message_id)
            if event is None:  # erased with the visitor's data (/delete_me): nothing to edit
                return True
            if text is not None:
                event.text = text
            event.buttons = buttons_of(markup)
            session.add(event)
            await session.flush()
        await self.push(visitor_id, {**shown(event), "type": "edit"})
        return self._message(event)

    async def send_file(self, visitor_id: int, document: object, caption: str | None) -> Message:
        """A file (a customer's copy of their data) for the page to offer as a download; kept
        in the conversation by its name only."""
        content = document.data if isinstance(document, BufferedInputFile) else b""
        name = getattr(document, "filename", None) or "file"
        text = f"📎 {name}" + (f"\n{caption}" if caption else "")
        async with unit_of_work(self.session_factory) as session:
            event = await add_event(session, visitor_id, "bot", text, now=self.clock.now())
        await self.push(
            visitor_id,
            {
                **shown(event),
                "file": {"name": name, "data": base64.b64encode(content).decode("ascii")},
            },
        )
        return self._message(event)

    async def send_media(
        self, visitor_id: int, kind: str, telegram_file_id: str, caption: str | None
    ) -> Message:
        """An agent's photo or file (Telegram's file id): fetched from Telegram once, kept for
        the visitor's page to show (a photo in the conversation, a file as a download link)."""
        content, name = await self._from_telegram(telegram_file_id)
        content_type = content_type_of(content) or "application/octet-stream"
        if kind == "photo" and content_type not in IMAGES:
            kind = "document"  # shown as a download: the page shows no other kind of image
        async with unit_of_work(self.session_factory) as session:
            file = await add_file(
                session,
                visitor_id,
                content=content,
                content_type=content_type,
                name=name,
                now=self.clock.now(),
            )
            event = await add_event(
                session, visitor_id, "bot", caption or "", now=self.clock.now(), file=file,
                media=kind,
            )  # fmt: skip
        log.info("web chat: file=%s (%s bytes) for visitor=%s", file.id, file.size, visitor_id)
        await self.push(visitor_id, shown(event))
        return self._message(event)

    async def _from_telegram(self, file_id: str) -> tuple[bytes, str]:
        """A file's content and name, downloaded through the Telegram bot; FileRefused when
        there is no Telegram here, or the file is over the size the pages show."""
        if self.telegram is None:
            raise FileRefused("no Telegram bot here to fetch the file from")
        limit = self.file_max_bytes
        found = await self.telegram.get_file(file_id)
        if (found.file_size or 0) > limit:
            raise FileTooLargeForPage
        if not found.file_path:
            raise FileRefused("Telegram gave no path to download the file from")
        buffer = io.BytesIO()
        await self.telegram.download_file(found.file_path, buffer)
        content = buffer.getvalue()
        if len(content) > limit:
            raise FileTooLargeForPage
        return content, found.file_path.rsplit("/", 1)[-1][:255] or "file"

    async def file(self, visitor_id: int, file_id: int) -> WebChatFile | None:
        """The visitor's own photo or file; None for anyone else's."""
        async with self.session_factory() as session:
            return await visitor_file(session, visitor_id, file_id)

    def _message(self, event: WebChatEvent) -> Message:
        assert event.id is not None
        rows = json.loads(event.buttons) if event.buttons else []
        markup = InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=b["text"], url=b.get("url"), callback_data=b.get("data")
                    )
                    for b in row
                ]
                for row in rows
            ]
        )
        return Message(
            message_id=event.id,
            date=event.created_at,
            chat=Chat(id=event.visitor_id, type="private"),
            from_user=BOT_USER if event.sender == "bot" else None,
            text=event.text,
            reply_markup=markup if rows else None,
        )

    # the staff's side, on Telegram

    async def to_telegram(self, method: TelegramMethod[Any]) -> Any:
        """A request for a chat that is no visitor (the agents' group): sent by the Telegram
        bot when kefu serves Telegram; otherwise it fails, in the log and to its caller."""
        if self.telegram is None:
            log.warning(
                "web chat: %s for a staff chat, but kefu serves no Telegram here; not sent",
                type(method).__name__,
            )
            raise TelegramBadRequest(method, "no Telegram bot: the agents cannot be reached")
        return await self.telegram(method)

    async def as_staff_copy(self, method: CopyMessage) -> SendMessage | SendPhoto | SendDocument:
        """A visitor's message copied to the agents (Telegram cannot copy from the web): its
        text sent as a message, its photo or file uploaded with its caption."""
        assert isinstance(method.from_chat_id, int)
        visitor_id = method.from_chat_id
        async with unit_of_work(self.session_factory) as session:
            event = await visitor_event(session, visitor_id, method.message_id)
            file = None
            if event is not None and event.file_id is not None:
                file = await visitor_file(session, visitor_id, event.file_id)
        if event is not None and file is not None:
            upload = BufferedInputFile(file.data, file.name)
            caption = event.text or None
            thread = method.message_thread_id
            if event.media == "photo":
                return SendPhoto(
                    chat_id=method.chat_id, photo=upload, caption=caption, message_thread_id=thread
                )
            return SendDocument(
                chat_id=method.chat_id, document=upload, caption=caption, message_thread_id=thread
            )
        text = "[a message from the web chat]"
        if event is not None:  # a file already erased leaves its caption, or its kind
            text = event.text or f"[{event.media or 'message'}]"
        return SendMessage(
            chat_id=method.chat_id, text=text, message_thread_id=method.message_thread_id
        )
