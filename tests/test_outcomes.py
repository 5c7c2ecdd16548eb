"""How tickets end: on Resolve the agent picks the cause and the remedy with buttons; both are
kept on the ticket and counted in /report by category, cause and remedy."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

import pytest
from aiogram import Dispatcher
from aiogram.methods import AnswerCallbackQuery, SendMessage
from aiogram.types import InlineKeyboardMarkup
from sqlmodel import col, select

from bot.app import Services, create_dispatcher
from bot.callbacks import OutcomeCallback
from bot.clock import ManualClock
from storage.models import Ticket, TicketEvent
from tests.chat import AgentInGroup, PrivateChat
from tests.conftest import TEST_KB, StartServices
from tests.mocked_bot import MockedBot

T = TypeVar("T")
GROUP = -1001234
AGENT = 501
ADMIN = 900
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
async def services(start_services: StartServices, clock: ManualClock) -> Services:
    clock.set(datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI))  # Monday morning: open
    return await start_services(
        kb=TEST_KB,
        replace={
            "group_id = 0": f"group_id = {GROUP}",
            "agents = []": f"agents = [{AGENT}]",
            "admins = []": f"admins = [{ADMIN}]",
            '"customer_misunderstanding", "system"]': '"customer_misunderstanding", "packaging"]',
            '\nlanguage = "zh"': '\nlanguage = "en"',  # an English-reading team
        },
    )


def since(bot: MockedBot, start: int, kind: type[T]) -> list[T]:
    return [r for r in bot.recorder.requests[start:] if isinstance(r, kind)]


def labels(message: SendMessage) -> list[str]:
    assert isinstance(message.reply_markup, InlineKeyboardMarkup)
    return [b.text for row in message.reply_markup.inline_keyboard for b in row]


async def open_ticket(
    dispatcher: Dispatcher, bot: MockedBot, user_id: int, category: str
) -> SendMessage:
    """A customer's ticket; its card in the agents' group."""
    customer = PrivateChat(dispatcher, bot, user_id, "en")
    [choose] = await customer.say("/human")
    await customer.press(choose, category)
    await customer.say("something is wrong")
    await customer.say("A-1001")
    return next(
        r for r in reversed(bot.recorder.requests)
        if isinstance(r, SendMessage) and r.chat_id == GROUP and r.reply_markup
    )  # fmt: skip


async def test_resolve_asks_the_cause_then_the_remedy_and_keeps_both(
    services: Services, dispatcher: Dispatcher, bot: MockedBot
) -> None:
    card = await open_ticket(dispatcher, bot, 7, "Shipping")
    alice = AgentInGroup(dispatcher, bot, AGENT, "Alice")
    alice.user = alice.user.model_copy(update={"language_code": "en"})
    start = len(bot.recorder.requests)
    await alice.press(card, "Resolve")
    ask = [m for m in since(bot, start, SendMessage) if m.chat_id == GROUP][-1]
    assert ask.message_thread_id == card.message_thread_id
    assert ask.text == "T-000001 is resolved. What caused the problem?"
    # the configured causes, in the agent's language where the catalogue has them
    assert labels(ask) == [
        "Logistics",
        "Product quality",
        "Wrong item",
        "Customer misunderstanding",
        "packaging",
    ]

    start = len(bot.recorder.requests)
    await alice.press(ask, "Logistics")
    [answered] = since(bot, start, AnswerCallbackQuery)
    assert answered.text == "Logistics"
    [remedy] = [m for m in since(bot, start, SendMessage) if m.chat_id == GROUP]
    assert remedy.text == "T-000001: and what did we do about it?"
    assert labels(remedy) == ["Refund", "Replacement", "Compensation", "Explanation", "None"]

    start = len(bot.recorder.requests)
    await alice.press(remedy, "Replacement")
    assert len(since(bot, start, AnswerCallbackQuery)) == 1
    [recorded] = [m for m in since(bot, start, SendMessage) if m.chat_id == GROUP]
    assert recorded.text == (
        "T-000001: cause Logistics, remedy Replacement. Recorded for the report."
    )
    assert [m for m in since(bot, start, SendMessage) if m.chat_id == 7] == []
    async with services.session_factory() as session:
        ticket = (await session.exec(select(Ticket))).one()
        events = (await session.exec(select(TicketEvent).order_by(col(TicketEvent.id)))).all()
    assert (ticket.cause, ticket.remedy) == ("logistics", "replacement")
    assert [e.detail for e in events if e.kind == "outcome"] == [
        "cause:logistics",
        "remedy:replacement",
    ]


async def test_outcome_buttons_in_chinese_for_a_chinese_reading_team(
    start_services: StartServices, bot: MockedBot
) -> None:
    services = await start_services(  # [agents] language = "zh", the example's
        kb=TEST_KB,
        replace={"group_id = 0": f"group_id = {GROUP}", "agents = []": f"agents = [{AGENT}]"},
    )
    dispatcher = create_dispatcher(services)
    card = await open_ticket(dispatcher, bot, 7, "Shipping")
    alice = AgentInGroup(dispatcher, bot, AGENT, "Alice")
    start = len(bot.recorder.requests)
    await alice.press(card, "已解决")
    ask = [m for m in since(bot, start, SendMessage) if m.chat_id == GROUP][-1]
    assert ask.text == "T-000001 已解决。问题的原因是什么？"
    assert labels(ask)[:3] == ["物流", "产品质量", "发错货"]


async def test_an_outcome_no_longer_offered_or_pressed_by_a_stranger_is_answered(
    services: Services, dispatcher: Dispatcher, bot: MockedBot
) -> None:
    card = await open_ticket(dispatcher, bot, 7, "Shipping")
    alice = AgentInGroup(dispatcher, bot, AGENT, "Alice")
    alice.user = alice.user.model_copy(update={"language_code": "en"})
    await alice.press(card, "Resolve")
    ask = [m for m in bot.recorder.sent_messages() if m.chat_id == GROUP][-1]
    assert isinstance(ask.reply_markup, InlineKeyboardMarkup)
    # a button from before the config dropped "system"
    stale = OutcomeCallback(ticket_id=1, part="cause", value="system").pack()
    ask.reply_markup.inline_keyboard[0][0].callback_data = stale
    start = len(bot.recorder.requests)
    await alice.press(ask, "Logistics")
    [answered] = since(bot, start, AnswerCallbackQuery)
    assert (answered.text, answered.show_alert) == ("This choice is no longer offered.", True)

    eve = AgentInGroup(dispatcher, bot, 666, "Eve")
    start = len(bot.recorder.requests)
    await eve.press(ask, "Product quality")
    [answered] = since(bot, start, AnswerCallbackQuery)
    assert (answered.text, answered.show_alert) == ("Only agents can do this.", True)
    async with services.session_factory() as session:
        ticket = (await session.exec(select(Ticket))).one()
    assert (ticket.cause, ticket.remedy) == (None, None)


async def test_report_counts_tickets_and_complaints_by_category_cause_and_remedy(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    alice = AgentInGroup(dispatcher, bot, AGENT, "Alice")
    alice.user = alice.user.model_copy(update={"language_code": "en"})
    for user_id, category, cause, remedy in (
        (7, "Shipping", "Logistics", "Replacement"),
        (8, "Complaint", "Logistics", "Compensation"),
        (9, "Complaint", None, None),  # resolved, nothing chosen
        (10, "Shipping", None, None),  # still open: not counted by outcome
    ):
        card = await open_ticket(dispatcher, bot, user_id, category)
        if user_id == 10:
            continue
        await alice.press(card, "Resolve")
        if cause and remedy:
            ask = [m for m in bot.recorder.sent_messages() if m.chat_id == GROUP][-1]
            await alice.press(ask, cause)
            ask = [m for m in bot.recorder.sent_messages() if m.chat_id == GROUP][-1]
            await alice.press(ask, remedy)

    clock.advance(timedelta(minutes=1))
    admin = PrivateChat(dispatcher, bot, ADMIN, "en")
    [report] = await admin.say("/report 1")
    lines = report.text.splitlines()
    at = lines.index("Tickets opened in the period, by what they were about and how they ended:")
    assert lines[at + 1 : at + 4] == [
        "By category: Complaint 2, Shipping 2",  # the most first, then by name
        "By cause (of which complaints): Logistics 2 (1), not given 1 (1)",
        "By remedy (of which complaints): Compensation 1 (1), Replacement 1 (0), not given 1 (1)",
    ]


async def test_a_ticket_the_customer_solved_asks_the_agents_for_its_outcome_too(
    services: Services, dispatcher: Dispatcher, bot: MockedBot
) -> None:
    await open_ticket(dispatcher, bot, 7, "Shipping")
    mei = PrivateChat(dispatcher, bot, 7, "en")
    [listing] = await mei.say("/tickets")
    await mei.press(listing, "✅ My problem is solved (T-000001)")
    ask = [m for m in bot.recorder.sent_messages() if m.chat_id == GROUP][-1]
    assert labels(ask)[0] == "Logistics"  # in the group's language, [agents] language
    alice = AgentInGroup(dispatcher, bot, AGENT, "Alice")
    await alice.press(ask, "Wrong item")
    ask = [m for m in bot.recorder.sent_messages() if m.chat_id == GROUP][-1]
    await alice.press(ask, "Explanation")
    async with services.session_factory() as session:
        ticket = (await session.exec(select(Ticket))).one()
    assert (ticket.status, ticket.cause, ticket.remedy) == (
        "resolved",
        "wrong_item",
        "explanation",
    )
