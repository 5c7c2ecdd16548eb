"""Conversation state (aiogram's FSM) kept in the database, so that it outlives the process.

Inside an update it writes through the update's own session (storage.database.unit_of_work): a
second connection writing while the update's transaction holds SQLite's write lock would wait
for that lock until it timed out."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StateType, StorageKey
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from storage.database import SessionFactory, unit_of_work
from storage.forms import read_form, write_form


class DatabaseFormStorage(BaseStorage):
    def __init__(self, session_factory: SessionFactory, clock: Clock) -> None:
        self.session_factory = session_factory
        self.clock = clock
        self.keys = DefaultKeyBuilder(with_bot_id=True, with_destiny=True)

    def _session(self) -> AbstractAsyncContextManager[AsyncSession]:
        return unit_of_work(self.session_factory)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        name = state.state if isinstance(state, State) else state
        async with self._session() as session:
            await write_form(
                session, self.keys.build(key), self.clock.now(), state=name, keep_data=True
            )

    async def get_state(self, key: StorageKey) -> str | None:
        async with self._session() as session:
            state, _ = await read_form(session, self.keys.build(key))
        return state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        async with self._session() as session:
            await write_form(
                session, self.keys.build(key), self.clock.now(), data=dict(data), keep_state=True
            )

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        async with self._session() as session:
            _, data = await read_form(session, self.keys.build(key))
        return data

    async def close(self) -> None:
        """Sessions are the database middleware's or short-lived: nothing to close."""
