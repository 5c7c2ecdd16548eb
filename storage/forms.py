"""Forms in progress, one row per conversation key."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import FormState

# The forms read or written in this session, None where there is none: aiogram asks for the
# state and the data several times in one update, and the session's identity map holds its rows
# only weakly (and remembers no absence).
_KNOWN = "forms known"


async def _find(session: AsyncSession, key: str) -> FormState | None:
    known: dict[str, FormState | None] = session.info.setdefault(_KNOWN, {})
    if key not in known:
        known[key] = await session.get(FormState, key)
    return known[key]


def remember_no_form(session: AsyncSession, key: str) -> None:
    """Another statement of this session found no form under `key` (the usual case: most
    updates come from customers in no form), so reading it costs no statement."""
    session.info.setdefault(_KNOWN, {})[key] = None


async def read_form(session: AsyncSession, key: str) -> tuple[str | None, dict[str, Any]]:
    row = await _find(session, key)
    if row is None:
        return None, {}
    data: dict[str, Any] = json.loads(row.data)
    return row.state, data


async def write_form(
    session: AsyncSession,
    key: str,
    now: datetime,
    *,
    state: str | None = None,
    data: dict[str, Any] | None = None,
    keep_state: bool = False,
    keep_data: bool = False,
) -> None:
    """Write the state, the data or both; a form with neither left is deleted. Written with the
    session's next flush or commit, so that a state and its data set one after the other are
    one statement."""
    stored = await _find(session, key)
    row = stored or FormState(key=key, updated_at=now)
    if not keep_state:
        row.state = state
    if not keep_data:
        row.data = json.dumps(data or {}, ensure_ascii=False)
    row.updated_at = now
    if row.state is None and row.data == "{}":
        if stored is not None:
            await session.delete(stored)
        session.info[_KNOWN][key] = None
    else:
        session.add(row)
        session.info[_KNOWN][key] = row
