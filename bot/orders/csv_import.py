"""Loading the shop's orders from a CSV file into the built-in orders provider.

Every row is checked first; a file with any error changes nothing, and each error names the
line and the column. Importing the same file twice changes nothing the second time.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.orders.providers import OrderView
from storage.models import Order, OrderStatus

REQUIRED = ("number", "items", "status", "ordered_at")
# What the orders table keeps (and more than any real order needs, for the free texts); any
# other column (times, status, ids) is short
OTHER_LENGTH = 100
LENGTHS = {
    "number": 64,
    "phone": 32,
    "carrier": 64,
    "tracking_number": 64,
    "address": 1000,
    "items": 10_000,
}
TELEGRAM_IDS = range(1, 2**52)  # a Telegram user id
COLUMNS = tuple(OrderView.model_fields)  # a column for each of the order's fields
TIMES = ("ordered_at", "shipped_at", "delivered_at", "expected_delivery_at")


@dataclass(frozen=True)
class CsvProblem:
    file: str
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.column}: {self.message}"


class OrderImportError(Exception):
    def __init__(self, problems: list[CsvProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class ImportResult:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged"
        )


def parse_items(text: str) -> list[dict[str, str]]:
    """'Running shoes|shoes|1; T-shirt|clothing|2' -> name, category, quantity (as written: the
    quantity is checked with the rest of the order)."""
    items = []
    for part in text.split(";"):
        if not part.strip():
            continue
        fields = [f.strip() for f in part.split("|")]
        if len(fields) != 3 or not fields[0]:
            raise ValueError(f"{part.strip()!r} is not name|category|quantity")
        items.append({"name": fields[0], "category": fields[1], "quantity": fields[2]})
    if not items:
        raise ValueError("no items")
    return items


def read_orders_csv(path: str | Path) -> list[OrderView]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        problem = CsvProblem(str(path), 0, "-", f"cannot read: {error.strerror}")
        raise OrderImportError([problem]) from None
    except UnicodeDecodeError:
        raise OrderImportError([CsvProblem(str(path), 0, "-", "not UTF-8 text")]) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    problems = [
        CsvProblem(str(path), 1, name, "unknown column") for name in header if name not in COLUMNS
    ] + [
        CsvProblem(str(path), 1, name, "required column is missing")
        for name in REQUIRED
        if name not in header
    ]
    if problems:
        raise OrderImportError(problems)
    orders: list[OrderView] = []
    seen: dict[str, int] = {}
    for line, raw in _rows(reader, str(path), problems):
        order, row_problems = _validate(str(path), line, raw)
        problems += row_problems
        if order is None:
            continue
        if order.number in seen:
            problems.append(
                CsvProblem(
                    str(path),
                    line,
                    "number",
                    f"{order.number} is already on line {seen[order.number]}",
                )
            )
            continue
        seen[order.number] = line
        orders.append(order)
    if problems:
        raise OrderImportError(problems)
    return orders


def _rows(
    reader: csv.DictReader[str], file: str, problems: list[CsvProblem]
) -> Iterator[tuple[int, dict[str, str | None]]]:
    """Each row with its line; a row the csv module cannot read ends the file with a problem."""
    while True:
        try:
            raw = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            message = str(error)
            if "field larger than field limit" in message:
                message = f"a field is longer than {csv.field_size_limit():,} characters"
            # the row that failed starts after the lines read so far
            line = reader.line_num + 1
            problems.append(CsvProblem(file, line, "-", f"cannot be read: {message}"))
            return
        yield reader.line_num, raw


def _validate(
    file: str, line: int, raw: dict[str, str | None]
) -> tuple[OrderView | None, list[CsvProblem]]:
    values = {k: (v or "").strip() for k, v in raw.items() if k is not None}
    problems = [
        CsvProblem(file, line, name, "is empty") for name in REQUIRED if not values.get(name)
    ] + [
        CsvProblem(file, line, name, f"has {len(value):,} characters; the limit is {limit:,}")
        for name in COLUMNS
        if len(value := values.get(name) or "") > (limit := LENGTHS.get(name, OTHER_LENGTH))
    ]
    if problems:
        problems.sort(key=lambda problem: COLUMNS.index(problem.column))
        return None, problems
    fields: dict[str, Any] = {name: values.get(name) or None for name in COLUMNS}
    try:
        fields["items"] = parse_items(values["items"])
    except ValueError as error:
        problems.append(CsvProblem(file, line, "items", str(error)))
        fields["items"] = ()  # so that the other columns are still checked
    order: OrderView | None = None
    try:
        order = OrderView.model_validate(fields)
    except ValidationError as error:
        problems += [CsvProblem(file, line, *_column_problem(e)) for e in error.errors()]
    telegram_id = order.telegram_id if order is not None else None
    if telegram_id is not None and telegram_id not in TELEGRAM_IDS:
        problems.append(
            CsvProblem(file, line, "telegram_id", f"{telegram_id} is not a Telegram id")
        )
    # one order's problems in the order of its fields, whichever check found them
    problems.sort(key=lambda problem: COLUMNS.index(problem.column))
    return (None if problems else order), problems


def _column_problem(error: ErrorDetails) -> tuple[str, str]:
    """A pydantic error on an order as the CSV's column and the message a person reads."""
    column, given = str(error["loc"][0]), error["input"]
    if column == "status":
        return column, f"{given!r} is not one of {', '.join(OrderStatus)}"
    if column == "items" and error["loc"][-1] == "quantity":
        if error["type"] == "greater_than_equal":
            return column, f"quantity {given} must be at least 1"
        return column, f"quantity {given!r} is not a whole number"
    if column == "telegram_id":
        return column, f"{given!r} is not a number"
    if column in TIMES:
        return column, f"{given!r} is not a date and time (ISO 8601)"
    return column, f"{given!r}: {error['msg']}"


def _row(order: OrderView) -> dict[str, Any]:
    row = order.model_dump(exclude={"items"})
    items = [item.model_dump() for item in order.items]
    row["items"] = json.dumps(items, ensure_ascii=False)
    return row


async def import_orders(session: AsyncSession, orders: list[OrderView]) -> ImportResult:
    """Add new orders and update changed ones, all in the caller's transaction."""
    result = ImportResult()
    for row in map(_row, orders):
        existing = (await session.exec(select(Order).where(Order.number == row["number"]))).first()
        if existing is None:
            session.add(Order(**row))
            result.added.append(row["number"])
            continue
        changed = {k: v for k, v in row.items() if getattr(existing, k) != v}
        if not changed:
            result.unchanged.append(row["number"])
            continue
        for key, value in changed.items():
            setattr(existing, key, value)
        session.add(existing)
        result.updated.append(row["number"])
    await session.flush()
    return result
