"""The weekly and monthly report (the monthly one with the agents' scorecards of the month),
sent on their own to every admin in their language (the one they chose in their private chat,
else the one they last wrote in, else the agents' group's).
Each is claimed once (JobRun), so that replicas, or a run made up after a restart, send it once."""

from __future__ import annotations

import logging
from datetime import date, timedelta

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError

from bot.clock import Clock
from bot.config import Config
from bot.reports.period_report import build_report, render_period_report
from bot.reports.scorecards import render_scorecards, scorecards
from bot.reports.service_report import whole_days
from bot.schedule.business_hours import WEEKDAYS
from bot.texts import Say, Texts
from bot.tickets.roles import RoleBook
from storage.customers import language_of
from storage.database import SessionFactory
from storage.scorecards import claim_run

log = logging.getLogger(__name__)


def reports_due(config: Config, today: date) -> list[tuple[str, date, date]]:
    """The reports to send today: (kind, first day, last day) of the week or month before."""
    due = []
    if config.report.weekly and today.weekday() == WEEKDAYS.index(config.report.weekly_day):
        due.append(("weekly", today - timedelta(days=7), today - timedelta(days=1)))
    if config.report.monthly and today.day == 1:
        last = today - timedelta(days=1)
        due.append(("monthly", last.replace(day=1), last))
    return due


async def deliver_reports(
    session_factory: SessionFactory,
    bot: Bot,
    config: Config,
    clock: Clock,
    roles: RoleBook,
    texts: Texts,
) -> list[str]:
    """The scheduled job (daily at [report] delivery_time): sends what is due today; returns
    the keys of the reports this run sent."""
    now = clock.now()
    zone = config.hours.business_hours().zone
    sent = []
    for kind, first, last in reports_due(config, now.astimezone(zone).date()):
        key = f"report-{kind}:{first.isoformat()}"
        async with session_factory() as session:
            if not await claim_run(session, key, now):
                continue
            since, until = whole_days(first, last, zone)
            report = await build_report(session, since, until, zone)
            # the month's appraisal (月度考核) comes with the monthly report
            cards = await scorecards(session, since, until, config.report.scorecard)
            for admin in roles.with_role("admin"):
                language = await language_of(session, "telegram", str(admin))
                say = Say(texts, language or config.agents.language)
                parts = [
                    say(f"report_delivered_{kind}", first=first, last=last),
                    render_period_report(report, config, say),
                ]
                if kind == "monthly":
                    parts.append(
                        render_scorecards(cards, config.report.scorecard, since, until, zone, say)
                    )
                text = "\n\n".join(parts)
                try:
                    await bot.send_message(admin, text)
                except TelegramAPIError as error:
                    log.warning("%s not sent to admin=%s: %s", key, admin, type(error).__name__)
        log.info("%s sent to the admins", key)
        sent.append(key)
    return sent
