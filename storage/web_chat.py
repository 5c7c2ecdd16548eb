"""The messages on web visitors' pages (WebChatEvent): written as they are shown, read back
when a visitor comes again."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import WebChatEvent


async def add_event(
    session: AsyncSession,
    visitor_id: int,
    sender: str,
    text: str,
    *,
    now: datetime,
    buttons: str | None = None,
) -> WebChatEvent:
    event = WebChatEvent(
        visitor_id=visitor_id, sender=sender, text=text, buttons=buttons, created_at=now
    )
    session.add(event)
    await session.flush()
    return event


async def visitor_event(
    session: AsyncSession, visitor_id: int, event_id: int
) -> WebChatEvent | None:
    """The visitor's own message `event_id`; None when there is none or it is someone else's."""
    event = await session.get(WebChatEvent, event_id)
    if event is None or event.visitor_id != visitor_id:
        return None
    return event


async def recent_events(session: AsyncSession, visitor_id: int, limit: int) -> list[WebChatEvent]:
    """The visitor's last `limit` messages, oldest first."""
    statement = (
        select(WebChatEvent)
        .where(WebChatEvent.visitor_id == visitor_id)
        .order_by(col(WebChatEvent.id).desc())
        .limit(limit)
    )
    return list(reversed((await session.exec(statement)).all()))
