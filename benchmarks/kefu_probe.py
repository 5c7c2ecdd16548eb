"""`python -m bot` with SQLAlchemy event listeners on every engine: the running process counts
its SQL statements, commits and pool checkouts, and times its transactions, without a change to
kefu's code. `benchmarks.throughput --probe` runs kefu through it.

    BENCH_PROBE_FILE=figures.json python -m benchmarks.kefu_probe --config CONFIG run

On SIGUSR1 the figures so far are written to $BENCH_PROBE_FILE (the benchmark takes one snapshot
before a scenario and one after, and reports the difference).
"""

from __future__ import annotations

import json
import os
import runpy
import signal
import time
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

WRITES = ("INSERT", "UPDATE", "DELETE")

figures: dict[str, Any] = {
    "statements": Counter(),
    "statement_seconds": 0.0,
    "commits": 0,
    "rollbacks": 0,
    "transactions": 0,
    "transaction_seconds": 0.0,  # from BEGIN to COMMIT or ROLLBACK, summed
    "write_transactions": 0,
    "write_seconds": 0.0,  # from the first write to COMMIT: SQLite's write lock is held
    "longest_transaction": 0.0,
    "checkouts": 0,
    "checked_out": 0,
    "most_checked_out": 0,
    "snapshot": 0,  # counts the snapshots written, so that a reader knows a new one is there
}


def _before_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
    verb = statement.lstrip().split(None, 1)[0].upper()
    figures["statements"][verb] += 1
    conn.info["probe_statement"] = time.perf_counter()
    if verb in WRITES:
        conn.info.setdefault("probe_write", conn.info["probe_statement"])


def _after_execute(conn: Any, *args: Any) -> None:
    started = conn.info.pop("probe_statement", None)
    if started is not None:
        figures["statement_seconds"] += time.perf_counter() - started


def _begin(conn: Any) -> None:
    conn.info["probe_begin"] = time.perf_counter()


def _end(conn: Any, outcome: str) -> None:
    figures[outcome] += 1
    now = time.perf_counter()
    began = conn.info.pop("probe_begin", None)
    if began is not None:
        figures["transactions"] += 1
        figures["transaction_seconds"] += now - began
        figures["longest_transaction"] = max(figures["longest_transaction"], now - began)
    wrote = conn.info.pop("probe_write", None)
    if wrote is not None:
        figures["write_transactions"] += 1
        figures["write_seconds"] += now - wrote


def _checkout(*args: Any) -> None:
    figures["checkouts"] += 1
    figures["checked_out"] += 1
    figures["most_checked_out"] = max(figures["most_checked_out"], figures["checked_out"])


def _checkin(*args: Any) -> None:
    figures["checked_out"] -= 1


def _write(signum: int, frame: FrameType | None) -> None:
    figures["snapshot"] += 1
    path = Path(os.environ["BENCH_PROBE_FILE"])
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(figures), encoding="utf-8")
    temporary.replace(path)  # the reader never sees half a file
    # Peaks are since the last snapshot.
    figures["most_checked_out"] = figures["checked_out"]
    figures["longest_transaction"] = 0.0


def install() -> None:
    event.listen(Engine, "before_cursor_execute", _before_execute)
    event.listen(Engine, "after_cursor_execute", _after_execute)
    event.listen(Engine, "begin", _begin)
    event.listen(Engine, "commit", lambda conn: _end(conn, "commits"))
    event.listen(Engine, "rollback", lambda conn: _end(conn, "rollbacks"))
    event.listen(Pool, "checkout", _checkout)
    event.listen(Pool, "checkin", _checkin)
    signal.signal(signal.SIGUSR1, _write)


if __name__ == "__main__":
    install()
    runpy.run_module("bot", run_name="__main__", alter_sys=True)
