"""SQLite statements run in one trip to aiosqlite's thread (storage/sqlite_driver.py), and read
back everything the stock adapter gave: rows, row counts, ids, errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import exc, insert, select, text, update
from sqlmodel import col

from storage.database import create_engine, migrate
from storage.models import Customer

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SEEN = {"first_seen": NOW, "last_seen": NOW}


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every function sent to an aiosqlite connection's thread."""
    sent: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return sent


async def test_a_statement_is_one_trip_and_reads_back_rows_counts_and_ids(
    tmp_path: Path, trips: list[str]
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'kefu.db'}")
    try:
        await migrate(engine)
        async with engine.begin() as connection:
            trips.clear()
            inserted = await connection.execute(
                insert(Customer).values(channel="telegram", external_id="1", language="en", **SEEN)
            )
            assert len(trips) == 1
            assert inserted.inserted_primary_key is not None
            first = inserted.inserted_primary_key[0]
            many = await connection.execute(
                insert(Customer).returning(col(Customer.id), col(Customer.external_id)),
                [
                    {"channel": "telegram", "external_id": "2", "language": "zh", **SEEN},
                    {"channel": "telegram", "external_id": "3", "language": "en", **SEEN},
                ],
            )
            assert [row.external_id for row in many] == ["2", "3"]
            trips.clear()
            changed = await connection.execute(
                update(Customer).where(col(Customer.language) == "en").values(language="zh")
            )
            assert (changed.rowcount, len(trips)) == (2, 1)
            trips.clear()
            query = select(col(Customer.id)).order_by(col(Customer.id))
            ids = (await connection.execute(query)).all()
            assert (len(ids), ids[0][0], len(trips)) == (3, first, 1)
            with pytest.raises(exc.IntegrityError):
                await connection.execute(
                    insert(Customer).values(
                        channel="telegram", external_id="1", language="en", **SEEN
                    )
                )
            assert (await connection.execute(text("SELECT count(*) FROM customer"))).scalar() == 3
    finally:
        await engine.dispose()
