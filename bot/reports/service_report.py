"""The service report for admins: a period's figures held to the service standards, and where
service falls short of them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import Config, ReportConfig
from bot.reports.outcomes import outcome_lines
from bot.texts import Texts
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


def _percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


class _Verdicts:
    """Which figures fell short of their targets, and which had nothing to measure yet."""

    def __init__(self) -> None:
        self.short: list[str] = []
        self.unmeasured: list[str] = []

    def summary(self) -> str:
        if self.short:
            return "Short of target: " + ", ".join(self.short)
        if self.unmeasured:
            return "No target missed; nothing to measure yet for " + ", ".join(self.unmeasured)
        return "Every target met."


def _held_to(name: str, value: float | None, target: float, unit: str, verdicts: _Verdicts) -> str:
    if value is None:
        verdicts.unmeasured.append(name)
        return "nothing to measure yet"
    if value < target:
        verdicts.short.append(name)
        return f"{value:g}{unit}, below the target of {target:g}{unit}"
    return f"{value:g}{unit} (target {target:g}{unit})"


def _on_time(name: str, on_time: int, late: int, target: float, verdicts: _Verdicts) -> str:
    """'First response on time: 3 of 5, 60%, below the target of 95%'."""
    counted = on_time + late
    share = _held_to(name, _percent(on_time, counted), target, "%", verdicts)
    return f"{name.capitalize()}: " + (f"{on_time} of {counted}, {share}" if counted else share)


def _worst(scores: Mapping[Any, float], label: str) -> str | None:
    if not scores:
        return None
    worst = sorted(scores.items(), key=lambda item: item[1])[:WORST_SHOWN]
    return f"  lowest by {label}: " + ", ".join(f"{key} {score:g}" for key, score in worst)


def render_report(
    service: ServiceFigures,
    feedback: FeedbackFigures,
    targets: ReportConfig,
    title: str,
) -> str:
    verdicts = _Verdicts()
    contacts = service.conversations + service.direct_tickets
    first_contact = _percent(
        min(service.bot_alone + service.resolved_first_time, contacts), contacts
    )
    lines = [
        title,
        f"Conversations with the bot: {service.conversations}, handed to a person: "
        f"{service.handed_off}; tickets: {service.tickets} ({service.direct_tickets} asked for a "
        f"person straight away), reopened {service.reopened} times",
        "Settled at first contact (by the bot, or the ticket resolved without reopening): "
        + _held_to(
            "first-contact resolution", first_contact, targets.first_contact_percent, "%", verdicts
        ),
        _on_time(
            "first response on time",
            service.first_response_on_time,
            service.first_response_late,
            targets.on_time_percent,
            verdicts,
        )
        + (
            f"; median {service.first_response_minutes_median:.0f} min"
            if service.first_response_minutes_median is not None
            else ""
        ),
        _on_time(
            "resolved on time",
            service.resolution_on_time,
            service.resolution_late,
            targets.on_time_percent,
            verdicts,
        )
        + (
            f"; median {service.resolution_hours_median:.1f} h"
            if service.resolution_hours_median is not None
            else ""
        ),
        f"Satisfaction (CSAT, of 100) from {feedback.csat_answers} answers: "
        + _held_to("satisfaction", feedback.csat, targets.satisfaction, "", verdicts)
        + f"; low scores (1-2 stars): {feedback.low_scores}",
    ]
    lines += [
        line
        for line in (
            _worst(feedback.csat_by_agent, "agent"),
            _worst(feedback.csat_by_category, "category"),
        )
        if line
    ]
    lines.append(
        f"Revisits: {feedback.revisits_solved} solved, {feedback.revisits_not_solved} not solved"
    )
    nps = f"{feedback.nps:g}" if feedback.nps is not None else "no answers yet"
    lines.append(f"NPS: {nps} ({feedback.nps_answers} answers)")
    lines.append(verdicts.summary())
    return "\n".join(lines)


async def service_report(
    session: AsyncSession,
    since: datetime,
    until: datetime,
    zone: ZoneInfo,
    targets: ReportConfig,
) -> str:
    service = await service_figures(session, since, until)
    feedback = await feedback_figures(session, since, until, zone)
    title = (
        f"Service report {since.astimezone(zone):%Y-%m-%d %H:%M} to "
        f"{until.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key})"
    )
    return render_report(service, feedback, targets, title)


async def last_days_report(
    session: AsyncSession,
    config: Config,
    now: datetime,
    days: int | None = None,
    *,
    texts: Texts | None = None,
    language: str | None = None,
) -> str:
    """The report of the last `days` days (default [report] days), in the shop's time zone,
    with how its tickets ended (in `language`, default [bot] default_language)."""
    zone = config.hours.business_hours().zone
    since, until = last_days(now, zone, days or config.report.days)
    report = await service_report(session, since, until, zone, config.report)
    texts = texts or Texts.load(config.business.placeholders())
    outcomes = outcome_lines(
        await outcome_figures(session, since, until),
        texts,
        language or config.bot.default_language,
    )
    return "\n".join([report, "", *outcomes])
