"""A ticket's life as the customer and the agents see it: a customer who writes soon after
resolution reaches the same agent again, later the bot; the topic follows the ticket (its name,
closed, reopened), whatever Telegram answers to that."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

import pytest
from aiogram import Dispatcher
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import (
    CloseForumTopic,
    CopyMessage,
    EditForumTopic,
    ReopenForumTopic,
    SendDocument,
    SendMessage,
)
from aiogram.types import BufferedInputFile
from sqlmodel import col, select

from bot.app import Services
from bot.clock import ManualClock
from storage.models import Ticket, TicketEvent
from tests.chat import AgentInGroup, PrivateChat
from tests.conftest import TEST_KB, StartServices
from tests.mocked_bot import MockedBot
from tests.test_record import a_conversation

T = TypeVar("T")
GROUP = -1001234
AGENT = 501
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
async def services(start_services: StartServices, clock: ManualClock) -> Services:
    clock.set(datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI))  # Monday morning: open
    return await start_services(
        kb=TEST_KB,
        replace={
            "group_id = 0": f"group_id = {GROUP}",
            "agents = []": f"agents = [{AGENT}]",
            "reopen_window_hours = 72": "reopen_window_hours = 24",
            '\nlanguage = "zh"': '\nlanguage = "en"',  # an English-reading team
        },
    )


def since(bot: MockedBot, start: int, kind: type[T]) -> list[T]:
    return [r for r in bot.recorder.requests[start:] if isinstance(r, kind)]


async def resolved(
    dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> tuple[PrivateChat, AgentInGroup, SendMessage]:
    mei, alice, card = await a_conversation(dispatcher, bot, clock)
    clock.advance(timedelta(minutes=5))
    await alice.press(card, "Resolve")
    return mei, alice, card


async def test_a_message_within_the_window_reopens_the_ticket_in_the_same_agents_topic(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    mei, alice, card = await resolved(dispatcher, bot, clock)
    told_resolved = [m for m in bot.recorder.sent_messages() if m.chat_id == 7][-1]
    assert told_resolved.text.endswith(  # how to reopen it
        "If anything is still wrong, just reply here within 24 hours and the same agent will "
        "take it up again."
    )
    topic = card.message_thread_id
    clock.advance(timedelta(hours=23))
    start = len(bot.recorder.requests)
    [told] = await mei.say("the new one has not come either")
    assert told.text == (
        "Your request T-000001 is open again: we have passed your message to the agent who "
        "helped you, who will reply here."
    )
    [copy] = since(bot, start, CopyMessage)
    assert (copy.chat_id, copy.message_thread_id, copy.from_chat_id) == (GROUP, topic, 7)
    [reopened] = since(bot, start, ReopenForumTopic)
    assert (reopened.chat_id, reopened.message_thread_id) == (GROUP, topic)
    [renamed] = since(bot, start, EditForumTopic)
    assert renamed.name == "T-000001 · Mei · Shipping · normal · Alice"
    [notice] = [m for m in since(bot, start, SendMessage) if m.chat_id == GROUP]
    assert notice.message_thread_id == topic
    assert notice.text.startswith(
        "🔁 T-000001 reopened: the customer wrote again within 24 h of its resolution."
    )
    assert f'<a href="tg://user?id={AGENT}">Alice</a>' in notice.text  # Alice is called back
    async with services.session_factory() as session:
        ticket = (await session.exec(select(Ticket))).one()
        last = (
            await session.exec(select(TicketEvent).order_by(col(TicketEvent.id).desc()))
        ).first()
    assert (ticket.status, ticket.assigned_agent, ticket.reopen_count) == ("assigned", AGENT, 1)
    assert last is not None and (last.kind, last.detail) == (
        "message",
        "the new one has not come either",
    )

    # Alice's answer reaches Mei as before
    start = len(bot.recorder.requests)
    await alice.write(topic or 0, "Sorry! I am calling the courier now.")
    assert [c.chat_id for c in since(bot, start, CopyMessage)] == [7]


async def test_after_the_window_the_customer_talks_to_the_bot_again(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    mei, _, _ = await resolved(dispatcher, bot, clock)
    clock.advance(timedelta(hours=24, minutes=1))
    start = len(bot.recorder.requests)
    [answer] = await mei.say("what are your opening hours")
    assert "9" in answer.text  # the knowledge base's answer, not a relay
    assert since(bot, start, CopyMessage) == [] and since(bot, start, ReopenForumTopic) == []
    async with services.session_factory() as session:
        ticket = (await session.exec(select(Ticket))).one()
    assert ticket.status == "resolved"


async def test_the_topic_is_renamed_closed_and_reopened_as_the_ticket_changes(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    start = len(bot.recorder.requests)
    mei, alice, card = await a_conversation(dispatcher, bot, clock)
    topic = card.message_thread_id
    await alice.press(card, "Priority ↑")
    await alice.press(card, "Priority ↑")
    await alice.press(card, "Waiting for customer")
    await mei.say("here is the order number again: A-1001")
    await alice.press(card, "Resolve")
    names = [(e.chat_id, e.message_thread_id, e.name) for e in since(bot, start, EditForumTopic)]
    assert names == [
        (GROUP, topic, "T-000001 · Mei · Shipping · normal · Alice"),  # assigned on opening
        (GROUP, topic, "T-000001 · Mei · Shipping · high · Alice"),
        (GROUP, topic, "T-000001 · Mei · Shipping · urgent · Alice"),
        (GROUP, topic, "T-000001 · Mei · Shipping · urgent · Alice · waiting for customer"),
        (GROUP, topic, "T-000001 · Mei · Shipping · urgent · Alice"),  # Mei answered
        (GROUP, topic, "T-000001 · Mei · Shipping · urgent · Alice · resolved"),
    ]
    [closed] = since(bot, start, CloseForumTopic)
    assert (closed.chat_id, closed.message_thread_id) == (GROUP, topic)
    assert since(bot, start, ReopenForumTopic) == []

    # Mei writing again within the window reopens the topic; Close closes it again
    start = len(bot.recorder.requests)
    await mei.say("it is still not here")
    assert len(since(bot, start, ReopenForumTopic)) == 1
    await alice.press(card, "Close")
    assert (
        since(bot, start, EditForumTopic)[-1].name
        == "T-000001 · Mei · Shipping · urgent · Alice · closed"
    )
    assert len(since(bot, start, CloseForumTopic)) == 1


async def test_telegram_refusing_a_topic_change_holds_nothing_up(
    services: Services,
    dispatcher: Dispatcher,
    bot: MockedBot,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mei, alice, card = await a_conversation(dispatcher, bot, clock)
    refusal = "Bad Request: not enough rights"
    edit = EditForumTopic(chat_id=GROUP, message_thread_id=1, name="x")
    bot.recorder.fail_next(EditForumTopic, TelegramBadRequest(edit, refusal))
    close = CloseForumTopic(chat_id=GROUP, message_thread_id=1)
    bot.recorder.fail_next(CloseForumTopic, TelegramBadRequest(close, refusal))
    start = len(bot.recorder.requests)
    with caplog.at_level(logging.WARNING):
        await alice.press(card, "Resolve")
    told = [m for m in since(bot, start, SendMessage) if m.chat_id == 7]
    assert told[0].text.startswith("Our agent has marked your request T-000001 as resolved.")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"EditForumTopic for topic={card.message_thread_id} of ticket=1 failed: "
        "TelegramBadRequest",
        f"CloseForumTopic for topic={card.message_thread_id} of ticket=1 failed: "
        "TelegramBadRequest",
    ]
    async with services.session_factory() as session:
        ticket = (await session.exec(select(Ticket))).one()
    assert ticket.status == "resolved"


async def test_the_transcript_of_a_reopened_ticket_is_complete_and_in_order(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    mei, alice, card = await resolved(dispatcher, bot, clock)
    clock.advance(timedelta(hours=2))
    await mei.say("the new one has not come either")
    alice.user = alice.user.model_copy(update={"language_code": "en"})
    start = len(bot.recorder.requests)
    await alice.write(card.message_thread_id or 0, "/transcript")
    [document] = since(bot, start, SendDocument)
    assert isinstance(document.document, BufferedInputFile)
    lines = document.document.data.decode().split("── The ticket ──\n")[1].splitlines()
    assert lines == [
        "[2026-03-02 10:00] — ticket opened (shipping, normal) (customer Mei)",
        "[2026-03-02 10:00] — assigned to Alice (system)",
        "[2026-03-02 10:01] customer Mei: it was a birthday present",
        "[2026-03-02 10:02] customer Mei: [photo, file id AgACphoto1] the empty box",
        "[2026-03-02 10:03] internal note by Alice:  courier lost two parcels this week",
        "[2026-03-02 10:04] Alice: We are sending a new one today.",
        "[2026-03-02 10:04] — first response (Alice)",
        "[2026-03-02 10:09] — resolved (Alice)",
        "[2026-03-02 12:09] — reopened (customer Mei)",
        "[2026-03-02 12:09] customer Mei: the new one has not come either",
    ]


async def test_no_survey_for_a_ticket_open_again_when_it_is_due(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    mei, _, _ = await resolved(dispatcher, bot, clock)
    await mei.say("the new one has not come either")
    clock.advance(timedelta(minutes=10))
    start = len(bot.recorder.requests)
    await services.delivery.deliver_due(bot)
    assert [m.text for m in since(bot, start, SendMessage)] == []
