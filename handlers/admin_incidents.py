"""`/incident` for admins in private chat: incident notices shown to customers before answers."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.channels.filters import could_be_a_command, is_admin, private_chat
from bot.config import Config
from bot.incidents.notices import IncidentBoard, answer_command
from bot.texts import Say


def create_router() -> Router:
    router = Router(name="admin_incidents")
    router.message.filter(private_chat, could_be_a_command)
    router.message.register(incident, Command("incident"), is_admin)
    return router


async def incident(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    incidents: IncidentBoard,
    config: Config,
    say: Say,
) -> None:
    assert message.from_user is not None
    by = f"admin:{message.from_user.id}"
    local = config.hours.business_hours().local
    await message.answer(
        await answer_command(incidents, session, command.args or "", by, say, local)
    )
