"""The composition root: the one place that builds every part and wires them together."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import BotCommand
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import Clock, SystemClock
from bot.config import Config
from bot.faq import FaqService, create_matcher, load_knowledge
from bot.middleware import DatabaseMiddleware
from bot.texts import Texts
from handlers import customer, errors
from knowledge import KnowledgeBase, Matcher
from storage.database import SessionFactory, create_engine, create_session_factory, migrate

log = logging.getLogger(__name__)

COMMANDS = {
    "zh": [
        ("start", "常见问题"),
        ("help", "使用说明"),
        ("language", "切换语言"),
        ("human", "联系人工客服"),
    ],
    "en": [
        ("start", "Common questions"),
        ("help", "How to use this bot"),
        ("language", "Change language"),
        ("human", "Talk to a person"),
    ],
}


@dataclass
class Services:
    config: Config
    clock: Clock
    texts: Texts
    knowledge_base: KnowledgeBase
    matcher: Matcher
    faq: FaqService
    engine: AsyncEngine
    session_factory: SessionFactory

    async def close(self) -> None:
        await self.engine.dispose()


async def create_services(config: Config, clock: Clock | None = None) -> Services:
    """Everything the bot needs; raises KnowledgeBaseError before touching the database."""
    clock = clock or SystemClock()
    knowledge_base = load_knowledge(config)
    matcher = create_matcher(config, knowledge_base)
    engine = create_engine(config.database.url)
    await migrate(engine)
    log.info(
        "knowledge base: %d entries, %d questions",
        len(knowledge_base),
        knowledge_base.variant_count(),
    )
    texts = Texts.load(config.business.placeholders())
    return Services(
        config=config,
        clock=clock,
        texts=texts,
        knowledge_base=knowledge_base,
        matcher=matcher,
        faq=FaqService(matcher, clock, texts),
        engine=engine,
        session_factory=create_session_factory(engine),
    )


def create_dispatcher(services: Services, channel: str = "telegram") -> Dispatcher:
    dispatcher = Dispatcher(
        config=services.config,
        clock=services.clock,
        texts=services.texts,
        faq=services.faq,
    )
    dispatcher.update.outer_middleware(
        DatabaseMiddleware(services.session_factory, services.clock, channel)
    )
    dispatcher.include_router(customer.create_router())
    dispatcher.include_router(errors.create_router())
    return dispatcher


def create_bot(config: Config, session: BaseSession | None = None) -> Bot:
    if session is None:
        api_server = config.telegram.api_server
        if api_server:
            session = AiohttpSession(api=TelegramAPIServer.from_base(api_server))
        else:
            session = AiohttpSession()
    token = config.telegram.token.get_secret_value() if config.telegram.token else ""
    return Bot(token=token, session=session, default=DefaultBotProperties(parse_mode=None))


async def set_commands(bot: Bot) -> None:
    for language, commands in COMMANDS.items():
        await bot.set_my_commands(
            [BotCommand(command=name, description=text) for name, text in commands],
            language_code=language,
        )


async def run_telegram(services: Services) -> None:
    """Serve Telegram by long polling until interrupted."""
    bot = create_bot(services.config)
    dispatcher = create_dispatcher(services, channel="telegram")
    try:
        me = await bot.get_me()
        log.info("connected to Telegram as @%s", me.username)
        await set_commands(bot)
        await bot.delete_webhook(
            drop_pending_updates=services.config.telegram.drop_pending_updates
        )
        await dispatcher.start_polling(bot, handle_signals=True)
    finally:
        await bot.session.close()
