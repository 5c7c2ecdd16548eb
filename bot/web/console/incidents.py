"""What the Incidents page shows and does: the notices in force and those of the last 30 days,
and starting or ending one through the same IncidentBoard as `/incident` and `kefu incident`
(the same checks and limits; the row records who started and ended it, as "admin:<id>")."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.incidents.notices import (
    LONGEST_HOURS,
    NOTICE_LIMIT,
    IncidentBoard,
    IncidentRefused,
    concerns,
    describe,
)
from bot.texts import Say
from storage import incidents
from storage.models import Incident

RECENT = timedelta(days=30)


@dataclass(frozen=True)
class Notice:
    incident: Incident
    state: str  # "in_force", "expired" or "ended"
    until: str
    scope: str
    entries: list[str]


@dataclass(frozen=True)
class IncidentsView:
    notices: list[Notice]
    entry_ids: list[str]  # the knowledge base's, for the form
    longest_hours: int = LONGEST_HOURS
    limit: int = NOTICE_LIMIT


async def incidents_page(
    session: AsyncSession,
    now: datetime,
    entry_ids: Iterable[str],
    say: Say,
    local: Callable[[datetime], datetime],
) -> IncidentsView:
    notices = []
    for incident in await incidents.recent(session, now - RECENT):
        if incident.ended_at is not None:
            state = "ended"
        elif incident.expires_at <= now:
            if incident.expires_at < now - RECENT:
                continue  # expired long ago, never ended
            state = "expired"
        else:
            state = "in_force"
        told = describe(incident, say, local)
        notices.append(
            Notice(incident, state, str(told["until"]), str(told["scope"]), concerns(incident))
        )
    return IncidentsView(notices, sorted(entry_ids))


async def start_from_form(
    board: IncidentBoard,
    session: AsyncSession,
    *,
    zh: str,
    en: str,
    hours: str,
    entries: list[str],
    by: str,
) -> Incident:
    """The form's fields, read as `kefu incident start` reads its options; IncidentRefused
    says what is wrong, as the board says it to /incident."""
    try:
        number = float(hours.strip())
    except ValueError:
        raise IncidentRefused("incident_hours", longest=LONGEST_HOURS) from None
    if number != number:  # NaN
        raise IncidentRefused("incident_hours", longest=LONGEST_HOURS)
    return await board.start(session, zh=zh, en=en, hours=number, entries=entries, by=by)
