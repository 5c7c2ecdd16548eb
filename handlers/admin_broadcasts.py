"""`/broadcast` for admins in private chat: one message to a segment of customers, previewed
with its count before Send; its status and cancel."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import BroadcastCallback
from bot.channels.filters import command_or_form, is_admin, plain_text, private_chat
from bot.incidents.broadcasts import BroadcastForm, Broadcasts
from bot.texts import Say
from storage.models import Customer


def create_router() -> Router:
    router = Router(name="admin_broadcasts")
    router.message.filter(
        private_chat,
        command_or_form(BroadcastForm.segment, BroadcastForm.text_zh, BroadcastForm.text_en),
    )
    router.callback_query.filter(private_chat)
    router.message.register(broadcast, Command("broadcast"), is_admin)
    router.message.register(take_segment, StateFilter(BroadcastForm.segment), plain_text, is_admin)
    router.message.register(
        take_text,
        StateFilter(BroadcastForm.text_zh, BroadcastForm.text_en),
        plain_text,
        is_admin,
    )
    router.callback_query.register(press, BroadcastCallback.filter(), is_admin)
    return router


async def broadcast(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    session: AsyncSession,
    broadcasts: Broadcasts,
    say: Say,
) -> None:
    await (await broadcasts.command(session, state, command.args or "", say)).send(message)


async def take_segment(
    message: Message, state: FSMContext, session: AsyncSession, broadcasts: Broadcasts, say: Say
) -> None:
    await (await broadcasts.take_segment(session, state, message.text or "", say)).send(message)


async def take_text(
    message: Message,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    broadcasts: Broadcasts,
    say: Say,
) -> None:
    text = message.text or ""
    for reply in await broadcasts.take_text(session, state, customer, text, say):
        await reply.send(message)


async def press(
    query: CallbackQuery,
    callback_data: BroadcastCallback,
    session: AsyncSession,
    broadcasts: Broadcasts,
    say: Say,
) -> None:
    by = f"admin:{query.from_user.id}"
    pressed = await broadcasts.press(session, callback_data.action, callback_data.id, by, say)
    await pressed.render(query)
