"""A return request from start to finish: which order, which items, why, photos; then either a
return ticket for the agents or the reason it cannot be returned, with a person on offer."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import (
    ReturnCallback,
    ReturnDoneCallback,
    ReturnItemCallback,
    ReturnReasonCallback,
)
from bot.config import Config
from bot.faq.answers import FaqService
from bot.middlewares.language import customer_language
from bot.orders.lookup import OrderStatusService
from bot.orders.providers import OrderItem, OrdersUnavailable, OrderView
from bot.orders.returns import (
    RETURN_REASONS,
    Refusal,
    items_refusal,
    order_refusal,
    return_description,
)
from bot.texts import Texts
from bot.tickets.handoff import Handoff
from bot.tickets.lifecycle import TicketService
from handlers.customer_orders import OrderForm, person_button
from storage.models import Customer


class ReturnForm(StatesGroup):
    reason = State()
    extras = State()


def create_router() -> Router:
    router = Router(name="returns")
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")
    router.message.register(ask_which_order, Command("return"))
    router.callback_query.register(choose_order, ReturnCallback.filter())
    router.callback_query.register(choose_items, ReturnItemCallback.filter())
    router.callback_query.register(choose_reason, ReturnForm.reason, ReturnReasonCallback.filter())
    router.message.register(keep_extra, ReturnForm.extras, F.photo | F.text)
    router.callback_query.register(finish_return, ReturnForm.extras, ReturnDoneCallback.filter())
    router.callback_query.register(stale_button, ReturnReasonCallback.filter())
    router.callback_query.register(stale_button, ReturnDoneCallback.filter())
    return router


def _telegram_id(customer: Customer) -> int | None:
    return int(customer.external_id) if customer.channel == "telegram" else None


def _order_label(order: OrderView) -> str:
    first = order.items[0].name if order.items else ""
    more = f" +{len(order.items) - 1}" if len(order.items) > 1 else ""
    return f"{order.number} · {first}{more}"


async def ask_which_order(
    message: Message,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    config: Config,
    texts: Texts,
    tickets: TicketService,
    order_status: OrderStatusService,
) -> None:
    await begin_return(
        message, state, customer, session, customer_language(customer, message, config), texts,
        tickets, order_status,
    )  # fmt: skip


async def begin_return(
    message: Message,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    language: str,
    texts: Texts,
    tickets: TicketService,
    order_status: OrderStatusService,
    intro: str | None = None,
) -> None:
    """Offer the customer's recent orders; with none known, ask for the order number (the
    order lookup then shows it with a return button once it is proven theirs)."""
    assert customer.id is not None
    await state.clear()
    open_ticket = await tickets.open_ticket_of(session, customer)
    if open_ticket is not None:
        await message.answer(texts("handoff_existing", language, number=open_ticket.number))
        return
    prefix = f"{intro}\n\n" if intro else ""
    try:
        orders = await order_status.orders_of(customer.id, _telegram_id(customer))
    except OrdersUnavailable:
        await message.answer(
            texts("order_unavailable", language), reply_markup=person_button("", language, texts)
        )
        return
    if not orders:
        await state.set_state(OrderForm.number)
        await message.answer(prefix + texts("return_ask_number", language))
        return
    buttons = [
        [
            InlineKeyboardButton(
                text=_order_label(order),
                callback_data=ReturnCallback(number=order.number[:40]).pack(),
            )
        ]
        for order in orders
    ]
    await message.answer(
        prefix + texts("return_choose_order", language),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons),
    )


async def _refuse(
    message: Message, refusal: Refusal, number: str, language: str, texts: Texts
) -> None:
    details = dict(refusal.details)
    if "status" in details:
        details["status"] = texts(f"order_status_{details['status']}", language)
    await message.answer(
        texts(refusal.key, language, **details) + "\n" + texts("return_refused_help", language),
        reply_markup=person_button(number, language, texts),
    )


async def _returnable_order(
    query: CallbackQuery,
    number: str,
    state: FSMContext,
    customer: Customer,
    config: Config,
    texts: Texts,
    order_status: OrderStatusService,
) -> OrderView | None:
    """The order behind a return button, checked once more to be the customer's and
    returnable; None (with the customer told why) when it is not. A button press starts the
    request afresh."""
    await query.answer()
    await state.clear()
    if not isinstance(query.message, Message):
        return None
    assert customer.id is not None
    message, language = query.message, customer_language(customer, query, config)
    try:
        order = await order_status.for_owner(number, customer.id, _telegram_id(customer))
    except OrdersUnavailable:
        await message.answer(
            texts("order_unavailable", language),
            reply_markup=person_button(number, language, texts),
        )
        return None
    if order is None:  # never proven, or the proof has expired: prove it, then press again
        await state.set_state(OrderForm.phone_digits)
        await state.update_data(order_number=number)
        await message.answer(texts("order_ask_phone", language, number=number))
        return None
    refusal = order_refusal(order, order_status.clock.now(), config.returns)
    if refusal is not None:
        await _refuse(message, refusal, order.number, language, texts)
        return None
    return order


async def choose_order(
    query: CallbackQuery,
    callback_data: ReturnCallback,
    state: FSMContext,
    customer: Customer,
    config: Config,
    texts: Texts,
    order_status: OrderStatusService,
) -> None:
    number = callback_data.number
    order = await _returnable_order(query, number, state, customer, config, texts, order_status)
    if order is None or not isinstance(query.message, Message):
        return
    message, language = query.message, customer_language(customer, query, config)
    if len(order.items) == 1:
        await _ask_reason(message, state, order, list(order.items), language, config, texts)
        return
    buttons = [
        [
            InlineKeyboardButton(
                text=f"{item.name} × {item.quantity}",
                callback_data=ReturnItemCallback(number=order.number, index=index).pack(),
            )
        ]
        for index, item in enumerate(order.items)
    ]
    every = ReturnItemCallback(number=order.number, index=-1).pack()
    buttons.append(
        [InlineKeyboardButton(text=texts("return_all_items", language), callback_data=every)]
    )
    await message.answer(
        texts("return_choose_items", language),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons),
    )


async def choose_items(
    query: CallbackQuery,
    callback_data: ReturnItemCallback,
    state: FSMContext,
    customer: Customer,
    config: Config,
    texts: Texts,
    order_status: OrderStatusService,
) -> None:
    number = callback_data.number
    order = await _returnable_order(query, number, state, customer, config, texts, order_status)
    if order is None or not isinstance(query.message, Message):
        return
    items = list(order.items)
    if callback_data.index >= 0:
        items = items[callback_data.index : callback_data.index + 1]
    language = customer_language(customer, query, config)
    await _ask_reason(query.message, state, order, items, language, config, texts)


async def stale_button(
    query: CallbackQuery, customer: Customer, config: Config, texts: Texts
) -> None:
    """A button from a return request that is over (finished, refused or started again)."""
    await query.answer()
    if isinstance(query.message, Message):
        language = customer_language(customer, query, config)
        await query.message.answer(texts("return_over", language))


async def _ask_reason(
    message: Message,
    state: FSMContext,
    order: OrderView,
    items: list[OrderItem],
    language: str,
    config: Config,
    texts: Texts,
) -> None:
    refusal = items_refusal(items, config.returns)
    if not items or refusal is not None:
        refusal = refusal or Refusal("return_refused_nothing")
        await _refuse(message, refusal, order.number, language, texts)
        return
    await state.update_data(
        order_number=order.number,
        chosen=[{"name": i.name, "category": i.category, "quantity": i.quantity} for i in items],
    )
    buttons = [
        [
            InlineKeyboardButton(
                text=texts(f"return_reason_{reason}", language),
                callback_data=ReturnReasonCallback(reason=reason).pack(),
            )
        ]
        for reason in RETURN_REASONS
    ]
    await state.set_state(ReturnForm.reason)
    await message.answer(
        texts("return_choose_reason", language),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons),
    )


async def choose_reason(
    query: CallbackQuery,
    callback_data: ReturnReasonCallback,
    state: FSMContext,
    customer: Customer,
    config: Config,
    texts: Texts,
) -> None:
    await query.answer()
    if not isinstance(query.message, Message) or callback_data.reason not in RETURN_REASONS:
        return
    language = customer_language(customer, query, config)
    await state.update_data(reason=callback_data.reason)
    await state.set_state(ReturnForm.extras)
    await query.message.answer(
        texts("return_extras", language), reply_markup=_done_button(language, texts)
    )


def _done_button(language: str, texts: Texts) -> InlineKeyboardMarkup:
    done = InlineKeyboardButton(
        text=texts("return_done_button", language), callback_data=ReturnDoneCallback().pack()
    )
    return InlineKeyboardMarkup(inline_keyboard=[[done]])


async def keep_extra(
    message: Message, state: FSMContext, customer: Customer, config: Config, texts: Texts
) -> None:
    """Photos and words for the agents, kept until the customer taps Done."""
    data = await state.get_data()
    if message.photo:
        await state.update_data(photos=[*data.get("photos", []), message.message_id])
    words = message.text or message.caption
    if words:
        await state.update_data(comment=" ".join(filter(None, [data.get("comment"), words])))
    language = customer_language(customer, message, config)
    await message.answer(
        texts("return_extra_kept", language), reply_markup=_done_button(language, texts)
    )


async def finish_return(
    query: CallbackQuery,
    bot: Bot,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    config: Config,
    faq: FaqService,
    handoff: Handoff,
) -> None:
    await query.answer()
    if not isinstance(query.message, Message):
        return
    message, language = query.message, customer_language(customer, query, config)
    data = await state.get_data()
    await state.clear()
    items = [OrderItem(**item) for item in data.get("chosen", [])]
    ticket, _ = await handoff.open(
        session,
        bot,
        customer,
        category="return_refund",
        description=return_description(items, data.get("reason", "other"), data.get("comment")),
        order_number=data.get("order_number"),
    )
    await handoff.copy_into_topic(bot, ticket, message.chat.id, data.get("photos", []))
    lines = [handoff.expectation(ticket, language)]
    next_steps = faq.knowledge_base.get(config.returns.next_steps_entry)
    if next_steps is not None and next_steps.answer_in(language):
        lines.append(next_steps.answer_in(language) or "")
    await message.answer("\n\n".join(lines))
