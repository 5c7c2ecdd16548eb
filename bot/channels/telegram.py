"""Telegram: the bot for the Bot API (or a self-hosted Bot API server), with the retries on its
session, and the command menu."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from typing import Any
from urllib.parse import urlsplit

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import ClientDecodeError, TelegramNetworkError
from aiogram.methods import GetUpdates, Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Update
from aiohttp import ClientError, ClientResponseError, ClientSession
from pydantic import ValidationError

from bot.channels.commit_first import CommitBeforeSending
from bot.channels.long_text import SplitLongText
from bot.channels.retries import RetryMiddleware
from bot.channels.send_limit import GlobalSendLimit, LocalSendLimit, SendLimit
from bot.config import Config
from bot.web.metrics import CountTelegramErrors, Metrics

log = logging.getLogger(__name__)


class FileDownloadFailed(Exception):
    """A file could not be downloaded from Telegram: `status` is the HTTP status it answered,
    None when it could not be reached. Said without the file's URL, which holds the bot token."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class SessionShut(RuntimeError):
    """A request made after the bot's session was closed for good (at shutdown)."""


class TelegramUnreachable(Exception):
    """Telegram could not be reached, or refused the token, when the bot started; the message
    names the setting and never the token."""


def api_server_name(config: Config) -> str:
    """Where the bot's requests go, without anything secret a URL may hold."""
    server = config.telegram.api_server
    if not server:
        return "api.telegram.org"
    parts = urlsplit(server)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port} ([telegram] api_server)"


class TelegramSession(AiohttpSession):
    """aiogram's session, except that one update it cannot read does not fail the whole
    getUpdates answer. aiogram validates the answer as one list: a single update that does not
    fit its types would fail every poll, and the offset would never move past it (before and
    after a restart). Here such an update is logged by its id and skipped, and the next poll
    confirms it so that Telegram stops sending it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._skipped_up_to: int | None = None
        self._resetting = False
        self._shut = False

    async def create_session(self) -> ClientSession:
        """aiogram opens a new connection pool whenever the last one is closed, so a handler
        still running at shutdown would open one that nothing ever closes. Once the bot is shut,
        a request fails instead (the update it answers stays unconfirmed, and Telegram sends it
        again to the next process)."""
        if self._shut:
            raise SessionShut("kefu is shutting down: no more requests to Telegram")
        self._resetting = True  # aiogram closes the old pool here itself: that is no shutdown
        try:
            return await super().create_session()
        finally:
            self._resetting = False

    async def close(self) -> None:
        if not self._resetting:
            self._shut = True
        await super().close()

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        if (
            isinstance(method, GetUpdates)
            and self._skipped_up_to is not None
            and (method.offset is None or method.offset <= self._skipped_up_to)
        ):
            # when the unreadable update was the last one, aiogram has no later id to confirm
            method.offset = self._skipped_up_to + 1
        try:
            return await super().make_request(bot, method, timeout)
        except TelegramNetworkError as error:
            # aiohttp names the URL in some errors (an invalid one), and the URL holds the token
            if bot.token and bot.token in f"{error.message} {error.__cause__}":
                message = error.message.replace(bot.token, "<token>")
                raise TelegramNetworkError(method, message) from None
            raise

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        try:
            async for chunk in super().stream_content(
                url, headers, timeout, chunk_size, raise_for_status
            ):
                yield chunk
        except ClientResponseError as error:
            raise FileDownloadFailed(
                f"the file's download answered {error.status}", error.status
            ) from None
        except (ClientError, TimeoutError) as error:
            raise FileDownloadFailed(
                f"the file's download failed: {type(error).__name__}"
            ) from None

    def check_response(
        self, bot: Bot, method: TelegramMethod[TelegramType], status_code: int, content: str
    ) -> Response[TelegramType]:
        polling = isinstance(method, GetUpdates)
        try:
            return super().check_response(bot, method, status_code, content)
        except ClientDecodeError:
            if not polling:
                raise
            readable = self._readable_updates(bot, content)
            if readable is None:
                raise
        return super().check_response(bot, method, status_code, self.json_dumps(readable))

    def _readable_updates(self, bot: Bot, content: str) -> dict[str, Any] | None:
        """The answer with only the updates that aiogram can read; None when the answer itself
        is not what getUpdates returns."""
        try:
            answer = self.json_loads(content)
        except ValueError:
            return None
        if not isinstance(answer, dict) or not isinstance(answer.get("result"), list):
            return None
        kept = []
        for raw in answer["result"]:
            update_id = raw.get("update_id") if isinstance(raw, dict) else None
            try:
                Update.model_validate(raw, context={"bot": bot})
            except ValidationError as error:
                if not isinstance(update_id, int):
                    return None  # without an id it cannot be confirmed: let polling back off
                # where the update is wrong, never what it holds (a customer's text)
                where = sorted({".".join(map(str, e["loc"])) for e in error.errors()})
                log.warning("update=%s cannot be read (%s); skipped", update_id, ", ".join(where))
                self._skipped_up_to = max(self._skipped_up_to or 0, update_id)
                continue
            kept.append(raw)
        return {**answer, "result": kept}


def create_bot(
    config: Config,
    session: BaseSession | None = None,
    retries: RetryMiddleware | None = None,
    metrics: Metrics | None = None,
    send_limit: SendLimit | None = None,
) -> Bot:
    """The Telegram bot. Its session retries every request and keeps Telegram's send limit
    (this process's own unless `send_limit` is shared), once for all callers: whatever sends (a
    handler, a relay, a scheduled job) goes through it."""
    if session is None:
        api_server = config.telegram.api_server
        if api_server:
            session = TelegramSession(api=TelegramAPIServer.from_base(api_server))
        else:
            session = TelegramSession()
    limit = send_limit or LocalSendLimit(config.telegram.max_sends_per_second)
    prepare_session(session, retries or RetryMiddleware(), metrics, limit)
    token = config.telegram.token.get_secret_value() if config.telegram.token else ""
    return Bot(token=token, session=session, default=DefaultBotProperties(parse_mode=None))


def prepare_session(
    session: BaseSession,
    retries: RetryMiddleware,
    metrics: Metrics | None = None,
    send_limit: SendLimit | None = None,
) -> None:
    """What every request goes through: the update's database work committed, long texts split,
    then each part retried, each try of a message waiting its turn under Telegram's limit (and
    each try's failure counted)."""
    session.middleware(CommitBeforeSending())
    session.middleware(SplitLongText())
    session.middleware(retries)
    if send_limit is not None:
        on_wait = metrics.send_limit_waits.inc if metrics is not None else None
        session.middleware(GlobalSendLimit(send_limit, on_wait))
    if metrics is not None:
        session.middleware(CountTelegramErrors(metrics))
