"""Admins ban and unban customers: the bot stays silent to a banned one (nothing answered,
stored or relayed) and the agents see the ban in the ticket's topic and on its card."""

from __future__ import annotations

import pytest
from aiogram.methods import AnswerCallbackQuery, CopyMessage, SendMessage
from sqlmodel import func, select

from bot.app import Services, create_dispatcher
from storage.models import Customer, Ticket
from storage.models import Message as StoredMessage
from tests.chat import PrivateChat
from tests.conftest import ADMIN_ID, TEST_KB, StartServices
from tests.mocked_bot import MockedBot

GROUP = -1001234
AGENT = 501
MEI = 7


@pytest.fixture
async def services(start_services: StartServices) -> Services:
    return await start_services(
        kb=TEST_KB,
        replace={
            "group_id = 0": f"group_id = {GROUP}",
            '\nlanguage = "zh"': '\nlanguage = "en"',  # an English-reading team
            "admins = []": f"admins = [{ADMIN_ID}]",
            "agents = []": f"agents = [{AGENT}]",
        },
    )


async def stored_messages(services: Services) -> int:
    async with services.session_factory() as session:
        return int((await session.exec(select(func.count()).select_from(StoredMessage))).one())


async def test_a_banned_customer_gets_silence_and_agents_see_the_ban(
    services: Services, bot: MockedBot
) -> None:
    dispatcher = create_dispatcher(services)
    admin = PrivateChat(dispatcher, bot, ADMIN_ID, "en")
    mei = PrivateChat(dispatcher, bot, MEI, "en")
    [choose] = await mei.say("/human")
    await mei.press(choose, "Shipping")
    [ask_order] = await mei.say("my parcel is lost")
    await mei.press(ask_order, "Skip")

    start = len(bot.recorder.requests)
    [done] = await admin.say(f"/ban {MEI}")
    assert done.text == "Mei (ID 7) is banned: the bot stays silent to them. /unban lifts it."
    [alert] = [
        r
        for r in bot.recorder.requests[start:]
        if isinstance(r, SendMessage) and r.chat_id == GROUP
    ]
    assert "T-000001: the customer Mei (ID 7) was banned by an admin" in alert.text

    before = await stored_messages(services)
    start = len(bot.recorder.requests)
    assert await mei.say("hello? how long does a refund take") == []
    assert await mei.press(choose, "Order") == []
    new = bot.recorder.requests[start:]
    assert not [r for r in new if isinstance(r, SendMessage | CopyMessage)]
    [answered] = [r for r in new if isinstance(r, AnswerCallbackQuery)]
    assert answered.text is None  # no spinner, and no word either
    assert await stored_messages(services) == before

    async with services.session_factory() as session:
        ticket = await session.get(Ticket, 1)
        customer = (await session.exec(select(Customer).where(Customer.id == 1))).one()
        assert ticket is not None
        card = await services.handoff.summary(session, ticket, customer)
    assert f"⛔ Banned since 2026-03-02 10:00 UTC by admin {ADMIN_ID}" in card

    [lifted] = await admin.say("/unban #1")
    assert lifted.text == "Mei (ID 7) is no longer banned."
    start = len(bot.recorder.requests)
    await mei.say("hello again")  # relayed to the ticket's topic once more
    assert [r for r in bot.recorder.requests[start:] if isinstance(r, CopyMessage)]


async def test_only_admins_ban_and_staff_cannot_be_banned(
    services: Services, bot: MockedBot
) -> None:
    dispatcher = create_dispatcher(services)
    admin = PrivateChat(dispatcher, bot, ADMIN_ID, "en")
    mei = PrivateChat(dispatcher, bot, MEI, "en")
    await mei.say("hello")
    [refused] = await mei.say(f"/ban {ADMIN_ID}")
    assert refused.text == "Sorry, this command is for admins only."
    await PrivateChat(dispatcher, bot, AGENT, "en").say("hello")
    [staff] = await admin.say(f"/ban {AGENT}")
    assert staff.text.startswith("Staff cannot be banned")
    [unknown] = await admin.say("/ban 99999")
    assert unknown.text == "No customer 99999 is known."
    [usage] = await admin.say("/ban someone")
    assert usage.text.startswith("Write /ban USER_ID")
    [not_banned] = await admin.say(f"/unban {MEI}")
    assert not_banned.text == "Mei (ID 7) is not banned."


async def test_a_banned_customer_without_a_ticket_is_neither_answered_nor_stored(
    services: Services, bot: MockedBot
) -> None:
    dispatcher = create_dispatcher(services)
    mei = PrivateChat(dispatcher, bot, MEI, "en")
    await mei.say("hello")
    before = await stored_messages(services)
    assert before > 0
    await PrivateChat(dispatcher, bot, ADMIN_ID, "en").say(f"/ban {MEI}")
    assert await mei.say("how long does a refund take") == []
    assert await mei.say("/human") == []
    assert await stored_messages(services) == before
