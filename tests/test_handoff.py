"""A customer asks for a person; agents take over in their forum group; all through the real
dispatcher with a recording bot session."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

import pytest
from aiogram import Dispatcher
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.methods import (
    AnswerCallbackQuery,
    CopyMessage,
    CreateForumTopic,
    SendDocument,
    SendMessage,
)
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup
from sqlmodel import col, select

from bot.app import Services, create_dispatcher, create_services
from bot.clock import ManualClock
from bot.config import load_config
from bot.tickets.sla import alert_breaches, announce_unassigned, check_sla
from storage.models import ScheduledMessage, Ticket, TicketEvent
from tests.chat import AgentInGroup, PrivateChat
from tests.conftest import TEST_KB, StartServices
from tests.mocked_bot import MockedBot

GROUP = -1001234
AGENT = 501
AGENT2 = 502
ADMIN = 900


SUPERVISOR = 777
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
async def services(start_services: StartServices, clock: ManualClock) -> Services:
    clock.set(datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI))  # Monday morning: open
    return await start_services(
        kb=TEST_KB,
        replace={
            "group_id = 0": f"group_id = {GROUP}",
            "supervisors = []": f"supervisors = [{SUPERVISOR}]",
            "max_open_tickets = 5": "max_open_tickets = 1",
            "admins = []": f"admins = [{ADMIN}]",
            "agents = []": f"agents = [{AGENT}, {AGENT2}]",
            '\nlanguage = "zh"': '\nlanguage = "en"',  # this team reads English
        },
    )


T = TypeVar("T")


def sent(bot: MockedBot, kind: type[T], start: int) -> list[T]:
    return [r for r in bot.recorder.requests[start:] if isinstance(r, kind)]


async def open_ticket(mei: PrivateChat, category: str = "Shipping") -> SendMessage:
    [choose] = await mei.say("/human")
    assert choose.text == "I will pass you to a person. What is it about?"
    [describe] = await mei.press(choose, category)
    assert describe.text == "Please describe the problem in a few words."
    [order] = await mei.say("my parcel is lost")
    [done] = await mei.say("A-1001")
    return done


async def test_the_whole_handoff(
    services: Services, dispatcher: Dispatcher, bot: MockedBot
) -> None:
    mei = PrivateChat(dispatcher, bot, 7, "en")
    await mei.say("where is your shop")  # some conversation with the bot first
    start = len(bot.recorder.requests)
    done = await open_ticket(mei)
    assert done.text == "Your ticket T-000001 is open. An agent will reply here within 30 minutes."

    [topic] = sent(bot, CreateForumTopic, start)
    assert (topic.chat_id, topic.name) == (GROUP, "T-000001 · Mei · Shipping · normal")
    card = next(m for m in sent(bot, SendMessage, start) if m.chat_id == GROUP)
    thread = card.message_thread_id
    assert thread is not None
    assert "Order: A-1001" in card.text and "Problem: my parcel is lost" in card.text
    assert "customer: where is your shop" in card.text
    assert isinstance(card.reply_markup, InlineKeyboardMarkup)
    assert [b.text for row in card.reply_markup.inline_keyboard for b in row][:3] == [
        "Take",
        "Resolve",
        "Close",
    ]

    # The customer's messages, text and photo, reach the topic; the bot does not answer them.
    start = len(bot.recorder.requests)
    assert await mei.say("how long does a refund take") == []
    assert await mei.send_photo() == []
    copies = sent(bot, CopyMessage, start)
    assert [(c.chat_id, c.message_thread_id, c.from_chat_id) for c in copies] == [
        (GROUP, thread, 7),
        (GROUP, thread, 7),
    ]

    # An internal note is never sent; a reply is copied to the customer.
    alice = AgentInGroup(dispatcher, bot, AGENT, "Alice")
    start = len(bot.recorder.requests)
    await alice.write(thread, "# customer sounds upset")
    assert sent(bot, CopyMessage, start) == [] and sent(bot, SendMessage, start) == []
    await alice.write(thread, "We found your parcel, it arrives tomorrow.")
    [reply] = sent(bot, CopyMessage, start)
    assert (reply.chat_id, reply.from_chat_id) == (7, GROUP)

    start = len(bot.recorder.requests)
    await alice.press(card, "Resolve")
    [told] = [m for m in sent(bot, SendMessage, start) if m.chat_id == 7]
    assert told.text.startswith("Our agent has marked your request T-000001 as resolved.")
    async with services.session_factory() as session:
        ticket = (await session.exec(select(Ticket))).one()
        events = (await session.exec(select(TicketEvent).order_by(col(TicketEvent.id)))).all()
    assert (ticket.status, ticket.assigned_agent) == ("resolved", AGENT)
    assert ticket.first_response_at is not None
    assert [e.kind for e in events] == [
        "created",
        "message",
        "message",
        "note",
        "reply",
        "assigned",
        "first_response",
        "resolved",
    ]
    # both sides of the human conversation are on record, not only in the topic
    transcript = [(e.actor, e.detail) for e in events if e.kind in ("message", "reply")]
    assert transcript == [
        (f"customer:{ticket.customer_id}", "how long does a refund take"),
        (f"customer:{ticket.customer_id}", "[photo]"),
        (f"agent:{AGENT}", "We found your parcel, it arrives tomorrow."),
    ]
    assert events[3].detail == " customer sounds upset"

    [listing] = await mei.say("/tickets")
    assert listing.text == "T-000001 · Shipping · resolved"


async def test_a_customer_cannot_use_agent_commands(
    dispatcher: Dispatcher, bot: MockedBot
) -> None:
    mei = PrivateChat(dispatcher, bot, 7, "en")
    for command in ("/duty on", "/kb refund_time"):
        [refusal] = await mei.say(command)
        assert refusal.text == "Sorry, this command is for our agents, in the agents' group."


async def test_strangers_in_the_group_are_refused(
    services: Services, dispatcher: Dispatcher, bot: MockedBot
) -> None:
    await open_ticket(PrivateChat(dispatcher, bot, 7, "en"))
    card = next(m for m in bot.recorder.sent_messages() if m.chat_id == GROUP)
    stranger = AgentInGroup(dispatcher, bot, 999, "Eve")
    start = len(bot.recorder.requests)
    await stranger.press(card, "Take")
    [refusal] = sent(bot, AnswerCallbackQuery, start)
    assert refusal.text == "Only agents can do this."
    await stranger.write(card.message_thread_id or 0, "hi customer")
    assert sent(bot, CopyMessage, start) == []
    async with services.session_factory() as session:
        ticket = (await session.exec(select(Ticket))).one()
    assert ticket.status == "new"


async def test_out_of_hours_the_customer_learns_when_we_open(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 3, 8, 11, 0, tzinfo=SHANGHAI))  # Sunday
    done = await open_ticket(PrivateChat(dispatcher, bot, 8, "en"))
    assert done.text == (
        "We are closed now and open again Mon 9:00. Your ticket T-000001 is in the queue; "
        "an agent will reply here then."
    )


async def test_out_of_hours_a_chinese_customer_reads_a_chinese_weekday(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 3, 4, 19, 0, tzinfo=SHANGHAI))  # Wednesday evening
    li = PrivateChat(dispatcher, bot, 8, "zh-hans")
    [choose] = await li.say("/human")
    [describe] = await li.press(choose, "物流")
    await li.say("包裹丢了")
    [done] = await li.say("A-1001")
    assert done.text == (
        "我们现在下班了，周四 9:00 重新上班。您的工单 T-000001 已在排队，届时客服会在这里回复您。"
    )


async def test_a_second_request_reuses_the_open_ticket(
    dispatcher: Dispatcher, bot: MockedBot
) -> None:
    mei = PrivateChat(dispatcher, bot, 7, "en")
    await open_ticket(mei)

    # While the ticket is open everything goes to the agents, even a new request for a person.
    start = len(bot.recorder.requests)
    assert await mei.say("转人工") == []
    assert len(sent(bot, CopyMessage, start)) == 1


async def test_an_overdue_ticket_raises_one_alert_mentioning_supervisors(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    await open_ticket(PrivateChat(dispatcher, bot, 7, "en"))
    card = next(m for m in bot.recorder.sent_messages() if m.chat_id == GROUP)
    clock.advance(timedelta(minutes=29))
    async with services.session_factory() as session:
        assert await alert_breaches(session, bot, services.handoff, services.tickets) == 0
    clock.advance(timedelta(minutes=2))
    start = len(bot.recorder.requests)
    async with services.session_factory() as session:
        assert await alert_breaches(session, bot, services.handoff, services.tickets) == 1
    clock.advance(timedelta(minutes=10))
    async with services.session_factory() as session:
        assert await alert_breaches(session, bot, services.handoff, services.tickets) == 0
    [alert] = sent(bot, SendMessage, start)
    assert alert.chat_id == GROUP and alert.message_thread_id == card.message_thread_id
    assert alert.text.startswith("⚠️ SLA missed: T-000001 (normal) first response was due")
    assert f'<a href="tg://user?id={SUPERVISOR}">supervisor</a>' in alert.text


async def test_the_sla_job_alerts_and_announces_with_its_own_session(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    await open_ticket(PrivateChat(dispatcher, bot, 7, "en"))  # nobody is on duty to take it
    clock.advance(timedelta(minutes=31))
    start = len(bot.recorder.requests)
    await check_sla(services.session_factory, bot, services.handoff, services.tickets)
    alert, waiting = sent(bot, SendMessage, start)
    assert alert.text.startswith("⚠️ SLA missed: T-000001 (normal) first response was due")
    assert waiting.text == "⏳ T-000001 has waited 31 min for an agent: Take?"


async def test_a_customer_who_blocked_the_bot_is_reported_to_the_agent(
    services: Services, dispatcher: Dispatcher, bot: MockedBot
) -> None:
    await open_ticket(PrivateChat(dispatcher, bot, 7, "en"))
    card = next(m for m in bot.recorder.sent_messages() if m.chat_id == GROUP)
    bot.recorder.fail_next(
        CopyMessage,
        TelegramForbiddenError(
            CopyMessage(chat_id=7, from_chat_id=GROUP, message_id=1), "Forbidden: blocked"
        ),
    )
    alice = AgentInGroup(dispatcher, bot, AGENT, "Alice")
    start = len(bot.recorder.requests)
    await alice.write(card.message_thread_id or 0, "hello?")
    [notice] = [m for m in sent(bot, SendMessage, start) if m.chat_id == GROUP]
    assert notice.text == "Not delivered: the customer has blocked the bot."
    async with services.session_factory() as session:
        kinds = [e.kind for e in (await session.exec(select(TicketEvent))).all()]
    assert "unreachable" in kinds


async def test_a_reply_telegram_refuses_is_reported_to_the_agent_and_kept_as_undelivered(
    services: Services, dispatcher: Dispatcher, bot: MockedBot
) -> None:
    await open_ticket(PrivateChat(dispatcher, bot, 7, "en"))
    card = next(m for m in bot.recorder.sent_messages() if m.chat_id == GROUP)
    refused = CopyMessage(chat_id=7, from_chat_id=GROUP, message_id=1)
    bot.recorder.fail_next(CopyMessage, TelegramBadRequest(refused, "Bad Request: wrong file"))
    alice = AgentInGroup(dispatcher, bot, AGENT, "Alice")
    start = len(bot.recorder.requests)
    await alice.write(card.message_thread_id or 0, "here is the label")
    [notice] = [m for m in sent(bot, SendMessage, start) if m.chat_id == GROUP]
    assert notice.text == (
        "⚠️ Not delivered: Telegram refused this reply (Bad Request: wrong file). Please send it"
        " again in another form (shorter, as text, or as a file)."
    )
    async with services.session_factory() as session:
        events = (await session.exec(select(TicketEvent.kind, TicketEvent.detail))).all()
    assert ("undelivered", "here is the label") in events
    assert ("reply", "here is the label") not in events


async def test_a_customer_message_telegram_will_not_copy_reaches_the_topic_as_text(
    dispatcher: Dispatcher, bot: MockedBot
) -> None:
    mei = PrivateChat(dispatcher, bot, 7, "en")
    await open_ticket(mei)
    topic = next(m for m in bot.recorder.sent_messages() if m.chat_id == GROUP).message_thread_id
    refused = CopyMessage(chat_id=GROUP, from_chat_id=7, message_id=1)
    bot.recorder.fail_next(CopyMessage, TelegramBadRequest(refused, "Bad Request: can't copy"))
    start = len(bot.recorder.requests)
    assert await mei.say("it was a gift") == []  # nothing to tell her: it arrived
    [posted] = [m for m in sent(bot, SendMessage, start) if m.chat_id == GROUP]
    assert posted.message_thread_id == topic
    assert posted.text == (
        "T-000001 · the customer wrote (Telegram would not copy the message as it was):\n"
        "it was a gift"
    )
    # a photo with no caption has no text to fall back on: she is asked to send it again
    bot.recorder.fail_next(CopyMessage, TelegramBadRequest(refused, "Bad Request: can't copy"))
    [asked] = await mei.send_photo("AgACphoto9")
    assert asked.text == (
        "Sorry, this message could not be passed to the agent on T-000001. Please send it again"
        " as text or a photo."
    )


async def test_a_deleted_topic_is_created_again(
    services: Services, dispatcher: Dispatcher, bot: MockedBot
) -> None:
    mei = PrivateChat(dispatcher, bot, 7, "en")
    await open_ticket(mei)
    bot.recorder.fail_next(
        CopyMessage,
        TelegramBadRequest(
            CopyMessage(chat_id=GROUP, from_chat_id=7, message_id=1),
            "Bad Request: message thread not found",
        ),
    )
    start = len(bot.recorder.requests)
    assert await mei.say("are you there?") == []
    assert len(sent(bot, CreateForumTopic, start)) == 1
    copies = sent(bot, CopyMessage, start)
    assert len(copies) == 2  # the failed one, and the one into the new topic
    async with services.session_factory() as session:
        ticket = (await session.exec(select(Ticket))).one()
    assert ticket.topic_id == copies[-1].message_thread_id
    # the new topic has the card and the conversation so far, before the new message
    [transcript] = sent(bot, SendDocument, start)
    assert transcript.message_thread_id == ticket.topic_id
    assert bot.recorder.requests.index(transcript) < bot.recorder.requests.index(copies[-1])
    assert isinstance(transcript.document, BufferedInputFile)
    text = transcript.document.data.decode()
    # in the group's language ([agents] language)
    assert text.startswith("Transcript of T-000001 · Shipping · normal")
    assert "customer Mei: are you there?" in text


async def test_agents_send_knowledge_base_answers_by_id_or_search(
    dispatcher: Dispatcher, bot: MockedBot
) -> None:
    await open_ticket(PrivateChat(dispatcher, bot, 7, "en"))
    card = next(m for m in bot.recorder.sent_messages() if m.chat_id == GROUP)
    alice = AgentInGroup(dispatcher, bot, AGENT, "Alice")
    thread = card.message_thread_id or 0

    start = len(bot.recorder.requests)
    await alice.write(thread, "/kb refund money back")
    [choices] = sent(bot, SendMessage, start)
    assert choices.chat_id == GROUP and "/kb refund_time" in choices.text

    start = len(bot.recorder.requests)
    await alice.write(thread, "/kb refund_time")
    to_customer = [m for m in sent(bot, SendMessage, start) if m.chat_id == 7]
    assert [m.text for m in to_customer] == [
        "Refunds reach your original payment method within 3-5 working days."
    ]


async def test_round_robin_on_duty_with_a_limit_reannounce_and_transfer(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    alice = AgentInGroup(dispatcher, bot, AGENT, "Alice")
    bob = AgentInGroup(dispatcher, bot, AGENT2, "Bob")
    start = len(bot.recorder.requests)
    await alice.write_general("/duty on")
    await bob.write_general("/duty on")
    replies = [m.text for m in sent(bot, SendMessage, start)]
    assert replies == [
        "Alice is on duty: new tickets come to you.",
        "Bob is on duty: new tickets come to you.",
    ]

    for customer_id in (7, 8, 9):
        await open_ticket(PrivateChat(dispatcher, bot, customer_id, "en"))
    async with services.session_factory() as session:
        owners = [
            t.assigned_agent
            for t in (await session.exec(select(Ticket).order_by(col(Ticket.id)))).all()
        ]
    assert owners == [AGENT, AGENT2, None]  # each may hold one open ticket

    clock.advance(timedelta(minutes=10))
    start = len(bot.recorder.requests)
    async with services.session_factory() as session:
        assert await announce_unassigned(session, bot, services.handoff, services.tickets) == 1
    [waiting] = sent(bot, SendMessage, start)
    assert waiting.text == "⏳ T-000003 has waited 10 min for an agent: Take?"

    cards = [
        m
        for m in bot.recorder.sent_messages()
        if m.chat_id == GROUP and "Take" in str(m.reply_markup)
    ]
    first_card = cards[0]
    await alice.press(first_card, "Resolve")
    clock.advance(timedelta(minutes=10))
    async with services.session_factory() as session:
        await announce_unassigned(session, bot, services.handoff, services.tickets)
        third = await session.get(Ticket, 3)
    assert third is not None and third.assigned_agent == AGENT

    start = len(bot.recorder.requests)
    await bob.press(cards[1], "Transfer")
    [choice] = sent(bot, SendMessage, start)
    assert choice.text == "Transfer T-000002 to:"
    await bob.press(choice, "Alice")
    async with services.session_factory() as session:
        second = await session.get(Ticket, 2)
        events = (await session.exec(select(TicketEvent).where(TicketEvent.ticket_id == 2))).all()
    assert second is not None and second.assigned_agent == AGENT
    assert events[-1].kind == "transferred"


async def test_everything_survives_a_restart(
    services: Services, bot: MockedBot, clock: ManualClock
) -> None:
    mei = PrivateChat(create_dispatcher(services), bot, 7, "en")
    await open_ticket(mei)
    card = next(m for m in bot.recorder.sent_messages() if m.chat_id == GROUP)
    await services.close()

    restarted = await create_services(services.config, clock=clock)
    try:
        dispatcher = create_dispatcher(restarted)
        alice = AgentInGroup(dispatcher, bot, AGENT, "Alice")
        await alice.press(card, "Take")
        start = len(bot.recorder.requests)
        await alice.write(card.message_thread_id or 0, "Back again, I am on it.")
        [reply] = sent(bot, CopyMessage, start)
        assert reply.chat_id == 7
        customer_again = PrivateChat(dispatcher, bot, 7, "en")
        start = len(bot.recorder.requests)
        assert await customer_again.say("thanks!") == []
        [relayed] = sent(bot, CopyMessage, start)
        assert relayed.message_thread_id == card.message_thread_id
    finally:
        await restarted.close()


async def test_admins_change_roles_by_command_and_it_lasts(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    await open_ticket(PrivateChat(dispatcher, bot, 7, "en"))
    card = next(m for m in bot.recorder.sent_messages() if m.chat_id == GROUP)
    admin = PrivateChat(dispatcher, bot, ADMIN, "en")
    eve = AgentInGroup(dispatcher, bot, 999, "Eve")

    [refused] = await PrivateChat(dispatcher, bot, 7, "en").say("/role 999 agent")
    assert refused.text == "Sorry, this command is for admins only."

    [done] = await admin.say("/role 999 agent")
    assert done.text == "999 is now: agent."
    await eve.press(card, "Take")
    async with services.session_factory() as session:
        ticket = (await session.exec(select(Ticket))).one()
    assert ticket.assigned_agent == 999

    [roles] = await admin.say("/roles")
    assert roles.text.splitlines() == [
        f"admin: {ADMIN}",
        "supervisor: 777",
        f"agent: {AGENT}, {AGENT2}, 999",
    ]
    [bad] = await admin.say("/role 999 boss")
    assert bad.text == "Unknown role boss: write agent, supervisor, admin or none."

    await admin.say("/role 999 none")
    restarted = await create_services(services.config, clock=clock)
    try:
        assert not restarted.roles.is_staff(999)
        start = len(bot.recorder.requests)
        await AgentInGroup(create_dispatcher(restarted), bot, 999, "Eve").press(card, "Resolve")
        [refusal] = sent(bot, AnswerCallbackQuery, start)
        assert refusal.text == "Only agents can do this."
    finally:
        await restarted.close()


async def test_photos_during_the_intake_reach_the_topic(
    services: Services, dispatcher: Dispatcher, bot: MockedBot
) -> None:
    mei = PrivateChat(dispatcher, bot, 7, "en")
    [choose] = await mei.say("/human")
    await mei.press(choose, "Product quality")
    [kept] = await mei.send_photo("AgACcracked")
    assert kept.text == "Photo received; it will go to the agent with your ticket."
    await mei.say("the screen is cracked")
    start = len(bot.recorder.requests)
    [done] = await mei.say("A-2002")
    assert "T-000001" in done.text
    [photo] = sent(bot, CopyMessage, start)
    card = next(m for m in bot.recorder.sent_messages() if m.chat_id == GROUP)
    assert (photo.chat_id, photo.from_chat_id) == (GROUP, 7)
    assert photo.message_thread_id == card.message_thread_id
    assert "Problem: the screen is cracked" in card.text
    # and on the ticket's record, with the photo's file id
    async with services.session_factory() as session:
        events = (await session.exec(select(TicketEvent).order_by(col(TicketEvent.id)))).all()
    assert [(e.kind, e.detail, e.media, e.file_id) for e in events][1:] == [
        ("message", "[photo]", "photo", "AgACcracked")
    ]


async def test_waiting_for_the_customer(
    services: Services, dispatcher: Dispatcher, bot: MockedBot
) -> None:

    mei = PrivateChat(dispatcher, bot, 7, "en")
    await open_ticket(mei)
    card = next(m for m in bot.recorder.sent_messages() if m.chat_id == GROUP)
    alice = AgentInGroup(dispatcher, bot, AGENT, "Alice")

    await alice.press(card, "Take")
    start = len(bot.recorder.requests)
    await alice.press(card, "Waiting for customer")
    [told] = [m for m in sent(bot, SendMessage, start) if m.chat_id == 7]
    assert told.text == (
        "About your request T-000001: our agent is waiting for your answer. Please reply here."
    )
    async with services.session_factory() as session:
        assert (await session.exec(select(Ticket))).one().status == "waiting"
    await mei.say("here is the photo you asked for")
    async with services.session_factory() as session:
        assert (await session.exec(select(Ticket))).one().status == "assigned"


async def open_ticket_in_chinese(zhang: PrivateChat) -> None:
    [choose] = await zhang.say("/human")
    [describe] = await zhang.press(choose, "物流")
    await zhang.say("我的包裹丢了")
    [done] = await zhang.say("A-1001")
    assert "T-000001" in done.text


async def test_a_customer_who_solves_it_alone_tells_the_topic_and_gets_no_survey(
    services: Services, dispatcher: Dispatcher, bot: MockedBot
) -> None:
    zhang = PrivateChat(dispatcher, bot, 8, "zh")
    await open_ticket_in_chinese(zhang)
    thread = next(m for m in bot.recorder.sent_messages() if m.chat_id == GROUP).message_thread_id
    [listing] = await zhang.say("/tickets")
    start = len(bot.recorder.requests)
    [done] = await zhang.press(listing, "✅ 问题已解决 (T-000001)")
    assert "T-000001" in done.text
    [note, ask] = [m for m in sent(bot, SendMessage, start) if m.chat_id == GROUP]
    assert note.message_thread_id == thread == ask.message_thread_id
    assert note.text == "✅ T-000001: the customer says the problem is solved; resolved."
    # asked of the agents all the same
    assert ask.text == "T-000001 is resolved. What caused the problem?"
    async with services.session_factory() as session:
        assert (await session.exec(select(Ticket))).one().status == "resolved"
        planned = (await session.exec(select(ScheduledMessage))).all()
    assert [m.kind for m in planned if m.ticket_id is not None] == []  # nobody served them


async def test_the_customer_hears_when_an_agent_closes_in_their_language(
    services: Services, dispatcher: Dispatcher, bot: MockedBot
) -> None:
    zhang = PrivateChat(dispatcher, bot, 8, "zh")
    await open_ticket_in_chinese(zhang)
    card = next(m for m in bot.recorder.sent_messages() if m.chat_id == GROUP)
    start = len(bot.recorder.requests)
    await AgentInGroup(dispatcher, bot, AGENT, "Alice").press(card, "Close")
    [told] = [m for m in sent(bot, SendMessage, start) if m.chat_id == 8]
    assert told.text == "您的请求 T-000001 已关闭。如需再次联系我们，请发送 /human。"


@contextlib.asynccontextmanager
async def signed_ticket(
    write_config: Callable[..., Path], clock: ManualClock, bot: MockedBot
) -> AsyncIterator[tuple[Dispatcher, int]]:
    """Services whose agents sign their replies, and customer 7's ticket: the dispatcher and
    the ticket's topic."""
    path = write_config(
        kb=TEST_KB,
        replace={
            "group_id = 0": f"group_id = {GROUP}",
            'signature = ""': 'signature = "— Alice, Support"',
            "agents = []": f"agents = [{AGENT}]",
        },
    )
    clock.set(datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI))
    services = await create_services(load_config(path, environ={}), clock=clock)
    try:
        dispatcher = create_dispatcher(services)
        await open_ticket(PrivateChat(dispatcher, bot, 7, "en"))
        card = next(m for m in bot.recorder.sent_messages() if m.chat_id == GROUP)
        yield dispatcher, card.message_thread_id or 0
    finally:
        await services.close()


async def test_text_replies_carry_the_configured_signature(
    write_config: Callable[..., Path], clock: ManualClock, bot: MockedBot
) -> None:
    async with signed_ticket(write_config, clock, bot) as (dispatcher, topic):
        start = len(bot.recorder.requests)
        await AgentInGroup(dispatcher, bot, AGENT, "Alice").write(topic, "It ships today.")
        [reply] = [m for m in sent(bot, SendMessage, start) if m.chat_id == 7]
        assert reply.text == "It ships today.\n\n— Alice, Support"


async def test_a_long_agent_reply_reaches_the_customer_whole_in_two_messages(
    write_config: Callable[..., Path], clock: ManualClock, bot: MockedBot
) -> None:
    async with signed_ticket(write_config, clock, bot) as (dispatcher, topic):
        start = len(bot.recorder.requests)
        line = "check the parcel label carefully."
        paragraphs = [f"Step {n}: " + " ".join([line] * 12) for n in range(12)]
        long_reply = "\n\n".join(paragraphs)
        assert len(long_reply) > 4500
        await AgentInGroup(dispatcher, bot, AGENT, "Alice").write(topic, long_reply)
        parts = [m.text for m in sent(bot, SendMessage, start) if m.chat_id == 7]
        assert len(parts) == 2
        assert all(len(part) <= 4096 for part in parts)
        assert "\n\n".join(parts) == f"{long_reply}\n\n— Alice, Support"
