"""The service report: figures held to the service standards, from the command line too."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import ReportConfig
from bot.reports.service_report import render_report
from bot.texts import Say, Texts
from storage.figures import FeedbackFigures, ServiceFigures

ENGLISH = Say(Texts.load(), "en")


def service(**changes: object) -> ServiceFigures:
    figures: dict[str, object] = {
        "conversations": 10,
        "handed_off": 2,
        "direct_tickets": 0,
        "bot_alone": 8,
        "tickets": 2,
        "first_response_minutes_median": 12.0,
        "first_response_on_time": 2,
        "first_response_late": 0,
        "resolution_hours_median": 3.5,
        "resolution_on_time": 2,
        "resolution_late": 0,
        "reopened": 0,
        "resolved_first_time": 2,
    }
    return ServiceFigures(**{**figures, **changes})  # type: ignore[arg-type]


def feedback(**changes: object) -> FeedbackFigures:
    figures: dict[str, object] = {
        "csat_answers": 2,
        "csat": 95.0,
        "csat_by_agent": {501: 100.0, 502: 90.0},
        "csat_by_category": {"shipping": 95.0},
        "csat_by_day": {"2026-03-02": 95.0},
        "low_scores": 0,
        "revisits_solved": 1,
        "revisits_not_solved": 0,
        "nps_answers": 3,
        "nps": 33.3,
    }
    return FeedbackFigures(**{**figures, **changes})  # type: ignore[arg-type]


def test_a_period_that_meets_every_standard() -> None:
    text = render_report(service(), feedback(), ReportConfig(), "Report", ENGLISH)
    assert (
        "Settled at first contact (by the bot, or the ticket resolved without reopening): " in text
    )
    assert "100% (target 80%)" in text
    assert "  lowest by agent: 502 90, 501 100" in text
    assert "NPS: 33.3 (3 answers)" in text
    assert text.endswith("Every target met.")


def test_every_shortfall_is_named() -> None:
    text = render_report(
        service(
            bot_alone=5,
            handed_off=5,
            tickets=5,
            first_response_on_time=3,
            first_response_late=2,
            resolution_on_time=4,
            resolution_late=1,
            resolved_first_time=2,
        ),
        feedback(csat=70.0),
        ReportConfig(),
        "Report",
        ENGLISH,
    )
    assert "First response on time: 3 of 5, 60%, below the target of 95%; median 12 min" in text
    assert "Resolved on time: 4 of 5, 80%, below the target of 95%; median 3.5 h" in text
    assert "70% (target 80%)" not in text and "70%, below the target of 80%" in text
    assert text.splitlines()[-1] == (
        "Short of target: first-contact resolution, first response on time, resolved on time, "
        "satisfaction"
    )


def test_targets_come_from_the_config() -> None:
    strict = ReportConfig(satisfaction=96.0)
    assert render_report(service(), feedback(), strict, "Report", ENGLISH).endswith(
        "Short of target: satisfaction"
    )


def test_the_report_from_the_command_line(
    write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = write_config()
    assert main(["--config", str(config_path), "report", "--days", "30"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Service report ") and lines[0].endswith("(Asia/Shanghai)")
    assert "First response on time: nothing to measure yet" in lines
    assert lines[lines.index("") - 1].startswith("No target missed; nothing to measure yet for ")
    # how tickets ended, in English as the rest of the command line
    start = lines.index(
        "Tickets opened in the period, by what they were about and how they ended:"
    )
    assert lines[start + 1 : start + 4] == [
        "By category: none",
        "By cause (of which complaints): none",
        "By remedy (of which complaints): none",
    ]
    assert lines[-1] == "Survey comments: 0"
    with pytest.raises(SystemExit):
        main(["--config", str(config_path), "report", "--days", "0"])
    assert "not a number of days from 1 to 366" in capsys.readouterr().err
