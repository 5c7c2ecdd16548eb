from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.schedule.business_hours import BusinessHours, NoOpeningHours
from bot.texts import Texts

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEK = {
    "mon": ["09:00-12:00", "13:00-18:00"],
    "tue": ["09:00-18:00"],
    "wed": ["09:00-18:00"],
    "thu": ["09:00-18:00"],
    "fri": ["09:00-18:00", "20:00-02:00"],  # a late shift past midnight
    "sat": ["10:00-16:00"],
    "sun": [],
}


def local(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def hours() -> BusinessHours:
    return BusinessHours("Asia/Shanghai", WEEK, holidays=[date(2026, 10, 1)])


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        (local(2026, 3, 2, 10, 0), True),  # Monday morning
        (local(2026, 3, 2, 12, 30), False),  # lunch break
        (local(2026, 3, 2, 18, 0), False),  # closing time itself is closed
        (local(2026, 3, 6, 23, 30), True),  # Friday late shift
        (local(2026, 3, 7, 1, 59), True),  # ... still open after midnight
        (local(2026, 3, 7, 2, 0), False),
        (local(2026, 3, 8, 11, 0), False),  # Sunday
        (local(2026, 10, 1, 10, 0), False),  # a holiday (Thursday)
    ],
)
def test_open_now(hours: BusinessHours, moment: datetime, is_open: bool) -> None:
    assert hours.is_open(moment) is is_open
    assert hours.is_open(moment.astimezone(UTC)) is is_open


def test_next_opening(hours: BusinessHours) -> None:
    assert hours.next_open(local(2026, 3, 2, 12, 30)) == local(2026, 3, 2, 13, 0)
    assert hours.next_open(local(2026, 3, 7, 17, 0)) == local(2026, 3, 9, 9, 0)  # Sat -> Mon
    assert hours.next_open(local(2026, 9, 30, 19, 0)) == local(2026, 10, 2, 9, 0)  # holiday
    now = local(2026, 3, 2, 10, 0)
    assert hours.next_open(now) == now


def test_adding_open_time_skips_closed_time(hours: BusinessHours) -> None:
    assert hours.add(local(2026, 3, 2, 11, 30), timedelta(minutes=30)) == local(2026, 3, 2, 12, 0)
    assert hours.add(local(2026, 3, 2, 11, 30), timedelta(minutes=45)) == local(2026, 3, 2, 13, 15)
    # Saturday 15:00 + 2 open hours: 1 on Saturday, Sunday closed, 1 on Monday.
    assert hours.add(local(2026, 3, 7, 15, 0), timedelta(hours=2)) == local(2026, 3, 9, 10, 0)
    # Asked while closed: the clock starts at the next opening.
    assert hours.add(local(2026, 3, 8, 12, 0), timedelta(minutes=30)) == local(2026, 3, 9, 9, 30)


def test_open_time_between(hours: BusinessHours) -> None:
    spent = hours.open_time_between(local(2026, 3, 2, 11, 0), local(2026, 3, 2, 14, 0))
    assert spent == timedelta(hours=2)


def test_a_schedule_that_never_opens_says_so() -> None:
    closed = BusinessHours("UTC", {})
    assert not closed.is_open(datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(NoOpeningHours):
        closed.next_open(datetime(2026, 1, 1, tzinfo=UTC))


def test_a_broken_block_is_named() -> None:
    with pytest.raises(ValueError, match="not a time block: '9-6pm'"):
        BusinessHours("UTC", {"mon": ["9-6pm"]})


def test_the_schedule_is_described_in_each_language(hours: BusinessHours) -> None:
    texts = Texts.load()
    assert hours.describe(texts, "zh") == (
        "周一 9:00–12:00、13:00–18:00，周二至周四 9:00–18:00，周五 9:00–18:00、20:00–2:00，"
        "周六 10:00–16:00（UTC+8）"
    )
    assert hours.describe(texts, "en") == (
        "Mon 9:00–12:00, 13:00–18:00; Tue–Thu 9:00–18:00; Fri 9:00–18:00, 20:00–2:00; "
        "Sat 10:00–16:00 (UTC+8)"
    )
    weekdays_only = BusinessHours("Europe/Berlin", {day: ["08:30-17:00"] for day in WEEK})
    assert weekdays_only.describe(texts, "en") == "Mon–Sun 8:30–17:00 (Europe/Berlin)"
    assert BusinessHours("Asia/Kolkata", {}).describe(texts, "zh") == "暂无营业时间"
    assert BusinessHours("Asia/Kolkata", {"mon": ["09:00-10:00"]}).zone_label() == "UTC+5:30"


def test_an_opening_is_told_by_weekday_within_a_week_else_by_date(hours: BusinessHours) -> None:
    texts = Texts.load()
    wednesday_night = local(2026, 3, 4, 19, 0)
    thursday = hours.next_open(wednesday_night)
    assert hours.opening(thursday, wednesday_night, texts, "zh") == "周四 9:00"
    assert hours.opening(thursday, wednesday_night, texts, "en") == "Thu 9:00"
    far = local(2026, 3, 20, 9, 0)
    assert hours.opening(far, wednesday_night, texts, "zh") == "2026-03-20 9:00"
