"""The customer's way to a person: intake, the relay while a ticket is open, and /tickets."""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import CategoryCallback, HumanCallback, SkipCallback, SolvedCallback
from bot.config import Config
from bot.middlewares.language import customer_language
from bot.texts import Texts
from bot.tickets.handoff import Handoff, wants_a_person
from bot.tickets.lifecycle import CATEGORIES, OPEN_STATUSES, TicketService
from storage.models import Customer, Ticket

log = logging.getLogger(__name__)


class HandoffForm(StatesGroup):
    category = State()
    description = State()
    order_number = State()


def create_router() -> Router:
    router = Router(name="handoff")
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")
    router.message.register(list_tickets, Command("tickets"))
    router.callback_query.register(mark_solved, SolvedCallback.filter())
    router.message.register(relay_to_agents, has_open_ticket)
    router.callback_query.register(save_category, HandoffForm.category, CategoryCallback.filter())
    router.message.register(save_description, HandoffForm.description, F.text)
    router.message.register(save_order_number, HandoffForm.order_number, F.text)
    router.message.register(keep_photo, HandoffForm.description, F.photo)
    router.message.register(keep_photo, HandoffForm.order_number, F.photo)
    router.callback_query.register(
        skip_order_number, HandoffForm.order_number, SkipCallback.filter()
    )
    router.message.register(start_intake, Command("human"))
    router.message.register(start_intake, F.text.func(wants_a_person))
    router.callback_query.register(start_intake_from_button, HumanCallback.filter())
    return router


async def has_open_ticket(
    message: Message, session: AsyncSession, customer: Customer, tickets: TicketService
) -> bool | dict[str, Any]:
    if message.text and message.text.startswith("/"):
        return False
    ticket = await tickets.open_ticket_of(session, customer)
    return {"ticket": ticket} if ticket is not None else False


async def relay_to_agents(
    message: Message,
    bot: Bot,
    ticket: Ticket,
    customer: Customer,
    session: AsyncSession,
    handoff: Handoff,
    config: Config,
    texts: Texts,
) -> None:
    await handoff.tickets.customer_replied(session, ticket)
    if not handoff.group_id:
        # No agents' group yet: keep the message on the ticket and say where it went.
        detail = message.text or message.caption or f"[{message.content_type}]"
        await handoff.tickets.record(session, ticket, f"customer:{customer.id}", "message", detail)
        language = customer_language(customer, message, config)
        await message.answer(texts("handoff_existing", language, number=ticket.number))
        return
    await handoff.relay_to_agents(session, bot, ticket, customer, message)


async def begin_intake(
    message: Message,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    config: Config,
    texts: Texts,
    tickets: TicketService,
    handoff: Handoff,
    language: str,
    order_number: str | None = None,
) -> None:
    """Ask what it is about, unless the customer already has an open ticket. An order number
    already known (from the order lookup) is not asked again."""
    open_ticket = await tickets.open_ticket_of(session, customer)
    if open_ticket is not None:
        await message.answer(texts("handoff_existing", language, number=open_ticket.number))
        return
    await state.set_state(HandoffForm.category)
    await state.set_data({"order_number": order_number} if order_number else {})
    buttons = [
        [
            InlineKeyboardButton(
                text=texts(f"category_{c}", language),
                callback_data=CategoryCallback(category=c).pack(),
            )
        ]
        for c in CATEGORIES
    ]
    await message.answer(
        texts("handoff_choose_category", language),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons),
    )


async def start_intake(
    message: Message,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    config: Config,
    texts: Texts,
    tickets: TicketService,
    handoff: Handoff,
) -> None:
    language = customer_language(customer, message, config)
    await begin_intake(
        message, state, customer, session, config, texts, tickets, handoff, language
    )


async def start_intake_from_button(
    query: CallbackQuery,
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
        language = customer_language(customer, query, config)
        await begin_intake(
            query.message, state, customer, session, config, texts, tickets, handoff, language
        )


async def save_category(
    query: CallbackQuery,
    callback_data: CategoryCallback,
    state: FSMContext,
    customer: Customer,
    config: Config,
    texts: Texts,
) -> None:
    await query.answer()
    await state.update_data(category=callback_data.category)
    await state.set_state(HandoffForm.description)
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(
            texts("handoff_describe", customer_language(customer, query, config))
        )


async def save_description(
    message: Message,
    bot: Bot,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    config: Config,
    texts: Texts,
    handoff: Handoff,
) -> None:
    language = customer_language(customer, message, config)
    await state.update_data(description=message.text or message.caption)
    known = (await state.get_data()).get("order_number")
    if known:
        await _finish_intake(message, bot, state, customer, session, handoff, language, known)
        return
    await state.set_state(HandoffForm.order_number)
    skip = InlineKeyboardButton(text=texts("skip", language), callback_data=SkipCallback().pack())
    await message.answer(
        texts("handoff_order", language),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[[skip]]),
    )


async def keep_photo(
    message: Message,
    bot: Bot,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    config: Config,
    texts: Texts,
    handoff: Handoff,
) -> None:
    """Photos during the intake go to the agents with the ticket."""
    data = await state.get_data()
    await state.update_data(photos=[*data.get("photos", []), message.message_id])
    language = customer_language(customer, message, config)
    if message.caption and await state.get_state() == HandoffForm.description.state:
        await save_description(message, bot, state, customer, session, config, texts, handoff)
        return
    await message.answer(texts("handoff_photo_kept", language))


async def save_order_number(
    message: Message,
    bot: Bot,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    config: Config,
    handoff: Handoff,
) -> None:
    await _finish_intake(
        message,
        bot,
        state,
        customer,
        session,
        handoff,
        customer_language(customer, message, config),
        (message.text or "").strip(),
    )


async def skip_order_number(
    query: CallbackQuery,
    bot: Bot,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    config: Config,
    handoff: Handoff,
) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        await _finish_intake(
            query.message,
            bot,
            state,
            customer,
            session,
            handoff,
            customer_language(customer, query, config),
            None,
        )


async def _finish_intake(
    message: Message,
    bot: Bot,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    handoff: Handoff,
    language: str,
    order_number: str | None,
) -> None:
    data = await state.get_data()
    await state.clear()
    ticket, _ = await handoff.open(
        session,
        bot,
        customer,
        category=data.get("category", "other"),
        description=data.get("description"),
        order_number=order_number or None,
    )
    await handoff.copy_into_topic(bot, ticket, message.chat.id, data.get("photos", []))
    await message.answer(handoff.expectation(ticket, language))


async def list_tickets(
    message: Message,
    customer: Customer,
    session: AsyncSession,
    config: Config,
    texts: Texts,
    tickets: TicketService,
) -> None:
    language = customer_language(customer, message, config)
    found = await tickets.tickets_of(session, customer)
    if not found:
        await message.answer(texts("tickets_none", language))
        return
    lines = [
        texts(
            "tickets_line",
            language,
            number=t.number,
            category=texts(f"category_{t.category}", language),
            status=texts(f"status_{t.status}", language),
        )
        for t in found
    ]
    buttons = [
        [
            InlineKeyboardButton(
                text=f"{texts('ticket_solved_button', language)} ({t.number})",
                callback_data=SolvedCallback(ticket_id=t.id or 0).pack(),
            )
        ]
        for t in found
        if t.status in OPEN_STATUSES
    ]
    await message.answer(
        "\n".join(lines),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons) if buttons else None,
    )


async def mark_solved(
    query: CallbackQuery,
    callback_data: SolvedCallback,
    customer: Customer,
    session: AsyncSession,
    config: Config,
    texts: Texts,
    tickets: TicketService,
) -> None:
    language = customer_language(customer, query, config)
    ticket = await session.get(Ticket, callback_data.ticket_id)
    if ticket is None or ticket.customer_id != customer.id:
        log.warning("customer=%s pressed solved on a ticket not theirs", customer.id)
        await query.answer()
        return
    if ticket.status in OPEN_STATUSES:
        await tickets.resolve(session, ticket, f"customer:{customer.id}")
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(texts("ticket_solved", language, number=ticket.number))
