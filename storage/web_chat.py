"""The messages on web visitors' pages (WebChatEvent): written as they are shown, read back
when a visitor comes again; and the photos and files they carry (WebChatFile), each readable
by its own visitor only."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import WebChatEvent, WebChatFile


async def add_event(
    session: AsyncSession,
    visitor_id: int,
    sender: str,
    text: str,
    *,
    now: datetime,
    buttons: str | None = None,
    file: WebChatFile | None = None,
    media: str | None = None,
) -> WebChatEvent:
    event = WebChatEvent(
        visitor_id=visitor_id, sender=sender, text=text, buttons=buttons, created_at=now
    )
    if file is not None:
        event.file_id, event.media, event.file_name = file.id, media, file.name
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


async def add_file(
    session: AsyncSession,
    visitor_id: int,
    *,
    content: bytes,
    content_type: str,
    name: str,
    now: datetime,
) -> WebChatFile:
    file = WebChatFile(
        visitor_id=visitor_id,
        content_type=content_type,
        name=name[:255],
        size=len(content),
        data=content,
        created_at=now,
    )
    session.add(file)
    await session.flush()
    return file


async def visitor_file(session: AsyncSession, visitor_id: int, file_id: int) -> WebChatFile | None:
    """The visitor's own file `file_id`; None when there is none or it is someone else's."""
    file = await session.get(WebChatFile, file_id)
    if file is None or file.visitor_id != visitor_id:
        return None
    return file
