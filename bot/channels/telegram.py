"""Telegram: the bot for the Bot API (or a self-hosted Bot API server), with the retries on its
session, and the command menu."""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import BotCommand

from bot.channels.commit_first import CommitBeforeSending
from bot.channels.long_text import SplitLongText
from bot.channels.retries import RetryMiddleware
from bot.config import Config
from bot.web.metrics import CountTelegramErrors, Metrics

COMMANDS = {
    "zh": [
        ("start", "常见问题"),
        ("help", "使用说明"),
        ("language", "切换语言"),
        ("order", "查询订单"),
        ("return", "申请退货"),
        ("human", "联系人工客服"),
        ("tickets", "我的工单"),
        ("my_data", "导出我的数据"),
        ("delete_me", "删除我的数据"),
    ],
    "en": [
        ("start", "Common questions"),
        ("help", "How to use this bot"),
        ("language", "Change language"),
        ("order", "Where is my order"),
        ("return", "Return an item"),
        ("human", "Talk to a person"),
        ("tickets", "My tickets"),
        ("my_data", "A copy of my data"),
        ("delete_me", "Erase my data"),
    ],
}


def create_bot(
    config: Config,
    session: BaseSession | None = None,
    retries: RetryMiddleware | None = None,
    metrics: Metrics | None = None,
) -> Bot:
    """The Telegram bot. Its session retries every request, once for all callers: whatever
    sends (a handler, a relay, a scheduled job) goes through it."""
    if session is None:
        api_server = config.telegram.api_server
        if api_server:
            session = AiohttpSession(api=TelegramAPIServer.from_base(api_server))
        else:
            session = AiohttpSession()
    prepare_session(session, retries or RetryMiddleware(), metrics)
    token = config.telegram.token.get_secret_value() if config.telegram.token else ""
    return Bot(token=token, session=session, default=DefaultBotProperties(parse_mode=None))


def prepare_session(
    session: BaseSession, retries: RetryMiddleware, metrics: Metrics | None = None
) -> None:
    """What every request goes through: the update's database work committed, long texts split,
    then each part retried (and each try's failure counted)."""
    session.middleware(CommitBeforeSending())
    session.middleware(SplitLongText())
    session.middleware(retries)
    if metrics is not None:
        session.middleware(CountTelegramErrors(metrics))


async def set_commands(bot: Bot) -> None:
    for language, commands in COMMANDS.items():
        await bot.set_my_commands(
            [BotCommand(command=name, description=text) for name, text in commands],
            language_code=language,
        )
