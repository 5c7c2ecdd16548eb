"""What the Agents page shows: the scorecards of a period (the figures and composite of
`/scorecard`, from bot/reports/scorecards.py), each agent beside their own in the period before,
the top agents and those below target; and the quality inspection (质检): what waits for a
score, and what was scored in the period with its rubric and comment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import ScorecardConfig
from bot.reports.scorecards import Scorecard, scorecards
from bot.texts import Say
from bot.web.console.reports import Period, Table
from storage.models import QA_CRITERIA, QaReview, Ticket
from storage.scorecards import agent_names, qa_score

QA_SHOWN = 200  # the newest inspections of each kind; more are for `kefu report agents`


@dataclass(frozen=True)
class AgentRow:
    place: int
    card: Scorecard
    previous: Scorecard | None  # the same agent in the period before; None: nothing then
    top: bool
    below: bool


@dataclass(frozen=True)
class Inspection:
    number: str  # the ticket's, which its page is named by
    agent: str
    reviewer: str
    week: str
    scores: dict[str, int | None]  # by QA_CRITERIA
    score: float | None  # out of 100, once all five are given
    comment: str | None
    scored_at: datetime | None


@dataclass(frozen=True)
class AgentsView:
    period: Period
    previous: Period
    weights: ScorecardConfig
    rows: list[AgentRow]
    pending: list[Inspection]
    scored: list[Inspection]


def ranked_rows(
    cards: list[Scorecard], before: list[Scorecard], weights: ScorecardConfig
) -> list[AgentRow]:
    """The cards in `/scorecard`'s order, with its top N and its below-target marks."""
    earlier = {card.figures.agent_id: card for card in before}
    scored = [card for card in cards if card.composite is not None]
    top = {card.figures.agent_id for card in scored[: weights.top]}
    return [
        AgentRow(
            place=place,
            card=card,
            previous=earlier.get(card.figures.agent_id),
            top=card.figures.agent_id in top,
            below=card.composite is not None and card.composite < weights.target,
        )
        for place, card in enumerate(cards, 1)
    ]


async def _inspections(
    session: AsyncSession, reviews: list[tuple[QaReview, Ticket]]
) -> list[Inspection]:
    people = {r.agent_id for r, _ in reviews} | {
        r.reviewer_id for r, _ in reviews if r.reviewer_id is not None
    }
    names = await agent_names(session, sorted(people))
    return [
        Inspection(
            number=ticket.number,
            agent=names[review.agent_id],
            reviewer=names[review.reviewer_id] if review.reviewer_id is not None else "",
            week=review.week,
            scores=dict(zip(QA_CRITERIA, review.scores(), strict=True)),
            score=qa_score(review),
            comment=review.comment,
            scored_at=review.scored_at,
        )
        for review, ticket in reviews
    ]


async def agents_page(
    session: AsyncSession, weights: ScorecardConfig, period: Period
) -> AgentsView:
    previous = period.before()
    cards = await scorecards(session, period.since, period.until, weights)
    before = await scorecards(session, previous.since, previous.until, weights)
    waiting = (
        await session.exec(
            select(QaReview, Ticket)
            .join(Ticket, col(Ticket.id) == QaReview.ticket_id)
            .where(col(QaReview.scored_at).is_(None))
            .order_by(col(QaReview.id).desc())
            .limit(QA_SHOWN)
        )
    ).all()
    done = (
        await session.exec(
            select(QaReview, Ticket)
            .join(Ticket, col(Ticket.id) == QaReview.ticket_id)
            .where(
                col(QaReview.scored_at).is_not(None),
                col(QaReview.scored_at) >= period.since,
                col(QaReview.scored_at) < period.until,
            )
            .order_by(col(QaReview.scored_at).desc())
            .limit(QA_SHOWN)
        )
    ).all()
    return AgentsView(
        period=period,
        previous=previous,
        weights=weights,
        rows=ranked_rows(cards, before, weights),
        pending=await _inspections(session, list(waiting)),
        scored=await _inspections(session, list(done)),
    )


def agents_table(view: AgentsView, say: Say) -> Table:
    """The scorecards as the CSV download has them, each figure beside the period before's."""
    figures: list[tuple[str, str]] = [
        ("composite", "console_agents_composite"),
        ("handled", "console_agents_handled"),
        ("first_response_minutes_median", "console_agents_first_median"),
        ("first_response_share", "console_agents_first_share"),
        ("resolution_hours_median", "console_agents_resolution_median"),
        ("resolution_share", "console_agents_resolution_share"),
        ("reopen_rate", "console_agents_reopen"),
        ("csat", "console_agents_csat"),
        ("csat_answers", "console_agents_csat_answers"),
        ("qa", "console_agents_qa"),
        ("qa_reviews", "console_agents_qa_reviews"),
    ]
    headers = [say("console_agents_place"), say("console_agent")]
    for _, key in figures:
        headers += [say(key), say("console_agents_before", figure=say(key))]
    headers += [say("console_agents_top"), say("console_agents_below")]
    rows: list[list[object]] = []
    for row in view.rows:
        line: list[object] = [row.place, row.card.name]
        for name, _ in figures:
            line.append(figure(row.card, name))
            line.append(figure(row.previous, name) if row.previous else "")
        line += [say("console_yes") if row.top else "", say("console_yes") if row.below else ""]
        rows.append(line)
    return Table("agents", say("console_agents_scorecards"), headers, rows)


def figure(card: Scorecard, name: str) -> float | int | str:
    """One of a scorecard's figures by name ("" when nothing was measured)."""
    value = card.composite if name == "composite" else getattr(card.figures, name)
    return "" if value is None else value
