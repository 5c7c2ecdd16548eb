"""Quality inspection (质检): each week, a few tickets each agent resolved in the week before are
drawn at random and sent to the supervisors, each with its transcript and a rubric (greeting,
accuracy, courtesy, compliance, resolution; 1-5 each, then an optional comment). The scores
are kept (QaReview) and enter the agents' scorecards.

The draw is reproducible: the same seed, week and agent draw the same tickets from the same
candidates; a ticket drawn once (in any week, by any replica) is never drawn again, since the
review's unique ticket id is the claim."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import QaCallback
from bot.channels.replies import Pressed, Reply
from bot.clock import Clock
from bot.config import QaConfig
from bot.schedule.business_hours import WEEKDAYS
from bot.texts import Say, Texts
from bot.tickets.roles import RoleBook
from bot.tickets.transcript import Transcripts
from storage.customers import language_of
from storage.database import SessionFactory
from storage.models import QA_CRITERIA, QaReview, Ticket
from storage.privacy import record_access
from storage.scorecards import agent_names, claim_run, qa_score

log = logging.getLogger(__name__)

COMMENT_LENGTH = 2000


class QaForm(StatesGroup):
    comment = State()


def week_of(now: datetime, zone: ZoneInfo, day: str) -> tuple[date, datetime, datetime]:
    """The week a draw on `now` inspects: the 7 days before the latest `day` (mon..sun) on or
    before today, in the shop's time zone; returned as (its first day, start, end)."""
    today = now.astimezone(zone).date()
    back = (today.weekday() - WEEKDAYS.index(day)) % 7
    end_day = today - timedelta(days=back)
    first = end_day - timedelta(days=7)
    return first, datetime.combine(first, time(), zone), datetime.combine(end_day, time(), zone)


def draw(candidates: Sequence[int], count: int, seed: str, week: str, agent: int) -> list[int]:
    """`count` of the candidate ticket ids (all of them if fewer), the same for the same seed,
    week, agent and candidates, whatever order they came in."""
    chooser = random.Random(f"{seed}|{week}|{agent}")
    return sorted(chooser.sample(sorted(candidates), min(count, len(candidates))))


@dataclass(frozen=True)
class Drawn:
    review: QaReview
    ticket: Ticket


class QualityInspection:
    def __init__(
        self,
        config: QaConfig,
        clock: Clock,
        zone: ZoneInfo,
        roles: RoleBook,
        texts: Texts,
        transcripts: Transcripts,
        staff_language: str,
    ) -> None:
        self.config = config
        self.clock = clock
        self.zone = zone
        self.roles = roles
        self.texts = texts
        self.transcripts = transcripts
        self.staff_language = staff_language

    def reviewers(self) -> list[int]:
        """Who scores: the supervisors, else (a shop without any) the admins."""
        return self.roles.with_role("supervisor") or self.roles.with_role("admin")

    async def draw_week(self, session: AsyncSession, now: datetime) -> list[Drawn]:
        """Draw the samples of the week before `now`: for each agent, `sample_per_agent` of the
        tickets they resolved in it that were never drawn, each claimed by inserting its review
        (a replica that drew it first keeps it). Reviewers take them in turn."""
        first, start, end = week_of(now, self.zone, self.config.day)
        week = first.isoformat()
        # claimed with the draw itself: a draw cut off half way leaves the week to draw again
        if not await claim_run(session, f"qa:{week}", now, commit=False):
            return []  # drawn already, here or by another replica
        drawn_before = select(QaReview.ticket_id)
        tickets = (
            await session.exec(
                select(Ticket).where(
                    col(Ticket.resolved_at) >= start,
                    col(Ticket.resolved_at) < end,
                    col(Ticket.assigned_agent).is_not(None),
                    col(Ticket.id).not_in(drawn_before),
                )
            )
        ).all()
        by_agent: dict[int, dict[int, Ticket]] = {}
        for ticket in tickets:
            assert ticket.assigned_agent is not None and ticket.id is not None
            by_agent.setdefault(ticket.assigned_agent, {})[ticket.id] = ticket
        reviewers = self.reviewers()
        drawn: list[Drawn] = []
        for agent in sorted(by_agent):
            own = by_agent[agent]
            for ticket_id in draw(
                list(own), self.config.sample_per_agent, self.config.seed, week, agent
            ):
                reviewer = reviewers[len(drawn) % len(reviewers)] if reviewers else None
                review = QaReview(
                    ticket_id=ticket_id,
                    agent_id=agent,
                    reviewer_id=reviewer,
                    week=week,
                    sampled_at=now,
                )
                try:
                    async with session.begin_nested():
                        session.add(review)
                except IntegrityError:
                    continue  # drawn by another replica just now
                drawn.append(Drawn(review, own[ticket_id]))
        await session.commit()
        log.info("quality inspection: %d tickets drawn for the week of %s", len(drawn), week)
        return drawn

    async def weekly(self, session_factory: SessionFactory, bot: Bot) -> int:
        """The scheduled job: draw the week's samples and send each to its reviewer."""
        async with session_factory() as session:
            drawn = await self.draw_week(session, self.clock.now())
            for item in drawn:
                await self.send(session, bot, item.review, item.ticket)
            await session.commit()
        return len(drawn)

    async def send(
        self, session: AsyncSession, bot: Bot, review: QaReview, ticket: Ticket
    ) -> None:
        """The transcript as a file, then the rubric at its first unscored criterion, to the
        review's reviewer in their language. A refusal is logged and the review stays pending
        (the reviewer finds it with /qa)."""
        if review.reviewer_id is None:
            return
        language = await language_of(session, "telegram", str(review.reviewer_id))
        say = Say(self.texts, language or self.staff_language)
        try:
            for reply in await self.opened(session, review, ticket, review.reviewer_id, say):
                if isinstance(reply, Reply):
                    await bot.send_message(
                        review.reviewer_id, reply.text, reply_markup=reply.markup
                    )
                else:
                    await bot.send_document(review.reviewer_id, reply)
        except TelegramAPIError as error:
            log.warning(
                "quality inspection=%s not sent to user=%s: %s",
                review.id,
                review.reviewer_id,
                type(error).__name__,
            )

    async def opened(
        self, session: AsyncSession, review: QaReview, ticket: Ticket, reader: int, say: Say
    ) -> list[Reply | BufferedInputFile]:
        """What a reviewer gets to score a ticket: its transcript (the look recorded in the
        audit log) and the rubric."""
        text = await self.transcripts.render(session, ticket, say.language)
        await record_access(
            session,
            actor=f"supervisor:{reader}",
            customer_id=ticket.customer_id,
            kind="transcript",
            detail=ticket.number,
            now=self.clock.now(),
        )
        names = await agent_names(session, [review.agent_id])
        transcript = BufferedInputFile(
            text.encode("utf-8"), filename=self.transcripts.file_name(ticket)
        )
        return [transcript, self.rubric(review, ticket.number, names[review.agent_id], say)]

    def rubric(self, review: QaReview, number: str, agent: str, say: Say) -> Reply:
        """The next criterion to score, with the scores given so far."""
        assert review.id is not None
        step = next(i for i, score in enumerate(review.scores()) if score is None)
        given = [
            say("qa_given", criterion=say(f"qa_criterion_{criterion}"), score=score)
            for criterion, score in zip(QA_CRITERIA, review.scores(), strict=True)
            if score is not None
        ]
        text = "\n".join(
            [
                say("qa_title", number=number, agent=agent),
                *given,
                say(
                    "qa_ask",
                    step=step + 1,
                    criterion=say(f"qa_criterion_{QA_CRITERIA[step]}"),
                    hint=say(f"qa_hint_{QA_CRITERIA[step]}"),
                ),
            ]
        )
        buttons = [
            InlineKeyboardButton(
                text=str(score),
                callback_data=QaCallback(
                    review_id=review.id, action="score", criterion=step, score=score
                ).pack(),
            )
            for score in range(1, 6)
        ]
        return Reply(text, InlineKeyboardMarkup(inline_keyboard=[buttons]))

    async def _own_review(
        self, session: AsyncSession, review_id: int, user_id: int
    ) -> QaReview | None:
        """The review, if this user may score it: its reviewer, or an admin."""
        review = await session.get(QaReview, review_id)
        if review is None:
            return None
        if review.reviewer_id != user_id and not self.roles.is_admin(user_id):
            return None
        return review

    async def score(
        self,
        session: AsyncSession,
        form: FSMContext,
        user_id: int,
        pressed: QaCallback,
        say: Say,
    ) -> Pressed:
        """One criterion scored; after the last, the comment is asked for."""
        review = await self._own_review(session, pressed.review_id, user_id)
        if review is None:
            return Pressed(say("qa_not_yours"), alert=True)
        scores = review.scores()
        if pressed.score < 1 or scores[pressed.criterion] is not None or None not in scores:
            return Pressed(say("qa_already"), alert=True)
        if scores.index(None) != pressed.criterion:
            return Pressed(say("qa_already"), alert=True)
        setattr(review, QA_CRITERIA[pressed.criterion], pressed.score)
        review.reviewer_id = user_id
        ticket = await session.get(Ticket, review.ticket_id)
        assert ticket is not None
        if None in review.scores():
            session.add(review)
            await session.commit()
            names = await agent_names(session, [review.agent_id])
            rubric = self.rubric(review, ticket.number, names[review.agent_id], say)
            return Pressed(clear_buttons=True, replies=(rubric,))
        review.scored_at = self.clock.now()
        session.add(review)
        await session.commit()
        log.info(
            "quality inspection=%s of ticket=%s scored by user=%s", review.id, ticket.id, user_id
        )
        await form.set_state(QaForm.comment)
        await form.set_data({"review_id": review.id})
        skip = InlineKeyboardButton(
            text=say("skip"),
            callback_data=QaCallback(review_id=review.id or 0, action="skip").pack(),
        )
        done = Reply(
            say("qa_scored", number=ticket.number, score=f"{qa_score(review):g}"),
            InlineKeyboardMarkup(inline_keyboard=[[skip]]),
        )
        return Pressed(clear_buttons=True, replies=(done,))

    async def comment(
        self, session: AsyncSession, form: FSMContext, user_id: int, text: str, say: Say
    ) -> str:
        data = await form.get_data()
        await form.clear()
        review = await self._own_review(session, int(data.get("review_id", 0)), user_id)
        if review is None:
            return say("qa_not_yours")
        review.comment = text[:COMMENT_LENGTH]
        session.add(review)
        await session.commit()
        return say("qa_comment_saved")

    async def skip_comment(self, form: FSMContext, say: Say) -> Pressed:
        await form.clear()
        return Pressed(clear_buttons=True, replies=(Reply(say("qa_comment_skipped")),))

    async def pending(self, session: AsyncSession, user_id: int, say: Say) -> Reply:
        """`/qa`: the inspections waiting for this user's scores (an admin sees everyone's),
        each with a button that opens it again."""
        statement = select(QaReview).where(col(QaReview.scored_at).is_(None))
        if not self.roles.is_admin(user_id):
            statement = statement.where(QaReview.reviewer_id == user_id)
        reviews = (await session.exec(statement.order_by(col(QaReview.id)))).all()
        if not reviews:
            return Reply(say("qa_nothing_pending"))
        names = await agent_names(session, sorted({r.agent_id for r in reviews}))
        lines, buttons = [say("qa_pending_title", count=len(reviews))], []
        for review in reviews[:20]:
            ticket = await session.get(Ticket, review.ticket_id)
            assert ticket is not None and review.id is not None
            scored = sum(1 for score in review.scores() if score is not None)
            lines.append(
                say(
                    "qa_pending_line",
                    number=ticket.number,
                    agent=names[review.agent_id],
                    week=review.week,
                    scored=scored,
                    total=len(QA_CRITERIA),
                )
            )
            buttons.append(
                [
                    InlineKeyboardButton(
                        text=say("qa_open", number=ticket.number),
                        callback_data=QaCallback(review_id=review.id, action="open").pack(),
                    )
                ]
            )
        return Reply("\n".join(lines), InlineKeyboardMarkup(inline_keyboard=buttons))

    async def open(
        self, session: AsyncSession, user_id: int, review_id: int, say: Say
    ) -> tuple[Pressed, list[Reply | BufferedInputFile]]:
        review = await self._own_review(session, review_id, user_id)
        if review is None:
            return Pressed(say("qa_not_yours"), alert=True), []
        if review.scored_at is not None:
            return Pressed(say("qa_already"), alert=True), []
        ticket = await session.get(Ticket, review.ticket_id)
        assert ticket is not None
        sent = await self.opened(session, review, ticket, user_id, say)
        await session.commit()
        return Pressed(), sent
