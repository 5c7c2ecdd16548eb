"""The update being handled, named on every log line written while it is (`update_id` on the
record), and the JSON form of a log line for log aggregators (`[logging] format = "json"`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

CURRENT_UPDATE: ContextVar[int | None] = ContextVar("kefu_update", default=None)


class NameTheUpdate(BaseMiddleware):
    """The first outer middleware: whatever is logged while an update is handled names it."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        token = CURRENT_UPDATE.set(event.update_id if isinstance(event, Update) else None)
        try:
            return await handler(event, data)
        finally:
            CURRENT_UPDATE.reset(token)


class UpdateOnRecord(logging.Filter):
    """Puts `update_id` on every record (None outside an update)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.update_id = CURRENT_UPDATE.get()
        return True


class JsonLines(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, update, and the traceback
    when there is one. The message is what kefu logs: ids, never what customers wrote."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "update": getattr(record, "update_id", None),
        }
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)
