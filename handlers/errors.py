"""The last line: whatever fails while handling an update, the customer gets a clear answer."""

from __future__ import annotations

import contextlib
import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, ErrorEvent

from bot.channels.retries import DeliveryUncertain
from bot.channels.update_runs import hold_until_database_returns
from bot.config import Config
from bot.middlewares.language import language_from_code
from bot.texts import Say, Texts
from storage.database import database_away

log = logging.getLogger(__name__)


def _name(event: ErrorEvent) -> str:
    return type(event.exception).__name__


def create_router() -> Router:
    router = Router(name="errors")
    router.callback_query.register(answer_unknown_button)
    router.errors.register(apologise)
    return router


async def answer_unknown_button(query: CallbackQuery, say: Say) -> None:
    """A button no router knows (stale, from an old version, or forged): every press gets an
    answer, or the customer's app shows a spinner until it gives up."""
    await query.answer(say("button_stale"))


async def apologise(
    event: ErrorEvent, bot: Bot, config: Config, texts: Texts, language: str | None = None
) -> None:
    """`language` is missing when the update failed before its language was worked out."""
    update = event.update
    if isinstance(event.exception, DeliveryUncertain):
        # the reply may well have arrived: an apology after it would only confuse
        log.warning("update=%s: the reply's answer was lost", update.update_id)
        return
    message = update.message or (update.callback_query.message if update.callback_query else None)
    private = message is not None and message.chat.type == "private"
    held = None
    if update.message is not None and database_away(event.exception):
        # (a button press is not held: its answer cannot wait, and it can be pressed again)
        held = hold_until_database_returns(update.message.chat.id if private else None)
    if held is not None:
        # handled again once the database answers: its reply (or relay) comes then
        log.warning("update=%s: the database is away (%s)", update.update_id, _name(event))
        if not held.first_in_chat:
            return
    else:
        log.exception("update=%s failed", update.update_id, exc_info=event.exception)
    if update.callback_query is not None:
        with contextlib.suppress(TelegramAPIError):  # it may have been answered already
            await update.callback_query.answer()
    if message is None or not private:
        return
    if language is None:
        query = update.callback_query
        user = update.message.from_user if update.message else query.from_user if query else None
        language = language_from_code(user.language_code if user else None)
    try:
        await bot.send_message(
            message.chat.id,
            texts("error_held" if held else "error", language or config.bot.default_language),
        )
    except Exception:
        log.exception("could not tell chat=%s about the failure", message.chat.id)
