"""Admins' commands in private chat: publishing the knowledge base."""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.config import Config
from bot.language import reply_language
from bot.publishing import KnowledgePublisher
from bot.texts import Texts
from storage.models import Customer

log = logging.getLogger(__name__)

ADMIN_COMMANDS = ("reload", "kb_history", "kb_rollback", "kb_export")


def is_admin(message: Message, config: Config) -> bool:
    return message.from_user is not None and message.from_user.id in config.roles.admins


def create_router() -> Router:
    router = Router(name="admin")
    router.message.filter(F.chat.type == "private")
    router.message.register(reload_knowledge, Command("reload"), is_admin)
    router.message.register(refuse, Command(*ADMIN_COMMANDS))
    return router


async def reload_knowledge(message: Message, publisher: KnowledgePublisher) -> None:
    result = await publisher.reload()
    await message.answer(result.message())


async def refuse(message: Message, customer: Customer, config: Config, texts: Texts) -> None:
    log.warning("refused admin command from customer=%s", customer.id)
    language = reply_language(
        customer,
        client_code=message.from_user.language_code if message.from_user else None,
        text=None,
        default=config.bot.default_language,
    )
    await message.answer(texts("admin_only", language))
