"""When the business is open: a weekly schedule in its time zone, with holidays.

One place answers "open now?", "when do we open next?" and "what time is N working hours after
this?"; the customer's expectation, the SLA clock and the out-of-hours reply all ask it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

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
