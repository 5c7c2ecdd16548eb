"""The agents' side, in their forum group: replies and notes in a ticket's topic, and the
ticket's buttons. Only people with a role may act here."""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    TelegramObject,
)
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import TicketCallback, TransferCallback
from bot.config import Config
from bot.faq.answers import FaqService
from bot.tickets.handoff import CustomerUnreachable, Handoff
from bot.tickets.lifecycle import PRIORITIES, TicketError, TicketService
from bot.tickets.roles import RoleBook
from storage.models import Customer, Ticket

log = logging.getLogger(__name__)


def in_agents_group(event: TelegramObject, config: Config) -> bool:
    chat = (
        event.chat
        if isinstance(event, Message)
        else getattr(getattr(event, "message", None), "chat", None)
    )
    return bool(config.agents.group_id) and chat is not None and chat.id == config.agents.group_id


def create_router() -> Router:
    router = Router(name="agents")
    router.message.filter(in_agents_group)
    router.callback_query.filter(in_agents_group)
    router.message.register(set_duty, Command("duty"))
    router.message.register(send_canned_answer, Command("kb"), F.message_thread_id)
    router.message.register(handle_topic_message, F.message_thread_id)
    router.callback_query.register(handle_ticket_button, TicketCallback.filter())
    router.callback_query.register(transfer_ticket, TransferCallback.filter())
    return router


async def _ticket_in_topic(session: AsyncSession, topic_id: int) -> Ticket | None:
    statement = select(Ticket).where(Ticket.topic_id == topic_id)
    return (await session.exec(statement)).first()


async def handle_topic_message(
    message: Message,
    bot: Bot,
    session: AsyncSession,
    config: Config,
    roles: RoleBook,
    tickets: TicketService,
    handoff: Handoff,
) -> None:
    if message.from_user is None or message.from_user.is_bot:
        return
    agent_id = message.from_user.id
    if not roles.is_staff(agent_id):
        log.warning("refused message from user=%s in the agents' group", agent_id)
        await message.reply("Only agents can talk to customers here.")
        return
    ticket = await _ticket_in_topic(session, message.message_thread_id or 0)
    if ticket is None:
        return
    text = message.text or message.caption or ""
    if text.startswith(config.agents.note_prefix):
        await tickets.note(session, ticket, agent_id, text.removeprefix(config.agents.note_prefix))
        return
    customer = await session.get(Customer, ticket.customer_id)
    assert customer is not None
    try:
        await handoff.relay_to_customer(session, bot, ticket, customer, message, agent_id)
    except CustomerUnreachable:
        await message.reply("Not delivered: the customer has blocked the bot.")


async def set_duty(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    config: Config,
    roles: RoleBook,
    tickets: TicketService,
) -> None:
    """`/duty on` or `/duty off`: whether new tickets come to this agent."""
    user = message.from_user
    if user is None or not roles.is_staff(user.id):
        await message.reply("Only agents can go on duty.")
        return
    argument = (command.args or "").strip().lower()
    if argument not in ("on", "off"):
        await message.reply("Write /duty on or /duty off.")
        return
    await tickets.set_duty(session, user.id, user.first_name, argument == "on")
    state = "on duty: new tickets come to you" if argument == "on" else "off duty"
    await message.reply(f"{user.first_name} is {state}.")


async def transfer_ticket(
    query: CallbackQuery,
    callback_data: TransferCallback,
    session: AsyncSession,
    config: Config,
    roles: RoleBook,
    tickets: TicketService,
) -> None:
    if not roles.is_staff(query.from_user.id):
        await query.answer("Only agents can do this.", show_alert=True)
        return
    ticket = await session.get(Ticket, callback_data.ticket_id)
    if ticket is None:
        await query.answer("No such ticket.", show_alert=True)
        return
    try:
        await tickets.assign(
            session, ticket, callback_data.agent_id, f"agent:{query.from_user.id}"
        )
    except TicketError as error:
        await query.answer(str(error), show_alert=True)
        return
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(
            f"{ticket.number} transferred to agent {ticket.assigned_agent}."
        )


async def offer_transfer(
    query: CallbackQuery, ticket: Ticket, session: AsyncSession, tickets: TicketService
) -> None:
    agents = [
        a for a in await tickets.agents_on_duty(session) if a.telegram_id != ticket.assigned_agent
    ]
    if not agents:
        await query.answer("Nobody else is on duty.", show_alert=True)
        return
    await query.answer()
    buttons = [
        [
            InlineKeyboardButton(
                text=agent.name or str(agent.telegram_id),
                callback_data=TransferCallback(
                    ticket_id=ticket.id or 0, agent_id=agent.telegram_id
                ).pack(),
            )
        ]
        for agent in agents
    ]
    if isinstance(query.message, Message):
        await query.message.answer(
            f"Transfer {ticket.number} to:",
            reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons),
        )


async def send_canned_answer(
    message: Message,
    command: CommandObject,
    bot: Bot,
    session: AsyncSession,
    config: Config,
    roles: RoleBook,
    faq: FaqService,
    handoff: Handoff,
) -> None:
    """`/kb ID` or `/kb words`: send a knowledge-base answer to the customer in their language."""
    if message.from_user is None or not roles.is_staff(message.from_user.id):
        await message.reply("Only agents can talk to customers here.")
        return
    ticket = await _ticket_in_topic(session, message.message_thread_id or 0)
    query = (command.args or "").strip()
    if ticket is None or not query:
        await message.reply("Write /kb followed by an entry id or a few words.")
        return
    knowledge_base = faq.knowledge_base
    entry = knowledge_base.get(query)
    if entry is None:
        candidates = faq.matcher.rank(query, limit=3)
        if not candidates:
            await message.reply("Nothing in the knowledge base matches that.")
            return
        lines = [f"/kb {c.entry_id}  ({c.variant}, {c.score:.0f})" for c in candidates]
        await message.reply("Which one?\n" + "\n".join(lines))
        return
    customer = await session.get(Customer, ticket.customer_id)
    assert customer is not None
    answer = entry.answer_in(customer.language or config.bot.default_language)
    if not answer:
        await message.reply(f"'{entry.id}' has no answer text to send.")
        return
    try:
        await handoff.send_text_to_customer(
            session, bot, ticket, customer, answer, message.from_user.id
        )
    except CustomerUnreachable:
        await message.reply("Not delivered: the customer has blocked the bot.")
        return
    await message.reply(f"Sent '{entry.id}' to the customer:\n{answer}")


async def handle_ticket_button(
    query: CallbackQuery,
    callback_data: TicketCallback,
    session: AsyncSession,
    config: Config,
    roles: RoleBook,
    tickets: TicketService,
) -> None:
    user_id = query.from_user.id
    if not roles.is_staff(user_id):
        log.warning("refused ticket button from user=%s", user_id)
        await query.answer("Only agents can do this.", show_alert=True)
        return
    ticket = await session.get(Ticket, callback_data.ticket_id)
    if ticket is None:
        await query.answer("No such ticket.", show_alert=True)
        return
    actor = f"agent:{user_id}"
    if callback_data.action == "transfer":
        await offer_transfer(query, ticket, session, tickets)
        return
    try:
        if callback_data.action == "take":
            await tickets.assign(session, ticket, user_id, actor)
        elif callback_data.action == "wait":
            await tickets.wait_for_customer(session, ticket, actor)
        elif callback_data.action == "resolve":
            await tickets.resolve(session, ticket, actor)
        elif callback_data.action == "close":
            await tickets.close(session, ticket, actor)
        elif callback_data.action in ("raise", "lower"):
            step = -1 if callback_data.action == "raise" else 1
            index = min(max(PRIORITIES.index(ticket.priority) + step, 0), len(PRIORITIES) - 1)
            await tickets.set_priority(session, ticket, PRIORITIES[index], actor)
    except TicketError as error:
        await query.answer(str(error), show_alert=True)
        return
    await query.answer(f"{ticket.number}: {ticket.status}, {ticket.priority}")
    if isinstance(query.message, Message):
        name = query.from_user.first_name
        await query.message.answer(
            f"{ticket.number}: {callback_data.action} by {name} → {ticket.status}, "
            f"{ticket.priority}"
        )
