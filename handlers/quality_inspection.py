"""Quality inspection (质检) in a supervisor's private chat: /qa lists what waits for their
scores, the rubric's buttons score a ticket, then an optional comment."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import QaCallback
from bot.channels.filters import command_or_form, is_supervisor, plain_text, private_chat
from bot.quality.inspection import QaForm, QualityInspection
from bot.texts import Say
from storage.models import Customer

log = logging.getLogger(__name__)


def create_router() -> Router:
    router = Router(name="quality_inspection")
    router.message.filter(private_chat, command_or_form(QaForm.comment))
    router.callback_query.filter(private_chat)
    router.message.register(list_pending, Command("qa"), is_supervisor)
    router.message.register(refuse, Command("qa"))
    router.message.register(save_comment, StateFilter(QaForm.comment), plain_text, is_supervisor)
    router.callback_query.register(press, QaCallback.filter(), is_supervisor)
    router.callback_query.register(refuse_button, QaCallback.filter())
    return router


async def list_pending(
    message: Message, session: AsyncSession, quality: QualityInspection, say: Say
) -> None:
    assert message.from_user is not None
    await (await quality.pending(session, message.from_user.id, say)).send(message)


async def press(
    query: CallbackQuery,
    callback_data: QaCallback,
    session: AsyncSession,
    state: FSMContext,
    quality: QualityInspection,
    say: Say,
) -> None:
    user = query.from_user.id
    if callback_data.action == "score":
        await (await quality.score(session, state, user, callback_data, say)).render(query)
    elif callback_data.action == "skip":
        await (await quality.skip_comment(state, say)).render(query)
    else:
        pressed, sent = await quality.open(session, user, callback_data.review_id, say)
        await pressed.render(query)
        if isinstance(query.message, Message):
            for reply in sent:
                if isinstance(reply, BufferedInputFile):
                    await query.message.answer_document(reply)
                else:
                    await reply.send(query.message)


async def save_comment(
    message: Message,
    session: AsyncSession,
    state: FSMContext,
    quality: QualityInspection,
    say: Say,
) -> None:
    assert message.from_user is not None
    await message.answer(
        await quality.comment(session, state, message.from_user.id, message.text or "", say)
    )


async def refuse(message: Message, customer: Customer, say: Say) -> None:
    log.warning("refused /qa from customer=%s", customer.id)
    await message.answer(say("qa_staff_only"))


async def refuse_button(query: CallbackQuery, customer: Customer, say: Say) -> None:
    log.warning("refused a quality inspection button from customer=%s", customer.id)
    await query.answer(say("qa_staff_only"), show_alert=True)
