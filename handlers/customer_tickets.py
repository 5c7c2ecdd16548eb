"""The customer's way to a person: intake, the relay while a ticket is open, and /tickets."""

from __future__ import annotations

from typing import Any

from aiogram import Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import (
    CategoryCallback,
    HumanCallback,
    SkipCallback,
    SolvedCallback,
    SupervisorCallback,
)
from bot.channels.filters import asks_for_a_person, has_photo, has_text, private_chat
from bot.channels.replies import Pressed, bot_of, press_then
from bot.tickets.intake import Intake, IntakeForm
from storage.models import Customer, Ticket, find_ticket_id


def create_router() -> Router:
    router = Router(name="customer_tickets")
    router.message.filter(private_chat)
    router.callback_query.filter(private_chat)
    router.message.register(list_tickets, Command("tickets"))
    router.callback_query.register(mark_solved, SolvedCallback.filter())
    router.callback_query.register(ask_for_a_supervisor, SupervisorCallback.filter())
    router.message.register(relay_to_agents, has_open_ticket)
    router.callback_query.register(
        save_category, StateFilter(IntakeForm.category), CategoryCallback.filter()
    )
    router.message.register(save_description, StateFilter(IntakeForm.description), has_text)
    router.message.register(save_order_number, StateFilter(IntakeForm.order_number), has_text)
    router.message.register(keep_photo, StateFilter(IntakeForm.description), has_photo)
    router.message.register(keep_photo, StateFilter(IntakeForm.order_number), has_photo)
    router.callback_query.register(
        skip_order_number, StateFilter(IntakeForm.order_number), SkipCallback.filter()
    )
    router.message.register(show_ticket_status, has_text, mentions_a_ticket)
    router.message.register(start_intake, Command("human"))
    router.message.register(start_intake, asks_for_a_person)
    router.callback_query.register(start_intake_from_button, HumanCallback.filter())
    return router


async def has_open_ticket(
    message: Message,
    session: AsyncSession,
    customer: Customer,
    intake: Intake,
    state: FSMContext,
    customer_has_open_ticket: bool = True,
) -> bool | dict[str, Any]:
    """The customer's open ticket, or the one resolved within the reopen window (unless they
    are in a form): their message goes to its agent."""
    if message.text and message.text.startswith("/"):
        return False
    if not customer_has_open_ticket:  # read with the customer (bot/middlewares/database.py)
        return False
    in_form = await state.get_state() is not None
    ticket = await intake.ticket_to_relay(session, customer, in_form=in_form)
    return {"ticket": ticket} if ticket is not None else False


async def mentions_a_ticket(message: Message) -> bool | dict[str, Any]:
    ticket_id = find_ticket_id(message.text)
    return {"ticket_id": ticket_id} if ticket_id is not None else False


async def show_ticket_status(
    message: Message,
    ticket_id: int,
    customer: Customer,
    session: AsyncSession,
    intake: Intake,
    language: str,
) -> None:
    await (await intake.ticket_status(session, customer, ticket_id, language)).send(message)


async def relay_to_agents(
    message: Message,
    ticket: Ticket,
    customer: Customer,
    session: AsyncSession,
    intake: Intake,
    language: str,
) -> None:
    reply = await intake.relay(session, customer, ticket, message, language)
    if reply is not None:
        await reply.send(message)


async def start_intake(
    message: Message,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    intake: Intake,
    language: str,
) -> None:
    await (await intake.begin(session, customer, state, language)).send(message)


async def start_intake_from_button(
    query: CallbackQuery,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    intake: Intake,
    language: str,
) -> None:
    await press_then(await intake.begin(session, customer, state, language)).render(query)


async def save_category(
    query: CallbackQuery,
    callback_data: CategoryCallback,
    state: FSMContext,
    intake: Intake,
    language: str,
) -> None:
    reply = await intake.choose_category(state, str(callback_data.category), language)
    await press_then(reply, clear_buttons=True).render(query)


async def save_description(
    message: Message,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    intake: Intake,
    language: str,
) -> None:
    reply = await intake.describe(
        session,
        bot_of(message),
        customer,
        state,
        language,
        chat_id=message.chat.id,
        text=message.text or message.caption,
    )
    await reply.send(message)


async def keep_photo(
    message: Message,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    intake: Intake,
    language: str,
) -> None:
    reply = await intake.keep_photo(
        session,
        bot_of(message),
        customer,
        state,
        language,
        chat_id=message.chat.id,
        message_id=message.message_id,
        caption=message.caption,
        file_id=message.photo[-1].file_id if message.photo else None,
    )
    await reply.send(message)


async def save_order_number(
    message: Message,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    intake: Intake,
    language: str,
) -> None:
    reply = await intake.finish(
        session, bot_of(message), customer, state, language, message.chat.id, message.text
    )
    await reply.send(message)


async def skip_order_number(
    query: CallbackQuery,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    intake: Intake,
    language: str,
) -> None:
    if not isinstance(query.message, Message):
        await query.answer()
        return
    await query.answer()
    await query.message.edit_reply_markup(reply_markup=None)
    reply = await intake.finish(
        session, bot_of(query), customer, state, language, query.message.chat.id, None
    )
    await reply.send(query.message)


async def list_tickets(
    message: Message, customer: Customer, session: AsyncSession, intake: Intake, language: str
) -> None:
    await (await intake.ticket_list(session, customer, language)).send(message)


async def mark_solved(
    query: CallbackQuery,
    callback_data: SolvedCallback,
    customer: Customer,
    session: AsyncSession,
    intake: Intake,
    language: str,
) -> None:
    reply = await intake.mark_solved(
        session, bot_of(query), customer, callback_data.ticket_id, language
    )
    await (press_then(reply) if reply else Pressed()).render(query)


async def ask_for_a_supervisor(
    query: CallbackQuery,
    callback_data: SupervisorCallback,
    customer: Customer,
    session: AsyncSession,
    intake: Intake,
    language: str,
) -> None:
    reply = await intake.ask_supervisor(
        session, bot_of(query), customer, callback_data.ticket_id, language
    )
    await (press_then(reply) if reply else Pressed()).render(query)
