"""The shape of the house (../DESIGN.md): imports point one way, handlers stay thin, bot/ is
split into rooms that say what they hold."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from bot.app import Services, create_dispatcher

ROOT = Path(__file__).resolve().parent.parent
MAX_HANDLER_PARAMETERS = 6


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def python_files(room: str) -> list[Path]:
    return sorted((ROOT / room).rglob("*.py"))


@pytest.mark.parametrize(
    ("room", "forbidden"),
    [
        ("knowledge", ("aiogram", "bot", "handlers", "storage")),
        ("storage", ("aiogram", "bot", "handlers")),
        ("bot", ("handlers",)),
        ("handlers", ("handlers.",)),
    ],
)
def test_imports_point_one_way(room: str, forbidden: tuple[str, ...]) -> None:
    offending = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in python_files(room)
        for module in imported_modules(path)
        if any(module == name or module.startswith(name.rstrip(".") + ".") for name in forbidden)
    ]
    if room == "bot":  # the composition root alone includes the routers
        offending = [line for line in offending if not line.startswith("bot/app.py")]
    assert offending == []


def test_bot_keeps_few_modules_at_its_top_and_packages_say_what_they_hold() -> None:
    top = sorted(path.name for path in (ROOT / "bot").glob("*.py"))
    assert len(top) <= 8, top
    for package in sorted(p for p in (ROOT / "bot").iterdir() if (p / "__init__.py").exists()):
        docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
        assert docstring and "\n" not in docstring, f"{package.name} needs a one-line docstring"


async def test_handlers_are_thin(admin_services: Services) -> None:
    """Every registered handler takes at most six parameters and none works out the language
    itself (the language middleware hands it `language` and `say`)."""
    dispatcher = create_dispatcher(admin_services)
    handlers = [
        handler.callback
        for router in dispatcher.chain_tail
        for observer in router.observers.values()
        for handler in observer.handlers
    ]
    assert len(handlers) > 40
    too_many = [
        f"{h.__module__}.{h.__name__}"
        for h in handlers
        if len(inspect.signature(h).parameters) > MAX_HANDLER_PARAMETERS
    ]
    assert too_many == []
    for path in python_files("handlers"):
        assert "customer_language" not in path.read_text(encoding="utf-8"), path.name


async def test_every_filter_runs_on_the_event_loop(admin_services: Services) -> None:
    """aiogram runs a plain function (a bare State, an F expression) in a worker thread, one hop
    per filter per update; every filter kefu registers is a coroutine instead."""
    dispatcher = create_dispatcher(admin_services)
    in_threads = [
        f"{router.name}: {handler.callback.__name__}: {flt.callback!r}"
        for router in dispatcher.chain_tail
        for observer in router.observers.values()
        for handler in [*observer.handlers, observer._handler]
        for flt in handler.filters or []
        if not flt.awaitable
    ]
    assert in_threads == []
