"""Log lines as an aggregator reads them: JSON, each naming the update it was written for, and
never what the customer wrote."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from aiogram import Dispatcher

from bot.app import Services
from bot.middlewares.log_context import JsonLines, UpdateOnRecord
from tests.chat import PrivateChat
from tests.conftest import TEST_KB, StartServices
from tests.mocked_bot import MockedBot


@pytest.fixture
async def services(start_services: StartServices) -> Services:
    return await start_services(kb=TEST_KB)


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(UpdateOnRecord())
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def test_every_line_written_for_an_update_names_it_in_json(
    dispatcher: Dispatcher, bot: MockedBot, json_log: io.StringIO
) -> None:
    chat = PrivateChat(dispatcher, bot, 7, "en")
    question = "how do i return an item, my phone is 13812345678"
    await chat.say(question)
    logging.getLogger("kefu.test").info("outside any update")
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    decision = next(line for line in lines if "decision=" in line["message"])
    assert decision["logger"] == "bot.faq.answers"
    assert decision["level"] == "INFO"
    assert isinstance(decision["update"], int)
    assert lines[-1]["message"] == "outside any update" and lines[-1]["update"] is None
    assert "13812345678" not in json_log.getvalue()
    assert "return an item" not in json_log.getvalue()
