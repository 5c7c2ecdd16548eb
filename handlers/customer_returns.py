"""A return request: which order, which items, why, photos; then a return ticket for the agents
or the reason it cannot be returned, with a person on offer."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import (
    ReturnCallback,
    ReturnDoneCallback,
    ReturnItemCallback,
    ReturnReasonCallback,
)
from bot.channels.filters import command_or_form, photo_or_text, private_chat
from bot.channels.replies import Pressed, bot_of, press_then
from bot.orders.returns import ReturnForm, ReturnRequests
from storage.models import Customer


def create_router() -> Router:
    router = Router(name="customer_returns")
    router.message.filter(private_chat, command_or_form(ReturnForm.extras))
    router.callback_query.filter(private_chat)
    router.message.register(ask_which_order, Command("return"))
    router.callback_query.register(choose_order, ReturnCallback.filter())
    router.callback_query.register(choose_items, ReturnItemCallback.filter())
    router.callback_query.register(
        choose_reason, StateFilter(ReturnForm.reason), ReturnReasonCallback.filter()
    )
    router.message.register(keep_extra, StateFilter(ReturnForm.extras), photo_or_text)
    router.callback_query.register(
        finish_return, StateFilter(ReturnForm.extras), ReturnDoneCallback.filter()
    )
    router.callback_query.register(stale_button, ReturnReasonCallback.filter())
    router.callback_query.register(stale_button, ReturnDoneCallback.filter())
    return router


async def ask_which_order(
    message: Message,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    returns: ReturnRequests,
    language: str,
) -> None:
    await (await returns.begin(session, customer, state, language)).send(message)


async def choose_order(
    query: CallbackQuery,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    returns: ReturnRequests,
    language: str,
) -> None:
    """An order's return button (registered with ReturnCallback's filter)."""
    number = ReturnCallback.unpack(query.data or "").number
    reply = await returns.choose_order(session, customer, state, language, number)
    await press_then(reply).render(query)


async def choose_items(
    query: CallbackQuery,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    returns: ReturnRequests,
    language: str,
) -> None:
    """An item, or every item (registered with ReturnItemCallback's filter)."""
    chosen = ReturnItemCallback.unpack(query.data or "")
    reply = await returns.choose_items(
        session, customer, state, language, chosen.number, chosen.index
    )
    await press_then(reply).render(query)


async def choose_reason(
    query: CallbackQuery,
    callback_data: ReturnReasonCallback,
    state: FSMContext,
    returns: ReturnRequests,
    language: str,
) -> None:
    reply = await returns.choose_reason(state, language, callback_data.reason)
    await (press_then(reply) if reply else Pressed()).render(query)


async def keep_extra(
    message: Message, state: FSMContext, returns: ReturnRequests, language: str
) -> None:
    photo = message.message_id if message.photo else None
    reply = await returns.keep_extra(
        state, language, photo_message_id=photo, words=message.text or message.caption
    )
    await reply.send(message)


async def finish_return(
    query: CallbackQuery,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    returns: ReturnRequests,
    language: str,
) -> None:
    if not isinstance(query.message, Message):
        await query.answer()
        return
    await query.answer()
    reply = await returns.finish(
        session, bot_of(query), customer, state, language, query.message.chat.id
    )
    await reply.send(query.message)


async def stale_button(query: CallbackQuery, returns: ReturnRequests, language: str) -> None:
    await press_then(returns.over(language)).render(query)
