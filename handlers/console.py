"""/console in a private chat: a one-time sign-in link to the web console, for admins and
supervisors."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import LinkPreviewOptions, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.channels.filters import could_be_a_command, private_chat
from bot.config import Config
from bot.texts import Say
from bot.web.console.access import ConsoleAccess


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(private_chat, could_be_a_command)
    router.message.register(give_console_link, Command("console"))
    return router


async def give_console_link(
    message: Message, session: AsyncSession, console: ConsoleAccess, config: Config, say: Say
) -> None:
    assert message.from_user is not None
    if not console.served():
        await message.answer(say("console_disabled"))
        return
    url = await console.new_link(session, message.from_user.id)
    if url is None:
        await message.answer(say("console_not_staff"))
        return
    # no preview: Telegram's fetching the page must not be what the person sees first
    await message.answer(
        say("console_link", url=url, minutes=config.console.link_minutes),
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )
