"""Agent scorecards (坐席考核): each agent's figures over a period, a composite score weighted
as [report.scorecard] says (the policies' 60% satisfaction + 40% task completion by default),
the top agents and those below target, in the reader's language."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import Config, ScorecardConfig
from bot.texts import Say
from storage.scorecards import AgentFigures, agent_figures, agent_names


@dataclass(frozen=True)
class Scorecard:
    name: str
    figures: AgentFigures
    composite: float | None

    @property
    def completion(self) -> float | None:
        """Task completion: the share of the agent's tickets resolved within their deadline."""
        return self.figures.resolution_share


def composite(figures: AgentFigures, weights: ScorecardConfig) -> float | None:
    """The weighted mean of satisfaction (CSAT), completion (resolved on time) and quality
    (QA), each out of 100; a part with nothing measured leaves the weight to the others."""
    parts = [
        (figures.csat, weights.satisfaction_weight),
        (figures.resolution_share, weights.completion_weight),
        (figures.qa, weights.quality_weight),
    ]
    measured = [(value, weight) for value, weight in parts if value is not None and weight > 0]
    total = sum(weight for _, weight in measured)
    if not total:
        return None
    return round(sum(value * weight for value, weight in measured) / total, 1)


def ranked(cards: list[Scorecard]) -> list[Scorecard]:
    """The highest composite first; those with none last, by name."""
    return sorted(
        cards,
        key=lambda card: (card.composite is None, -(card.composite or 0), card.name),
    )


async def scorecards(
    session: AsyncSession, since: datetime, until: datetime, weights: ScorecardConfig
) -> list[Scorecard]:
    figures = await agent_figures(session, since, until)
    names = await agent_names(session, list(figures))
    return ranked(
        [Scorecard(names[agent], f, composite(f, weights)) for agent, f in figures.items()]
    )


def _value(say: Say, value: float | None, unit: str = "") -> str:
    return f"{value:g}{unit}" if value is not None else say("scorecard_none")


def scorecard_line(say: Say, place: int, card: Scorecard) -> str:
    f = card.figures
    return say(
        "scorecard_line",
        place=place,
        name=card.name,
        score=_value(say, card.composite),
        handled=f.handled,
        first_median=_value(say, f.first_response_minutes_median),
        first_share=_value(say, f.first_response_share, "%"),
        resolution_median=_value(say, f.resolution_hours_median),
        resolution_share=_value(say, f.resolution_share, "%"),
        reopen=_value(say, f.reopen_rate, "%"),
        csat=_value(say, f.csat),
        csat_answers=f.csat_answers,
        qa=_value(say, f.qa),
        qa_reviews=f.qa_reviews,
    )


def render_scorecards(
    cards: list[Scorecard],
    weights: ScorecardConfig,
    since: datetime,
    until: datetime,
    zone: ZoneInfo,
    say: Say,
) -> str:
    lines = [
        say(
            "scorecard_title",
            since=f"{since.astimezone(zone):%Y-%m-%d %H:%M}",
            until=f"{until.astimezone(zone):%Y-%m-%d %H:%M}",
            zone=zone.key,
        ),
        say(
            "scorecard_weights",
            satisfaction=f"{weights.satisfaction_weight:g}",
            completion=f"{weights.completion_weight:g}",
            quality=f"{weights.quality_weight:g}",
            target=f"{weights.target:g}",
        ),
    ]
    if not cards:
        lines.append(say("scorecard_empty"))
        return "\n".join(lines)
    lines += [scorecard_line(say, place, card) for place, card in enumerate(cards, 1)]
    separator = say("report_list_separator")
    scored = [card for card in cards if card.composite is not None]
    top = scored[: weights.top]
    below = [card for card in scored if (card.composite or 0) < weights.target]
    if top:
        lines.append(
            say("scorecard_top", count=len(top), names=separator.join(_named(c) for c in top))
        )
    lines.append(
        say(
            "scorecard_below",
            target=f"{weights.target:g}",
            names=separator.join(_named(c) for c in below),
        )
        if below
        else say("scorecard_none_below", target=f"{weights.target:g}")
    )
    return "\n".join(lines)


def _named(card: Scorecard) -> str:
    return f"{card.name} {card.composite:g}"


def scorecards_json(cards: list[Scorecard], weights: ScorecardConfig) -> list[dict[str, Any]]:
    """One object per agent, the best first, for `kefu report agents --json` and --csv."""
    return [
        {
            "place": place,
            "agent_id": card.figures.agent_id,
            "name": card.name,
            "composite": card.composite,
            "below_target": card.composite is not None and card.composite < weights.target,
            "handled": card.figures.handled,
            "first_response_minutes_median": card.figures.first_response_minutes_median,
            "first_response_on_time_percent": card.figures.first_response_share,
            "resolved": card.figures.resolved,
            "resolution_hours_median": card.figures.resolution_hours_median,
            "resolution_on_time_percent": card.figures.resolution_share,
            "reopen_rate_percent": card.figures.reopen_rate,
            "csat": card.figures.csat,
            "csat_answers": card.figures.csat_answers,
            "qa": card.figures.qa,
            "qa_reviews": card.figures.qa_reviews,
        }
        for place, card in enumerate(cards, 1)
    ]


async def scorecard_report(
    session: AsyncSession, config: Config, since: datetime, until: datetime, say: Say
) -> str:
    """The scorecards of a period as `/scorecard` and `kefu report agents` show them."""
    weights = config.report.scorecard
    cards = await scorecards(session, since, until, weights)
    zone = config.hours.business_hours().zone
    return render_scorecards(cards, weights, since, until, zone, say)


async def scorecard_rows(
    session: AsyncSession, config: Config, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    weights = config.report.scorecard
    return scorecards_json(await scorecards(session, since, until, weights), weights)
