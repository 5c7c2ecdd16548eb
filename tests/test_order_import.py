"""`kefu orders import`: validated whole, errors by line and column, idempotent."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from bot.cli import main
from bot.orders.csv_import import OrderImportError, import_orders, read_orders_csv
from storage.database import create_session_factory
from storage.models import Order

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "storage" / "sample_orders.csv"
HEADER = SAMPLE.read_text(encoding="utf-8").splitlines()[0] + "\n"


async def test_the_sample_imports_once_and_then_changes_nothing(engine: AsyncEngine) -> None:
    sessions = create_session_factory(engine)
    async with sessions() as session:
        first = await import_orders(session, read_orders_csv(SAMPLE))
        await session.commit()
    async with sessions() as session:
        second = await import_orders(session, read_orders_csv(SAMPLE))
        await session.commit()
        orders = (await session.exec(select(Order).order_by(Order.number))).all()
    assert first.summary() == "6 added, 0 updated, 0 unchanged"
    assert second.summary() == "0 added, 0 updated, 6 unchanged"
    two = orders[1]
    assert (two.number, two.status, two.carrier) == ("A-1002", "in_transit", "Yunda")
    assert json.loads(two.items) == [
        {"name": "T-shirt", "category": "clothing", "quantity": 2},
        {"name": "Socks", "category": "clothing", "quantity": 3},
    ]
    assert two.expected_delivery_at == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


async def test_a_changed_row_is_updated(engine: AsyncEngine, tmp_path: Path) -> None:
    sessions = create_session_factory(engine)
    async with sessions() as session:
        await import_orders(session, read_orders_csv(SAMPLE))
        await session.commit()
    changed = tmp_path / "orders.csv"
    changed.write_text(
        SAMPLE.read_text(encoding="utf-8").replace(
            "A-1003,13800138003,,Bluetooth earphones|electronics|1,shipped",
            "A-1003,13800138003,,Bluetooth earphones|electronics|1,in_transit",
        ),
        encoding="utf-8",
    )
    async with sessions() as session:
        result = await import_orders(session, read_orders_csv(changed))
        await session.commit()
    assert (result.added, result.updated, len(result.unchanged)) == ([], ["A-1003"], 5)


def test_every_error_names_the_line_and_the_column(tmp_path: Path) -> None:
    broken = tmp_path / "orders.csv"
    broken.write_text(
        HEADER
        + "B-1,138,,Shoes|shoes|1,paid,,,,2026-11-01T10:00:00,,,\n"
        + "B-2,138,abc,Shoes|shoes|x,lost,,,,yesterday,,,\n"
        + ",138,,Shoes|shoes|1,paid,,,,2026-11-01T10:00:00,,,\n"
        + "B-1,138,,Shoes|shoes|1,paid,,,,2026-11-01T10:00:00,,,\n",
        encoding="utf-8",
    )
    with pytest.raises(OrderImportError) as raised:
        read_orders_csv(broken)
    problems = [str(p).removeprefix(f"{broken}:") for p in raised.value.problems]
    assert problems == [
        "3: status: 'lost' is not one of paid, packed, shipped, in_transit, delivered, "
        "cancelled, returned",
        "3: items: quantity 'x' is not a whole number",
        "3: telegram_id: 'abc' is not a number",
        "3: ordered_at: 'yesterday' is not a date and time (ISO 8601)",
        "4: number: is empty",
        "5: number: B-1 is already on line 2",
    ]


def test_unknown_and_missing_columns_are_named(tmp_path: Path) -> None:
    broken = tmp_path / "orders.csv"
    broken.write_text("number,colour,status\nB-1,red,paid\n", encoding="utf-8")
    with pytest.raises(OrderImportError) as raised:
        read_orders_csv(broken)
    assert [str(p).removeprefix(f"{broken}:") for p in raised.value.problems] == [
        "1: colour: unknown column",
        "1: items: required column is missing",
        "1: ordered_at: required column is missing",
    ]


def test_the_command_imports_nothing_from_a_broken_file(
    write_config: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config())
    broken = tmp_path / "orders.csv"
    broken.write_text(
        SAMPLE.read_text(encoding="utf-8") + "B-9,1,,Hat|clothing|1,paid,,,,not a date,,,\n",
        encoding="utf-8",
    )
    assert main(["--config", config, "orders", "import", str(broken)]) == 1
    assert "nothing was imported" in capsys.readouterr().err
    assert main(["--config", config, "orders", "import", str(SAMPLE)]) == 0
    assert capsys.readouterr().out.endswith("6 added, 0 updated, 0 unchanged\n")
