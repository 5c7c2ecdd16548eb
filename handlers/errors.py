"""The last line: whatever fails while handling an update, the customer gets a clear answer."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.types import ErrorEvent

from bot.config import Config
from bot.middlewares.language import language_from_code
from bot.texts import Texts

log = logging.getLogger(__name__)


def create_router() -> Router:
    router = Router(name="errors")
    router.errors.register(apologise)
    return router


async def apologise(event: ErrorEvent, bot: Bot, config: Config, texts: Texts) -> None:
    update = event.update
    log.exception("update=%s failed", update.update_id, exc_info=event.exception)
    message = update.message or (update.callback_query.message if update.callback_query else None)
    if message is None or message.chat.type != "private":
        return
    query = update.callback_query
    user = update.message.from_user if update.message else query.from_user if query else None
    language = language_from_code(user.language_code if user else None)
    try:
        await bot.send_message(
            message.chat.id, texts("error", language or config.bot.default_language)
        )
    except Exception:
        log.exception("could not tell chat=%s about the failure", message.chat.id)
