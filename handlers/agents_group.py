"""The agents' side, in their forum group: replies and notes in a ticket's topic, and the
ticket's buttons."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message, TelegramObject
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import (
    OutcomeCallback,
    TeamTransferCallback,
    TicketCallback,
    TransferCallback,
)
from bot.channels.filters import in_topic
from bot.channels.replies import bot_of
from bot.config import Config
from bot.texts import Say
from bot.tickets.agent_desk import AgentDesk


async def in_agents_group(event: TelegramObject, config: Config) -> bool:
    chat = (
        event.chat
        if isinstance(event, Message)
        else getattr(getattr(event, "message", None), "chat", None)
    )
    return bool(config.agents.group_id) and chat is not None and chat.id == config.agents.group_id


def create_router() -> Router:
    router = Router(name="agents_group")
    router.message.filter(in_agents_group)
    router.callback_query.filter(in_agents_group)
    router.message.register(set_duty, Command("duty"))
    router.message.register(send_canned_answer, Command("kb"), in_topic)
    router.message.register(send_transcript, Command("transcript"))
    router.message.register(handle_topic_message, in_topic)
    router.callback_query.register(handle_ticket_button, TicketCallback.filter())
    router.callback_query.register(transfer_ticket, TransferCallback.filter())
    router.callback_query.register(transfer_to_team, TeamTransferCallback.filter())
    router.callback_query.register(record_outcome, OutcomeCallback.filter())
    return router


async def handle_topic_message(
    message: Message, session: AsyncSession, agent_desk: AgentDesk, say: Say
) -> None:
    if message.from_user is None or message.from_user.is_bot:
        return
    answer = await agent_desk.topic_message(
        session, bot_of(message), message.from_user.id, message, say
    )
    if answer:
        await message.reply(answer)


async def set_duty(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    agent_desk: AgentDesk,
    say: Say,
) -> None:
    user = message.from_user
    if user is None:
        return
    reply = await agent_desk.duty(
        session, user.id, user.first_name, command.args, say, user.username
    )
    await message.reply(reply)


async def send_canned_answer(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    agent_desk: AgentDesk,
    say: Say,
) -> None:
    if message.from_user is None:
        return
    answer = await agent_desk.canned_answer(
        session,
        bot_of(message),
        message.from_user.id,
        message.message_thread_id or 0,
        command.args,
        say,
    )
    await message.reply(answer)


async def send_transcript(
    message: Message, session: AsyncSession, agent_desk: AgentDesk, language: str
) -> None:
    if message.from_user is None:
        return
    answer = await agent_desk.transcript(
        session, message.from_user.id, message.message_thread_id or 0, language
    )
    if isinstance(answer, str):
        await message.reply(answer)
    else:
        await answer.send(message)


async def handle_ticket_button(
    query: CallbackQuery,
    callback_data: TicketCallback,
    session: AsyncSession,
    agent_desk: AgentDesk,
    say: Say,
) -> None:
    pressed = await agent_desk.ticket_button(
        session,
        bot_of(query),
        query.from_user.id,
        query.from_user.first_name,
        callback_data.ticket_id,
        callback_data.action,
        say,
    )
    await pressed.render(query)


async def record_outcome(
    query: CallbackQuery,
    callback_data: OutcomeCallback,
    session: AsyncSession,
    agent_desk: AgentDesk,
    language: str,
) -> None:
    pressed = await agent_desk.outcome(
        session,
        query.from_user.id,
        callback_data.ticket_id,
        callback_data.part,
        callback_data.value,
        language,
    )
    await pressed.render(query)


async def transfer_ticket(
    query: CallbackQuery,
    callback_data: TransferCallback,
    session: AsyncSession,
    agent_desk: AgentDesk,
    say: Say,
) -> None:
    pressed = await agent_desk.transfer(
        session,
        bot_of(query),
        query.from_user.id,
        callback_data.ticket_id,
        callback_data.agent_id,
        say,
    )
    await pressed.render(query)


async def transfer_to_team(
    query: CallbackQuery,
    callback_data: TeamTransferCallback,
    session: AsyncSession,
    agent_desk: AgentDesk,
    say: Say,
) -> None:
    pressed = await agent_desk.transfer_to_team(
        session,
        bot_of(query),
        query.from_user.id,
        callback_data.ticket_id,
        callback_data.team,
        say,
    )
    await pressed.render(query)
