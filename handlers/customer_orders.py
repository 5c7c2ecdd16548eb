"""Where is my order: /order, an order number in a message, or the knowledge base's
order_status entry; the order is shown only once the customer has shown it is theirs."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, ExceptionTypeFilter, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, ErrorEvent, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import OrderHelpCallback
from bot.channels.filters import has_text, private_chat
from bot.channels.replies import press_then
from bot.faq.front_desk import FrontDesk
from bot.orders.lookup import OrderForm, OrderLookup, OrderStatusService, OrdersUnavailableNow
from bot.tickets.intake import Intake
from storage.models import Customer


def create_router() -> Router:
    router = Router(name="customer_orders")
    router.message.filter(private_chat)
    router.callback_query.filter(private_chat)
    router.message.register(ask_for_order, Command("order"))
    router.message.register(
        answer_aside, StateFilter(OrderForm.number), has_text, asks_something_else
    )
    router.message.register(
        answer_aside, StateFilter(OrderForm.phone_digits), has_text, asks_something_else
    )
    router.message.register(receive_number, StateFilter(OrderForm.number), has_text)
    router.message.register(receive_digits, StateFilter(OrderForm.phone_digits), has_text)
    router.message.register(receive_number, has_text, contains_order_number)
    router.callback_query.register(ask_a_person, OrderHelpCallback.filter())
    router.errors.register(orders_unavailable, ExceptionTypeFilter(OrdersUnavailableNow))
    return router


async def contains_order_number(message: Message, order_status: OrderStatusService) -> bool:
    return order_status.find_number(message.text) is not None


async def asks_something_else(
    message: Message, order_status: OrderStatusService, desk: FrontDesk
) -> bool:
    """While an order number or phone digits are awaited: a message with neither, that the
    knowledge base answers confidently, is a question of its own (and no wrong try)."""
    text = message.text or ""
    if text.startswith("/") or order_status.find_number(text):
        return False
    return not any(ch.isdigit() for ch in text) and desk.answers_alone(text)


async def answer_aside(
    message: Message,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    desk: FrontDesk,
    language: str,
) -> None:
    reply = await desk.question_aside(
        session, customer, state, language, message.text or "", "order_lookup_left"
    )
    await reply.send(message)


async def ask_for_order(
    message: Message,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    lookup: OrderLookup,
    language: str,
) -> None:
    """`/order` asks for the number; `/order A-1001` looks it up at once."""
    given = (message.text or "").partition(" ")[2].strip()
    if not given:
        reply = await lookup.begin(state, language)
    else:
        reply = await lookup.given_text(session, customer, state, language, given)
    await reply.send(message)


async def receive_number(
    message: Message,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    lookup: OrderLookup,
    language: str,
) -> None:
    """The answer to "which order?", or any message with an order number in it."""
    reply = await lookup.given_text(session, customer, state, language, message.text or "")
    await reply.send(message)


async def receive_digits(
    message: Message,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    lookup: OrderLookup,
    language: str,
) -> None:
    reply = await lookup.digits(session, customer, state, language, message.text or "")
    await reply.send(message)


async def ask_a_person(
    query: CallbackQuery,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    intake: Intake,
    language: str,
) -> None:
    """The person button under an order: the intake, with the order already known."""
    number = OrderHelpCallback.unpack(query.data or "").number or None
    reply = await intake.begin(session, customer, state, language, number)
    await press_then(reply).render(query)


async def orders_unavailable(event: ErrorEvent, lookup: OrderLookup, language: str) -> None:
    """The orders provider failed: say so, with a person (and the order, if known) on offer."""
    assert isinstance(event.exception, OrdersUnavailableNow)
    update = event.update
    message = update.message or (update.callback_query.message if update.callback_query else None)
    if isinstance(update.callback_query, CallbackQuery):
        await update.callback_query.answer()
    if isinstance(message, Message):
        await lookup.unavailable(event.exception.number, language).send(message)
