"""The report over any period on a seeded database: each figure beside the previous period of the
same length, first-contact resolution counted honestly (a conversation that ended in a fallback
or got a 👎 was not settled by the bot), trends, distributions, complaints and comments; through
/report in both languages and `kefu report` with --json and --csv."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiogram import Dispatcher
from aiogram.methods import SendMessage
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import Services
from bot.clock import ManualClock
from bot.reports.delivery import deliver_reports
from storage.database import create_engine, create_session_factory, migrate
from storage.figures import service_figures
from storage.models import (
    AgentDuty,
    AnswerVote,
    Conversation,
    Customer,
    Message,
    TicketCategory,
)
from tests.chat import PrivateChat
from tests.conftest import TEST_KB, Kefu, StartServices
from tests.mocked_bot import MockedBot
from tests.test_scorecards import add_csat, ticket

SHANGHAI = ZoneInfo("Asia/Shanghai")
ALICE, ADMIN = 501, 900
NOVEMBER = datetime(2026, 11, 10, 10, tzinfo=SHANGHAI)
OCTOBER = datetime(2026, 10, 10, 10, tzinfo=SHANGHAI)


async def conversation(session: AsyncSession, when: datetime, *decisions: str) -> int:
    """A conversation in which the bot answered with these decisions, in order."""
    talk = Conversation(customer_id=1, started_at=when, last_message_at=when)
    session.add(talk)
    await session.flush()
    assert talk.id is not None
    for n, decision in enumerate(decisions):
        at = when + timedelta(minutes=n)
        session.add(
            Message(
                conversation_id=talk.id,
                customer_id=1,
                direction="in",
                text="?",
                created_at=at,
            )
        )
        session.add(
            Message(
                conversation_id=talk.id,
                customer_id=1,
                direction="out",
                text="…",
                decision=decision,
                created_at=at + timedelta(seconds=1),
            )
        )
    await session.flush()
    return talk.id


async def seed(session: AsyncSession) -> None:
    """November: 5 conversations and a ticket opened directly. Settled: the one answered, the
    one whose fallback was followed by an answer, and the ticket resolved without reopening;
    not settled: the one ending in a fallback, the one with a 👎, the ticket reopened. So 3 of
    6 contacts, 50% (counting every conversation without a ticket as settled said 83.3%).
    October: 2 conversations answered, settled, 100%."""
    session.add(
        Customer(channel="telegram", external_id="42", first_seen=OCTOBER, last_seen=OCTOBER)
    )
    session.add(AgentDuty(telegram_id=ALICE, name="Alice"))
    await session.flush()
    await conversation(session, NOVEMBER, "answer")
    await conversation(session, NOVEMBER, "answer", "fallback")
    voted = await conversation(session, NOVEMBER, "answer")
    await conversation(session, NOVEMBER, "fallback", "answer")
    handed = await conversation(session, NOVEMBER, "fallback")
    down = (
        await session.exec(
            select(Message.id).where(Message.conversation_id == voted, Message.direction == "out")
        )
    ).one()
    assert down is not None
    session.add(AnswerVote(message_id=down, customer_id=1, helpful=False, created_at=NOVEMBER))
    first = ticket(ALICE, NOVEMBER, NOVEMBER + timedelta(minutes=3), NOVEMBER + timedelta(hours=2))
    first.conversation_id = handed
    direct = ticket(
        ALICE,
        NOVEMBER,
        NOVEMBER + timedelta(minutes=20),
        NOVEMBER + timedelta(hours=5),
        reopened=1,
    )
    direct.category = TicketCategory.COMPLAINT
    direct.cause = "product_quality"
    session.add_all([first, direct])
    await session.flush()
    assert first.id is not None
    await add_csat(session, first.id, ALICE, 4, NOVEMBER + timedelta(hours=3), "Fast, thanks")
    await conversation(session, OCTOBER, "answer")
    await conversation(session, OCTOBER, "answer")
    october = ticket(ALICE, OCTOBER, OCTOBER + timedelta(minutes=1), OCTOBER + timedelta(hours=1))
    october.conversation_id = None
    session.add(october)
    await session.flush()
    assert october.id is not None
    await add_csat(session, october.id, ALICE, 5, OCTOBER + timedelta(hours=2))
    await session.commit()


async def test_a_conversation_ending_in_a_fallback_or_a_thumbs_down_is_not_settled(
    engine: AsyncEngine,
) -> None:
    factory = create_session_factory(engine)
    async with factory() as session:
        await seed(session)
        since = datetime(2026, 11, 1, tzinfo=SHANGHAI)
        figures = await service_figures(session, since, since + timedelta(days=30))
    assert (figures.conversations, figures.handed_off, figures.direct_tickets) == (5, 1, 1)
    assert (figures.bot_unsettled, figures.bot_alone, figures.resolved_first_time) == (2, 2, 1)


@pytest.fixture
async def services(start_services: StartServices, clock: ManualClock, database: str) -> Services:
    """On SQLite, and on PostgreSQL when KEFU_TEST_DATABASE_URL is set."""
    clock.set(datetime(2026, 12, 2, 9, tzinfo=SHANGHAI))
    services = await start_services(
        kb=TEST_KB,
        database=database,
        replace={"admins = []": f"admins = [{ADMIN}, {ADMIN + 1}]"},
    )
    async with services.session_factory() as session:
        await seed(session)
    return services


async def test_each_figure_beside_the_previous_period(
    services: Services, dispatcher: Dispatcher, bot: MockedBot
) -> None:
    admin = PrivateChat(dispatcher, bot, ADMIN, "en")
    [report] = await admin.say("/report 2026-11-01 2026-11-30")
    lines = report.text.splitlines()
    assert lines[0] == "Service report 2026-11-01 00:00 to 2026-12-01 00:00 (Asia/Shanghai)"
    assert (
        "Settled at first contact (by the bot, or the ticket resolved without reopening): "
        "50%, below the target of 80%"
    ) in lines
    start = lines.index("Beside the previous period, 2026-10-02 00:00 to 2026-11-01 00:00:")
    assert lines[start + 1 : start + 17] == [
        "Conversations with the bot: 5 (before: 2; +3)",
        "Tickets: 2 (before: 1; +1)",
        "Conversations handed to a person: 1 (before: 0; +1)",
        "Settled at first contact, %: 50 (before: 100; -50)",
        "Left unsettled by the bot (fallback or 👎, no ticket): 2 (before: 0; +2)",
        "First response on time, %: 100 (before: 100; unchanged)",
        "First response median, min: 11.5 (before: 1; +10.5)",
        "Resolved on time, %: 100 (before: 100; unchanged)",
        "Resolution median, h: 3.5 (before: 1; +2.5)",
        "Reopenings: 1 (before: 0; +1)",
        "Complaints: 1 (before: 0; +1)",
        "Satisfaction (CSAT, of 100): 80 (before: 100; -20)",
        "Survey answers: 1 (before: 1; unchanged)",
        "Low scores (1-2 stars): 0 (before: 0; unchanged)",
        "NPS: – (before: –; no comparison)",
        "Revisits: not solved: 0 (before: 0; unchanged)",
    ]
    trend = lines.index("Each day: conversations · tickets · satisfaction")
    assert lines[trend + 1] == "2026-11-01 · 0 · 0 · –"
    assert "2026-11-10 · 5 · 2 · 80" in lines
    assert lines[trend + 30] == "2026-11-30 · 0 · 0 · –"
    assert (
        "First responses: ≤ 5 min: 1, ≤ 15 min: 0, ≤ 30 min: 1, ≤ 60 min: 0, ≤ 120 min: 0, "
        "≤ 240 min: 0, > 240 min: 0, not answered yet: 0"
    ) in lines  # the same buckets as the console's
    assert "Survey scores: 1★ 0, 2★ 0, 3★ 0, 4★ 1, 5★ 0" in lines
    assert "By cause (of which complaints): Product quality 1 (1), not given 1 (0)" in lines
    assert lines[-2:] == ["Survey comments: 1", "4★ T-000001 · Alice: Fast, thanks"]
    assert "  lowest by agent: Alice 80" in lines

    chinese = PrivateChat(dispatcher, bot, ADMIN + 1, "zh")
    [report] = await chinese.say("/report 2026-11-01 2026-11-30")
    assert "首次接触解决率 %：50（上期 100；-50）" in report.text.splitlines()
    assert "≤ 5 分钟：1" in report.text and "尚未响应：0" in report.text
    [usage] = await admin.say("/report 2026-11-30 2026-11-01")
    assert usage.text.startswith("Usage: /report [days], with days from 1 to 366, or /report")


def test_the_report_from_the_command_line_as_json_and_csv(
    write_config: Callable[..., Path],
    kefu: Kefu,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def seeded() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'kefu.db'}")
        await migrate(engine)
        async with create_session_factory(engine)() as session:
            await seed(session)
        await engine.dispose()

    asyncio.run(seeded())
    config = write_config()
    period = ("--since", "2026-11-01", "--until", "2026-11-30")
    ran = kefu(config, "report", *period)
    assert ran.returncode == 0
    assert "Settled at first contact, %: 50 (before: 100; -50)" in ran.stdout.splitlines()
    data = json.loads(kefu(config, "report", *period, "--json").stdout)
    assert data["period"] == {
        "since": "2026-11-01T00:00:00+08:00",
        "until": "2026-12-01T00:00:00+08:00",
    }
    assert data["figures"]["first_contact_percent"] == {"now": 50.0, "previous": 100.0}
    assert data["tickets_by_day"]["2026-11-10"] == 2
    assert data["comments"][0]["text"] == "Fast, thanks"
    rows = kefu(config, "report", *period, "--csv").stdout.splitlines()
    assert rows[0] == "section,name,now,previous"
    assert "figure,first_contact_percent,50,100" in rows
    wrong = kefu(config, "report", "--since", "2026-11-30", "--until", "2026-11-01")
    assert wrong.returncode == 2 and "--since DATE" in wrong.stderr
    with pytest.raises(SystemExit):
        kefu(config, "report", "--since", "November")
    assert "'November' is not a date (YYYY-MM-DD)" in capsys.readouterr().err


async def test_the_weekly_and_monthly_reports_reach_each_admin_in_their_language(
    services: Services, bot: MockedBot, clock: ManualClock
) -> None:
    async with services.session_factory() as session:
        session.add(
            Customer(
                channel="telegram",
                external_id=str(ADMIN),
                language="en",
                language_chosen=True,
                first_seen=OCTOBER,
                last_seen=OCTOBER,
            )
        )
        await session.commit()

    async def deliver() -> tuple[list[str], dict[int | str, str]]:
        start = len(bot.recorder.requests)
        keys = await deliver_reports(
            services.session_factory,
            bot,
            services.config,
            clock,
            services.roles,
            services.texts,
        )
        sent = bot.recorder.requests[start:]
        return keys, {m.chat_id: m.text for m in sent if isinstance(m, SendMessage)}

    clock.set(datetime(2026, 11, 30, 9, tzinfo=SHANGHAI))  # a Monday
    keys, sent = await deliver()
    assert keys == ["report-weekly:2026-11-23"]
    assert sent[ADMIN].startswith(
        "📊 The weekly report, 2026-11-23 to 2026-11-29\n\n"
        "Service report 2026-11-23 00:00 to 2026-11-30 00:00 (Asia/Shanghai)"
    )
    assert sent[ADMIN + 1].startswith("📊 周报：2026-11-23 至 2026-11-29\n\n服务报告：")
    assert "Agent scorecards" not in sent[ADMIN]  # they come with the monthly report
    assert await deliver() == ([], {})  # once, however often the job runs that day

    clock.set(datetime(2026, 12, 1, 9, tzinfo=SHANGHAI))  # a Tuesday, the 1st
    keys, sent = await deliver()
    assert keys == ["report-monthly:2026-11-01"]
    assert "Conversations with the bot: 5 (before: 2; +3)" in sent[ADMIN].splitlines()
    assert "机器人会话：5（上期 2；+3）" in sent[ADMIN + 1].splitlines()
    # with the month's scorecards: Alice, 0.6 × 80 (CSAT) + 0.4 × 100 (resolved on time)
    assert "Agent scorecards 2026-11-01 00:00 to 2026-12-01 00:00 (Asia/Shanghai)" in sent[ADMIN]
    assert sent[ADMIN].endswith("Top 1: Alice 88\nNo one below the target of 80.")
