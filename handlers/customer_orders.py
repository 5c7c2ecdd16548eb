"""Where is my order: /order, an order number in a message, or the knowledge base's
order_status entry; the order is shown only once the customer has shown it is theirs."""

from __future__ import annotations

from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import OrderHelpCallback, ReturnCallback
from bot.config import Config
from bot.middlewares.language import customer_language
from bot.orders.lookup import OrderStatusService
from bot.orders.providers import OrdersUnavailable, OrderView
from bot.texts import Texts
from bot.tickets.handoff import Handoff
from bot.tickets.lifecycle import TicketService
from handlers.customer_tickets import begin_intake
from storage.models import Customer


class OrderForm(StatesGroup):
    number = State()
    phone_digits = State()


def create_router() -> Router:
    router = Router(name="orders")
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")
    router.message.register(ask_for_order, Command("order"))
    router.message.register(receive_number, OrderForm.number, F.text)
    router.message.register(receive_digits, OrderForm.phone_digits, F.text)
    router.message.register(mentioned_order, F.text, contains_order_number)
    router.callback_query.register(ask_a_person, OrderHelpCallback.filter())
    return router


def person_button(number: str, language: str, texts: Texts) -> InlineKeyboardMarkup:
    button = InlineKeyboardButton(
        text=texts("order_help_button", language),
        callback_data=OrderHelpCallback(number=number[:40]).pack(),
    )
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


def _order_buttons(
    order: OrderView, language: str, texts: Texts, config: Config
) -> InlineKeyboardMarkup:
    """Under an order shown to its owner: a person, and a return when the order allows one."""
    markup = person_button(order.number, language, texts)
    if order.status in config.returns.allowed_statuses:
        button = InlineKeyboardButton(
            text=texts("return_button", language),
            callback_data=ReturnCallback(number=order.number[:40]).pack(),
        )
        markup.inline_keyboard.append([button])
    return markup


def contains_order_number(
    message: Message, order_status: OrderStatusService
) -> bool | dict[str, Any]:
    number = order_status.find_number(message.text)
    return {"order_number": number} if number else False


async def begin_order_lookup(
    message: Message, state: FSMContext, language: str, texts: Texts
) -> None:
    await state.set_state(OrderForm.number)
    await message.answer(texts("order_ask_number", language))


async def ask_for_order(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    customer: Customer,
    config: Config,
    texts: Texts,
    order_status: OrderStatusService,
) -> None:
    language = customer_language(customer, message, config)
    if not command.args:
        await begin_order_lookup(message, state, language, texts)
        return
    await lookup_given_number(
        message, command.args, state, customer, language, config, texts, order_status
    )


async def receive_number(
    message: Message,
    state: FSMContext,
    customer: Customer,
    config: Config,
    texts: Texts,
    order_status: OrderStatusService,
) -> None:
    language = customer_language(customer, message, config)
    await lookup_given_number(
        message, message.text or "", state, customer, language, config, texts, order_status
    )


async def lookup_given_number(
    message: Message,
    text: str,
    state: FSMContext,
    customer: Customer,
    language: str,
    config: Config,
    texts: Texts,
    order_status: OrderStatusService,
) -> None:
    number = order_status.find_number(text)
    if number is None:
        await state.clear()
        await message.answer(
            texts("order_not_a_number", language),
            reply_markup=person_button("", language, texts),
        )
        return
    await show_order(message, number, state, customer, language, config, texts, order_status)


async def mentioned_order(
    message: Message,
    order_number: str,
    state: FSMContext,
    customer: Customer,
    config: Config,
    texts: Texts,
    order_status: OrderStatusService,
) -> None:
    language = customer_language(customer, message, config)
    await show_order(message, order_number, state, customer, language, config, texts, order_status)


async def show_order(
    message: Message,
    number: str,
    state: FSMContext,
    customer: Customer,
    language: str,
    config: Config,
    texts: Texts,
    order_status: OrderStatusService,
) -> None:
    assert customer.id is not None
    await state.clear()
    if order_status.locked(customer.id):
        await message.answer(
            texts("order_locked", language), reply_markup=person_button(number, language, texts)
        )
        return
    telegram_id = int(customer.external_id) if customer.channel == "telegram" else None
    try:
        order = await order_status.for_owner(number, customer.id, telegram_id)
    except OrdersUnavailable:
        await message.answer(
            texts("order_unavailable", language),
            reply_markup=person_button(number, language, texts),
        )
        return
    if order is not None:
        await message.answer(
            order_status.describe(order, language),
            reply_markup=_order_buttons(order, language, texts, config),
        )
        return
    await state.set_state(OrderForm.phone_digits)
    await state.update_data(order_number=number)
    await message.answer(texts("order_ask_phone", language, number=number))


async def receive_digits(
    message: Message,
    state: FSMContext,
    customer: Customer,
    config: Config,
    texts: Texts,
    order_status: OrderStatusService,
) -> None:
    assert customer.id is not None
    language = customer_language(customer, message, config)
    number = (await state.get_data()).get("order_number", "")
    try:
        order = await order_status.verify(customer.id, number, message.text or "")
    except OrdersUnavailable:
        await state.clear()
        await message.answer(
            texts("order_unavailable", language),
            reply_markup=person_button(number, language, texts),
        )
        return
    if order is not None:
        await state.clear()
        await message.answer(
            order_status.describe(order, language),
            reply_markup=_order_buttons(order, language, texts, config),
        )
        return
    if order_status.locked(customer.id):
        await state.clear()
        await message.answer(
            texts("order_locked", language), reply_markup=person_button(number, language, texts)
        )
        return
    await message.answer(
        texts("order_mismatch", language, left=order_status.tries_left(customer.id))
    )


async def ask_a_person(
    query: CallbackQuery,
    callback_data: OrderHelpCallback,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    config: Config,
    texts: Texts,
    tickets: TicketService,
    handoff: Handoff,
) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await begin_intake(
            query.message,
            state,
            customer,
            session,
            config,
            texts,
            tickets,
            handoff,
            customer_language(customer, query, config),
            callback_data.number or None,
        )
