"""The baseline of the throughput benchmark: the smallest aiogram 3 bot, which answers every text
message with the same text. It runs as its own process, like kefu, and logs at INFO as aiogram's
own examples do, so that what separates the two is kefu's work per update.

    python -m benchmarks.echo_bot API_SERVER TOKEN
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message


def create_router() -> Router:
    router = Router(name="echo")

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    return router


async def serve(api_server: str, token: str) -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_server))
    bot = Bot(token=token, session=session)
    dispatcher = Dispatcher()
    dispatcher.include_router(create_router())
    await dispatcher.start_polling(bot, handle_signals=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("api_server")
    parser.add_argument("token")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(serve(args.api_server, args.token))


if __name__ == "__main__":
    main()
