"""The command menus Telegram shows, from the catalogues in each language: customers' commands
in every private chat; the agents' commands in the agents' group only; the admins' in each
admin's private chat only, the supervisors' in each supervisor's, so that customers never see
staff commands."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault

from bot.texts import Texts
from knowledge.schema import LANGUAGES

log = logging.getLogger(__name__)

CUSTOMER_COMMANDS = (
    "start",
    "help",
    "language",
    "order",
    "return",
    "human",
    "tickets",
    "my_data",
    "delete_me",
)
AGENT_COMMANDS = ("duty", "kb", "transcript")  # they work in the agents' group only
# in a supervisor's private chat (an admin's menu has them too)
SUPERVISOR_COMMANDS = ("scorecard", "qa")
ADMIN_COMMANDS = (
    "reload",
    "kb_history",
    "kb_rollback",
    "kb_export",
    "role",
    "roles",
    "scheduled",
    "report",
    "scorecard",
    "qa",
    "learn",
    "ban",
    "unban",
    "incident",
    "team",
    "vip",
    "broadcast",
    "console",
)


def menu(texts: Texts, language: str, names: Sequence[str]) -> list[BotCommand]:
    return [
        BotCommand(command=name, description=texts(f"command_{name}", language)) for name in names
    ]


async def set_commands(
    bot: Bot,
    texts: Texts,
    default_language: str,
    group_id: int,
    admins: Sequence[int],
    supervisors: Sequence[int] = (),
) -> None:
    """Every menu, in each language (and, for apps in another language, in the default one).
    A chat Telegram refuses (an admin who never opened the bot, a group the bot is not in) is
    logged and skipped: the other menus are still set."""
    for language_code in (*LANGUAGES, None):
        language = language_code or default_language
        await bot.set_my_commands(
            menu(texts, language, CUSTOMER_COMMANDS),
            scope=BotCommandScopeDefault(),
            language_code=language_code,
        )
        staff_chats: list[tuple[int, Sequence[str]]] = (
            [(group_id, AGENT_COMMANDS)] if group_id else []
        )
        staff_chats += [(admin, CUSTOMER_COMMANDS + ADMIN_COMMANDS) for admin in admins]
        staff_chats += [(chief, CUSTOMER_COMMANDS + SUPERVISOR_COMMANDS) for chief in supervisors]
        for chat_id, names in staff_chats:
            try:
                await bot.set_my_commands(
                    menu(texts, language, names),
                    scope=BotCommandScopeChat(chat_id=chat_id),
                    language_code=language_code,
                )
            except TelegramAPIError as error:
                log.warning("no command menu for chat=%s: %s", chat_id, type(error).__name__)


async def set_staff_commands(
    bot: Bot, texts: Texts, default_language: str, user_id: int, role: str
) -> None:
    """A role changed: the admins' or the supervisors' menu in that person's private chat, or
    none of them any more."""
    names = {
        "admin": CUSTOMER_COMMANDS + ADMIN_COMMANDS,
        "supervisor": CUSTOMER_COMMANDS + SUPERVISOR_COMMANDS,
    }.get(role)
    for language_code in (*LANGUAGES, None):
        scope = BotCommandScopeChat(chat_id=user_id)
        try:
            if names:
                language = language_code or default_language
                await bot.set_my_commands(
                    menu(texts, language, names), scope=scope, language_code=language_code
                )
            else:
                await bot.delete_my_commands(scope=scope, language_code=language_code)
        except TelegramAPIError as error:
            log.warning("no command menu for chat=%s: %s", user_id, type(error).__name__)
