"""Forms in progress, one row per conversation key."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import FormState


async def read_form(session: AsyncSession, key: str) -> tuple[str | None, dict[str, Any]]:
    row = await session.get(FormState, key)
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
    """Write the state, the data or both; a form with neither left is deleted."""
    stored = await session.get(FormState, key)
    row = stored or FormState(key=key, updated_at=now)
    if not keep_state:
        row.state = state
    if not keep_data:
        row.data = json.dumps(data or {}, ensure_ascii=False)
    row.updated_at = now
    if row.state is None and row.data == "{}":
        if stored is not None:
            await session.delete(stored)
    else:
        session.add(row)
    await session.flush()
