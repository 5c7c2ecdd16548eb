"""The customer's answers to surveys, revisits and NPS, and what each leads to: thanks, the
comment asked for, the agents alerted about a low score, a ticket reopened at the revisit."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import SurveySkipCallback
from bot.channels.replies import Pressed, Reply
from bot.followups.surveys import Answer, FollowUps, Recorded
from bot.texts import Texts
from bot.tickets.handoff import Handoff
from storage.models import Customer, Ticket

log = logging.getLogger(__name__)


class SurveyForm(StatesGroup):
    comment = State()


NOT_RECORDED = {
    Answer.ALREADY: "survey_already",
    Answer.CLOSED: "survey_closed",
    Answer.UNKNOWN: "follow_up_unknown",
}


class FeedbackAnswers:
    def __init__(self, follow_ups: FollowUps, handoff: Handoff, texts: Texts) -> None:
        self.follow_ups = follow_ups
        self.handoff = handoff
        self.texts = texts

    def _not_recorded(self, recorded: Recorded, language: str) -> Pressed | None:
        """The alert for an answer that was not recorded just now; None when it was."""
        if recorded.answer is Answer.RECORDED:
            return None
        return Pressed(self.texts(NOT_RECORDED[recorded.answer], language), alert=True)

    async def score(
        self,
        session: AsyncSession,
        bot: Bot,
        customer: Customer,
        form: FSMContext,
        language: str,
        *,
        scheduled_id: int,
        score: int,
    ) -> Pressed:
        recorded = await self.follow_ups.record_score(session, customer, scheduled_id, score)
        refused = self._not_recorded(recorded, language)
        if refused is not None:
            return refused
        if recorded.feedback is None:
            return Pressed(clear_buttons=True)
        await session.commit()
        log.info("customer=%s rated scheduled=%s", customer.id, scheduled_id)
        if recorded.low_score and recorded.ticket is not None:
            await self.handoff.alert(
                bot,
                recorded.ticket,
                self.handoff.say_group(
                    "alert_low_score", number=recorded.ticket.number, score=score
                ),
            )
        await form.set_state(SurveyForm.comment)
        await form.set_data({"feedback_id": recorded.feedback.id})
        skip = InlineKeyboardButton(
            text=self.texts("skip", language), callback_data=SurveySkipCallback().pack()
        )
        ask = Reply(
            self.texts("survey_ask_comment", language),
            InlineKeyboardMarkup(inline_keyboard=[[skip]]),
        )
        return Pressed(clear_buttons=True, replies=(ask,))

    async def comment(
        self,
        session: AsyncSession,
        bot: Bot,
        customer: Customer,
        form: FSMContext,
        language: str,
        text: str,
    ) -> Reply:
        """The comment after a score; a low score's comment follows the alert to the agents."""
        feedback_id = (await form.get_data()).get("feedback_id")
        await form.clear()
        feedback = await self.follow_ups.record_comment(
            session, customer, int(feedback_id or 0), text
        )
        await session.commit()
        if feedback is not None and self.follow_ups.is_low(feedback):
            ticket = await session.get(Ticket, feedback.ticket_id)
            if ticket is not None:
                await self.handoff.alert(
                    bot,
                    ticket,
                    self.handoff.say_group(
                        "alert_low_score_comment",
                        number=ticket.number,
                        score=feedback.score,
                        comment=feedback.comment,
                    ),
                    mention=False,
                )
        return Reply(self.texts("survey_comment_thanks", language))

    async def skip_comment(self, form: FSMContext, language: str) -> Pressed:
        await form.clear()
        return Pressed(clear_buttons=True, replies=(Reply(self.texts("survey_thanks", language)),))

    async def revisit(
        self,
        session: AsyncSession,
        bot: Bot,
        customer: Customer,
        language: str,
        *,
        scheduled_id: int,
        solved: bool,
    ) -> Pressed:
        """Yes ends it; No reopens the ticket (or opens one that names it, if it was closed)."""
        recorded = await self.follow_ups.record_revisit(session, customer, scheduled_id, solved)
        refused = self._not_recorded(recorded, language)
        if refused is not None:
            return refused
        ticket = recorded.ticket
        if solved or ticket is None:
            await session.commit()
            thanks = Reply(self.texts("revisit_thanks", language))
            return Pressed(clear_buttons=True, replies=(thanks,))
        reopened = await self.handoff.reopen_unsolved(session, bot, customer, ticket)
        text = (
            self.texts("revisit_reopened", language, number=reopened.number)
            + " "
            + self.handoff.expectation(reopened, language)
        )
        return Pressed(clear_buttons=True, replies=(Reply(text),))

    async def nps(
        self,
        session: AsyncSession,
        customer: Customer,
        language: str,
        *,
        scheduled_id: int,
        score: int,
    ) -> Pressed:
        recorded = await self.follow_ups.record_nps(session, customer, scheduled_id, score)
        refused = self._not_recorded(recorded, language)
        if refused is not None:
            return refused
        await session.commit()
        return Pressed(clear_buttons=True, replies=(Reply(self.texts("nps_thanks", language)),))

    async def stop(self, session: AsyncSession, customer: Customer, language: str) -> Reply:
        cancelled = await self.follow_ups.opt_out(session, customer)
        await session.commit()
        log.info("customer=%s stopped surveys (%s pending cancelled)", customer.id, cancelled)
        return Reply(self.texts("surveys_stopped", language))

    async def start(self, session: AsyncSession, customer: Customer, language: str) -> Reply:
        await self.follow_ups.opt_in(session, customer)
        await session.commit()
        log.info("customer=%s started surveys again", customer.id)
        return Reply(self.texts("surveys_started", language))
