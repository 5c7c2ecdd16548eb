"""The checks routers filter updates with, as coroutines: aiogram runs a plain function (and
every `F` magic filter) in a worker thread, a hop that costs far more than these checks (about
20 hops, 2-4 ms of CPU, per update before; see README "Throughput")."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, Message, TelegramObject

from bot.tickets.handoff import wants_a_person
from bot.tickets.roles import RoleBook


async def private_chat(event: TelegramObject) -> bool:
    """A message in, or a button under a message in, a private chat with the bot."""
    message = event.message if isinstance(event, CallbackQuery) else event
    return isinstance(message, Message) and message.chat.type == "private"


async def has_text(message: Message) -> bool:
    return bool(message.text)


async def plain_text(message: Message) -> bool:
    """Text that is not a command."""
    return bool(message.text) and not (message.text or "").startswith("/")


async def a_command(message: Message) -> bool:
    return (message.text or "").startswith("/")


async def command_or_document(message: Message) -> bool:
    """What aiogram's Command filter could match (a text or a caption starting with "/"), or
    a file: a router whose handlers all need one of them lets every other message past in one
    check instead of one per handler."""
    text = message.text or message.caption or ""
    return text.startswith("/") or message.document is not None


async def could_be_a_command(message: Message) -> bool:
    """What aiogram's Command filter could match: a text or a caption starting with "/". A
    router whose messages are all commands lets every other message past in this one check
    instead of one per handler (a customer's question walks through every router)."""
    return (message.text or message.caption or "").startswith("/")


def command_or_form(*states: State) -> Callable[..., Awaitable[bool]]:
    """Like `could_be_a_command`, for a router whose other messages are answers to its own
    forms: a command, or a message while the sender is in one of these states."""
    names = frozenset(state.state for state in states)

    async def command_or_in_form(message: Message, raw_state: str | None = None) -> bool:
        return raw_state in names or (message.text or message.caption or "").startswith("/")

    return command_or_in_form


async def has_photo(message: Message) -> bool:
    return bool(message.photo)


async def photo_or_text(message: Message) -> bool:
    return bool(message.photo or message.text)


async def has_document(message: Message) -> bool:
    return message.document is not None


async def in_topic(message: Message) -> bool:
    return bool(message.message_thread_id)


async def asks_for_a_person(message: Message) -> bool:
    return wants_a_person(message.text)


async def is_admin(event: TelegramObject, roles: RoleBook) -> bool:
    user = getattr(event, "from_user", None)
    return user is not None and roles.is_admin(user.id)


async def is_supervisor(event: TelegramObject, roles: RoleBook) -> bool:
    """A supervisor or an admin (an admin may do whatever a supervisor may)."""
    user = getattr(event, "from_user", None)
    return user is not None and roles.role_of(user.id) in ("supervisor", "admin")
