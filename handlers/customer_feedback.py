"""The customer's answers to surveys, revisits and NPS; /stop_surveys and /start_surveys."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import NpsCallback, RevisitCallback, SurveyCallback, SurveySkipCallback
from bot.channels.filters import command_or_form, plain_text, private_chat
from bot.channels.replies import bot_of
from bot.followups.answers import FeedbackAnswers, SurveyForm
from storage.models import Customer


def create_router() -> Router:
    router = Router(name="customer_feedback")
    router.message.filter(private_chat, command_or_form(SurveyForm.comment))
    router.callback_query.filter(private_chat)
    router.message.register(stop_surveys, Command("stop_surveys"))
    router.message.register(start_surveys, Command("start_surveys"))
    router.callback_query.register(save_score, SurveyCallback.filter())
    router.message.register(save_comment, StateFilter(SurveyForm.comment), plain_text)
    router.callback_query.register(skip_comment, SurveySkipCallback.filter())
    router.callback_query.register(save_revisit, RevisitCallback.filter())
    router.callback_query.register(save_nps, NpsCallback.filter())
    return router


async def save_score(
    query: CallbackQuery,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    feedback: FeedbackAnswers,
    language: str,
) -> None:
    """A star pressed (registered with SurveyCallback's filter)."""
    pressed = SurveyCallback.unpack(query.data or "")
    answer = await feedback.score(
        session,
        bot_of(query),
        customer,
        state,
        language,
        scheduled_id=pressed.id,
        score=pressed.score,
    )
    await answer.render(query)


async def save_comment(
    message: Message,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    feedback: FeedbackAnswers,
    language: str,
) -> None:
    reply = await feedback.comment(
        session, bot_of(message), customer, state, language, message.text or ""
    )
    await reply.send(message)


async def skip_comment(
    query: CallbackQuery, state: FSMContext, feedback: FeedbackAnswers, language: str
) -> None:
    await (await feedback.skip_comment(state, language)).render(query)


async def save_revisit(
    query: CallbackQuery,
    callback_data: RevisitCallback,
    customer: Customer,
    session: AsyncSession,
    feedback: FeedbackAnswers,
    language: str,
) -> None:
    answer = await feedback.revisit(
        session,
        bot_of(query),
        customer,
        language,
        scheduled_id=callback_data.id,
        solved=callback_data.solved,
    )
    await answer.render(query)


async def save_nps(
    query: CallbackQuery,
    callback_data: NpsCallback,
    customer: Customer,
    session: AsyncSession,
    feedback: FeedbackAnswers,
    language: str,
) -> None:
    answer = await feedback.nps(
        session, customer, language, scheduled_id=callback_data.id, score=callback_data.score
    )
    await answer.render(query)


async def stop_surveys(
    message: Message,
    customer: Customer,
    session: AsyncSession,
    feedback: FeedbackAnswers,
    language: str,
) -> None:
    await (await feedback.stop(session, customer, language)).send(message)


async def start_surveys(
    message: Message,
    customer: Customer,
    session: AsyncSession,
    feedback: FeedbackAnswers,
    language: str,
) -> None:
    await (await feedback.start(session, customer, language)).send(message)
