"""The customer's data on request, in private chats: /my_data sends a copy of it, /delete_me
erases it once confirmed."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import EraseCallback
from bot.channels.filters import could_be_a_command, private_chat
from bot.privacy.customer_data import CustomerData
from storage.models import Customer


def create_router() -> Router:
    router = Router(name="customer_privacy")
    router.message.filter(private_chat, could_be_a_command)
    router.callback_query.filter(private_chat)
    router.message.register(send_my_data, Command("my_data"))
    router.message.register(ask_to_erase, Command("delete_me"))
    router.callback_query.register(erase_my_data, EraseCallback.filter(F.confirm))
    router.callback_query.register(keep_my_data, EraseCallback.filter(~F.confirm))
    return router


async def send_my_data(
    message: Message,
    customer: Customer,
    session: AsyncSession,
    customer_data: CustomerData,
    language: str,
) -> None:
    await (await customer_data.my_data(session, customer, language)).send(message)


async def ask_to_erase(message: Message, customer_data: CustomerData, language: str) -> None:
    await customer_data.confirm_erase(language).send(message)


async def erase_my_data(
    query: CallbackQuery,
    customer: Customer,
    session: AsyncSession,
    state: FSMContext,
    customer_data: CustomerData,
    language: str,
) -> None:
    await state.clear()  # a form in progress holds what they wrote too
    await (await customer_data.erase_confirmed(session, customer, language)).render(query)


async def keep_my_data(query: CallbackQuery, customer_data: CustomerData, language: str) -> None:
    await customer_data.keep(language).render(query)
