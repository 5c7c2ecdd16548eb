"""Button data comes back as the client sends it: forged, stale or out of range. Every press is
answered (no spinner left turning) without a traceback, and what the data names is checked
against the database: a transfer only to staff on duty, an order on a ticket flagged unless the
customer proved it."""

from __future__ import annotations

import itertools
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiogram import Dispatcher
from aiogram.methods import AnswerCallbackQuery, SendMessage
from aiogram.types import CallbackQuery, Chat, Message, Update, User

from bot.app import Services, create_dispatcher
from storage.models import Ticket
from tests.chat import AgentInGroup, PrivateChat
from tests.conftest import TEST_KB, StartServices
from tests.mocked_bot import MockedBot
from tests.sample_orders import import_sample_orders

GROUP = -1001234
AGENT, OTHER_AGENT, STRANGER = 501, 502, 666
CUSTOMER = 7
HUGE = "9" * 30

FORGED = [
    "",
    "garbage",
    "faq:" + "x" * 60,
    "faq:no_such_entry",
    f"vote:{HUGE}:1",
    "vote:5:1",
    "vote:abc:1",
    "vote:-1:1",
    "lang:xx",
    "human:extra",
    "kbup:token:1",
    f"tk:take:{HUGE}",
    "tk:fly:1",
    "tk:take:5",
    "tk:take:1:extra",
    "cat:teleport",
    "cat:shipping",
    "skip",
    f"solved:{HUGE}",
    "solved:1",
    f"tr:1:{HUGE}",
    "tr:1:5",
    "ordh:" + "A" * 59,
    "ret:A-9999",
    f"reti:A-1001:{HUGE}",
    "reti:A-1001:5",
    "retr:nonsense",
    "retd",
    "csat:1:99",
    f"csat:{HUGE}:3",
    "csat:1:3",
    "csatskip",
    f"revisit:{HUGE}:1",
    "revisit:1:1",
    "nps:1:11",
    "nps:1:5",
    f"nps:{HUGE}:5",
    "qa:1:score:9:9",
    f"qa:{HUGE}:score:0:1",
    "qa:5:open:0:0",
    "qa:5:score:0:3",
    "qa:5:skip:0:0",
    "qa:1:fly:0:0",
    "\x00faq:x",
]


@pytest.fixture
async def services(start_services: StartServices) -> Services:
    return await start_services(
        kb=TEST_KB,
        replace={
            "group_id = 0": f"group_id = {GROUP}",
            '\nlanguage = "zh"': '\nlanguage = "en"',  # an English-reading team
            "agents = []": f"agents = [{AGENT}, {OTHER_AGENT}]",
        },
    )


IDS = itertools.count(1)


async def press(
    dispatcher: Dispatcher, bot: MockedBot, user_id: int, chat: Chat, data: str
) -> list[AnswerCallbackQuery]:
    shown = Message(message_id=1, date=datetime.now(UTC), chat=chat, text="old message")
    query = CallbackQuery(
        id=str(next(IDS)),
        from_user=User(id=user_id, is_bot=False, first_name="Someone", language_code="en"),
        chat_instance="1",
        message=shown,
        data=data,
    )
    start = len(bot.recorder.requests)
    await dispatcher.feed_update(bot, Update(update_id=next(IDS), callback_query=query))
    return [r for r in bot.recorder.requests[start:] if isinstance(r, AnswerCallbackQuery)]


async def test_every_forged_or_stale_button_is_answered_without_a_traceback(
    services: Services, bot: MockedBot, caplog: pytest.LogCaptureFixture
) -> None:
    dispatcher = create_dispatcher(services)
    private = Chat(id=CUSTOMER, type="private")
    group = Chat(id=GROUP, type="supergroup", title="Agents", is_forum=True)
    caplog.set_level(logging.WARNING)
    for data in FORGED:
        for user_id, chat in ((CUSTOMER, private), (AGENT, group), (STRANGER, group)):
            answers = await press(dispatcher, bot, user_id, chat, data)
            assert len(answers) == 1, (data, user_id)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


async def test_a_forged_transfer_to_someone_not_on_duty_is_refused(
    services: Services, bot: MockedBot
) -> None:
    dispatcher = create_dispatcher(services)
    mei = PrivateChat(dispatcher, bot, CUSTOMER, "en")
    [choose] = await mei.say("/human")
    await mei.press(choose, "Shipping")
    await mei.say("my parcel is lost")
    await mei.say("A-1001")
    alice = AgentInGroup(dispatcher, bot, AGENT, "Alice")
    await alice.write_general("/duty on")
    group = alice.chat
    # OTHER_AGENT is staff but not on duty; STRANGER is nobody
    for target in (STRANGER, OTHER_AGENT):
        [answer] = await press(dispatcher, bot, AGENT, group, f"tr:1:{target}")
        assert answer.text == "That person is not an agent on duty."
        assert answer.show_alert
    async with services.session_factory() as session:
        ticket = await session.get(Ticket, 1)
    assert ticket is not None and ticket.assigned_agent in (None, AGENT)
    [answer] = await press(dispatcher, bot, AGENT, group, f"tr:1:{AGENT}")
    async with services.session_factory() as session:
        ticket = await session.get(Ticket, 1)
    assert ticket is not None and ticket.assigned_agent == AGENT


def card_of(bot: MockedBot, start: int) -> SendMessage:
    return next(
        r
        for r in bot.recorder.requests[start:]
        if isinstance(r, SendMessage) and r.chat_id == GROUP and r.reply_markup is not None
    )


async def test_an_order_the_customer_never_proved_is_flagged_on_the_card(
    services: Services, bot: MockedBot, tmp_path: Path
) -> None:
    await import_sample_orders(services, tmp_path, {})
    dispatcher = create_dispatcher(services)
    private = Chat(id=CUSTOMER, type="private")
    start = len(bot.recorder.requests)
    await press(dispatcher, bot, CUSTOMER, private, "ordh:A-1001")  # forged: never shown
    mei = PrivateChat(dispatcher, bot, CUSTOMER, "en")
    [choose] = [r for r in bot.recorder.requests[start:] if isinstance(r, SendMessage)]
    await mei.press(choose, "Order")
    await mei.say("I want to know about someone else's order")
    card = card_of(bot, start)
    assert "Order: A-1001 ⚠️ not verified" in card.text


async def test_an_order_the_customer_proved_is_shown_plainly(
    services: Services, bot: MockedBot, tmp_path: Path
) -> None:
    await import_sample_orders(services, tmp_path, {"A-1001": CUSTOMER})
    dispatcher = create_dispatcher(services)
    mei = PrivateChat(dispatcher, bot, CUSTOMER, "en")
    [shown] = await mei.say("/order A-1001")
    start = len(bot.recorder.requests)
    [choose] = await mei.press(shown, "Still a problem? Talk to a person")
    await mei.press(choose, "Order")
    await mei.say("it has not arrived")
    card = card_of(bot, start)
    assert "Order: A-1001\n" in card.text
