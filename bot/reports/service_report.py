"""The service report for admins: a period's figures held to the service standards, and where
service falls short of them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import Config, ReportConfig
from bot.reports.outcomes import outcome_lines
from bot.texts import Say
from storage.figures import (
    FeedbackFigures,
    ServiceFigures,
    feedback_figures,
    outcome_figures,
    service_figures,
)

WORST_SHOWN = 3
MAX_DAYS = 366


def report_days(text: str) -> int | None:
    """The number of days asked for, or None unless it is a whole number from 1 to MAX_DAYS."""
    text = text.strip()
    return int(text) if text.isdigit() and 1 <= int(text) <= MAX_DAYS else None


def last_days(now: datetime, zone: ZoneInfo, days: int) -> tuple[datetime, datetime]:
    """From the start of the day `days - 1` days ago (in the shop's time zone) until now."""
    today = now.astimezone(zone).date()
    return datetime.combine(today - timedelta(days=days - 1), time(), zone), now


def whole_days(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """From the start of `first` to the end of `last` (both included), in the shop's zone."""
    return (
        datetime.combine(first, time(), zone),
        datetime.combine(last + timedelta(days=1), time(), zone),
    )


def parse_period(
    text: str | None, now: datetime, zone: ZoneInfo, default_days: int
) -> tuple[datetime, datetime] | None:
    """What a staff member asked for: nothing (the last `default_days` days), a number of days
    ("30": the last 30 days, today included), or two dates ("2026-11-01 2026-11-30", both
    included, at most MAX_DAYS days apart); None for anything else."""
    parts = (text or "").split()
    if not parts:
        return last_days(now, zone, default_days)
    if len(parts) == 1:
        days = report_days(parts[0])
        return last_days(now, zone, days) if days is not None else None
    if len(parts) != 2:
        return None
    try:
        first, last = date.fromisoformat(parts[0]), date.fromisoformat(parts[1])
    except ValueError:
        return None
    if not timedelta(0) <= last - first < timedelta(days=MAX_DAYS):
        return None
    return whole_days(first, last, zone)


def previous_period(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    """The period of the same length just before."""
    return since - (until - since), since


def _percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def first_contact_percent(service: ServiceFigures) -> float | None:
    """Settled at first contact: by the bot alone, or the ticket resolved without reopening."""
    contacts = service.conversations + service.direct_tickets
    return _percent(min(service.bot_alone + service.resolved_first_time, contacts), contacts)


@dataclass(frozen=True)
class Standard:
    """One figure of a period held to its service standard (NPS has none)."""

    name: str  # first_contact, first_response, resolution, satisfaction, nps
    value: float | None
    target: float | None
    unit: str

    @property
    def met(self) -> bool | None:
        if self.value is None or self.target is None:
            return None
        return self.value >= self.target


def standards(
    service: ServiceFigures, feedback: FeedbackFigures, targets: ReportConfig
) -> list[Standard]:
    on_time = targets.on_time_percent
    first_response = _percent(
        service.first_response_on_time,
        service.first_response_on_time + service.first_response_late,
    )
    resolution = _percent(
        service.resolution_on_time, service.resolution_on_time + service.resolution_late
    )
    return [
        Standard(
            "first_contact", first_contact_percent(service), targets.first_contact_percent, "%"
        ),
        Standard("first_response", first_response, on_time, "%"),
        Standard("resolution", resolution, on_time, "%"),
        Standard("satisfaction", feedback.csat, targets.satisfaction, ""),
        Standard("nps", feedback.nps, None, ""),
    ]


class _Verdicts:
    """Which figures fell short of their targets, and which had nothing to measure yet."""

    def __init__(self, say: Say) -> None:
        self.say = say
        self.short: list[str] = []
        self.unmeasured: list[str] = []

    def summary(self) -> str:
        say = self.say
        listed = say("report_list_separator")
        if self.short:
            return say("report_short", names=listed.join(self.short))
        if self.unmeasured:
            return say("report_unmeasured", names=listed.join(self.unmeasured))
        return say("report_all_met")

    def held_to(self, name: str, value: float | None, target: float, unit: str) -> str:
        """How a figure compares with its target; `name` is a report_name_* key."""
        say = self.say
        if value is None:
            self.unmeasured.append(say(f"report_name_{name}"))
            return say("report_nothing_yet")
        shown, wanted = f"{value:g}{unit}", f"{target:g}{unit}"
        if value < target:
            self.short.append(say(f"report_name_{name}"))
            return say("report_below", value=shown, target=wanted)
        return say("report_met", value=shown, target=wanted)

    def on_time(self, name: str, on_time: int, late: int, target: float) -> str:
        """'3 of 5, 60%, below the target of 95%'."""
        counted = on_time + late
        share = self.held_to(name, _percent(on_time, counted), target, "%")
        if not counted:
            return share
        return self.say("report_counted", on_time=on_time, counted=counted, share=share)


def _worst(say: Say, scores: Mapping[Any, float], key: str, label: Any = str) -> str | None:
    if not scores:
        return None
    worst = sorted(scores.items(), key=lambda item: item[1])[:WORST_SHOWN]
    listed = say("report_list_separator").join(f"{label(k)} {score:g}" for k, score in worst)
    return say(key, scores=listed)


def render_report(
    service: ServiceFigures,
    feedback: FeedbackFigures,
    targets: ReportConfig,
    title: str,
    say: Say,
    agent_names: Mapping[int, str] | None = None,
) -> str:
    verdicts = _Verdicts(say)
    names = agent_names or {}
    first_contact = first_contact_percent(service)
    first_response_median = (
        say("report_median_minutes", minutes=f"{service.first_response_minutes_median:.0f}")
        if service.first_response_minutes_median is not None
        else ""
    )
    resolution_median = (
        say("report_median_hours", hours=f"{service.resolution_hours_median:.1f}")
        if service.resolution_hours_median is not None
        else ""
    )
    lines = [
        title,
        say(
            "report_volume",
            conversations=service.conversations,
            handed_off=service.handed_off,
            tickets=service.tickets,
            direct=service.direct_tickets,
            reopened=service.reopened,
        ),
        say(
            "report_first_contact",
            value=verdicts.held_to(
                "first_contact", first_contact, targets.first_contact_percent, "%"
            ),
        ),
        say(
            "report_first_response",
            value=verdicts.on_time(
                "first_response",
                service.first_response_on_time,
                service.first_response_late,
                targets.on_time_percent,
            ),
        )
        + first_response_median,
        say(
            "report_resolution",
            value=verdicts.on_time(
                "resolution",
                service.resolution_on_time,
                service.resolution_late,
                targets.on_time_percent,
            ),
        )
        + resolution_median,
        say(
            "report_satisfaction",
            answers=feedback.csat_answers,
            value=verdicts.held_to("satisfaction", feedback.csat, targets.satisfaction, ""),
            low=feedback.low_scores,
        ),
    ]
    lines += [
        line
        for line in (
            _worst(
                say,
                feedback.csat_by_agent,
                "report_lowest_agent",
                lambda agent: names.get(agent, str(agent)),
            ),
            _worst(
                say,
                feedback.csat_by_category,
                "report_lowest_category",
                lambda category: say(f"category_{category}"),
            ),
        )
        if line
    ]
    lines.append(
        say(
            "report_revisits",
            solved=feedback.revisits_solved,
            not_solved=feedback.revisits_not_solved,
        )
    )
    nps = f"{feedback.nps:g}" if feedback.nps is not None else say("report_no_answers")
    lines.append(say("report_nps", nps=nps, answers=feedback.nps_answers))
    lines.append(verdicts.summary())
    return "\n".join(lines)


async def service_report(
    session: AsyncSession,
    since: datetime,
    until: datetime,
    zone: ZoneInfo,
    targets: ReportConfig,
    say: Say,
) -> str:
    service = await service_figures(session, since, until)
    feedback = await feedback_figures(session, since, until, zone)
    title = say(
        "report_title",
        since=f"{since.astimezone(zone):%Y-%m-%d %H:%M}",
        until=f"{until.astimezone(zone):%Y-%m-%d %H:%M}",
        zone=zone.key,
    )
    return render_report(service, feedback, targets, title, say)


async def last_days_report(
    session: AsyncSession, config: Config, now: datetime, say: Say, days: int | None = None
) -> str:
    """The report of the last `days` days (default [report] days), in the shop's time zone and
    the reader's language, with how its tickets ended."""
    zone = config.hours.business_hours().zone
    since, until = last_days(now, zone, days or config.report.days)
    report = await service_report(session, since, until, zone, config.report, say)
    figures = await outcome_figures(session, since, until)
    return "\n".join([report, "", *outcome_lines(figures, say.texts, say.language)])
