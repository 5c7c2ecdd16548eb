"""Incident notices (应急预案): while something goes wrong that many customers will ask about (a
storm delays deliveries, a product is out of stock, payments fail), an admin publishes a notice
in zh and en, for every answer or for the knowledge-base entries it concerns, with an expiry.
It stands before those answers, and before the fallback, until it is ended or expires.

The notices in force are held in memory (no statement per question), changed at once by this
process and re-read every few seconds for those started or ended through another replica or
`kefu incident` (bot.schedule.jobs)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.texts import Say
from storage import incidents
from storage.models import Incident

log = logging.getLogger(__name__)

# Per language: the notice stands before an answer, and the two must fit in one Telegram message
# (4,096 characters) with room to spare.
NOTICE_LIMIT = 1000
LONGEST_HOURS = 24 * 14


class IncidentRefused(ValueError):
    """A notice that cannot be published: a catalogue key and its values, said so that an
    admin can fix it."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


class IncidentBoard:
    def __init__(self, clock: Clock, entry_ids: Callable[[], Iterable[str]]) -> None:
        self.clock = clock
        self.entry_ids = entry_ids  # the knowledge base's entries as it stands
        self._in_force: list[Incident] = []

    async def load(self, session: AsyncSession) -> None:
        self._in_force = await incidents.in_force(session, self.clock.now())

    def in_force(self) -> list[Incident]:
        now = self.clock.now()
        return [incident for incident in self._in_force if incident.expires_at > now]

    def notice(self, entry_id: str | None, language: str) -> str | None:
        """The notices for an answer from `entry_id` (None: the fallback, which shows all of
        them), in `language`, one paragraph each."""
        texts = [
            incident.text_zh if language == "zh" else incident.text_en
            for incident in self.in_force()
            if entry_id is None or not incident.entries or entry_id in concerns(incident)
        ]
        return "\n\n".join(f"📢 {text}" for text in texts) or None

    async def start(
        self,
        session: AsyncSession,
        *,
        zh: str,
        en: str,
        hours: float,
        entries: Iterable[str] = (),
        by: str,
    ) -> Incident:
        zh, en = zh.strip(), en.strip()
        wanted = [e.strip() for e in entries if e.strip()]
        if not zh or not en:
            raise IncidentRefused("incident_needs_both")
        for language, text in (("zh", zh), ("en", en)):
            if len(text) > NOTICE_LIMIT:
                raise IncidentRefused(
                    "incident_too_long", which=language, length=len(text), limit=NOTICE_LIMIT
                )
        if not 0 < hours <= LONGEST_HOURS:
            raise IncidentRefused("incident_hours", longest=LONGEST_HOURS)
        unknown = sorted(set(wanted) - set(self.entry_ids()))
        if unknown:
            raise IncidentRefused("incident_unknown_entries", entries=", ".join(unknown))
        now = self.clock.now()
        incident = Incident(
            text_zh=zh,
            text_en=en,
            entries=",".join(wanted),
            started_at=now,
            expires_at=now + timedelta(hours=hours),
            started_by=by,
        )
        session.add(incident)
        await session.flush()
        log.warning("incident=%s started by %s", incident.id, by)
        await self.load(session)
        return incident

    async def end(
        self, session: AsyncSession, by: str, incident_id: int | None = None
    ) -> list[int]:
        ended = await incidents.end(session, self.clock.now(), by, incident_id)
        for number in ended:
            log.warning("incident=%s ended by %s", number, by)
        await self.load(session)
        return ended


def concerns(incident: Incident) -> list[str]:
    return [entry for entry in incident.entries.split(",") if entry]


def describe(
    incident: Incident, say: Say, local: Callable[[datetime], datetime]
) -> dict[str, object]:
    """What an admin reads of a notice: its number, until when, and what it stands before."""
    entries = concerns(incident)
    scope = (
        say("incident_scope_entries", entries=", ".join(entries))
        if entries
        else say("incident_scope_all")
    )
    until = local(incident.expires_at).strftime("%Y-%m-%d %H:%M")
    return {"number": incident.id, "until": until, "scope": scope}


async def answer_command(
    board: IncidentBoard,
    session: AsyncSession,
    argument: str,
    by: str,
    say: Say,
    local: Callable[[datetime], datetime],
) -> str:
    """`/incident`: the notices in force and how to use it; `/incident HOURS [entries=ID,ID]
    中文 | English` publishes one; `/incident end [N]` ends one or all."""
    words = argument.split(maxsplit=1)
    if not words:
        shown = [
            say(
                "incident_line",
                text=i.text_zh if say.language == "zh" else i.text_en,
                **describe(i, say, local),
            )
            for i in board.in_force()
        ]
        listing = (
            "\n".join([say("incident_in_force"), *shown])
            if shown
            else say("incident_none_in_force")
        )
        return f"{listing}\n\n{say('incident_usage')}"
    if words[0].lower() == "end":
        rest = words[1].strip() if len(words) > 1 else ""
        if rest and not rest.isdigit():
            return say("incident_usage")
        ended = await board.end(session, by, int(rest) if rest else None)
        if not ended:
            return say("incident_none_in_force")
        return say("incident_ended", numbers=", ".join(f"#{n}" for n in ended))
    try:
        hours = float(words[0])
    except ValueError:
        return say("incident_usage")
    text = words[1] if len(words) > 1 else ""
    entries: list[str] = []
    if text.startswith("entries="):
        listed, _, text = text.partition(" ")
        entries = listed.removeprefix("entries=").split(",")
    zh, bar, en = text.partition("|")
    try:
        if not bar:
            raise IncidentRefused("incident_needs_both")
        incident = await board.start(session, zh=zh, en=en, hours=hours, entries=entries, by=by)
    except IncidentRefused as refused:
        return say(refused.key, **refused.values)
    return say("incident_started", **describe(incident, say, local))
