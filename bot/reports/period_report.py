"""The report over any period (`/report`, `kefu report`, the weekly and monthly delivery): the
service report held to its targets, each headline figure beside the previous period of the same
length, each day's volume and satisfaction, the distributions of first-response times and
scores, how tickets ended (complaints by category and cause), and what customers wrote."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import Config
from bot.reports.outcomes import outcome_lines
from bot.reports.service_report import previous_period, render_report
from bot.texts import Say
from storage.figures import (
    FIRST_RESPONSE_MINUTES,
    FeedbackFigures,
    OutcomeFigures,
    PeriodDetails,
    ServiceFigures,
    feedback_figures,
    outcome_figures,
    period_details,
    service_figures,
)
from storage.models import Ticket
from storage.scorecards import agent_names

COMMENTS_SHOWN = 30

# The figures set beside the previous period's, in the order shown.
COMPARED = (
    "conversations",
    "tickets",
    "handed_off",
    "first_contact_percent",
    "bot_unsettled",
    "first_response_on_time_percent",
    "first_response_minutes_median",
    "resolution_on_time_percent",
    "resolution_hours_median",
    "reopened",
    "complaints",
    "csat",
    "csat_answers",
    "low_scores",
    "nps",
    "revisits_not_solved",
)


def bucket_labels(say: Say, edges: tuple[int, ...], unit: str) -> list[str]:
    """The labels of a distribution cut at `edges` (storage.figures: a value falls in the first
    bucket it is within, the last holds the rest): "≤ 5 min", ..., "> 240 min"."""
    labels = [say("bucket_up_to", limit=edge, unit=unit) for edge in edges]
    return [*labels, say("bucket_over", limit=edges[-1], unit=unit)]


def _percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


@dataclass(frozen=True)
class Period:
    since: datetime
    until: datetime
    service: ServiceFigures
    feedback: FeedbackFigures
    outcomes: OutcomeFigures
    details: PeriodDetails

    def headline(self) -> dict[str, float | None]:
        s, f = self.service, self.feedback
        contacts = s.conversations + s.direct_tickets
        return {
            "conversations": s.conversations,
            "tickets": s.tickets,
            "handed_off": s.handed_off,
            "first_contact_percent": _percent(
                min(s.bot_alone + s.resolved_first_time, contacts), contacts
            ),
            "bot_unsettled": s.bot_unsettled,
            "first_response_on_time_percent": _percent(
                s.first_response_on_time, s.first_response_on_time + s.first_response_late
            ),
            "first_response_minutes_median": _rounded(s.first_response_minutes_median),
            "resolution_on_time_percent": _percent(
                s.resolution_on_time, s.resolution_on_time + s.resolution_late
            ),
            "resolution_hours_median": _rounded(s.resolution_hours_median),
            "reopened": s.reopened,
            "complaints": self.details.complaints,
            "csat": f.csat,
            "csat_answers": f.csat_answers,
            "low_scores": f.low_scores,
            "nps": f.nps,
            "revisits_not_solved": f.revisits_not_solved,
        }


def _rounded(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


async def period_figures(
    session: AsyncSession, since: datetime, until: datetime, zone: ZoneInfo
) -> Period:
    return Period(
        since,
        until,
        await service_figures(session, since, until),
        await feedback_figures(session, since, until, zone),
        await outcome_figures(session, since, until),
        await period_details(session, since, until, zone),
    )


@dataclass(frozen=True)
class Report:
    now: Period
    before: Period
    zone: ZoneInfo
    agents: dict[int, str]  # names, by Telegram id
    tickets: dict[int, str]  # numbers of the tickets commented on, by id


async def build_report(
    session: AsyncSession, since: datetime, until: datetime, zone: ZoneInfo
) -> Report:
    now = await period_figures(session, since, until, zone)
    before = await period_figures(session, *previous_period(since, until), zone)
    commented = [c.ticket_id for c in now.details.comments if c.ticket_id is not None]
    tickets = {
        ticket_id: ticket.number
        for ticket_id in commented
        if (ticket := await session.get(Ticket, ticket_id)) is not None
    }
    agents = set(now.feedback.csat_by_agent) | {
        c.agent_id for c in now.details.comments if c.agent_id is not None
    }
    return Report(now, before, zone, await agent_names(session, sorted(agents)), tickets)


def _shown(value: float | None, say: Say) -> str:
    return f"{value:g}" if value is not None else say("scorecard_none")


def _change(now: float | None, before: float | None, say: Say) -> str:
    if now is None or before is None:
        return say("report_change_none")
    difference = round(now - before, 1)
    if difference == 0:
        return say("report_change_same")
    return f"{difference:+g}"


def _when(moment: datetime, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M}"


def render_period_report(report: Report, config: Config, say: Say) -> str:
    zone, now, before = report.zone, report.now, report.before
    title = say(
        "report_title", since=_when(now.since, zone), until=_when(now.until, zone), zone=zone.key
    )
    lines = [
        render_report(
            now.service, now.feedback, config.report, title, say, agent_names=report.agents
        ),
        "",
        say(
            "report_compared_title",
            since=_when(before.since, zone),
            until=_when(before.until, zone),
        ),
    ]
    current, previous = now.headline(), before.headline()
    for name in COMPARED:
        lines.append(
            say(
                "report_compared",
                name=say(f"report_figure_{name}"),
                now=_shown(current[name], say),
                before=_shown(previous[name], say),
                change=_change(current[name], previous[name], say),
            )
        )
    details = now.details
    lines += ["", say("report_trend_title")]
    for day, conversations in details.conversations_by_day.items():
        lines.append(
            say(
                "report_trend_day",
                day=day,
                conversations=conversations,
                tickets=details.tickets_by_day.get(day, 0),
                csat=_shown(details.csat_by_day.get(day), say),
            )
        )
    separator = say("report_list_separator")
    labels = bucket_labels(say, FIRST_RESPONSE_MINUTES, say("unit_minutes"))
    buckets = [
        say("report_bucket", label=label, count=count)
        for label, count in zip(labels, details.first_response_buckets, strict=True)
    ]
    buckets.append(say("report_bucket_waiting", count=details.waiting_for_first_response))
    lines += [
        "",
        say("report_first_response_buckets", buckets=separator.join(buckets)),
        say(
            "report_csat_scores",
            scores=separator.join(
                f"{stars}★ {count}" for stars, count in details.csat_scores.items()
            ),
        ),
        say("report_nps_groups", **details.nps_groups),
        "",
        *outcome_lines(now.outcomes, say.texts, say.language),
        "",
        say("report_comments_title", count=len(details.comments)),
    ]
    for comment in details.comments[:COMMENTS_SHOWN]:
        lines.append(
            say(
                "report_comment",
                stars=f"{comment.score}★" if comment.score is not None else "",
                number=report.tickets.get(comment.ticket_id or 0, "-"),
                agent=report.agents.get(comment.agent_id or 0, "-"),
                text=" ".join(comment.text.split()),
            )
        )
    if len(details.comments) > COMMENTS_SHOWN:
        lines.append(say("report_comments_more", count=len(details.comments) - COMMENTS_SHOWN))
    return "\n".join(lines)


def report_data(report: Report) -> dict[str, Any]:
    """The report as one JSON-ready object (`kefu report --json`)."""
    zone, now, before = report.zone, report.now, report.before
    current, previous = now.headline(), before.headline()
    details = asdict(now.details)
    details["comments"] = [
        {
            "answered_at": comment.answered_at.astimezone(zone).isoformat(),
            "ticket": report.tickets.get(comment.ticket_id or 0),
            "agent": report.agents.get(comment.agent_id or 0),
            "score": comment.score,
            "text": comment.text,
        }
        for comment in now.details.comments
    ]
    details["first_response_buckets"] = dict(
        zip(
            [
                *(f"up_to_{limit}_min" for limit in FIRST_RESPONSE_MINUTES),
                f"over_{FIRST_RESPONSE_MINUTES[-1]}_min",
            ],
            now.details.first_response_buckets,
            strict=True,
        )
    )
    return {
        "zone": zone.key,
        "period": {
            "since": now.since.astimezone(zone).isoformat(),
            "until": now.until.astimezone(zone).isoformat(),
        },
        "previous_period": {
            "since": before.since.astimezone(zone).isoformat(),
            "until": before.until.astimezone(zone).isoformat(),
        },
        "figures": {name: {"now": current[name], "previous": previous[name]} for name in COMPARED},
        "csat_by_agent": {
            report.agents.get(a, str(a)): v for a, v in now.feedback.csat_by_agent.items()
        },
        "csat_by_category": {str(k): v for k, v in now.feedback.csat_by_category.items()},
        "outcomes": {
            "by_category": now.outcomes.by_category,
            "by_cause": {
                str(key): {"tickets": tickets, "complaints": complaints}
                for key, (tickets, complaints) in now.outcomes.by_cause.items()
            },
            "by_remedy": {
                str(key): {"tickets": tickets, "complaints": complaints}
                for key, (tickets, complaints) in now.outcomes.by_remedy.items()
            },
        },
        **details,
    }


def _span(period: Period, zone: ZoneInfo) -> dict[str, str]:
    return {
        "since": period.since.astimezone(zone).isoformat(),
        "until": period.until.astimezone(zone).isoformat(),
    }


def report_json(report: Report) -> str:
    return json.dumps(report_data(report), ensure_ascii=False, indent=2) + "\n"


def report_csv(report: Report) -> str:
    """The figures beside the previous period's, then each day's: one row per figure or day,
    as section, name, now, previous."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "name", "now", "previous"])
    current, previous = report.now.headline(), report.before.headline()
    for name in COMPARED:
        writer.writerow(["figure", name, _csv(current[name]), _csv(previous[name])])
    details = report.now.details
    for day, conversations in details.conversations_by_day.items():
        writer.writerow(["conversations_by_day", day, conversations, ""])
    for day, tickets in details.tickets_by_day.items():
        writer.writerow(["tickets_by_day", day, tickets, ""])
    for day, csat in details.csat_by_day.items():
        writer.writerow(["csat_by_day", day, csat, ""])
    return out.getvalue()


def _csv(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


async def period_report(
    session: AsyncSession, config: Config, since: datetime, until: datetime, say: Say
) -> str:
    """The whole report in the reader's language."""
    zone = config.hours.business_hours().zone
    return render_period_report(await build_report(session, since, until, zone), config, say)
