"""A customer's data on request (/my_data, /delete_me, `kefu customers`), retention of old texts
and the audit log of staff access, through the real dispatcher with a recording bot session, on
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiogram import Dispatcher
from aiogram.methods import AnswerCallbackQuery, CopyMessage, SendDocument, SendMessage
from aiogram.types import BufferedInputFile
from sqlmodel import col, select

from bot.app import Services, create_dispatcher
from bot.channels.commands import CUSTOMER_COMMANDS
from bot.cli import DRIVER_LOGGERS, configure_logging, main
from bot.clock import ManualClock
from bot.config import ConfigError, load_config
from bot.privacy.retention import expire_old_texts
from bot.reports.service_report import last_days_report
from bot.texts import Say
from storage.figures import feedback_figures, service_figures
from storage.models import (
    Customer,
    Feedback,
    FeedbackKind,
    FormState,
    Message,
    Order,
    OrderProof,
    ScheduledKind,
    ScheduledMessage,
    ScheduledStatus,
    StaffAccess,
    Ticket,
    TicketEvent,
    TicketStatus,
    UnansweredQuestion,
)
from storage.privacy import REMOVED
from tests.chat import AGENTS_GROUP, AgentInGroup, PrivateChat
from tests.conftest import TEST_KB, StartServices
from tests.mocked_bot import MockedBot
from tests.sample_orders import import_sample_orders

AGENT = 501
MEI, LIN = 7, 8


@pytest.fixture
def config_path(write_config: Callable[..., Path], database: str) -> Path:
    return write_config(
        kb=TEST_KB,
        database=database,
        replace={
            "group_id = 0": f"group_id = {AGENTS_GROUP}",
            '\nlanguage = "zh"': '\nlanguage = "en"',  # an English-reading team
            "agents = []": f"agents = [{AGENT}]",
            "burst = 10": "burst = 100",  # the clock stands still: every message is at once
        },
    )


@pytest.fixture
async def services(
    start_services: StartServices, config_path: Path, clock: ManualClock, tmp_path: Path
) -> Services:
    started = await start_services(load_config(config_path, environ={}))
    await import_sample_orders(started, tmp_path, {"A-1001": MEI, "A-1002": LIN})
    return started


def document_of(bot: MockedBot) -> str:
    [sent] = bot.recorder.of_type(SendDocument)
    document = sent.document
    assert isinstance(document, BufferedInputFile)
    return document.data.decode("utf-8")


def button(reply: SendMessage, label: str) -> Any:
    markup: Any = reply.reply_markup
    return next(b for row in markup.inline_keyboard for b in row if b.text == label)


async def open_ticket(chat: PrivateChat, description: str, order: str) -> None:
    [choose] = await chat.say("/human")
    markup: Any = choose.reply_markup
    await chat.press(choose, markup.inline_keyboard[1][0].text)  # shipping
    await chat.say(description)
    await chat.say(order)


async def resolve(services: Services, bot: MockedBot, agent: AgentInGroup, user_id: int) -> None:
    topic = await topic_of(services, user_id)
    [card] = [
        r
        for r in bot.recorder.of_type(SendMessage)
        if r.message_thread_id == topic and r.reply_markup is not None
    ]
    await agent.press(card, "Resolve")


async def topic_of(services: Services, user_id: int) -> int:
    async with services.session_factory() as session:
        customer = (
            await session.exec(select(Customer).where(Customer.external_id == str(user_id)))
        ).one()
        ticket = (
            await session.exec(select(Ticket).where(Ticket.customer_id == customer.id))
        ).one()
    assert ticket.topic_id is not None
    return ticket.topic_id


async def add_survey_answer(
    services: Services, user_id: int, score: int, comment: str, clock: ManualClock
) -> None:
    async with services.session_factory() as session:
        customer = (
            await session.exec(select(Customer).where(Customer.external_id == str(user_id)))
        ).one()
        ticket = (
            await session.exec(select(Ticket).where(Ticket.customer_id == customer.id))
        ).one()
        assert customer.id is not None
        asked = ScheduledMessage(
            key=f"test-survey:{ticket.id}",
            kind=ScheduledKind.SURVEY,
            customer_id=customer.id,
            ticket_id=ticket.id,
            status=ScheduledStatus.SENT,
            due_at=clock.now(),
            expires_at=clock.now() + timedelta(days=3),
            created_at=clock.now(),
        )
        session.add(asked)
        await session.flush()
        assert asked.id is not None
        session.add(
            Feedback(
                scheduled_id=asked.id,
                kind=FeedbackKind.CSAT,
                customer_id=customer.id,
                ticket_id=ticket.id,
                agent_id=AGENT,
                category=ticket.category,
                score=score,
                comment=comment,
                answered_at=clock.now(),
            )
        )
        await session.commit()


@pytest.fixture
async def two_customers(
    services: Services, bot: MockedBot, clock: ManualClock
) -> tuple[Dispatcher, PrivateChat, PrivateChat, AgentInGroup]:
    """Mei (English) and Lin (Chinese): each asked the bot, opened a ticket about their order,
    got an agent's reply and a note, and answered a survey."""
    dispatcher = create_dispatcher(services)
    mei = PrivateChat(dispatcher, bot, MEI, "en")
    lin = PrivateChat(dispatcher, bot, LIN, "zh")
    lin.user = lin.user.model_copy(update={"first_name": "Lin"})
    agent = AgentInGroup(dispatcher, bot, AGENT, "Ann")
    await mei.say("where is your shop")
    await mei.say("what's the weather on mars")
    await open_ticket(mei, "my parcel from Mei is lost", "A-1001")
    await agent.write(await topic_of(services, MEI), "We are looking for it")
    await agent.write(await topic_of(services, MEI), "#Mei sounds upset, call back")
    await lin.say("营业时间是几点")
    await lin.say("火星上的天气如何 林的问题")
    await open_ticket(lin, "林的包裹坏了", "A-1002")
    await agent.write(await topic_of(services, LIN), "#林 note")
    await add_survey_answer(services, MEI, 2, "Mei says the courier was rude", clock)
    await add_survey_answer(services, LIN, 5, "林很满意", clock)
    return dispatcher, mei, lin, agent


async def test_my_data_sends_everything_of_the_customer_and_nothing_of_another(
    services: Services,
    bot: MockedBot,
    two_customers: tuple[Dispatcher, PrivateChat, PrivateChat, AgentInGroup],
) -> None:
    _, mei, _, _ = two_customers
    start = len(bot.recorder.requests)
    await mei.say("/my_data")
    page = document_of(bot)
    [sent] = bot.recorder.of_type(SendDocument)
    assert sent.chat_id == MEI
    assert sent.caption == "Everything we keep about you. Open the file in a browser to read it."
    assert bot.recorder.requests.index(sent) >= start
    for expected in (
        "Your data at Kefu Demo Shop",  # in her language
        "Mei",
        "where is your shop",
        "what&#x27;s the weather on mars",  # the conversation, and the question noted
        "Sorry, I do not have an answer to that yet.",  # the bot's side
        "T-000001",
        "my parcel from Mei is lost",  # the ticket's description
        "Mei sounds upset, call back",  # its history, notes included
        "Mei says the courier was rude",  # the survey answer
        "A-1001",
        "Running shoes",  # the order as she was shown it...
        "138****8001",  # ...with the phone masked
    ):
        assert expected in page, expected
    for foreign in ("Lin", "林", "T-000002", "A-1002", "T-shirt", "13800138001"):
        assert foreign not in page, foreign
    assert str(AGENT) not in page  # agents' accounts stay private


async def test_my_data_is_in_the_customer_language(
    services: Services,
    bot: MockedBot,
    two_customers: tuple[Dispatcher, PrivateChat, PrivateChat, AgentInGroup],
) -> None:
    _, _, lin, _ = two_customers
    await lin.say("/my_data")
    page = document_of(bot)
    assert "您在Kefu Demo Shop的数据" in page
    assert "内部备注" in page and "创建" in page  # the ticket's history in her words
    assert "林的包裹坏了" in page and "A-1002" in page
    assert "Mei" not in page and "T-000001" not in page


async def report_of(services: Services, clock: ManualClock) -> tuple[Any, ...]:
    async with services.session_factory() as session:
        since, until = clock.now() - timedelta(days=30), clock.now() + timedelta(days=1)
        return (
            await service_figures(session, since, until),
            await feedback_figures(session, since, until, ZoneInfo("UTC")),
            await last_days_report(
                session,
                services.config,
                clock.now() + timedelta(hours=1),
                Say(services.texts, "en"),
            ),
        )


async def test_delete_me_asks_then_erases_personal_data_and_keeps_the_report(
    services: Services,
    bot: MockedBot,
    clock: ManualClock,
    two_customers: tuple[Dispatcher, PrivateChat, PrivateChat, AgentInGroup],
) -> None:
    _, mei, _, agent = two_customers
    topic = await topic_of(services, MEI)
    async with services.session_factory() as session:
        customer = (
            await session.exec(select(Customer).where(Customer.external_id == str(MEI)))
        ).one()
        assert customer.id is not None
        # an order proven hers by the phone's digits, a form she left half way
        session.add(
            OrderProof(customer_id=customer.id, order_number="A-1003", proven_at=clock.now())
        )
        session.add(
            FormState(key=f"fsm:42:{MEI}:{MEI}:default", state="x", updated_at=clock.now())
        )
        await session.commit()
    before = await report_of(services, clock)
    [ask] = await mei.say("/delete_me")
    assert ask.text.startswith("This erases what we keep about you")
    pressed = len(bot.recorder.of_type(AnswerCallbackQuery))
    [kept] = await mei.press(ask, "No, keep it")
    assert kept.text == "Nothing was erased."
    [done] = await mei.press(ask, "Yes, erase my data")
    assert done.text.startswith("Done: your personal data is erased.")
    assert len(bot.recorder.of_type(AnswerCallbackQuery)) == pressed + 2  # each press answered

    assert await report_of(services, clock) == before
    async with services.session_factory() as session:
        customers = {c.id: c for c in (await session.exec(select(Customer))).all()}
        erased = next(c for c in customers.values() if c.erased_at is not None)
        assert (erased.first_name, erased.external_id) == (None, f"erased:{erased.id}")
        other = next(c for c in customers.values() if c.external_id == str(LIN))
        messages = (await session.exec(select(Message))).all()
        assert {m.text for m in messages if m.customer_id == erased.id} == {REMOVED}
        assert all(m.text != REMOVED for m in messages if m.customer_id == other.id)
        questions = (await session.exec(select(UnansweredQuestion))).all()
        assert {q.text for q in questions if q.customer_id == erased.id} == {REMOVED}
        tickets = {t.customer_id: t for t in (await session.exec(select(Ticket))).all()}
        assert erased.id is not None and other.id is not None
        mine = tickets[erased.id]
        assert (mine.description, mine.order_number, mine.status) == (
            REMOVED,
            None,
            TicketStatus.CLOSED,
        )
        assert tickets[other.id].description == "林的包裹坏了"
        notes = (await session.exec(select(TicketEvent).where(TicketEvent.kind == "note"))).all()
        assert {n.detail for n in notes if n.ticket_id == mine.id} == {REMOVED}
        assert {n.detail for n in notes if n.ticket_id != mine.id} == {"林 note"}
        comments = {f.customer_id: f.comment for f in (await session.exec(select(Feedback))).all()}
        assert comments == {erased.id: REMOVED, other.id: "林很满意"}
        linked = {o.number: o.telegram_id for o in (await session.exec(select(Order))).all()}
        assert (linked["A-1001"], linked["A-1002"]) == (None, LIN)
        assert (await session.exec(select(OrderProof))).all() == []
        forms = (await session.exec(select(FormState))).all()
        assert not [f for f in forms if f":{MEI}:" in f.key]

    # the agents can no longer write to her, and are told why
    start = len(bot.recorder.requests)
    await agent.write(topic, "Are you there?")
    new = bot.recorder.requests[start:]
    assert not [r for r in new if isinstance(r, CopyMessage | SendMessage) and r.chat_id == MEI]
    [told] = [r for r in new if isinstance(r, SendMessage)]
    assert "erased their data" in told.text

    # what she writes next starts afresh
    await mei.say("/my_data")
    page = document_of(bot)
    assert "my parcel from Mei is lost" not in page and "T-000001" not in page


async def test_retention_replaces_old_texts_and_keeps_rows_and_figures(
    services: Services,
    bot: MockedBot,
    clock: ManualClock,
    two_customers: tuple[Dispatcher, PrivateChat, PrivateChat, AgentInGroup],
) -> None:
    _, mei, _, agent = two_customers
    await resolve(services, bot, agent, MEI)
    before = await report_of(services, clock)
    started = clock.now()
    clock.advance(timedelta(days=300))
    await mei.say("where is your shop")  # a newer conversation
    await mei.say("/human")  # and a form she leaves half way, newer too
    clock.advance(timedelta(days=66))  # the first texts are 366 days old, the new 66
    async with services.session_factory() as session:
        session.add(FormState(key="fsm:42:1:1:default", state="x", updated_at=started, data="{}"))
        await session.commit()
    expired = await expire_old_texts(services.session_factory, clock, services.config.privacy)
    assert expired.messages > 0 and expired.unanswered > 0 and expired.comments == 2
    assert expired.forms == 1
    clock.set(started)
    assert await report_of(services, clock) == before
    async with services.session_factory() as session:
        messages = (await session.exec(select(Message).order_by(col(Message.id)))).all()
        newer = [m for m in messages if m.created_at > started + timedelta(days=1)]
        assert newer and all(m.text != REMOVED for m in newer)
        assert all(m.text == REMOVED for m in messages if m not in newer)
        questions = (await session.exec(select(UnansweredQuestion))).all()
        assert {q.text for q in questions} == {REMOVED}
        tickets = {t.status: t for t in (await session.exec(select(Ticket))).all()}
        # the resolved ticket's texts go; the open one keeps them until it is settled
        assert tickets[TicketStatus.RESOLVED].description == REMOVED
        assert tickets[TicketStatus.NEW].description == "林的包裹坏了"
        notes = (await session.exec(select(TicketEvent).where(TicketEvent.kind == "note"))).all()
        assert {(n.ticket_id, n.detail) for n in notes} == {
            (tickets[TicketStatus.RESOLVED].id, REMOVED),
            (tickets[TicketStatus.NEW].id, "林 note"),
        }
        forms = (await session.exec(select(FormState))).all()
        assert [f.key for f in forms] == [f"fsm:42:{MEI}:{MEI}:default"]  # the old one went
    again = await expire_old_texts(services.session_factory, clock, services.config.privacy)
    assert again.total == 0


async def test_the_ticket_card_and_the_command_line_are_audited(
    services: Services,
    config_path: Path,
    clock: ManualClock,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    two_customers: tuple[Dispatcher, PrivateChat, PrivateChat, AgentInGroup],
) -> None:
    async with services.session_factory() as session:
        mei = (await session.exec(select(Customer).where(Customer.external_id == str(MEI)))).one()
        card = (await session.exec(select(StaffAccess).order_by(col(StaffAccess.id)))).all()
    assert [(a.actor, a.customer_id, a.kind, a.detail) for a in card][:2] == [
        (f"group:{AGENTS_GROUP}", mei.id, "transcript", "T-000001"),
        (f"group:{AGENTS_GROUP}", mei.id, "order", "A-1001"),
    ]
    assert len(card) == 4  # Lin's card too

    async def kefu(*args: str) -> int:
        # in a thread: the command line runs its own event loop
        return await asyncio.to_thread(main, ["--config", str(config_path), *args])

    out = tmp_path / "mei.json"
    assert await kefu("customers", "export", str(mei.id), "--out", str(out), "--json") == 0
    exported = json.loads(out.read_text(encoding="utf-8"))
    assert exported["profile"]["name"] == "Mei"
    assert [t["number"] for t in exported["tickets"]] == ["T-000001"]
    assert "Lin" not in out.read_text(encoding="utf-8")
    capsys.readouterr()
    assert await kefu("customers", "export", str(mei.id)) == 0
    assert "my parcel from Mei is lost" in capsys.readouterr().out
    assert await kefu("customers", "erase", str(mei.id)) == 0
    assert "personal data erased" in capsys.readouterr().out
    assert await kefu("customers", "erase", "999") == 1
    assert "there is no customer 999" in capsys.readouterr().err

    today = datetime.now(UTC).date().isoformat()
    since = (clock.now() - timedelta(days=1)).date().isoformat()
    assert await kefu("audit", "--since", min(since, today), "--customer", str(mei.id)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" · ", 1)[1] for line in lines] == [
        f"group:{AGENTS_GROUP} · customer {mei.id} · transcript T-000001",
        f"group:{AGENTS_GROUP} · customer {mei.id} · order A-1001",
        f"cli · customer {mei.id} · export",
        f"cli · customer {mei.id} · export",
        f"cli · customer {mei.id} · erase",
    ]
    assert await kefu("audit", "--since", "2999-01-01") == 0
    assert capsys.readouterr().out == "No access recorded.\n"
    with pytest.raises(SystemExit) as refused:
        await kefu("audit", "--since", "yesterday")
    assert refused.value.code == 2
    assert "'yesterday' is not a date (YYYY-MM-DD)" in capsys.readouterr().err


def test_the_new_commands_are_in_the_menu() -> None:
    assert {"my_data", "delete_me"} <= set(CUSTOMER_COMMANDS)


@pytest.mark.parametrize(
    ("setting", "value"),
    [("keep_message_text_days", "-1"), ("keep_unanswered_days", "4000")],
)
def test_privacy_settings_are_checked(
    write_config: Callable[..., Path], setting: str, value: str
) -> None:
    path = write_config(replace={f"{setting} = 365": f"{setting} = {value}"})
    with pytest.raises(ConfigError, match=rf"\[privacy\] {setting}"):
        load_config(path, environ={})


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Logging as `kefu run` sets it up at [logging] level = "DEBUG"; restored afterwards."""
    names = [*DRIVER_LOGGERS, "apscheduler.executors"]
    levels = {name: logging.getLogger(name).level for name in names}
    configure_logging(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    yield caplog
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


async def test_no_customer_words_phone_or_address_in_the_logs_at_debug(
    services: Services, bot: MockedBot, debug_logs: pytest.LogCaptureFixture
) -> None:
    dispatcher = create_dispatcher(services)
    mei = PrivateChat(dispatcher, bot, 9, "en")
    agent = AgentInGroup(dispatcher, bot, AGENT, "Ann")
    await mei.say("where is your shop, asks Zhaoxia")
    await mei.say("/order A-1003")
    await mei.say("8003")  # the last digits of the order's phone
    await mei.say("my secret parcel story")
    await open_ticket(mei, "the Zhaoxia description", "A-1003")
    await agent.write(await topic_of(services, 9), "Agent Quinlan answers")
    await mei.say("/my_data")
    [ask] = await mei.say("/delete_me")
    await mei.press(ask, "Yes, erase my data")
    logged = debug_logs.text
    assert "customer=" in logged  # the logs did run, with ids
    for secret in (
        "Zhaoxia",
        "secret parcel",
        "Quinlan",
        "13800138003",
        "8003",
        "3 Demo Lane",
        "Guangzhou",
        "Mei",
    ):
        assert secret not in logged, secret


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_the_database_statements_stay_out_of_the_log(
    debug_logs: pytest.LogCaptureFixture, level: str
) -> None:
    for name in DRIVER_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)  # as SQLAlchemy sets itself
    logging.getLogger().setLevel(level)
    configure_logging(level)
    assert not logging.getLogger("sqlalchemy.engine.Engine").isEnabledFor(logging.INFO)
    assert not logging.getLogger("aiosqlite").isEnabledFor(logging.DEBUG)
