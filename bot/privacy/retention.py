"""Texts kept only so long ([privacy]): once a day, older texts are replaced by a placeholder
while their rows, times and figures stay."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.config import PrivacyConfig
from storage.database import SessionFactory
from storage.privacy import Expired, expire_texts

log = logging.getLogger(__name__)


def _before(now: datetime, days: int) -> datetime | None:
    return now - timedelta(days=days) if days else None


async def expire_old_texts(
    session_factory: SessionFactory, clock: Clock, settings: PrivacyConfig
) -> Expired:
    """The daily retention run (a plain coroutine, as the scheduler and tests call it)."""
    now = clock.now()
    async with session_factory() as session:
        expired = await expire_texts(
            session,
            messages_before=_before(now, settings.keep_message_text_days),
            tickets_before=_before(now, settings.keep_ticket_text_days),
            unanswered_before=_before(now, settings.keep_unanswered_days),
        )
        await session.commit()
    if expired.total:
        log.info(
            "retention: replaced %d message texts, %d survey comments, %d ticket texts and "
            "%d unanswered questions; dropped %d forms left half way",
            expired.messages,
            expired.comments,
            expired.ticket_texts,
            expired.unanswered,
            expired.forms,
        )
    return expired


def keeps_everything(settings: PrivacyConfig) -> bool:
    return not (
        settings.keep_message_text_days
        or settings.keep_ticket_text_days
        or settings.keep_unanswered_days
    )
