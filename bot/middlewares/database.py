"""Cross-cutting work around every update: a database session and the customer behind it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import Chat, TelegramObject, User
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.middlewares.language import language_from_code
from storage.customers import arrive
from storage.database import UNIT_OF_WORK, SessionFactory
from storage.models import Customer


class DatabaseMiddleware(BaseMiddleware):
    """Opens one session per update and commits it when the handlers are done.

    For updates from a private chat it also finds (or creates) the customer and passes it on as
    `customer`, with `customer_has_open_ticket`; `form_key` names the row of the update's form
    (in the database's form storage), so that the same statement tells whether there is one.
    An `expected` error (a domain outcome such as "orders cannot be looked up now", answered by
    a router's error handler) still commits what the update did before it.
    """

    def __init__(
        self,
        session_factory: SessionFactory,
        clock: Clock,
        channel: str,
        on_new_customer: Callable[[AsyncSession, Customer], Awaitable[None]] | None = None,
        expected: tuple[type[Exception], ...] = (),
        form_key: Callable[[dict[str, Any]], str | None] | None = None,
        reopen_window: timedelta = timedelta(0),
    ) -> None:
        self.session_factory = session_factory
        self.clock = clock
        self.channel = channel
        self.on_new_customer = on_new_customer
        self.expected = expected
        self.form_key = form_key
        self.reopen_window = reopen_window

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        async with self.session_factory() as session:
            data["session"] = session
            token = UNIT_OF_WORK.set(session)
            try:
                return await self._handle(handler, event, data, session)
            finally:
                UNIT_OF_WORK.reset(token)

    async def _handle(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
        session: AsyncSession,
    ) -> Any:
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        if user is not None and not user.is_bot and (chat is None or chat.type == "private"):
            now = self.clock.now()
            arrival = await arrive(
                session,
                self.channel,
                str(user.id),
                now=now,
                first_name=user.first_name,
                username=user.username,
                language=language_from_code(user.language_code),
                form_key=self.form_key(data) if self.form_key is not None else None,
                reopen_window=self.reopen_window,
            )
            customer = arrival.customer
            data["customer_has_open_ticket"] = arrival.has_open_ticket
            if customer.first_seen == now and self.on_new_customer is not None:
                await self.on_new_customer(session, customer)
            data["customer"] = customer
        try:
            result = await handler(event, data)
        except self.expected:
            await session.commit()
            raise
        await session.commit()
        return result
