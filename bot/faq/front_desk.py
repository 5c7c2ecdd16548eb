"""What a customer's question or menu choice leads to: an answer from the knowledge base,
suggestions, the fallback with a person on offer, or the flow an entry names (a person, an
order, a return). Also the greeting and the customer's votes on answers."""

from __future__ import annotations

import logging

from aiogram.fsm.context import FSMContext
from aiogram.types import InlineKeyboardMarkup
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import SuggestionCallback
from bot.channels.replies import Pressed, Reply
from bot.clock import Clock
from bot.faq.answers import FaqReply, FaqService
from bot.faq.keyboards import (
    answer_keyboard,
    fallback_keyboard,
    menu_keyboard,
    suggestions_keyboard,
)
from bot.followups.surveys import FollowUps
from bot.incidents.notices import IncidentBoard
from bot.knowledge_admin.learning import Learning
from bot.orders.lookup import OrderLookup
from bot.orders.returns import ReturnRequests
from bot.texts import Texts
from bot.tickets.intake import Intake
from knowledge import Decision
from storage.conversations import record_vote
from storage.models import Customer

log = logging.getLogger(__name__)


class FrontDesk:
    def __init__(
        self,
        faq: FaqService,
        intake: Intake,
        lookup: OrderLookup,
        returns: ReturnRequests,
        follow_ups: FollowUps,
        learning: Learning,
        texts: Texts,
        clock: Clock,
        menu_size: int,
        incidents: IncidentBoard,
    ) -> None:
        self.faq = faq
        self.incidents = incidents
        self.learning = learning
        self.intake = intake
        self.lookup = lookup
        self.returns = returns
        self.follow_ups = follow_ups
        self.texts = texts
        self.clock = clock
        self.menu_size = menu_size

    async def greet(self, session: AsyncSession, customer: Customer, language: str) -> Reply:
        name = f", {customer.first_name}" if customer.first_name and language == "en" else ""
        name = name or (f"，{customer.first_name}" if customer.first_name else "")
        menu = self.faq.knowledge_base.menu(self.menu_size)
        return Reply(self.texts("greeting", language, name=name), menu_keyboard(menu, language))

    async def question(
        self, session: AsyncSession, customer: Customer, form: FSMContext, language: str, text: str
    ) -> Reply:
        reply = await self.faq.answer_question(session, customer, text, language)
        return await self._follow(session, customer, form, language, reply)

    def answers_alone(self, text: str) -> bool:
        """Whether the knowledge base answers `text` confidently with a plain answer (not a
        flow of its own): a question in its own right, even while a form waits for input."""
        match = self.faq.matcher.match(text)
        if match.decision is not Decision.ANSWER or match.entry_id is None:
            return False
        entry = self.faq.knowledge_base.get(match.entry_id)
        return entry is not None and entry.action is None

    async def question_aside(
        self,
        session: AsyncSession,
        customer: Customer,
        form: FSMContext,
        language: str,
        text: str,
        note: str,
    ) -> Reply:
        """A question asked while a form waited for something else: the form is left, the
        question answered, and the customer told what was left (`note`, a catalogue key)."""
        await form.clear()
        reply = await self.question(session, customer, form, language, text)
        return Reply(f"{self.texts(note, language)}\n\n{reply.text}", reply.markup)

    async def entry(
        self,
        session: AsyncSession,
        customer: Customer,
        form: FSMContext,
        language: str,
        entry_id: str,
    ) -> Reply:
        """A menu button or a suggestion pressed."""
        entry = self.faq.knowledge_base.get(entry_id)
        if entry is None:
            return Reply(self.texts("entry_missing", language))
        reply = await self.faq.reply_with_entry(session, customer, entry, language)
        return await self._follow(session, customer, form, language, reply)

    async def suggestion(
        self,
        session: AsyncSession,
        customer: Customer,
        form: FSMContext,
        language: str,
        pressed: SuggestionCallback,
    ) -> Reply:
        """A "did you mean" suggestion pressed: the customer's words confirmed for the entry."""
        await self.learning.suggestion_picked(
            session, customer, pressed.message_id, pressed.entry_id
        )
        return await self.entry(session, customer, form, language, pressed.entry_id)

    async def vote(
        self,
        session: AsyncSession,
        customer: Customer,
        message_id: int,
        helpful: bool,
        language: str,
    ) -> Pressed:
        """👍 or 👎 on an answer: thanks, the vote buttons gone, and a person offered after 👎."""
        vote = await record_vote(
            session, customer, message_id, helpful=helpful, now=self.clock.now()
        )
        if vote is None:
            return Pressed(self.texts("vote_expired", language))
        log.info(
            "customer=%s voted helpful=%s on message=%s",
            customer.id,
            vote.helpful,
            vote.message_id,
        )
        if vote.helpful:
            await self.follow_ups.bot_answer_helpful(session, customer, vote.message_id)
            await self.learning.helpful_answer(session, customer, vote.message_id)
        entry = self.faq.knowledge_base.get(vote.entry_id or "")
        remaining = (
            answer_keyboard(entry, self.faq.knowledge_base, language, self.texts, None)
            if entry is not None
            else InlineKeyboardMarkup(inline_keyboard=[])
        )
        key = "vote_thanks_up" if vote.helpful else "vote_thanks_down"
        offer = Reply(self.texts("offer_human", language), fallback_keyboard(language, self.texts))
        return Pressed(
            self.texts(key, language),
            buttons=remaining if remaining.inline_keyboard else None,
            clear_buttons=not remaining.inline_keyboard,
            replies=() if vote.helpful else (offer,),
        )

    async def _follow(
        self,
        session: AsyncSession,
        customer: Customer,
        form: FSMContext,
        language: str,
        reply: FaqReply,
    ) -> Reply:
        """The flow the entry names instead of a static answer, else the answer rendered."""
        action = reply.entry.action if reply.entry else None
        if action == "talk_to_human":
            return await self.intake.begin(session, customer, form, language)
        if action == "order_status":
            return await self.lookup.begin(form, language)
        if action == "return_request":
            return await self.returns.begin(session, customer, form, language, reply.text)
        markup: InlineKeyboardMarkup | None = None
        text = reply.text
        if reply.decision is not Decision.SUGGEST:  # an answer, or the fallback: all of them
            notice = self.incidents.notice(reply.entry.id if reply.entry else None, language)
            text = f"{notice}\n\n{text}" if notice else text
        if reply.decision is Decision.SUGGEST:
            markup = suggestions_keyboard(
                reply.suggestions, language, self.texts, reply.question_id
            )
        elif reply.entry is None:
            markup = fallback_keyboard(language, self.texts)
        elif reply.votable:
            markup = answer_keyboard(
                reply.entry, self.faq.knowledge_base, language, self.texts, reply.message_id
            )
        return Reply(text, markup)
