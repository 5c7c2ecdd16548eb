"""At DEBUG, for every logger (aiogram, SQLAlchemy, the database drivers, kefu's own), a whole
conversation leaves none of the customer's words, numbers or address in the log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.app import create_dispatcher
from tests.chat import PrivateChat
from tests.conftest import TEST_KB, StartServices
from tests.mocked_bot import MockedBot
from tests.sample_orders import import_sample_orders

GROUP = -1001234
QUESTION = "does the zebracorn umbrella come in teal"
DESCRIPTION = "my parcel with the quokka teapot vanished"
ADDRESS = "Flat 12B, 88 Marigold Lane, Springfield"
ORDER = "A-1003"
DIGITS = "8003"  # the last four of the order's phone
PHONE = "13800138003"
SECRETS = [QUESTION, "zebracorn", DESCRIPTION, "quokka", ADDRESS, "Marigold", ORDER, PHONE]

LOGGERS = ["", "aiogram", "aiohttp", "asyncio", "sqlalchemy", "aiosqlite", "asyncpg", "alembic"]
LOGGERS += ["sqlalchemy.engine", "sqlalchemy.pool", "sqlalchemy.orm", "bot", "handlers", "storage"]


async def test_a_conversation_at_debug_leaves_no_customer_data_in_the_log(
    start_services: StartServices,
    database: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name in LOGGERS:  # before the engine is made: SQLAlchemy reads its level then
        caplog.set_level(logging.DEBUG, logger=name)
    services = await start_services(
        kb=TEST_KB, database=database, replace={"group_id = 0": f"group_id = {GROUP}"}
    )
    await import_sample_orders(services, tmp_path, {})
    caplog.clear()
    dispatcher = create_dispatcher(services)
    mei = PrivateChat(dispatcher, MockedBot(), 7, "en")

    await mei.say(QUESTION)
    [ask_digits] = await mei.say(f"where is my order {ORDER}")
    assert "last 4 digits" in ask_digits.text
    [shown] = await mei.say(DIGITS)
    assert shown.text.startswith(f"Order {ORDER}")
    [choose] = await mei.say("/human")
    await mei.press(choose, "Shipping")
    await mei.say(DESCRIPTION)
    await mei.say(ADDRESS)  # where the order number is asked: the customer writes an address

    names = {record.name for record in caplog.records}
    assert {"aiogram.event", "sqlalchemy.engine.Engine"} <= names  # they did write at DEBUG
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in caplog.records:
        line = formatter.format(record)
        leaked = [secret for secret in SECRETS if secret in line]
        assert not leaked, line
        assert f" {DIGITS}" not in line and f"'{DIGITS}'" not in line, line
