"""When the business is open: a weekly schedule in its time zone, with holidays.

One place answers "open now?", "when do we open next?" and "what time is N working hours after
this?"; the customer's expectation, the SLA clock and the out-of-hours reply all ask it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.texts import Texts

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# How far ahead to look for an opening before deciding there is none.
SEARCH_DAYS = 400


class NoOpeningHours(Exception):
    """The schedule has no open time in the next year."""


@dataclass(frozen=True)
class Block:
    start: time
    end: time  # at or before start: the block runs past midnight

    @classmethod
    def parse(cls, text: str) -> Block:
        """'09:00-18:00' or '20:00-02:00'."""
        try:
            first, second = (part.strip() for part in text.split("-"))
            return cls(time.fromisoformat(first), time.fromisoformat(second))
        except ValueError:
            raise ValueError(f"not a time block: {text!r} (write e.g. 09:00-18:00)") from None

    def describe(self) -> str:
        """'9:00–18:00': hours as people write them, the same in Chinese and English."""
        return f"{clock_time(self.start)}–{clock_time(self.end)}"


def clock_time(moment: time | datetime) -> str:
    return f"{moment.hour}:{moment.minute:02d}"


class BusinessHours:
    def __init__(
        self,
        timezone: str,
        weekly: Mapping[str, Sequence[str]],
        holidays: Sequence[date] = (),
    ) -> None:
        self.zone = ZoneInfo(timezone)
        self.weekly = {day: [Block.parse(b) for b in weekly.get(day, ())] for day in WEEKDAYS}
        self.holidays = set(holidays)

    def intervals(self, since: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals (UTC) that end after `since`, in order; `since` clips the first."""
        local_day = since.astimezone(self.zone).date() - timedelta(days=1)
        for offset in range(SEARCH_DAYS):
            day = local_day + timedelta(days=offset)
            if day in self.holidays:
                continue
            for block in sorted(self.weekly[WEEKDAYS[day.weekday()]], key=lambda b: b.start):
                start = datetime.combine(day, block.start, self.zone)
                end_day = day if block.end > block.start else day + timedelta(days=1)
                end = datetime.combine(end_day, block.end, self.zone)
                start, end = start.astimezone(UTC), end.astimezone(UTC)
                if end > since:
                    yield max(start, since), end

    def is_open(self, at: datetime) -> bool:
        first = next(self.intervals(at), None)
        return first is not None and first[0] <= at

    def next_open(self, at: datetime) -> datetime:
        """`at` itself when open, else the start of the next opening."""
        for start, _ in self.intervals(at):
            return start
        raise NoOpeningHours("no opening hours in the coming year")

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The moment when `duration` of open time has passed after `start`."""
        remaining = duration
        for opened, closed in self.intervals(start):
            if opened + remaining <= closed:
                return opened + remaining
            remaining -= closed - opened
        raise NoOpeningHours("no opening hours in the coming year")

    def open_time_between(self, start: datetime, end: datetime) -> timedelta:
        total = timedelta()
        for opened, closed in self.intervals(start):
            if opened >= end:
                break
            total += min(closed, end) - opened
        return total

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.zone)

    def describe(self, texts: Texts, language: str) -> str:
        """The weekly schedule for people to read, in their language: "周一至周五 9:00–18:00，
        周六 10:00–16:00（UTC+8）" or "Mon–Fri 9:00–18:00, Sat 10:00–16:00 (UTC+8)". Days in a
        row with the same hours are one range; closed days are left out."""
        runs: list[tuple[list[str], list[Block]]] = []
        for day in WEEKDAYS:
            blocks = sorted(self.weekly[day], key=lambda b: b.start)
            if (
                runs
                and runs[-1][1] == blocks
                and runs[-1][0][-1] == WEEKDAYS[WEEKDAYS.index(day) - 1]
            ):
                runs[-1][0].append(day)
            else:
                runs.append(([day], blocks))
        parts = []
        for days, blocks in runs:
            if not blocks:
                continue
            first = texts(f"weekday_{days[0]}", language)
            named = (
                first
                if len(days) == 1
                else texts(
                    "hours_days",
                    language,
                    first=first,
                    last=texts(f"weekday_{days[-1]}", language),
                )
            )
            times = texts("hours_block_separator", language).join(b.describe() for b in blocks)
            parts.append(texts("hours_day", language, days=named, times=times))
        if not parts:
            return texts("hours_none", language)
        schedule = texts("hours_separator", language).join(parts)
        return texts("hours_zone", language, hours=schedule, zone=self.zone_label())

    def zone_label(self) -> str:
        """ "UTC+8" for a zone with one offset all year, else its name ("Europe/Berlin"), whose
        offset changes with summer time."""
        offsets = {datetime(2026, month, 1, tzinfo=self.zone).utcoffset() for month in (1, 7)}
        if len(offsets) != 1:
            return self.zone.key
        offset = offsets.pop() or timedelta()
        minutes = int(offset.total_seconds() // 60)
        sign = "+" if minutes >= 0 else "-"
        hours, rest = divmod(abs(minutes), 60)
        return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")

    def opening(self, at: datetime, now: datetime, texts: Texts, language: str) -> str:
        """When `at` (an opening) is, seen from `now`, for people in their language: "周三 9:00"
        / "Wed 9:00" within the coming week, else its date ("2026-10-08 9:00")."""
        local = self.local(at)
        if at - now > timedelta(days=6):
            day = local.strftime("%Y-%m-%d")
        else:
            day = texts(f"weekday_{WEEKDAYS[local.weekday()]}", language)
        return texts("hours_day", language, days=day, times=clock_time(local))
