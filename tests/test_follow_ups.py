"""Surveys, reminders, revisits and NPS through the real dispatcher, with a hand-moved clock:
a whole day of follow-ups without sleeping, and every way they could be lost or doubled."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiogram import Dispatcher
from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter
from aiogram.methods import EditMessageReplyMarkup, SendMessage
from sqlmodel import col, select

from bot.app import Services, create_dispatcher, create_services
from bot.clock import ManualClock
from bot.config import load_config
from storage.figures import feedback_figures
from storage.models import Customer, Feedback, ScheduledMessage, Ticket, TicketEvent
from tests.chat import AGENTS_GROUP, AgentInGroup, PrivateChat
from tests.conftest import TEST_KB, StartServices
from tests.mocked_bot import MockedBot

SHANGHAI = ZoneInfo("Asia/Shanghai")
MEI = 7
AGENT = 501
SUPERVISOR = 777
ADMIN = 900
MONDAY_10AM = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)


def configured(write_config: Callable[..., Path], extra: str = "", **replacements: str) -> Path:
    return write_config(
        extra,
        kb=TEST_KB,
        replace={
            "group_id = 0": f"group_id = {AGENTS_GROUP}",
            '\nlanguage = "zh"': '\nlanguage = "en"',  # an English-reading team
            "supervisors = []": f"supervisors = [{SUPERVISOR}]",
            "agents = []": f"agents = [{AGENT}]",
            **replacements,
        },
    )


@pytest.fixture
def config_path(write_config: Callable[..., Path]) -> Path:
    return configured(write_config)


@pytest.fixture
async def services(
    config_path: Path, start_services: StartServices, clock: ManualClock
) -> Services:
    clock.set(MONDAY_10AM)
    return await start_services(config_path)


def sent_to(bot: MockedBot, chat_id: int, start: int = 0) -> list[SendMessage]:
    return [
        r
        for r in bot.recorder.requests[start:]
        if isinstance(r, SendMessage) and r.chat_id == chat_id
    ]


def labels(message: SendMessage) -> list[str]:
    markup = message.reply_markup
    return [b.text for row in markup.inline_keyboard for b in row] if markup else []  # type: ignore[union-attr]


async def resolved_ticket(dispatcher: Dispatcher, bot: MockedBot, user_id: int = MEI) -> int:
    """A customer asks for a person; the agent takes the ticket and resolves it."""
    customer = PrivateChat(dispatcher, bot, user_id, "en")
    [choose] = await customer.say("/human")
    [describe] = await customer.press(choose, "Shipping")
    await customer.say("my parcel is lost")
    await customer.say("A-1001")
    card = next(
        r for r in reversed(bot.recorder.requests)
        if isinstance(r, SendMessage) and r.chat_id == AGENTS_GROUP and r.reply_markup
    )  # fmt: skip
    alice = AgentInGroup(dispatcher, bot, AGENT, "Alice")
    await alice.press(card, "Take")
    await alice.write(card.message_thread_id or 0, "Found it, it arrives tomorrow.")
    await alice.press(card, "Resolve")
    return user_id


async def deliver(services: Services, bot: MockedBot) -> list[SendMessage]:
    start = len(bot.recorder.requests)
    await services.delivery.deliver_due(bot)
    return [r for r in bot.recorder.requests[start:] if isinstance(r, SendMessage)]


async def all_scheduled(services: Services) -> list[ScheduledMessage]:
    async with services.session_factory() as session:
        return list((await session.exec(select(ScheduledMessage))).all())


async def test_a_whole_day_of_follow_ups(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    mei = PrivateChat(dispatcher, bot, MEI, "en")
    await resolved_ticket(dispatcher, bot)

    clock.advance(timedelta(minutes=9))
    assert await deliver(services, bot) == []
    clock.advance(timedelta(minutes=1))
    [survey] = await deliver(services, bot)
    assert survey.chat_id == MEI
    assert survey.text.startswith("How did we do?")
    assert survey.text.endswith("\n(about your request T-000001)")  # which case it rates
    assert labels(survey) == ["1 ⭐", "2 ⭐", "3 ⭐", "4 ⭐", "5 ⭐"]
    assert await deliver(services, bot) == []  # sent once

    clock.advance(timedelta(hours=24))
    [reminder] = await deliver(services, bot)
    assert reminder.text.startswith("A gentle reminder")
    assert labels(reminder) == labels(survey)

    start = len(bot.recorder.requests)
    [ask_comment] = await mei.press(reminder, "2 ⭐")
    assert ask_comment.text.startswith("Thank you! Anything you would like to add?")
    assert any(isinstance(r, EditMessageReplyMarkup) for r in bot.recorder.requests[start:])
    [alert] = sent_to(bot, AGENTS_GROUP, start)
    assert "T-000001 was rated 2/5" in alert.text
    assert f"tg://user?id={SUPERVISOR}" in alert.text
    [thanks] = await mei.say("the agent took two days to answer")
    assert thanks.text == "Thank you, we have passed it on."
    [comment] = sent_to(bot, AGENTS_GROUP, start)[1:]
    assert comment.text.endswith("the agent took two days to answer")

    assert await mei.press(survey, "5 ⭐") == []  # answered already: only a notice
    clock.advance(timedelta(days=1, hours=23, minutes=50))  # three days after resolution
    [revisit] = await deliver(services, bot)
    assert revisit.text == (
        "A few days ago we resolved your request T-000001. Is your problem fully solved?"
    )
    start = len(bot.recorder.requests)
    [reopened] = await mei.press(revisit, "No, not yet")
    assert reopened.text.startswith("Sorry it is not solved yet. T-000001 is open again.")
    [told] = sent_to(bot, AGENTS_GROUP, start)
    assert "T-000001 reopened" in told.text

    async with services.session_factory() as session:
        ticket = (await session.exec(select(Ticket))).one()
        feedback = (await session.exec(select(Feedback).order_by(col(Feedback.id)))).all()
        events = [e.kind for e in (await session.exec(select(TicketEvent))).all()]
    assert (ticket.status, ticket.reopen_count, ticket.first_response_at) == ("assigned", 1, None)
    assert [(f.kind, f.score, f.solved, f.agent_id, f.category) for f in feedback] == [
        ("csat", 2, None, AGENT, "shipping"),
        ("revisit", None, False, AGENT, "shipping"),
    ]
    assert feedback[0].comment == "the agent took two days to answer"
    assert {"csat", "follow_up", "revisit", "reopened"} <= set(events)

    async with services.session_factory() as session:
        figures = await feedback_figures(
            session, MONDAY_10AM, clock.now() + timedelta(seconds=1), SHANGHAI
        )
    assert (figures.csat_answers, figures.csat, figures.low_scores) == (1, 40.0, 1)
    assert figures.csat_by_agent == {AGENT: 40.0}
    assert figures.csat_by_category == {"shipping": 40.0}
    assert figures.csat_by_day == {"2026-03-03": 40.0}
    assert (figures.revisits_solved, figures.revisits_not_solved) == (0, 1)


async def test_the_admins_report_shows_where_service_falls_short(
    write_config: Callable[..., Path], clock: ManualClock, bot: MockedBot
) -> None:
    path = configured(write_config, **{"admins = []": f"admins = [{ADMIN}]"})
    clock.set(MONDAY_10AM)
    services = await create_services(load_config(path, environ={}), clock=clock)
    try:
        dispatcher = create_dispatcher(services)
        mei = PrivateChat(dispatcher, bot, MEI, "en")
        await resolved_ticket(dispatcher, bot)
        clock.advance(timedelta(minutes=10))
        [survey] = await deliver(services, bot)
        await mei.press(survey, "3 ⭐")
        clock.advance(timedelta(minutes=1))
        admin = PrivateChat(dispatcher, bot, ADMIN, "en")

        [report] = await admin.say("/report")
        lines = report.text.splitlines()
        assert lines[0] == "Service report 2026-02-24 00:00 to 2026-03-02 10:11 (Asia/Shanghai)"
        assert lines[1:11] == [
            "Conversations with the bot: 0, handed to a person: 0; "
            "tickets: 1 (1 asked for a person straight away), reopened 0 times",
            "Settled at first contact (by the bot, or the ticket resolved without reopening): "
            "100% (target 80%)",
            "First response on time: 1 of 1, 100% (target 95%); median 0 min",
            "Resolved on time: 1 of 1, 100% (target 95%); median 0.0 h",
            "Satisfaction (CSAT, of 100) from 1 answers: 60, below the target of 90; "
            "low scores (1-2 stars): 0",
            f"  lowest by agent: {AGENT} 60",
            "  lowest by category: Shipping 60",
            "Revisits: 0 solved, 0 not solved",
            "NPS: no answers yet (0 answers)",
            "Short of target: satisfaction",
        ]
        # beside the week before (nothing then), and how the tickets ended
        assert "Satisfaction (CSAT, of 100): 60 (before: –; no comparison)" in lines
        start = lines.index(
            "Tickets opened in the period, by what they were about and how they ended:"
        )
        assert lines[start + 1 : start + 4] == [
            "By category: Shipping 1",
            "By cause (of which complaints): not given 1 (0)",
            "By remedy (of which complaints): not given 1 (0)",
        ]
        [today] = await admin.say("/report 1")
        assert today.text.startswith("Service report 2026-03-02 00:00 to 2026-03-02 10:11")
        [usage] = await admin.say("/report lastweek")
        assert usage.text.startswith("Usage: /report [days], with days from 1 to 366, or ")
        [refused] = await mei.say("/report")
        assert refused.text == "Sorry, this command is for admins only."
    finally:
        await services.close()


async def test_quiet_hours_move_a_survey_to_the_morning(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 3, 2, 20, 55, tzinfo=SHANGHAI))
    await resolved_ticket(dispatcher, bot)
    clock.set(datetime(2026, 3, 2, 21, 5, tzinfo=SHANGHAI))
    assert await deliver(services, bot) == []
    clock.set(datetime(2026, 3, 3, 8, 59, tzinfo=SHANGHAI))
    assert await deliver(services, bot) == []
    clock.set(datetime(2026, 3, 3, 9, 0, tzinfo=SHANGHAI))
    [survey] = await deliver(services, bot)
    assert survey.text.startswith("How did we do?")


async def test_a_survey_due_during_the_night_after_downtime_waits_for_the_morning(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    await resolved_ticket(dispatcher, bot)  # survey due 10:10
    clock.set(datetime(2026, 3, 2, 22, 0, tzinfo=SHANGHAI))  # the service was down till now
    assert await deliver(services, bot) == []
    clock.set(datetime(2026, 3, 3, 9, 0, tzinfo=SHANGHAI))
    [survey] = await deliver(services, bot)
    assert survey.text.startswith("How did we do?")


async def test_after_long_downtime_an_expired_message_is_dropped_with_a_log_line(
    services: Services,
    dispatcher: Dispatcher,
    bot: MockedBot,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await resolved_ticket(dispatcher, bot)
    clock.advance(timedelta(days=2))  # 12 hours of grace have long passed
    with caplog.at_level(logging.WARNING, logger="bot.schedule.delivery"):
        assert await deliver(services, bot) == []
    assert "expired unsent" in caplog.text
    survey = next(m for m in await all_scheduled(services) if m.kind == "survey")
    assert survey.status == "expired"


async def test_stop_surveys_cancels_and_prevents_them(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    await resolved_ticket(dispatcher, bot)
    [stopped] = await PrivateChat(dispatcher, bot, MEI, "en").say("/stop_surveys")
    assert stopped.text.startswith("Done: you will not get satisfaction surveys")
    clock.advance(timedelta(days=4))
    assert await deliver(services, bot) == []
    assert {m.status for m in await all_scheduled(services)} == {"cancelled"}


async def test_start_surveys_asks_again_from_the_next_resolution(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    mei = PrivateChat(dispatcher, bot, MEI, "en")
    await resolved_ticket(dispatcher, bot)
    [stopped] = await mei.say("/stop_surveys")
    assert "/start_surveys" in stopped.text
    [started] = await mei.say("/start_surveys")
    assert started.text == "Thank you: we will ask how we did again after we help you."
    clock.advance(timedelta(minutes=10))
    assert await deliver(services, bot) == []  # the one stopped stays stopped

    clock.advance(timedelta(days=1))
    await resolved_ticket(dispatcher, bot)
    clock.advance(timedelta(minutes=10))
    [survey] = await deliver(services, bot)
    assert survey.chat_id == MEI
    assert survey.text.startswith("How did we do?")


async def test_one_survey_per_customer_within_the_cap(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    await resolved_ticket(dispatcher, bot)
    clock.advance(timedelta(minutes=10))
    assert len(await deliver(services, bot)) == 1
    await resolved_ticket(dispatcher, bot)  # a second ticket, resolved the same day
    clock.advance(timedelta(minutes=10))
    assert [m.text for m in await deliver(services, bot)] == []
    second = [m for m in await all_scheduled(services) if m.kind == "survey"][1]
    assert (second.status, second.note) == ("cancelled", "a survey went to this customer recently")


async def test_no_survey_for_a_switched_off_category(
    write_config: Callable[..., Path], clock: ManualClock, bot: MockedBot
) -> None:
    path = configured(
        write_config, **{"disabled_categories = []": 'disabled_categories = ["shipping"]'}
    )
    clock.set(MONDAY_10AM)
    services = await create_services(load_config(path, environ={}), clock=clock)
    try:
        await resolved_ticket(create_dispatcher(services), bot)
        assert [m.kind for m in await all_scheduled(services)] == ["revisit"]
    finally:
        await services.close()


async def test_a_customer_who_blocked_the_bot_gets_nothing_more(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    await resolved_ticket(dispatcher, bot)
    clock.advance(timedelta(minutes=10))
    bot.recorder.fail_next(
        SendMessage,
        TelegramForbiddenError(SendMessage(chat_id=MEI, text=""), "Forbidden: bot was blocked"),
    )
    await deliver(services, bot)
    statuses = {m.kind: (m.status, m.note) for m in await all_scheduled(services)}
    assert statuses == {
        "survey": ("failed", "customer blocked the bot"),
        "revisit": ("cancelled", "customer blocked the bot"),
    }
    async with services.session_factory() as session:
        customer = (await session.exec(select(Customer))).one()
    assert customer.unreachable_at == clock.now()


async def test_a_429_waits_as_long_as_telegram_says_then_sends(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    bot.retries.sleep = sleep
    await resolved_ticket(dispatcher, bot)
    clock.advance(timedelta(minutes=10))
    error = TelegramRetryAfter(SendMessage(chat_id=MEI, text=""), "Too Many Requests", 3)
    bot.recorder.fail_next(SendMessage, error)
    refused, survey = await deliver(services, bot)  # Telegram refused the first try
    assert survey.text.startswith("How did we do?") and refused.text == survey.text
    assert waits == [3]
    assert [m.status for m in await all_scheduled(services) if m.kind == "survey"] == ["sent"]


async def test_nps_after_first_contact(
    write_config: Callable[..., Path], clock: ManualClock, bot: MockedBot
) -> None:
    path = configured(write_config, **{'[nps]\n# "How': '[nps]\n# "How'})
    text = path.read_text(encoding="utf-8").replace(
        "enabled = false\ndays_after_first_contact = 14",
        "enabled = true\ndays_after_first_contact = 14",
    )
    path.write_text(text, encoding="utf-8")
    clock.set(MONDAY_10AM)
    services = await create_services(load_config(path, environ={}), clock=clock)
    try:
        dispatcher = create_dispatcher(services)
        mei = PrivateChat(dispatcher, bot, MEI, "en")
        await mei.say("hello")
        clock.advance(timedelta(days=14))
        [nps] = await deliver(services, bot)
        assert nps.text.startswith("How likely are you to recommend us")
        assert labels(nps) == [str(n) for n in range(11)]
        [thanks] = await mei.press(nps, "9")
        assert thanks.text == "Thank you!"
        async with services.session_factory() as session:
            [answer] = (await session.exec(select(Feedback))).all()
            figures = await feedback_figures(
                session, MONDAY_10AM, clock.now() + timedelta(seconds=1), SHANGHAI
            )
        assert (answer.kind, answer.score) == ("nps", 9)
        assert (figures.nps_answers, figures.nps) == (1, 100.0)
    finally:
        await services.close()


async def test_a_conversation_the_bot_resolved_alone_is_surveyed_only_when_configured(
    write_config: Callable[..., Path], clock: ManualClock
) -> None:
    async def helpful_answer(after_bot_answers: bool) -> list[ScheduledMessage]:
        replacements = {}
        if after_bot_answers:
            replacements = {"after_bot_answers = false": "after_bot_answers = true"}
        clock.set(MONDAY_10AM)
        services = await create_services(
            load_config(configured(write_config, **replacements), environ={}), clock=clock
        )
        bot = MockedBot()
        try:
            mei = PrivateChat(create_dispatcher(services), bot, MEI, "en")
            [answer] = await mei.say("what are your opening hours")
            await mei.press(answer, "👍 Yes")
            clock.advance(timedelta(minutes=10))
            await deliver(services, bot)
            return await all_scheduled(services)
        finally:
            await services.close()

    assert await helpful_answer(after_bot_answers=False) == []
    scheduled = await helpful_answer(after_bot_answers=True)
    assert [m.kind for m in scheduled] == ["survey", "reminder"]
    survey = scheduled[0]
    assert (survey.kind, survey.status, survey.ticket_id) == ("survey", "sent", None)


async def test_no_at_the_revisit_of_a_closed_ticket_opens_a_new_one_that_names_it(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    await resolved_ticket(dispatcher, bot)
    async with services.session_factory() as session:
        ticket = (await session.exec(select(Ticket))).one()
        await services.tickets.close(session, ticket, f"agent:{AGENT}")
        await session.commit()
    clock.advance(timedelta(days=3))
    [revisit] = [m for m in await deliver(services, bot) if m.text.startswith("A few days ago")]
    [answer] = await PrivateChat(dispatcher, bot, MEI, "en").press(revisit, "No, not yet")
    assert answer.text.startswith("Sorry it is not solved yet. T-000002 is open again.")
    async with services.session_factory() as session:
        tickets = (await session.exec(select(Ticket).order_by(col(Ticket.id)))).all()
    assert [(t.number, t.status) for t in tickets] == [("T-000001", "closed"), ("T-000002", "new")]
    assert tickets[1].description == "Follow-up to T-000001: not solved at the revisit"


async def test_a_ticket_reopened_before_its_survey_is_surveyed_after_its_next_resolution(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    mei = PrivateChat(dispatcher, bot, MEI, "en")
    await resolved_ticket(dispatcher, bot)
    clock.advance(timedelta(minutes=5))
    await mei.say("it still has not arrived")  # within the reopen window: back to Alice
    clock.advance(timedelta(minutes=10))
    assert [m.chat_id for m in await deliver(services, bot)] == []  # nothing to rate yet

    card = next(
        r for r in bot.recorder.requests
        if isinstance(r, SendMessage) and r.chat_id == AGENTS_GROUP and r.reply_markup
    )  # fmt: skip
    alice = AgentInGroup(dispatcher, bot, AGENT, "Alice")
    await alice.write(card.message_thread_id or 0, "Sent a new one by courier today.")
    await alice.press(card, "Resolve")
    clock.advance(timedelta(minutes=10))
    [survey] = await deliver(services, bot)
    assert survey.chat_id == MEI
    assert survey.text.startswith("How did we do?") and "T-000001" in survey.text
    surveys = [m for m in await all_scheduled(services) if m.kind == "survey"]
    assert [(m.status, m.note) for m in surveys] == [
        ("cancelled", "the ticket is open again"),
        ("sent", None),
    ]
