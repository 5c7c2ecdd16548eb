"""Urgent words (应急预案): a customer who writes of food poisoning, an allergic reaction, an
injury or fraud gets an urgent ticket and a calm answer instead of an FAQ answer, and the
supervisors are paged at once, out of hours too. Through the real dispatcher with the recording
session."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from aiogram.methods import CopyMessage, CreateForumTopic, SendMessage
from sqlmodel import select

from bot.app import Services, create_dispatcher
from bot.clock import ManualClock
from bot.config import URGENT_TERMS
from bot.incidents.words import UrgentWords
from storage.models import Ticket, TicketEvent
from tests.chat import PrivateChat
from tests.conftest import TEST_KB, StartServices
from tests.mocked_bot import MockedBot

GROUP = -1004321
SUPERVISOR = 778
AGENT = 503
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("我女儿吃了你们的饼干过敏了", "过敏了"),
        ("吃完你们家的外卖全家都拉肚子", "拉肚子"),
        ("我被騙了，有人冒充你們客服", "被骗"),  # traditional characters
        ("I think I got FOOD POISONING from your salad", "food poisoning"),
        ("the charger caught fire last night", "caught fire"),
        ("再不处理我就打12315", "12315"),
    ],
)
def test_urgent_words_are_found_in_either_language(text: str, term: str) -> None:
    assert UrgentWords(URGENT_TERMS).find(text) == term


@pytest.mark.parametrize(
    "text",
    [
        "does this cookie contain nuts? my son is allergic to them",  # a question before buying
        "我对花生过敏，这个饼干有花生吗",
        "nobody was injured, but the box arrived crushed",
        "I was not scammed, I just want to check the payment",
        "Sue from your shop said I could return it",
        "how long does shipping take",
        "我的快递到哪了",
    ],
)
def test_everyday_messages_are_not_urgent(text: str) -> None:
    assert UrgentWords(URGENT_TERMS).find(text) is None


@pytest.fixture
async def services(start_services: StartServices, clock: ManualClock) -> Services:
    clock.set(datetime(2026, 3, 7, 23, 30, tzinfo=SHANGHAI))  # Saturday night: closed
    return await start_services(
        kb=TEST_KB,
        replace={
            "group_id = 0": f"group_id = {GROUP}",
            "supervisors = []": f"supervisors = [{SUPERVISOR}]",
            "agents = []": f"agents = [{AGENT}]",
        },
    )


async def test_an_allergic_reaction_out_of_hours_opens_an_urgent_ticket_and_pages_the_supervisor(
    services: Services, bot: MockedBot
) -> None:
    dispatcher = create_dispatcher(services)
    mum = PrivateChat(dispatcher, bot, 8801, "zh")
    [reply] = await mum.say("我女儿吃了你们的饼干过敏了，现在在医院")
    assert reply.text.startswith("非常抱歉！您的安全最重要")
    assert "紧急工单 T-000001" in reply.text

    async with services.session_factory() as session:
        ticket = (await session.exec(select(Ticket))).one()
        events = (await session.exec(select(TicketEvent.kind, TicketEvent.detail))).all()
    assert (ticket.priority, ticket.category) == ("urgent", "complaint")
    assert ticket.description == "我女儿吃了你们的饼干过敏了，现在在医院"
    assert ("urgent", "过敏了") in events

    topics = [r for r in bot.recorder.requests if isinstance(r, CreateForumTopic)]
    assert len(topics) == 1
    to_group = [
        r for r in bot.recorder.requests if isinstance(r, SendMessage) and r.chat_id == GROUP
    ]
    page = [m for m in to_group if m.text.startswith("🚨")]
    assert len(page) == 1 and f"tg://user?id={SUPERVISOR}" in page[0].text
    private = [
        r for r in bot.recorder.requests if isinstance(r, SendMessage) and r.chat_id == SUPERVISOR
    ]
    assert [m.text for m in private] == [
        "🚨 紧急：T-000001。顾客提到了「过敏了」，需要主管立即处理。"
    ]


async def test_an_open_ticket_is_raised_to_urgent_and_the_message_still_reaches_its_topic(
    services: Services, bot: MockedBot
) -> None:
    dispatcher = create_dispatcher(services)
    ann = PrivateChat(dispatcher, bot, 8802, "en")
    [choose] = await ann.say("/human")
    await ann.press(choose, "Shipping")
    [ask_order] = await ann.say("my parcel is lost")
    await ann.press(ask_order, "Skip")
    start = len(bot.recorder.requests)
    [reply] = await ann.say("the delivery man was rude and now I'm calling the police")
    assert reply.text.startswith("We are very sorry. Your safety comes first")
    async with services.session_factory() as session:
        [ticket] = (await session.exec(select(Ticket))).all()  # the same ticket, not a new one
    assert (ticket.priority, ticket.category) == ("urgent", "shipping")
    copies = [r for r in bot.recorder.requests[start:] if isinstance(r, CopyMessage)]
    assert len(copies) == 1 and copies[0].chat_id == GROUP


async def test_an_urgent_word_in_the_intake_keeps_the_form_and_opens_an_urgent_ticket(
    services: Services, bot: MockedBot
) -> None:
    """While the intake asks for the problem, the words go to the form; the ticket it opens is
    urgent and the supervisor is paged."""
    dispatcher = create_dispatcher(services)
    ben = PrivateChat(dispatcher, bot, 8803, "en")
    [choose] = await ben.say("/human")
    await ben.press(choose, "Product quality")
    [ask_order] = await ben.say("the kettle gave me an electric shock")
    assert ask_order.text == "Do you have an order number? Send it, or tap Skip."
    await ben.press(ask_order, "Skip")
    async with services.session_factory() as session:
        [ticket] = (await session.exec(select(Ticket))).all()
    assert (ticket.priority, ticket.category) == ("urgent", "product_quality")
    private = [
        r for r in bot.recorder.requests if isinstance(r, SendMessage) and r.chat_id == SUPERVISOR
    ]
    assert [m.text for m in private] == [
        "🚨 紧急：T-000001。顾客提到了「electric shock」，需要主管立即处理。"
    ]
