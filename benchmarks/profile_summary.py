"""Where a profiled kefu spent its time: a summary of the py-spy files that
`benchmarks.throughput --profile DIR` records (collapsed stacks, one line per distinct stack).

    .venv/bin/python -m benchmarks.profile_summary DIR/kefu-sqlite-a-....txt [--rate 200]

Each sample is charged to the library of its innermost frame that belongs to a known one (self
time by library), per thread. SQLAlchemy's async layer runs ORM work inside greenlets, which
py-spy shows as stacks of their own (rooted at the greenlet, not at the handler that awaited it),
so time is summarised by library rather than by caller.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# (label, patterns of the frame's file), looked for from the innermost frame outwards.
IDLE = "(waiting in epoll: idle)"
LIBRARIES: list[tuple[str, tuple[str, ...]]] = [
    # py-spy --nonblocking cannot always tell an idle thread; the event loop's wait is this one.
    (IDLE, ("selectors.py",)),
    ("json", ("json/",)),
    ("logging", ("logging/",)),
    ("sqlite3 / aiosqlite", ("aiosqlite/", "sqlite3/")),
    ("asyncpg", ("asyncpg/",)),
    ("SQLAlchemy + sqlmodel", ("sqlalchemy", "sqlmodel/")),
    ("greenlet", ("greenlet",)),
    ("pydantic", ("pydantic",)),
    ("aiohttp", ("aiohttp/", "yarl/", "multidict/")),
    ("matching (knowledge/, rapidfuzz, numpy)", ("knowledge/", "rapidfuzz/", "numpy/")),
    ("aiogram", ("aiogram/",)),
    ("kefu (bot/, handlers/, storage/)", ("bot/", "handlers/", "storage/")),
    ("apscheduler", ("apscheduler/",)),
    ("asyncio", ("asyncio/", "threading.py", "concurrent/")),
]
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*)\)$")


def library_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        match = FRAME.match(frame)
        file = match["file"] if match else frame
        for label, patterns in LIBRARIES:
            if any(pattern in file for pattern in patterns):
                return label
    return "other"


def thread_kind(name: str) -> str:
    """Threads of the same kind together: aiosqlite runs one worker thread per connection."""
    if "MainThread" in name:
        return "main thread (event loop)"
    if "_connection_worker_thread" in name:
        return "aiosqlite worker threads"
    if "asyncio_" in name:
        return "asyncio.to_thread pool"
    return "other threads"


def summarise(path: Path, rate: float) -> str:
    by_thread: dict[str, Counter[str]] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        thread, _, rest = stack.partition(";")
        frames = rest.split(";") if rest else []
        kind = thread_kind(thread)
        by_thread.setdefault(kind, Counter())[library_of(frames)] += int(count)
    lines = [f"{path.name}: samples at {rate:g}/s, self time by library"]
    for kind, libraries in sorted(by_thread.items(), key=lambda item: -item[1].total()):
        idle = libraries.pop(IDLE, 0)
        total = libraries.total()
        lines.append(
            f"  {kind}: {total / rate:.1f} s busy ({total} samples), {idle / rate:.1f} s in epoll"
        )
        for label, samples in libraries.most_common():
            lines.append(f"    {samples / total:6.1%}  {samples / rate:6.1f} s  {label}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--rate", type=float, default=200.0, help="py-spy's samples a second")
    args = parser.parse_args()
    for path in args.files:
        print(summarise(path, args.rate))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
