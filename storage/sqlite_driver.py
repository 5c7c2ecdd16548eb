"""SQLAlchemy's aiosqlite adapter, with each statement run in one trip to aiosqlite's thread.

aiosqlite runs every call on a thread of its own connection, and SQLAlchemy's adapter makes one
call per step of a statement: open a cursor, execute, fetch the rows, close the cursor. Each trip
hands the GIL to that thread and back and wakes the event loop, and on a FAQ question these hops
were the largest single cost on SQLite (py-spy, in-process: a third of the busy samples spent
queueing work for the thread and waiting to get the GIL back). Here a statement opens its cursor,
executes, fetches and closes in one function run on that thread; what SQLAlchemy reads of the
cursor afterwards (description, rowcount, lastrowid, the rows) is kept from that run.

Everything else (connecting, commit, rollback, the isolation level, errors) is the stock adapter's.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT

_Outcome = tuple[Any, int, int | None, list[Any] | None]


class _Ran:
    """What SQLAlchemy reads of a cursor once its statement has run."""

    __slots__ = ("arraysize", "description", "lastrowid", "rowcount")

    def __init__(self) -> None:
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    def close(self) -> None:
        """The real cursor was closed on the thread that ran it."""


def _on_the_thread(
    connection: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> _Outcome:
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else None
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()
    _awaitable_cursor_close = False  # nothing is left open on aiosqlite's thread

    def __init__(self, adapt_connection: Any) -> None:  # opens no cursor: that is one trip
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = _Ran()  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        return await self._run(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        return await self._run(operation, seq_of_parameters, many=True)

    async def _run(self, operation: Any, parameters: Any, *, many: bool) -> None:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        async with self._adapt_connection._execute_mutex:
            description, rowcount, lastrowid, rows = await connection._execute(
                _on_the_thread, connection._conn, operation, parameters, many
            )
        ran: _Ran = self._cursor  # type: ignore[assignment]
        ran.description, ran.rowcount, ran.lastrowid = description, rowcount, lastrowid
        if rows is not None:
            self._rows = collections.deque(rows)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """Passed to `create_async_engine(module=...)` for SQLite URLs."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        stock = super().connect(*arg, **kw)
        return OneTripConnection(self, stock._connection)
