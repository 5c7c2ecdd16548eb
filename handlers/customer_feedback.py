"""The customer's answers to surveys, revisits and NPS; /stop_surveys and /start_surveys."""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import NpsCallback, RevisitCallback, SurveyCallback, SurveySkipCallback
from bot.config import Config
from bot.followups.surveys import Answer, FollowUps, Recorded
from bot.middlewares.language import customer_language
from bot.texts import Texts
from bot.tickets.handoff import Handoff
from storage.models import Customer, Ticket

log = logging.getLogger(__name__)


class SurveyForm(StatesGroup):
    comment = State()


def create_router() -> Router:
    router = Router(name="follow_ups")
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")
    router.message.register(stop_surveys, Command("stop_surveys"))
    router.message.register(start_surveys, Command("start_surveys"))
    router.callback_query.register(save_score, SurveyCallback.filter())
    router.message.register(save_comment, SurveyForm.comment, F.text & ~F.text.startswith("/"))
    router.callback_query.register(skip_comment, SurveySkipCallback.filter())
    router.callback_query.register(save_revisit, RevisitCallback.filter())
    router.callback_query.register(save_nps, NpsCallback.filter())
    return router


async def _settled(query: CallbackQuery, recorded: Recorded, language: str, texts: Texts) -> bool:
    """Answer the button press; False unless the answer was recorded just now."""
    if recorded.answer is Answer.RECORDED:
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.edit_reply_markup(reply_markup=None)
        return True
    key = {
        Answer.ALREADY: "survey_already",
        Answer.CLOSED: "survey_closed",
        Answer.UNKNOWN: "follow_up_unknown",
    }[recorded.answer]
    await query.answer(texts(key, language), show_alert=True)
    return False


async def save_score(
    query: CallbackQuery,
    callback_data: SurveyCallback,
    bot: Bot,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    config: Config,
    texts: Texts,
    follow_ups: FollowUps,
    handoff: Handoff,
) -> None:
    language = customer_language(customer, query, config)
    recorded = await follow_ups.record_score(
        session, customer, callback_data.id, callback_data.score
    )
    if not await _settled(query, recorded, language, texts) or recorded.feedback is None:
        return
    await session.commit()
    log.info("customer=%s rated scheduled=%s", customer.id, callback_data.id)
    if recorded.low_score and recorded.ticket is not None:
        await handoff.alert(
            bot,
            recorded.ticket,
            f"⚠️ Low satisfaction: {recorded.ticket.number} was rated "
            f"{callback_data.score}/5. Follow-up task recorded on the ticket.",
        )
    await state.set_state(SurveyForm.comment)
    await state.set_data({"feedback_id": recorded.feedback.id})
    skip = InlineKeyboardButton(
        text=texts("skip", language), callback_data=SurveySkipCallback().pack()
    )
    if isinstance(query.message, Message):
        await query.message.answer(
            texts("survey_ask_comment", language),
            reply_markup=InlineKeyboardMarkup(inline_keyboard=[[skip]]),
        )


async def save_comment(
    message: Message,
    bot: Bot,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    config: Config,
    texts: Texts,
    follow_ups: FollowUps,
    handoff: Handoff,
) -> None:
    feedback_id = (await state.get_data()).get("feedback_id")
    await state.clear()
    feedback = await follow_ups.record_comment(
        session, customer, int(feedback_id or 0), message.text or ""
    )
    await session.commit()
    low = (
        feedback is not None
        and feedback.ticket_id is not None
        and feedback.score is not None
        and feedback.score <= config.surveys.alert_at_or_below
    )
    ticket = await session.get(Ticket, feedback.ticket_id) if low and feedback else None
    if ticket is not None and feedback is not None:
        await handoff.alert(
            bot,
            ticket,
            f"💬 Comment with the {feedback.score}/5 rating of {ticket.number}: "
            f"{feedback.comment}",
            mention=False,
        )
    await message.answer(
        texts("survey_comment_thanks", customer_language(customer, message, config))
    )


async def skip_comment(
    query: CallbackQuery, state: FSMContext, customer: Customer, config: Config, texts: Texts
) -> None:
    await state.clear()
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(
            texts("survey_thanks", customer_language(customer, query, config))
        )


async def save_revisit(
    query: CallbackQuery,
    callback_data: RevisitCallback,
    bot: Bot,
    customer: Customer,
    session: AsyncSession,
    config: Config,
    texts: Texts,
    follow_ups: FollowUps,
    handoff: Handoff,
) -> None:
    language = customer_language(customer, query, config)
    recorded = await follow_ups.record_revisit(
        session, customer, callback_data.id, callback_data.solved
    )
    if not await _settled(query, recorded, language, texts) or not isinstance(
        query.message, Message
    ):
        return
    ticket = recorded.ticket
    if callback_data.solved or ticket is None:
        await session.commit()
        await query.message.answer(texts("revisit_thanks", language))
        return
    reopened = await handoff.reopen_unsolved(session, bot, customer, ticket)
    await query.message.answer(
        texts("revisit_reopened", language, number=reopened.number)
        + " "
        + handoff.expectation(reopened, language)
    )


async def save_nps(
    query: CallbackQuery,
    callback_data: NpsCallback,
    customer: Customer,
    session: AsyncSession,
    config: Config,
    texts: Texts,
    follow_ups: FollowUps,
) -> None:
    language = customer_language(customer, query, config)
    recorded = await follow_ups.record_nps(
        session, customer, callback_data.id, callback_data.score
    )
    if await _settled(query, recorded, language, texts) and isinstance(query.message, Message):
        await session.commit()
        await query.message.answer(texts("nps_thanks", language))


async def stop_surveys(
    message: Message,
    customer: Customer,
    session: AsyncSession,
    config: Config,
    texts: Texts,
    follow_ups: FollowUps,
) -> None:
    cancelled = await follow_ups.opt_out(session, customer)
    await session.commit()
    log.info("customer=%s stopped surveys (%s pending cancelled)", customer.id, cancelled)
    await message.answer(texts("surveys_stopped", customer_language(customer, message, config)))


async def start_surveys(
    message: Message,
    customer: Customer,
    session: AsyncSession,
    config: Config,
    texts: Texts,
    follow_ups: FollowUps,
) -> None:
    await follow_ups.opt_in(session, customer)
    await session.commit()
    log.info("customer=%s started surveys again", customer.id)
    await message.answer(texts("surveys_started", customer_language(customer, message, config)))
