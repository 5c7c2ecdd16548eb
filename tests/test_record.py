"""The record of the human conversation: what a customer and agents send, files and notes
included, kept on the ticket; /transcript in the topic; `kefu tickets show|export`."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiogram import Dispatcher
from aiogram.methods import SendDocument, SendMessage
from aiogram.types import BufferedInputFile
from sqlmodel import col, select

from bot.app import Services, create_dispatcher
from bot.cli import main
from bot.clock import ManualClock
from bot.privacy.audit import audit_report
from storage.models import Customer, StaffAccess, TicketEvent
from storage.privacy import erase_customer, expire_texts
from tests.chat import AgentInGroup, PrivateChat
from tests.conftest import TEST_KB, StartServices
from tests.mocked_bot import MockedBot

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
            '\nlanguage = "zh"': '\nlanguage = "en"',  # an English-reading team
        },
    )


async def a_conversation(
    dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> tuple[PrivateChat, AgentInGroup, SendMessage]:
    """Mei asks the bot, then a person; she sends a text and a photo, Alice notes and answers."""
    alice = AgentInGroup(dispatcher, bot, AGENT, "Alice")
    await alice.write_general("/duty on")
    mei = PrivateChat(dispatcher, bot, 7, "en")
    await mei.say("where is your shop")
    [choose] = await mei.say("/human")
    await mei.press(choose, "Shipping")
    await mei.say("my parcel is lost")
    await mei.say("A-1001")
    card = next(
        m for m in bot.recorder.sent_messages() if m.chat_id == GROUP and m.message_thread_id
    )
    clock.advance(timedelta(minutes=1))
    await mei.say("it was a birthday present")
    clock.advance(timedelta(minutes=1))
    await mei.send_photo("AgACphoto1", caption="the empty box")
    clock.advance(timedelta(minutes=1))
    await alice.write(card.message_thread_id or 0, "# courier lost two parcels this week")
    clock.advance(timedelta(minutes=1))
    await alice.write(card.message_thread_id or 0, "We are sending a new one today.")
    return mei, alice, card


async def test_files_and_notes_are_kept_with_their_file_ids(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    _, alice, card = await a_conversation(dispatcher, bot, clock)
    await alice.send_photo(card.message_thread_id or 0, "AgACnote", caption="#label torn off")
    async with services.session_factory() as session:
        events = (await session.exec(select(TicketEvent).order_by(col(TicketEvent.id)))).all()
    said = [(e.kind, e.detail, e.media, e.file_id) for e in events if e.kind != "created"]
    assert [s for s in said if s[0] in ("message", "reply", "note")] == [
        ("message", "it was a birthday present", None, None),
        ("message", "the empty box", "photo", "AgACphoto1"),  # the largest size
        ("note", " courier lost two parcels this week", None, None),
        ("reply", "We are sending a new one today.", None, None),
        ("note", "label torn off", "photo", "AgACnote"),
    ]


async def test_transcript_in_the_topic_is_the_whole_conversation_in_order(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    _, alice, card = await a_conversation(dispatcher, bot, clock)
    alice.user = alice.user.model_copy(update={"language_code": "en"})
    start = len(bot.recorder.requests)
    await alice.write(card.message_thread_id or 0, "/transcript")
    [document] = [r for r in bot.recorder.requests[start:] if isinstance(r, SendDocument)]
    assert (document.chat_id, document.message_thread_id) == (GROUP, card.message_thread_id)
    assert document.caption is not None and document.caption.startswith("T-000001:")
    assert isinstance(document.document, BufferedInputFile)
    assert document.document.filename == "T-000001-transcript.txt"
    lines = document.document.data.decode().splitlines()
    assert lines[0] == "Transcript of T-000001 · Shipping · normal · assigned"
    assert lines[1] == "Customer: Mei (ID 7), ticket opened 2026-03-02 10:00"
    body = [line for line in lines[3:] if line and not line.startswith("    ")]
    assert body[:3] == [
        "── Conversation with the bot ──",
        "[2026-03-02 10:00] customer Mei: where is your shop",
        body[2],  # the bot's answer
    ]
    assert body[2].startswith("[2026-03-02 10:00] bot: ")
    assert body[3:] == [
        "── The ticket ──",
        "[2026-03-02 10:00] — ticket opened (shipping, normal) (customer Mei)",
        "[2026-03-02 10:00] — assigned to Alice (system)",
        "[2026-03-02 10:01] customer Mei: it was a birthday present",
        "[2026-03-02 10:02] customer Mei: [photo, file id AgACphoto1] the empty box",
        "[2026-03-02 10:03] internal note by Alice:  courier lost two parcels this week",
        "[2026-03-02 10:04] Alice: We are sending a new one today.",
        "[2026-03-02 10:04] — first response (Alice)",
    ]
    # a note is never sent to the customer
    assert not any("courier" in m.text for m in bot.recorder.sent_messages() if m.chat_id == 7)

    # the look is on the audit log, as Alice's
    async with services.session_factory() as session:
        accesses = (await session.exec(select(StaffAccess))).all()
        assert [(a.actor, a.kind, a.detail) for a in accesses][-1] == (
            f"agent:{AGENT}",
            "transcript",
            "T-000001",
        )
        assert "agent:501 · customer 1 · transcript T-000001" in await audit_report(
            session, datetime(2026, 3, 1, tzinfo=SHANGHAI)
        )


async def test_transcript_in_chinese_for_a_chinese_reading_team(
    start_services: StartServices, bot: MockedBot, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI))
    services = await start_services(  # [agents] language = "zh", the example's
        kb=TEST_KB,
        replace={"group_id = 0": f"group_id = {GROUP}", "agents = []": f"agents = [{AGENT}]"},
    )
    _, alice, card = await a_conversation(create_dispatcher(services), bot, clock)
    start = len(bot.recorder.requests)
    await alice.write(card.message_thread_id or 0, "/transcript")
    [document] = [r for r in bot.recorder.requests[start:] if isinstance(r, SendDocument)]
    assert isinstance(document.document, BufferedInputFile)
    text = document.document.data.decode()
    assert text.startswith("T-000001 对话记录")
    assert "[2026年03月02日 10:03] Alice 的内部备注：" in text
    assert "── 与机器人的对话 ──" in text


async def test_transcript_only_for_staff_and_only_in_a_ticket_topic(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    _, alice, card = await a_conversation(dispatcher, bot, clock)
    stranger = AgentInGroup(dispatcher, bot, 666, "Eve")
    start = len(bot.recorder.requests)
    await stranger.write(card.message_thread_id or 0, "/transcript")
    await alice.write_general("/transcript")
    assert [r for r in bot.recorder.requests[start:] if isinstance(r, SendDocument)] == []
    replies = [r.text for r in bot.recorder.requests[start:] if isinstance(r, SendMessage)]
    assert replies == [
        "Only agents can talk to customers here.",
        "Write /transcript in a ticket's topic.",
    ]


async def kefu(
    capsys: pytest.CaptureFixture[str], config: Path, *args: str
) -> tuple[int, str, str]:
    """`kefu --config <config> <args>` as the command line runs it (its own event loop, in a
    thread beside the test's): exit code, standard output and error."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


async def test_tickets_show_and_export_from_the_command_line(
    services: Services,
    dispatcher: Dispatcher,
    bot: MockedBot,
    clock: ManualClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await a_conversation(dispatcher, bot, clock)
    config = services.config.source
    assert config is not None

    code, out, err = await kefu(capsys, config, "tickets", "show", "T-000001", "--language", "en")
    assert code == 0, err
    assert "customer Mei: [photo, file id AgACphoto1] the empty box" in out
    assert "internal note by Alice:  courier lost two parcels this week" in out
    assert await kefu(capsys, config, "tickets", "show", "T-000009") == (
        1,
        "",
        "kefu: there is no ticket T-000009\n",
    )

    # the command line's clock is the system's: a period long enough to reach the test's day
    code, out, err = await kefu(
        capsys, config, "tickets", "export", "--since", "5000d", "--format", "jsonl"
    )
    assert code == 0, err
    [ticket] = [json.loads(line) for line in out.splitlines()]
    assert (ticket["ticket"], ticket["category"], ticket["agent"]) == ("T-000001", "shipping", 501)
    kinds = [entry["kind"] for entry in ticket["record"]]
    assert kinds[:2] == ["bot_in", "bot_out"] and kinds.count("note") == 1
    photo = next(entry for entry in ticket["record"] if entry["media"])
    assert (photo["text"], photo["file_id"]) == ("the empty box", "AgACphoto1")

    file = config.parent / "tickets.csv"
    _, out, _ = await kefu(
        capsys,
        config,
        "tickets",
        "export",
        "--since",
        "5000d",
        "--format",
        "csv",
        "--out",
        str(file),
    )
    assert out == f"1 tickets written to {file}\n"
    rows = list(csv.DictReader(io.StringIO(file.read_text(encoding="utf-8"))))
    assert {row["ticket"] for row in rows} == {"T-000001"}
    assert [row["text"] for row in rows if row["kind"] == "reply"] == [
        "We are sending a new one today."
    ]
    _, out, _ = await kefu(capsys, config, "tickets", "export", "--since", "1h")
    assert out.splitlines() == [out.splitlines()[0]]  # the header only: nothing that recent
    assert out.startswith("ticket,customer,channel,category")

    _, out, _ = await kefu(capsys, config, "audit", "--since", "2026-01-01")
    assert out.count("cli · customer 1 · transcript T-000001") == 3


async def test_erasure_drops_the_file_ids_with_the_captions_retention_waits_for_open_tickets(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    _, alice, card = await a_conversation(dispatcher, bot, clock)
    await alice.send_photo(card.message_thread_id or 0, "AgACnote", caption="#label torn off")
    async with services.session_factory() as session:
        expired = await expire_texts(
            session,
            messages_before=None,
            tickets_before=clock.now() + timedelta(days=1),
            unanswered_before=None,
        )
        assert expired.ticket_texts == 0  # the ticket is open: its record waits
        customer = await session.get(Customer, 1)
        assert customer is not None
        await erase_customer(session, customer, clock.now())
        await session.commit()
        events = (await session.exec(select(TicketEvent))).all()
    assert [e.file_id for e in events if e.file_id] == []
    assert {e.detail for e in events if e.kind in ("message", "note", "reply")} == {"[removed]"}


async def test_retention_drops_the_file_ids_of_a_settled_ticket_with_its_texts(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    _, alice, card = await a_conversation(dispatcher, bot, clock)
    await alice.press(card, "Resolve")
    async with services.session_factory() as session:
        expired = await expire_texts(
            session,
            messages_before=None,
            tickets_before=clock.now() + timedelta(seconds=1),
            unanswered_before=None,
        )
        await session.commit()
        events = (await session.exec(select(TicketEvent))).all()
    assert expired.ticket_texts == 5  # the description, two messages, the note, the reply
    assert [e.file_id for e in events if e.file_id] == []
    assert [e.media for e in events if e.media] == ["photo"]  # what it was stays, not the file
