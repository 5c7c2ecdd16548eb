"""Loading the shop's orders from a CSV file into the built-in orders provider.

Every row is checked first; a file with any error changes nothing, and each error names the
line and the column. Importing the same file twice changes nothing the second time.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Order, OrderStatus

REQUIRED = ("number", "items", "status", "ordered_at")
COLUMNS = (
    "number",
    "phone",
    "telegram_id",
    "items",
    "status",
    "carrier",
    "tracking_number",
    "address",
    "ordered_at",
    "shipped_at",
    "delivered_at",
    "expected_delivery_at",
)
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


def parse_items(text: str) -> list[dict[str, Any]]:
    """'Running shoes|shoes|1; T-shirt|clothing|2' -> name, category, quantity."""
    items = []
    for part in text.split(";"):
        if not part.strip():
            continue
        fields = [f.strip() for f in part.split("|")]
        if len(fields) != 3 or not fields[0]:
            raise ValueError(f"{part.strip()!r} is not name|category|quantity")
        try:
            quantity = int(fields[2])
        except ValueError:
            raise ValueError(f"quantity {fields[2]!r} is not a whole number") from None
        if quantity < 1:
            raise ValueError(f"quantity {quantity} must be at least 1")
        items.append({"name": fields[0], "category": fields[1], "quantity": quantity})
    if not items:
        raise ValueError("no items")
    return items


def parse_time(text: str) -> datetime:
    """ISO 8601; a time without a zone is taken as UTC."""
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def read_orders_csv(path: str | Path) -> list[dict[str, Any]]:
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
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for raw in reader:
        line = reader.line_num
        row, row_problems = _validate(str(path), line, raw)
        problems += row_problems
        if row is None:
            continue
        if row["number"] in seen:
            problems.append(
                CsvProblem(
                    str(path),
                    line,
                    "number",
                    f"{row['number']} is already on line {seen[row['number']]}",
                )
            )
            continue
        seen[row["number"]] = line
        rows.append(row)
    if problems:
        raise OrderImportError(problems)
    return rows


def _validate(
    file: str, line: int, raw: dict[str, str | None]
) -> tuple[dict[str, Any] | None, list[CsvProblem]]:
    problems: list[CsvProblem] = []
    values = {k: (v or "").strip() for k, v in raw.items() if k is not None}
    row: dict[str, Any] = {}
    for name in REQUIRED:
        if not values.get(name):
            problems.append(CsvProblem(file, line, name, "is empty"))
    if problems:
        return None, problems
    row["number"] = values["number"]
    row["phone"] = values.get("phone") or None
    row["carrier"] = values.get("carrier") or None
    row["tracking_number"] = values.get("tracking_number") or None
    row["address"] = values.get("address") or None
    if values.get("status") not in tuple(OrderStatus):
        problems.append(
            CsvProblem(
                file,
                line,
                "status",
                f"{values.get('status')!r} is not one of {', '.join(OrderStatus)}",
            )
        )
    row["status"] = values.get("status")
    try:
        row["items"] = json.dumps(parse_items(values["items"]), ensure_ascii=False)
    except ValueError as error:
        problems.append(CsvProblem(file, line, "items", str(error)))
    telegram_id = values.get("telegram_id")
    row["telegram_id"] = None
    if telegram_id:
        if telegram_id.lstrip("-").isdigit():
            row["telegram_id"] = int(telegram_id)
        else:
            problems.append(
                CsvProblem(file, line, "telegram_id", f"{telegram_id!r} is not a number")
            )
    for name in TIMES:
        row[name] = None
        if values.get(name):
            try:
                row[name] = parse_time(values[name])
            except ValueError:
                problems.append(
                    CsvProblem(
                        file, line, name, f"{values[name]!r} is not a date and time (ISO 8601)"
                    )
                )
    return (None if problems else row), problems


async def import_orders(session: AsyncSession, rows: list[dict[str, Any]]) -> ImportResult:
    """Add new orders and update changed ones, all in the caller's transaction."""
    result = ImportResult()
    for row in rows:
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
