"""Broadcasts, the customer's side: /stop_news, /start_news and the button under each one."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import BroadcastStopCallback
from bot.channels.filters import could_be_a_command, private_chat
from bot.incidents.broadcasts import Broadcasts
from storage.models import Customer


def create_router() -> Router:
    router = Router(name="customer_news")
    router.message.filter(private_chat, could_be_a_command)
    router.callback_query.filter(private_chat)
    router.message.register(stop_news, Command("stop_news"))
    router.message.register(start_news, Command("start_news"))
    router.callback_query.register(stop_pressed, BroadcastStopCallback.filter())
    return router


async def stop_news(
    message: Message,
    customer: Customer,
    session: AsyncSession,
    broadcasts: Broadcasts,
    language: str,
) -> None:
    await (await broadcasts.stop_news(session, customer, language)).send(message)


async def start_news(
    message: Message,
    customer: Customer,
    session: AsyncSession,
    broadcasts: Broadcasts,
    language: str,
) -> None:
    await (await broadcasts.start_news(session, customer, language)).send(message)


async def stop_pressed(
    query: CallbackQuery,
    customer: Customer,
    session: AsyncSession,
    broadcasts: Broadcasts,
    language: str,
) -> None:
    await (await broadcasts.stop_pressed(session, customer, language)).render(query)
