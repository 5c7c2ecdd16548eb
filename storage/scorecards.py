"""Each agent's figures over a period, for the scorecards: the tickets they handled, how fast
and how well, what customers and the quality inspection (质检) said of them."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.figures import (
    first_response_minutes,
    resolution_hours,
    resolved_on_time,
    responded_late,
    responded_on_time,
)
from storage.models import (
    AgentDuty,
    Customer,
    Feedback,
    FeedbackKind,
    JobRun,
    QaReview,
    Ticket,
)


@dataclass(frozen=True)
class AgentFigures:
    """One agent in one period. The tickets counted are those created in the period and
    assigned to the agent (their last owner). On-time shares count what was answered or
    resolved, and what is still waiting past its due time as late; None: nothing to count."""

    agent_id: int
    handled: int
    first_response_minutes_median: float | None
    first_response_on_time: int
    first_response_late: int
    resolved: int
    resolution_hours_median: float | None
    resolution_on_time: int
    resolution_late: int
    reopened: int  # tickets reopened at least once
    csat_answers: int
    csat: float | None  # mean stars, out of 100 (5 stars = 100)
    qa_reviews: int
    qa: float | None  # mean rubric score, out of 100 (all 5s = 100)

    @property
    def first_response_share(self) -> float | None:
        return _share(self.first_response_on_time, self.first_response_late)

    @property
    def resolution_share(self) -> float | None:
        return _share(self.resolution_on_time, self.resolution_late)

    @property
    def reopen_rate(self) -> float | None:
        return round(100.0 * self.reopened / self.handled, 1) if self.handled else None


def _share(on_time: int, late: int) -> float | None:
    return round(100.0 * on_time / (on_time + late), 1) if on_time + late else None


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def qa_score(review: QaReview) -> float | None:
    """A scored review out of 100: the mean of its five 1-5 scores, times 20."""
    scores = [score for score in review.scores() if score is not None]
    if len(scores) < len(review.scores()):
        return None
    return round(statistics.mean(scores) * 20, 1)


async def agent_figures(
    session: AsyncSession, since: datetime, until: datetime
) -> dict[int, AgentFigures]:
    """Every agent who handled a ticket, got a survey answer or a quality score in the period
    (CSAT by when it was answered, QA by when it was scored), by Telegram id."""
    tickets = (
        await session.exec(
            select(Ticket).where(
                Ticket.created_at >= since,
                Ticket.created_at < until,
                col(Ticket.assigned_agent).is_not(None),
            )
        )
    ).all()
    answers = (
        await session.exec(
            select(Feedback).where(
                Feedback.kind == FeedbackKind.CSAT,
                Feedback.answered_at >= since,
                Feedback.answered_at < until,
                col(Feedback.agent_id).is_not(None),
                col(Feedback.score).is_not(None),
            )
        )
    ).all()
    reviews = (
        await session.exec(
            select(QaReview).where(
                col(QaReview.scored_at).is_not(None),
                col(QaReview.scored_at) >= since,
                col(QaReview.scored_at) < until,
            )
        )
    ).all()
    agents: set[int] = {t.assigned_agent for t in tickets if t.assigned_agent is not None}
    agents |= {f.agent_id for f in answers if f.agent_id is not None}
    agents |= {r.agent_id for r in reviews}
    figures = {}
    for agent in sorted(agents):
        own = [t for t in tickets if t.assigned_agent == agent]
        responded = [t for t in own if t.first_response_at is not None]
        resolved = [t for t in own if t.resolved_at is not None]
        stars = [f.score for f in answers if f.agent_id == agent and f.score is not None]
        scored = [
            score for r in reviews if r.agent_id == agent and (score := qa_score(r)) is not None
        ]
        figures[agent] = AgentFigures(
            agent_id=agent,
            handled=len(own),
            first_response_minutes_median=_median(first_response_minutes(responded)),
            first_response_on_time=sum(map(responded_on_time, responded)),
            first_response_late=sum(responded_late(t, until) for t in own),
            resolved=len(resolved),
            resolution_hours_median=_median(resolution_hours(resolved)),
            resolution_on_time=sum(map(resolved_on_time, resolved)),
            resolution_late=sum(
                1
                for t in own
                if (t.resolved_at or until) > t.resolution_due
                and (t.resolved_at is not None or t.resolution_due <= until)
            ),
            reopened=sum(1 for t in own if t.reopen_count > 0),
            csat_answers=len(stars),
            csat=round(statistics.mean(stars) * 20, 1) if stars else None,
            qa_reviews=len(scored),
            qa=round(statistics.mean(scored), 1) if scored else None,
        )
    return figures


async def agent_names(session: AsyncSession, agent_ids: list[int]) -> dict[int, str]:
    """How staff know each agent: the name kept when they took tickets (as the ticket's card
    shows it), else their Telegram name or @username from their private chat, else the id."""
    if not agent_ids:
        return {}
    duties = (
        await session.exec(select(AgentDuty).where(col(AgentDuty.telegram_id).in_(agent_ids)))
    ).all()
    names = {duty.telegram_id: duty.name for duty in duties if duty.name}
    people = (
        await session.exec(
            select(Customer).where(
                Customer.channel == "telegram",
                col(Customer.external_id).in_([str(agent) for agent in agent_ids]),
            )
        )
    ).all()
    for person in people:
        agent = int(person.external_id)
        if agent not in names and (person.first_name or person.username):
            names[agent] = person.first_name or f"@{person.username}"
    return {agent: names.get(agent) or str(agent) for agent in agent_ids}


async def claim_run(
    session: AsyncSession, key: str, now: datetime, *, commit: bool = True
) -> bool:
    """True for the first (of all replicas) to claim the job run `key`. Committed at once
    unless `commit` is False: then the claim holds with whatever the caller commits next (a
    replica claiming the same key meanwhile waits for that commit, and then is refused)."""
    try:
        async with session.begin_nested():
            session.add(JobRun(key=key, claimed_at=now))
    except IntegrityError:
        return False
    if commit:
        await session.commit()
    return True
