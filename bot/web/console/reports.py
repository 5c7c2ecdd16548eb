"""What the Overview and Reports pages show: a period's figures held to the service standards
beside the period before, trends by day, and the report's tables (each downloadable as CSV),
all from storage/figures.py, in the reader's language."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import Config, TeamsConfig
from bot.reports.period_report import bucket_labels
from bot.reports.service_report import MAX_DAYS, Standard, last_days, standards
from bot.texts import Say
from bot.tickets.outcomes import outcome_label
from bot.tickets.transcript import agent_names
from bot.web.console.charts import bar_chart, line_chart
from storage.figures import (
    FIRST_RESPONSE_MINUTES,
    RESOLUTION_HOURS,
    Counts,
    LiveFigures,
    ServiceFigures,
    feedback_figures,
    live_figures,
    outcome_figures,
    service_figures,
    team_figures,
    volume_figures,
)

LATE_SCHEDULED = timedelta(minutes=5)


@dataclass(frozen=True)
class Period:
    since: datetime
    until: datetime
    zone: ZoneInfo

    @property
    def first_day(self) -> date:
        return self.since.astimezone(self.zone).date()

    @property
    def last_day(self) -> date:
        return (self.until - timedelta(microseconds=1)).astimezone(self.zone).date()

    def before(self) -> Period:
        """As many whole days just before this period as it spans (today counted whole)."""
        days = (self.last_day - self.first_day).days + 1
        since = datetime.combine(self.first_day - timedelta(days=days), time(), self.zone)
        return Period(since, self.since, self.zone)


class PeriodError(ValueError):
    """A period asked for that cannot be read; `key` is the catalogue text that says why."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def period_from(query: dict[str, str], config: Config, now: datetime) -> Period:
    """`since` and `until` (YYYY-MM-DD, whole days in the shop's time zone, both included), or
    the last [report] days until now."""
    zone = config.hours.business_hours().zone
    since_text, until_text = query.get("since", "").strip(), query.get("until", "").strip()
    if not since_text and not until_text:
        return Period(*last_days(now, zone, config.report.days), zone)
    try:
        today = now.astimezone(zone).date()
        first = date.fromisoformat(since_text) if since_text else today
        last = date.fromisoformat(until_text) if until_text else today
    except ValueError:
        raise PeriodError("console_period_unreadable") from None
    if last < first or (last - first).days + 1 > MAX_DAYS:
        raise PeriodError("console_period_wrong")
    since = datetime.combine(first, time(), zone)
    until = min(datetime.combine(last + timedelta(days=1), time(), zone), now)
    if until <= since:
        raise PeriodError("console_period_wrong")
    return Period(since, until, zone)


@dataclass(frozen=True)
class Compared:
    now: Standard
    before: Standard
    today: Standard


@dataclass
class Overview:
    period: Period
    previous: Period
    standards: list[Compared]
    service: ServiceFigures
    previous_service: ServiceFigures
    live: LiveFigures
    charts: list[Markup] = field(default_factory=list)


async def overview(
    session: AsyncSession, config: Config, period: Period, now: datetime, say: Say
) -> Overview:
    previous = period.before()
    service = await service_figures(session, period.since, period.until)
    feedback = await feedback_figures(session, period.since, period.until, period.zone)
    old_service = await service_figures(session, previous.since, previous.until)
    old_feedback = await feedback_figures(session, previous.since, previous.until, period.zone)
    now_standards = standards(service, feedback, config.report)
    old_standards = standards(old_service, old_feedback, config.report)
    today = Period(*last_days(now, period.zone, 1), period.zone)
    today_standards = standards(
        await service_figures(session, today.since, today.until),
        await feedback_figures(session, today.since, today.until, period.zone),
        config.report,
    )
    volume = await volume_figures(session, period.since, period.until, period.zone)
    days = list(volume.tickets_by_day)
    labels = [day[5:] for day in days]  # MM-DD
    result = Overview(
        period=period,
        previous=previous,
        standards=[
            Compared(*three)
            for three in zip(now_standards, old_standards, today_standards, strict=True)
        ],
        service=service,
        previous_service=old_service,
        live=await live_figures(session, now, LATE_SCHEDULED),
    )
    result.charts.append(
        line_chart(
            say("console_chart_volume"),
            labels,
            [
                (say("console_conversations"), list(volume.conversations_by_day.values())),
                (say("console_tickets"), list(volume.tickets_by_day.values())),
            ],
        )
    )
    satisfaction = [feedback.csat_by_day.get(day) for day in days]
    result.charts.append(
        line_chart(
            say("console_chart_satisfaction"),
            labels,
            [(say("console_standard_satisfaction"), satisfaction)],
        )
    )
    return result


@dataclass(frozen=True)
class Table:
    name: str  # its CSV's name and the `table` it is asked by
    title: str
    headers: list[str]
    rows: list[list[object]]
    chart: Markup | None = None

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(self.headers)
        writer.writerows([[_inert(cell) for cell in row] for row in self.rows])
        return out.getvalue()


def _inert(cell: object) -> object:
    """A text a spreadsheet would take for a formula (a name given by staff, "=1+1") is kept
    as text."""
    if isinstance(cell, str) and cell.startswith(("=", "+", "-", "@")):
        return "'" + cell
    return cell


def _counts_rows(say: Say, part: str, counts: Counts) -> list[list[object]]:
    ordered = sorted(counts.items(), key=lambda item: (item[0] is None, -item[1][0]))
    return [
        [
            say("report_not_given")
            if key is None
            else outcome_label(say.texts, part, key, say.language),
            tickets,
            complaints,
        ]
        for key, (tickets, complaints) in ordered
    ]


def team_label(say: Say, teams: TeamsConfig, team: str | None) -> str:
    return teams.name(team, say.language) if team else say("console_no_team")


async def report_tables(
    session: AsyncSession, period: Period, say: Say, teams: TeamsConfig
) -> list[Table]:
    volume = await volume_figures(session, period.since, period.until, period.zone)
    by_team = await team_figures(session, period.since, period.until)
    feedback = await feedback_figures(session, period.since, period.until, period.zone)
    outcomes = await outcome_figures(session, period.since, period.until)
    names = await agent_names(session)
    conversations, tickets = say("console_conversations"), say("console_tickets")
    days = list(volume.tickets_by_day)
    hours = [f"{hour:02d}" for hour in range(24)]
    minutes = bucket_labels(say, FIRST_RESPONSE_MINUTES, say("unit_minutes"))
    hour_buckets = bucket_labels(say, RESOLUTION_HOURS, say("unit_hours"))
    categories = {
        say(f"category_{key}"): count for key, count in volume.tickets_by_category.items()
    }
    channels = sorted(set(volume.tickets_by_channel) | set(volume.conversations_by_channel))
    return [
        Table(
            "volume_by_day",
            say("console_table_by_day"),
            [say("console_day"), conversations, tickets],
            [[day, volume.conversations_by_day[day], volume.tickets_by_day[day]] for day in days],
            line_chart(
                say("console_table_by_day"),
                [day[5:] for day in days],
                [
                    (conversations, list(volume.conversations_by_day.values())),
                    (tickets, list(volume.tickets_by_day.values())),
                ],
            ),
        ),
        Table(
            "volume_by_hour",
            say("console_table_by_hour"),
            [say("console_hour"), conversations, tickets],
            [
                [hour, volume.conversations_by_hour[n], volume.tickets_by_hour[n]]
                for n, hour in enumerate(hours)
            ],
            bar_chart(say("console_table_by_hour"), hours, volume.tickets_by_hour),
        ),
        Table(
            "tickets_by_category",
            say("console_table_by_category"),
            [say("console_category"), tickets],
            [[name, count] for name, count in categories.items()],
            bar_chart(
                say("console_table_by_category"), list(categories), list(categories.values())
            ),
        ),
        Table(
            "volume_by_channel",
            say("console_table_by_channel"),
            [say("console_channel"), conversations, tickets],
            [
                [
                    channel,
                    volume.conversations_by_channel.get(channel, 0),
                    volume.tickets_by_channel.get(channel, 0),
                ]
                for channel in channels
            ],
        ),
        Table(
            "first_response_times",
            say("console_table_first_response"),
            [say("console_time_taken"), tickets],
            [[label, n] for label, n in zip(minutes, volume.first_response_buckets, strict=True)],
            bar_chart(say("console_table_first_response"), minutes, volume.first_response_buckets),
        ),
        Table(
            "resolution_times",
            say("console_table_resolution"),
            [say("console_time_taken"), tickets],
            [[label, n] for label, n in zip(hour_buckets, volume.resolution_buckets, strict=True)],
            bar_chart(say("console_table_resolution"), hour_buckets, volume.resolution_buckets),
        ),
        Table(
            "satisfaction_by_agent",
            say("console_table_csat_agent"),
            [say("console_agent"), say("console_standard_satisfaction")],
            [
                [names.get(agent) or str(agent), score]
                for agent, score in feedback.csat_by_agent.items()
            ],
        ),
        Table(
            "volume_by_team",
            say("console_table_by_team"),
            [say("console_team"), tickets, say("console_resolved")],
            [
                [team_label(say, teams, team), count, by_team.resolved_by_team.get(team, 0)]
                for team, count in by_team.tickets_by_team.items()
            ],
            bar_chart(
                say("console_table_by_team"),
                [team_label(say, teams, team) for team in by_team.tickets_by_team],
                list(by_team.tickets_by_team.values()),
            ),
        ),
        Table(
            "satisfaction_by_team",
            say("console_table_csat_team"),
            [say("console_team"), say("console_standard_satisfaction"), say("console_answers")],
            [
                [team_label(say, teams, team), score, by_team.csat_answers_by_team[team]]
                for team, score in by_team.csat_by_team.items()
            ],
        ),
        Table(
            "satisfaction_by_category",
            say("console_table_csat_category"),
            [say("console_category"), say("console_standard_satisfaction")],
            [
                [say(f"category_{category}"), score]
                for category, score in feedback.csat_by_category.items()
            ],
        ),
        Table(
            "complaints_by_cause",
            say("console_table_cause"),
            [say("console_cause"), tickets, say("console_complaints")],
            _counts_rows(say, "cause", outcomes.by_cause),
        ),
        Table(
            "complaints_by_remedy",
            say("console_table_remedy"),
            [say("console_remedy"), tickets, say("console_complaints")],
            _counts_rows(say, "remedy", outcomes.by_remedy),
        ),
    ]
