"""What the Broadcasts page shows (admins): the latest broadcasts with what became of their
messages, and one broadcast's report, from the same Broadcasts service as `/broadcast status`;
Cancel stops one being sent through its `cancel` (recorded on the broadcast and in the log)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.incidents.broadcasts import (
    BroadcastRefused,
    Broadcasts,
    Report,
    describe_segment,
)
from bot.texts import Say
from storage.models import Broadcast, BroadcastStatus

LISTED = 50


@dataclass(frozen=True)
class BroadcastRow:
    broadcast: Broadcast
    report: Report
    status: str  # a broadcast_status_* key's ending: draft, sending, done, cancelled
    segment: str  # in the reader's language

    @property
    def cancellable(self) -> bool:
        """A draft, or one still being sent (what waits in the schedule stops)."""
        return self.status in ("draft", "sending")


async def broadcast_row(
    session: AsyncSession, service: Broadcasts, broadcast_id: int, say: Say
) -> BroadcastRow | None:
    try:
        broadcast, report = await service.report(session, broadcast_id)
    except BroadcastRefused:
        return None
    status = broadcast.status.value
    if broadcast.status == BroadcastStatus.SENDING and not report.waiting:
        status = "done"
    segment = describe_segment(say, service.parse(broadcast.segment).parts)
    return BroadcastRow(broadcast, report, status, segment)


async def broadcast_rows(
    session: AsyncSession, service: Broadcasts, say: Say
) -> list[BroadcastRow]:
    rows = []
    for broadcast in await service.recent(session, LISTED):
        assert broadcast.id is not None
        row = await broadcast_row(session, service, broadcast.id, say)
        if row is not None:
            rows.append(row)
    return rows
