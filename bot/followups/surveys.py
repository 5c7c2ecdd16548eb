"""After service, asking how it went: the satisfaction survey (CSAT, 1-5) after a resolution,
its one reminder, the revisit (回访) some days later, and NPS (0-10) after a first contact.
What is scheduled lives in `Schedule`; this module decides what to schedule, what each message
says when it goes out, and what an answer does."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import timedelta

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import NpsCallback, RevisitCallback, SurveyCallback
from bot.clock import Clock
from bot.config import Config
from bot.schedule.delivery import Outgoing, Schedule
from bot.texts import Texts
from storage.models import (
    Customer,
    Feedback,
    FeedbackKind,
    Message,
    ScheduledKind,
    ScheduledMessage,
    ScheduledStatus,
    Ticket,
    TicketEvent,
    TicketStatus,
)

log = logging.getLogger(__name__)


# The channels a follow-up is sent on: Telegram, and the web chat (the visitor's page, or their
# next visit); the terminal's customers are only ever there while they type.
REACHED = ("telegram", "web")


class Answer(enum.Enum):
    RECORDED = "recorded"
    ALREADY = "already"
    CLOSED = "closed"
    UNKNOWN = "unknown"


@dataclass
class Recorded:
    answer: Answer
    feedback: Feedback | None = None
    ticket: Ticket | None = None
    low_score: bool = False


class FollowUps:
    def __init__(self, config: Config, schedule: Schedule, clock: Clock, texts: Texts) -> None:
        self.config = config
        self.schedule = schedule
        self.clock = clock
        self.texts = texts

    # Scheduling

    async def ticket_resolved(self, session: AsyncSession, ticket: Ticket) -> None:
        """Schedule the survey and the revisit (once per resolution)."""
        assert ticket.id is not None
        now = self.clock.now()
        surveys, revisits = self.config.surveys, self.config.revisits
        if surveys.enabled and ticket.category not in surveys.disabled_categories:
            # one per resolution: a survey that found the ticket reopened before it went out
            # gives way to the next resolution's (min_days_between still keeps them apart)
            key = f"survey:ticket:{ticket.id}"
            await self.schedule.add(
                session,
                key=f"{key}:{ticket.reopen_count}" if ticket.reopen_count else key,
                kind=ScheduledKind.SURVEY,
                customer_id=ticket.customer_id,
                ticket_id=ticket.id,
                due_at=now + timedelta(minutes=surveys.delay_minutes),
                lifetime=timedelta(days=surveys.expire_days),
            )
        if revisits.enabled:
            days = revisits.days_by_category.get(ticket.category, revisits.days)
            await self.schedule.add(
                session,
                key=f"revisit:ticket:{ticket.id}:{ticket.reopen_count}",
                kind=ScheduledKind.REVISIT,
                customer_id=ticket.customer_id,
                ticket_id=ticket.id,
                due_at=now + timedelta(days=days),
                lifetime=timedelta(days=max(days, 1)),
            )

    async def bot_answer_helpful(
        self, session: AsyncSession, customer: Customer, message_id: int
    ) -> None:
        """With `after_bot_answers`, a conversation the bot resolved alone is surveyed too."""
        if not (self.config.surveys.enabled and self.config.surveys.after_bot_answers):
            return
        answered = await session.get(Message, message_id)
        if answered is None or customer.id is None:
            return
        await self.schedule.add(
            session,
            key=f"survey:conversation:{answered.conversation_id}",
            kind=ScheduledKind.SURVEY,
            customer_id=customer.id,
            due_at=self.clock.now() + timedelta(minutes=self.config.surveys.delay_minutes),
            lifetime=timedelta(days=self.config.surveys.expire_days),
        )

    async def customer_first_seen(self, session: AsyncSession, customer: Customer) -> None:
        nps = self.config.nps
        if not nps.enabled or customer.id is None:
            return
        await self.schedule.add(
            session,
            key=f"nps:customer:{customer.id}:{customer.first_seen.date().isoformat()}",
            kind=ScheduledKind.NPS,
            customer_id=customer.id,
            due_at=customer.first_seen + timedelta(days=nps.days_after_first_contact),
            lifetime=timedelta(days=7),
        )

    # Sending (the Composer of bot.schedule.delivery.Delivery)

    async def compose(self, session: AsyncSession, message: ScheduledMessage) -> Outgoing | str:
        customer = await session.get(Customer, message.customer_id)
        if customer is None or customer.channel not in REACHED:
            return "not a customer the bot can write to"
        if customer.unreachable_at is not None:
            return "customer blocked the bot"
        if customer.surveys_opt_out:
            return "customer opted out"
        language = customer.language or self.config.bot.default_language
        chat_id, channel = int(customer.external_id), customer.channel
        if message.kind == ScheduledKind.SURVEY:
            if await self._surveyed_recently(session, message):
                return "a survey went to this customer recently"
            about = await self._about(session, message, language)
            if about is None:
                return "the ticket is open again"
            question = f"{self._survey_question(language)}{about}"
            return Outgoing(chat_id, question, self._stars(message), channel)
        if message.kind == ScheduledKind.REMINDER:
            survey = await self._survey_of(session, message)
            if survey is None or survey.status != ScheduledStatus.SENT:
                return "the survey was not sent"
            if await self._feedback_for(session, survey) is not None:
                return "the survey was answered"
            text = self.texts("survey_reminder", language)
            about = await self._about(session, message, language) or ""
            return Outgoing(
                chat_id,
                f"{text}\n\n{self._survey_question(language)}{about}",
                self._stars(survey),
                channel,
            )
        if message.kind == ScheduledKind.REVISIT:
            ticket = await session.get(Ticket, message.ticket_id)
            if ticket is None or ticket.status not in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
                return "the ticket is open again"
            text = self.texts("revisit_question", language, number=ticket.number)
            return Outgoing(chat_id, text, self._yes_no(message, language), channel)
        if message.kind == ScheduledKind.NPS:
            if await self._nps_recently(session, message):
                return "NPS asked recently"
            return Outgoing(
                chat_id, self.texts("nps_question", language), self._zero_to_ten(message), channel
            )
        return f"unknown kind {message.kind}"

    async def after_sent(self, session: AsyncSession, message: ScheduledMessage) -> None:
        reminder_hours = self.config.surveys.reminder_hours
        if message.kind != ScheduledKind.SURVEY or reminder_hours <= 0:
            return
        due = self.clock.now() + timedelta(hours=reminder_hours)
        if due >= message.expires_at:
            return
        await self.schedule.add(
            session,
            key=f"reminder:{message.key}",
            kind=ScheduledKind.REMINDER,
            customer_id=message.customer_id,
            ticket_id=message.ticket_id,
            due_at=due,
            lifetime=message.expires_at - due,
        )

    async def _about(
        self, session: AsyncSession, message: ScheduledMessage, language: str
    ) -> str | None:
        """ "About your request T-000123:" before a survey of a ticket, so that the customer
        knows which case it rates; empty for a conversation with the bot; None when the ticket
        is open again (reopened before the survey went out: there is nothing to rate yet)."""
        if message.ticket_id is None:
            return ""
        ticket = await session.get(Ticket, message.ticket_id)
        if ticket is None:
            return ""
        if ticket.status not in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
            return None
        return "\n" + self.texts("survey_about", language, number=ticket.number)

    def _survey_question(self, language: str) -> str:
        configured = (
            self.config.surveys.question_zh
            if language == "zh"
            else self.config.surveys.question_en
        )
        return configured or self.texts("survey_question", language)

    @staticmethod
    def _stars(survey: ScheduledMessage) -> InlineKeyboardMarkup:
        assert survey.id is not None
        row = [
            InlineKeyboardButton(
                text=f"{score} ⭐", callback_data=SurveyCallback(id=survey.id, score=score).pack()
            )
            for score in range(1, 6)
        ]
        return InlineKeyboardMarkup(inline_keyboard=[row])

    def _yes_no(self, revisit: ScheduledMessage, language: str) -> InlineKeyboardMarkup:
        assert revisit.id is not None
        row = [
            InlineKeyboardButton(
                text=self.texts(key, language),
                callback_data=RevisitCallback(id=revisit.id, solved=solved).pack(),
            )
            for key, solved in (("revisit_yes", True), ("revisit_no", False))
        ]
        return InlineKeyboardMarkup(inline_keyboard=[row])

    @staticmethod
    def _zero_to_ten(nps: ScheduledMessage) -> InlineKeyboardMarkup:
        assert nps.id is not None
        buttons = [
            InlineKeyboardButton(
                text=str(score), callback_data=NpsCallback(id=nps.id, score=score).pack()
            )
            for score in range(11)
        ]
        return InlineKeyboardMarkup(inline_keyboard=[buttons[:6], buttons[6:]])

    async def _survey_of(
        self, session: AsyncSession, reminder: ScheduledMessage
    ) -> ScheduledMessage | None:
        key = reminder.key.removeprefix("reminder:")
        statement = select(ScheduledMessage).where(ScheduledMessage.key == key)
        return (await session.exec(statement)).first()

    @staticmethod
    async def _feedback_for(session: AsyncSession, message: ScheduledMessage) -> Feedback | None:
        statement = select(Feedback).where(Feedback.scheduled_id == message.id)
        return (await session.exec(statement)).first()

    async def _sent_since(
        self,
        session: AsyncSession,
        message: ScheduledMessage,
        kind: ScheduledKind,
        days: float,
    ) -> bool:
        since = self.clock.now() - timedelta(days=days)
        statement = (
            select(func.count())
            .select_from(ScheduledMessage)
            .where(ScheduledMessage.customer_id == message.customer_id)
            .where(ScheduledMessage.kind == kind)
            .where(col(ScheduledMessage.id) != message.id)
            .where(
                col(ScheduledMessage.status).in_(
                    (ScheduledStatus.SENT, ScheduledStatus.SENDING, ScheduledStatus.UNCERTAIN)
                )
            )
            .where(col(ScheduledMessage.sent_at) >= since)
        )
        return bool((await session.exec(statement)).one())

    async def _surveyed_recently(self, session: AsyncSession, message: ScheduledMessage) -> bool:
        return await self._sent_since(
            session, message, ScheduledKind.SURVEY, self.config.surveys.min_days_between
        )

    async def _nps_recently(self, session: AsyncSession, message: ScheduledMessage) -> bool:
        return await self._sent_since(
            session, message, ScheduledKind.NPS, self.config.nps.min_days_between
        )

    # Answers

    async def _asked(
        self,
        session: AsyncSession,
        customer: Customer,
        scheduled_id: int,
        kinds: tuple[ScheduledKind, ...],
    ) -> ScheduledMessage | None:
        asked = await session.get(ScheduledMessage, scheduled_id)
        if asked is None or asked.customer_id != customer.id or asked.kind not in kinds:
            return None
        return asked

    async def _record(
        self,
        session: AsyncSession,
        asked: ScheduledMessage,
        *,
        kind: FeedbackKind,
        score: int | None = None,
        solved: bool | None = None,
    ) -> Recorded:
        if await self._feedback_for(session, asked) is not None:
            return Recorded(Answer.ALREADY)
        if self.clock.now() > asked.expires_at:
            return Recorded(Answer.CLOSED)
        ticket = await session.get(Ticket, asked.ticket_id) if asked.ticket_id else None
        assert asked.id is not None
        feedback = Feedback(
            scheduled_id=asked.id,
            kind=kind,
            customer_id=asked.customer_id,
            ticket_id=asked.ticket_id,
            agent_id=ticket.assigned_agent if ticket else None,
            category=ticket.category if ticket else None,
            score=score,
            solved=solved,
            answered_at=self.clock.now(),
        )
        session.add(feedback)
        await session.flush()
        return Recorded(Answer.RECORDED, feedback, ticket)

    async def record_score(
        self, session: AsyncSession, customer: Customer, scheduled_id: int, score: int
    ) -> Recorded:
        asked = await self._asked(session, customer, scheduled_id, (ScheduledKind.SURVEY,))
        if asked is None or not 1 <= score <= 5:
            return Recorded(Answer.UNKNOWN)
        recorded = await self._record(session, asked, kind=FeedbackKind.CSAT, score=score)
        ticket = recorded.ticket
        if recorded.answer is Answer.RECORDED and ticket is not None:
            session.add(self._event(ticket, customer, "csat", str(score)))
            if self.is_low(recorded.feedback):
                recorded.low_score = True
                detail = f"CSAT {score}/5: contact the customer and find out what went wrong"
                session.add(self._event(ticket, customer, "follow_up", detail))
                log.warning("ticket=%s got a low satisfaction score (%s)", ticket.id, score)
        return recorded

    def is_low(self, feedback: Feedback | None) -> bool:
        """A ticket's satisfaction score low enough to alert the agents about."""
        return (
            feedback is not None
            and feedback.kind == "csat"
            and feedback.ticket_id is not None
            and feedback.score is not None
            and feedback.score <= self.config.surveys.alert_at_or_below
        )

    async def record_comment(
        self, session: AsyncSession, customer: Customer, feedback_id: int, comment: str
    ) -> Feedback | None:
        feedback = await session.get(Feedback, feedback_id)
        if feedback is None or feedback.customer_id != customer.id:
            return None
        feedback.comment = comment[:2000]
        session.add(feedback)
        return feedback

    async def record_revisit(
        self, session: AsyncSession, customer: Customer, scheduled_id: int, solved: bool
    ) -> Recorded:
        asked = await self._asked(session, customer, scheduled_id, (ScheduledKind.REVISIT,))
        if asked is None:
            return Recorded(Answer.UNKNOWN)
        recorded = await self._record(session, asked, kind=FeedbackKind.REVISIT, solved=solved)
        if recorded.answer is Answer.RECORDED and recorded.ticket is not None:
            outcome = "solved" if solved else "not solved"
            session.add(self._event(recorded.ticket, customer, "revisit", outcome))
        return recorded

    async def record_nps(
        self, session: AsyncSession, customer: Customer, scheduled_id: int, score: int
    ) -> Recorded:
        asked = await self._asked(session, customer, scheduled_id, (ScheduledKind.NPS,))
        if asked is None or not 0 <= score <= 10:
            return Recorded(Answer.UNKNOWN)
        return await self._record(session, asked, kind=FeedbackKind.NPS, score=score)

    async def opt_out(self, session: AsyncSession, customer: Customer) -> int:
        assert customer.id is not None
        customer.surveys_opt_out = True
        session.add(customer)
        return await self.schedule.cancel_for_customer(session, customer.id, "customer opted out")

    async def opt_in(self, session: AsyncSession, customer: Customer) -> None:
        """Surveys and revisits from now on; those the opt-out cancelled stay cancelled."""
        customer.surveys_opt_out = False
        session.add(customer)

    def _event(self, ticket: Ticket, customer: Customer, kind: str, detail: str) -> TicketEvent:
        assert ticket.id is not None
        return TicketEvent(
            ticket_id=ticket.id,
            actor=f"customer:{customer.id}",
            kind=kind,
            detail=detail,
            created_at=self.clock.now(),
        )
