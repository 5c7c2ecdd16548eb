"""A customer's message with an urgent word (food poisoning, an injury, fraud...) outside any form:
an urgent case, not an FAQ question."""

from __future__ import annotations

from typing import Any

from aiogram import Router
from aiogram.filters import StateFilter
from aiogram.types import Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.channels.filters import private_chat
from bot.channels.replies import bot_of
from bot.incidents.urgent import UrgentDesk
from storage.models import Customer


def create_router() -> Router:
    router = Router(name="customer_urgent")
    router.message.filter(private_chat)
    router.message.register(take_urgent_case, StateFilter(None), names_something_urgent)
    return router


async def names_something_urgent(message: Message, urgent: UrgentDesk) -> bool | dict[str, Any]:
    text = message.text or message.caption
    if not text or text.startswith("/"):
        return False
    term = urgent.words.find(text)
    return {"urgent_term": term} if term is not None else False


async def take_urgent_case(
    message: Message,
    urgent_term: str,
    customer: Customer,
    session: AsyncSession,
    urgent: UrgentDesk,
    language: str,
) -> None:
    reply = await urgent.take(session, bot_of(message), customer, message, language, urgent_term)
    await reply.send(message)
