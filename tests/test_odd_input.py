"""Long or odd customer input through the whole intake, on SQLite and PostgreSQL: a 4,000-character
description opens a ticket with its card, NUL characters and lone surrogates are cleaned before
anything is stored or sent, an over-long order number is bounded."""

from __future__ import annotations

import pytest
from aiogram.methods import SendMessage
from sqlmodel import select

from bot.app import Services, create_dispatcher
from bot.channels.cleaning import clean_text
from bot.channels.long_text import telegram_length
from storage.models import Customer, Ticket, TicketStatus
from storage.models import Message as StoredMessage
from tests.chat import PrivateChat
from tests.conftest import TEST_KB, StartServices
from tests.mocked_bot import MockedBot

GROUP = -1001234
APOLOGY = "Sorry, something went wrong"


@pytest.fixture
async def services(start_services: StartServices, database: str) -> Services:
    return await start_services(
        kb=TEST_KB, database=database, replace={"group_id = 0": f"group_id = {GROUP}"}
    )


def to_group(bot: MockedBot, start: int) -> list[SendMessage]:
    return [
        r
        for r in bot.recorder.requests[start:]
        if isinstance(r, SendMessage) and r.chat_id == GROUP
    ]


async def test_a_long_description_opens_a_ticket_with_a_card_that_fits(
    services: Services, bot: MockedBot
) -> None:
    mei = PrivateChat(create_dispatcher(services), bot, 7, "en")
    [choose] = await mei.say("/human")
    await mei.press(choose, "Shipping")
    description = "my parcel is lost " * 222  # 3,996 characters
    [ask_order] = await mei.say(description)
    start = len(bot.recorder.requests)
    [done] = await mei.press(ask_order, "Skip")
    assert "T-000001" in done.text
    [card] = to_group(bot, start)[:1]
    assert telegram_length(card.text) <= 4096
    assert card.reply_markup is not None  # the agents' buttons are on the card
    async with services.session_factory() as session:
        ticket = (await session.exec(select(Ticket))).one()
    assert ticket.description == description


async def test_nul_characters_lone_surrogates_and_a_long_order_number_are_safe(
    services: Services, bot: MockedBot
) -> None:
    mei = PrivateChat(create_dispatcher(services), bot, 8, "en")
    mei.user = mei.user.model_copy(update={"first_name": "Mei\x00\ud800" + "x" * 200})
    replies = await mei.say("hello\x00 how long does a refund take\ud83d")
    assert replies and not any(r.text.startswith(APOLOGY) for r in replies)
    [choose] = await mei.say("/human")
    await mei.press(choose, "Shipping")
    [ask_order] = await mei.say("lost\x00 parcel")
    number = "A-" + "1" * 98
    [done] = await mei.say(number)
    assert "T-000001" in done.text
    # an order number of 100 digits asked about directly is no order number at all
    [lookup] = await mei.say("/order A-" + "2" * 98)
    assert not lookup.text.startswith(APOLOGY)

    async with services.session_factory() as session:
        ticket = (await session.exec(select(Ticket))).one()
        customer = (await session.exec(select(Customer))).one()
        texts = [m.text for m in (await session.exec(select(StoredMessage))).all()]
    assert ticket.description == "lost parcel"
    assert ticket.order_number == number[:64]
    assert customer.first_name == "Mei" + "x" * 61
    assert "hello how long does a refund take" in texts
    for request in bot.recorder.requests:
        if isinstance(request, SendMessage):
            request.text.encode("utf-8")  # nothing unsendable


def test_clean_text_removes_nul_and_lone_surrogates_and_bounds() -> None:
    assert clean_text("a\x00b\ud800c😀", 10) == "abc😀"
    assert clean_text("x" * 10, 4) == "xxxx"


async def test_a_ticket_number_is_not_an_order_number(services: Services, bot: MockedBot) -> None:
    dispatcher = create_dispatcher(services)
    mei = PrivateChat(dispatcher, bot, 9, "en")
    [choose] = await mei.say("/human")
    await mei.press(choose, "Shipping")
    [ask_order] = await mei.say("my parcel is lost")
    await mei.press(ask_order, "Skip")
    async with services.session_factory() as session:
        ticket = (await session.exec(select(Ticket))).one()
        ticket.status = TicketStatus.RESOLVED  # a closed matter: a message is no longer relayed
        session.add(ticket)
        await session.commit()

    [status] = await mei.say("what happened with t-000001?")
    assert status.text == "T-000001 · Shipping · resolved"
    [other] = await PrivateChat(dispatcher, bot, 10, "en").say("T-000001")
    assert other.text == "You have no ticket T-000001. /tickets lists yours."
    assert services.order_status.find_number("T-000001 and A-1001") == "A-1001"
    assert services.order_status.find_number("T-000001") is None
