"""Teams and their queues, escalation in levels, and VIP tiers, through the real dispatcher with
a recording bot session, a controllable clock and a real database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

import pytest
from aiogram import Dispatcher
from aiogram.methods import AnswerCallbackQuery, SendMessage
from aiogram.types import InlineKeyboardMarkup, User
from sqlmodel import col, select

from bot.app import Services, create_dispatcher
from bot.clock import ManualClock
from bot.config import ConfigError, load_config
from bot.tickets.sla import alert_breaches, escalate
from storage.models import Customer, Feedback, FeedbackKind, Ticket, TicketEvent
from tests.chat import AgentInGroup, PrivateChat
from tests.conftest import TEST_KB, Kefu, StartServices
from tests.mocked_bot import MockedBot

GROUP = -1001234
ALICE, BEN, CAROL, DAN = 501, 502, 503, 504  # Alice and Ben: logistics; Carol: billing
ADMIN = 900
SUP_LOGISTICS, SUP_BILLING = 777, 778
SHANGHAI = ZoneInfo("Asia/Shanghai")

TEAMS = {
    "categories = {}": (
        'categories = { shipping = "logistics", order = "logistics", payment = "billing", '
        'product_quality = "after_sales" }'
    ),
    '# logistics = { zh = "物流组", en = "Logistics" }': (
        'logistics = { zh = "物流组", en = "Logistics" }\n'
        'billing = { zh = "财务组", en = "Billing" }'
    ),
    "# billing = { first_response_minutes = 15, resolution_hours = 8 }": (
        "billing = { first_response_minutes = 15, resolution_hours = 8 }"
    ),
    "A = { first_response_minutes = 60, resolution_hours = 8 }": (
        "A = { first_response_minutes = 10, resolution_hours = 8 }"
    ),
}
REPLACE = {
    "group_id = 0": f"group_id = {GROUP}",
    "supervisors = []": f"supervisors = [{SUP_LOGISTICS}, {SUP_BILLING}]",
    "admins = []": f"admins = [{ADMIN}]",
    "agents = []": f"agents = [{ALICE}, {BEN}, {CAROL}, {DAN}]",
    '\nlanguage = "zh"': '\nlanguage = "en"',  # the agents' group reads English
    **TEAMS,
}


@pytest.fixture
def config_path(write_config: Callable[..., Path], database: str) -> Path:
    """SQLite, and PostgreSQL when KEFU_TEST_DATABASE_URL is set."""
    return write_config(kb=TEST_KB, database=database, replace=REPLACE)


@pytest.fixture
async def services(
    start_services: StartServices, clock: ManualClock, config_path: Path
) -> Services:
    clock.set(datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI))  # Monday morning: open
    return await start_services(config_path)


T = TypeVar("T")


def sent(bot: MockedBot, kind: type[T], start: int = 0) -> list[T]:
    return [r for r in bot.recorder.requests[start:] if isinstance(r, kind)]


def in_group(bot: MockedBot, start: int = 0) -> list[SendMessage]:
    return [m for m in sent(bot, SendMessage, start) if m.chat_id == GROUP]


def buttons(message: SendMessage) -> list[str]:
    assert isinstance(message.reply_markup, InlineKeyboardMarkup)
    return [b.text for row in message.reply_markup.inline_keyboard for b in row]


async def open_ticket(chat: PrivateChat, category: str = "Shipping") -> SendMessage:
    [choose] = await chat.say("/human")
    [_describe] = await chat.press(choose, category)
    await chat.say("my parcel is lost")
    [done] = await chat.say("A-1001")
    return done


async def ticket_of(services: Services, customer_external: int) -> Ticket:
    async with services.session_factory() as session:
        customer = (
            await session.exec(
                select(Customer).where(Customer.external_id == str(customer_external))
            )
        ).one()
        return (
            await session.exec(
                select(Ticket)
                .where(Ticket.customer_id == customer.id)
                .order_by(col(Ticket.id).desc())
            )
        ).first() or pytest.fail("no ticket")


async def staff_in_teams(dispatcher: Dispatcher, bot: MockedBot) -> None:
    admin = PrivateChat(dispatcher, bot, ADMIN, "en")
    for team, user in (
        ("logistics", ALICE),
        ("logistics", BEN),
        ("logistics", SUP_LOGISTICS),
        ("billing", CAROL),
        ("billing", SUP_BILLING),
    ):
        [added] = await admin.say(f"/team add {team} {user}")
        assert added.text.startswith(f"{user} is now in the "), added.text


async def on_duty(dispatcher: Dispatcher, bot: MockedBot, *agents: tuple[int, str]) -> None:
    for user_id, name in agents:
        await AgentInGroup(dispatcher, bot, user_id, name).write_general("/duty on")


async def test_admins_manage_teams_in_their_language(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    admin = PrivateChat(dispatcher, bot, ADMIN, "en")
    [added] = await admin.say(f"/team add logistics {ALICE}")
    assert added.text == f"{ALICE} is now in the Logistics team."
    [again] = await admin.say(f"/team add logistics {ALICE}")
    assert again.text == f"{ALICE} was already in the Logistics team."
    [stranger] = await admin.say("/team add billing 123456")
    assert stranger.text == "123456 has no staff role: give them one with /role first."
    [unknown] = await admin.say(f"/team add sales {ALICE}")
    assert unknown.text == "There is no team sales. Teams: after_sales, billing, logistics"
    [usage] = await admin.say("/team join")
    assert usage.text.startswith("Write /team, /team add TEAM USER_ID|@username")

    # an agent who used /duty can be named by @username
    ben = AgentInGroup(dispatcher, bot, BEN, "Ben")
    ben.user = User(id=BEN, is_bot=False, first_name="Ben", username="ben_w")
    await ben.write_general("/duty on")
    [by_name] = await admin.say("/team add billing @Ben_W")
    assert by_name.text == f"{BEN} is now in the Billing team."
    [nobody] = await admin.say("/team add billing @nobody_here")
    assert nobody.text.startswith("I do not know @nobody_here")

    [listing] = await admin.say("/team")
    assert listing.text.splitlines() == [
        "after_sales (after_sales): -",
        f"Billing (billing): Ben ({BEN})",
        f"Logistics (logistics): {ALICE}",
        "/team add TEAM USER_ID|@username, /team remove TEAM USER_ID|@username",
    ]
    [removed] = await admin.say(f"/team remove billing {BEN}")
    assert removed.text == f"{BEN} is no longer in the Billing team."

    clock.advance(timedelta(minutes=1))  # past the flood limit of a minute
    await admin.say("/role 901 admin")
    chinese = PrivateChat(dispatcher, bot, 901, "zh-hans")  # another admin, who reads Chinese
    [chinese_listing] = await chinese.say("/team")
    assert chinese_listing.text.splitlines()[1:3] == [
        "财务组（billing）：-",
        f"物流组（logistics）：{ALICE}",
    ]
    [chinese_removed] = await chinese.say(f"/team remove logistics {ALICE}")
    assert chinese_removed.text == f"{ALICE} 已离开物流组。"

    # not an admin: refused
    [refused] = await PrivateChat(dispatcher, bot, 7, "en").say("/team")
    assert "admin" in refused.text.lower()


async def test_kefu_team_on_the_server(services: Services, kefu: Kefu, config_path: Path) -> None:
    async def run(*args: str) -> tuple[int, str]:
        ran = await asyncio.to_thread(kefu, config_path, "team", *args)
        return ran.returncode, (ran.stdout + ran.stderr).strip()

    assert await run("add", "logistics", str(ALICE)) == (
        0,
        f"{ALICE} is now in the Logistics team.",
    )
    assert await run("add", "sales", str(ALICE)) == (
        1,
        "kefu: There is no team sales. Teams: after_sales, billing, logistics",
    )
    assert await run("add", "billing", "123") == (
        1,
        "kefu: 123 has no staff role: give them one with /role first.",
    )
    assert await run("list") == (
        0,
        f"after_sales (after_sales): -\nBilling (billing): -\nLogistics (logistics): {ALICE}",
    )
    assert await run("remove", "logistics", str(ALICE)) == (
        0,
        f"{ALICE} is no longer in the Logistics team.",
    )
    # the running service sees the change: the team is read from the database when routing
    async with services.session_factory() as session:
        assert await services.teams.members(session, "logistics") == []


async def test_a_team_without_a_supervisor_alerts_every_supervisor(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    await open_ticket(PrivateChat(dispatcher, bot, 7, "en"), "Product quality")  # after_sales
    clock.advance(timedelta(minutes=31))
    start = len(bot.recorder.requests)
    async with services.session_factory() as session:
        await alert_breaches(session, bot, services.handoff, services.tickets)
    [breach] = in_group(bot, start)
    assert f"tg://user?id={SUP_LOGISTICS}" in breach.text
    assert f"tg://user?id={SUP_BILLING}" in breach.text


async def test_tickets_go_round_robin_within_their_team(
    services: Services, dispatcher: Dispatcher, bot: MockedBot
) -> None:
    await staff_in_teams(dispatcher, bot)
    await on_duty(dispatcher, bot, (ALICE, "Alice"), (BEN, "Ben"), (CAROL, "Carol"))

    owners = []
    for customer in (7, 8, 9, 10):
        await open_ticket(PrivateChat(dispatcher, bot, customer, "en"), "Shipping")
        owners.append((await ticket_of(services, customer)).assigned_agent)
    # the logistics team's two agents in turn; Carol (billing) never
    assert owners == [ALICE, BEN, ALICE, BEN]

    start = len(bot.recorder.requests)
    done = await open_ticket(PrivateChat(dispatcher, bot, 11, "en"), "Payment")
    billing = await ticket_of(services, 11)
    assert (billing.team, billing.assigned_agent) == ("billing", CAROL)
    assert any(m.text == f"{billing.number} assigned to Carol." for m in in_group(bot, start))
    # billing's own SLA (15 minutes) is stricter than a normal ticket's 30
    assert billing.first_response_due - billing.created_at == timedelta(minutes=15)
    assert "within 15 minutes" in (done.text or "")
    card = next(m for m in in_group(bot, start) if m.reply_markup is not None)
    assert "Team: Billing" in card.text


async def test_a_team_with_nobody_on_duty_falls_back_and_says_so(
    services: Services, dispatcher: Dispatcher, bot: MockedBot
) -> None:
    await staff_in_teams(dispatcher, bot)
    await on_duty(dispatcher, bot, (CAROL, "Carol"))
    start = len(bot.recorder.requests)
    await open_ticket(PrivateChat(dispatcher, bot, 7, "en"), "Shipping")
    ticket = await ticket_of(services, 7)
    assert ticket.assigned_agent == CAROL
    assert (
        f"{ticket.number} assigned to Carol: nobody of the Logistics team is on duty, "
        "so it went outside the team."
    ) in [m.text for m in in_group(bot, start)]


async def test_the_team_limit_holds_the_ticket_for_the_team(
    start_services: StartServices, clock: ManualClock, bot: MockedBot, database: str
) -> None:
    clock.set(datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI))
    replace = {**REPLACE, "max_open_tickets = 5": "max_open_tickets = 1"}
    services = await start_services(kb=TEST_KB, database=database, replace=replace)
    dispatcher = create_dispatcher(services)
    await staff_in_teams(dispatcher, bot)
    await on_duty(dispatcher, bot, (ALICE, "Alice"), (CAROL, "Carol"))
    await open_ticket(PrivateChat(dispatcher, bot, 7, "en"), "Shipping")
    await open_ticket(PrivateChat(dispatcher, bot, 8, "en"), "Shipping")
    # Alice is at her limit: the second waits for the team rather than going to Carol
    assert (await ticket_of(services, 7)).assigned_agent == ALICE
    assert (await ticket_of(services, 8)).assigned_agent is None


async def test_transfer_offers_agents_and_teams_and_moves_to_a_team(
    services: Services, dispatcher: Dispatcher, bot: MockedBot
) -> None:
    await staff_in_teams(dispatcher, bot)
    await on_duty(dispatcher, bot, (ALICE, "Alice"), (CAROL, "Carol"))
    await open_ticket(PrivateChat(dispatcher, bot, 7, "en"), "Shipping")
    card = next(m for m in in_group(bot) if m.reply_markup is not None)
    alice = AgentInGroup(dispatcher, bot, ALICE, "Alice")
    start = len(bot.recorder.requests)
    await alice.press(card, "Transfer")
    [offer] = in_group(bot, start)
    assert offer.text == "Transfer T-000001 to:"
    assert buttons(offer) == ["Carol", "👥 Team: after_sales", "👥 Team: Billing"]

    start = len(bot.recorder.requests)
    await alice.press(offer, "👥 Team: Billing")
    ticket = await ticket_of(services, 7)
    assert (ticket.team, ticket.assigned_agent, ticket.status) == ("billing", CAROL, "assigned")
    said = [m.text for m in in_group(bot, start)]
    assert "T-000001 moved to the Billing team's queue." in said
    assert "T-000001 assigned to Carol." in said
    # the billing team's SLA now holds, counted from the ticket's start
    assert ticket.first_response_due - ticket.created_at == timedelta(minutes=15)

    # to a team with nobody on duty: it waits in that team's queue, not back to the sender
    await alice.press(card, "Transfer")
    offer = in_group(bot)[-1]
    assert buttons(offer) == ["Alice", "👥 Team: after_sales", "👥 Team: Logistics"]
    start = len(bot.recorder.requests)
    await alice.press(offer, "👥 Team: after_sales")
    ticket = await ticket_of(services, 7)
    assert (ticket.team, ticket.assigned_agent, ticket.status) == ("after_sales", None, "new")
    assert [m.text for m in in_group(bot, start)] == [
        "T-000001 moved to the after_sales team's queue."
    ]

    # a forged team is refused with an answer
    forged = offer.model_copy(deep=True)
    assert isinstance(forged.reply_markup, InlineKeyboardMarkup)
    forged.reply_markup.inline_keyboard[-1][0].callback_data = "trt:1:sales"
    start = len(bot.recorder.requests)
    await alice.press(forged, "👥 Team: Logistics")
    [refusal] = sent(bot, AnswerCallbackQuery, start)
    assert refusal.text == "That team is not in [teams] any more."


async def test_a_breach_escalates_in_levels_without_repeating_within_an_interval(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    await staff_in_teams(dispatcher, bot)
    await on_duty(dispatcher, bot, (ALICE, "Alice"))
    await open_ticket(PrivateChat(dispatcher, bot, 7, "en"), "Shipping")  # given to Alice
    handoff, tickets = services.handoff, services.tickets

    async def run_at(minutes: int) -> list[SendMessage]:
        """The SLA job's breach and escalation steps, `minutes` after the ticket opened."""
        clock.set(datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI) + timedelta(minutes=minutes))
        start = len(bot.recorder.requests)
        async with services.session_factory() as session:
            await alert_breaches(session, bot, handoff, tickets)
            await escalate(session, bot, handoff, tickets)
            # a second replica looking at the same moment finds nothing left to say
            assert await escalate(session, bot, handoff, tickets) == 0
        return sent(bot, SendMessage, start)

    assert await run_at(29) == []
    [breach] = await run_at(31)
    assert breach.text.startswith("⚠️ SLA missed: T-000001 (normal) first response was due")
    # the team's supervisor, not the other team's
    assert f"tg://user?id={SUP_LOGISTICS}" in breach.text
    assert f"tg://user?id={SUP_BILLING}" not in breach.text
    assert await run_at(40) == []
    [reminder] = await run_at(46)
    assert reminder.text.startswith(
        "⏰ Still waiting: T-000001 (normal) missed its service target 15 min ago and nobody "
        "has acted on it."
    )
    assert f"tg://user?id={SUP_LOGISTICS}" in reminder.text
    assert await run_at(55) == []
    # 30 minutes after the breach: the admins, in the topic and privately (once, though a
    # reminder was due at the same minute)
    escalated = await run_at(61)
    assert [(m.chat_id, m.text.split(" min ago")[0]) for m in escalated] == [
        (GROUP, "🔺 Escalated to the admins: T-000001 (normal) missed its service target 30"),
        (ADMIN, "🔺 Escalated to the admins: T-000001 (normal) missed its service target 30"),
    ]
    assert f'<a href="tg://user?id={ADMIN}">admin</a>' in escalated[0].text
    assert await run_at(70) == []
    again = await run_at(76)
    assert [m.text.split(":")[0] for m in again] == ["🔺 Still escalated"] * 2

    # Alice acts (a note): nothing more is said
    card = next(m for m in in_group(bot) if m.reply_markup is not None)
    await AgentInGroup(dispatcher, bot, ALICE, "Alice").write(
        card.message_thread_id or 0, "# on it"
    )
    assert await run_at(95) == []
    assert await run_at(200) == []
    async with services.session_factory() as session:
        kinds = [
            (e.kind, e.detail)
            for e in (await session.exec(select(TicketEvent))).all()
            if e.kind in ("sla_breach", "sla_reminder", "escalated")
        ]
    assert kinds == [
        ("sla_breach", "first_response"),
        ("sla_reminder", "1"),
        ("escalated", "2"),
        ("sla_reminder", "2"),
    ]


async def test_escalation_reaches_admins_in_their_language(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    await PrivateChat(dispatcher, bot, ADMIN, "zh-hans").say("/roles")  # known, reads Chinese
    await open_ticket(PrivateChat(dispatcher, bot, 7, "en"), "Shipping")
    opened = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)
    for minutes in (31, 61):
        clock.set(opened + timedelta(minutes=minutes))
        async with services.session_factory() as session:
            await alert_breaches(session, bot, services.handoff, services.tickets)
            await escalate(session, bot, services.handoff, services.tickets)
    [private] = [m for m in sent(bot, SendMessage) if m.chat_id == ADMIN and "🔺" in m.text]
    assert private.text == "🔺 已升级至管理员：T-000001（普通）已超时 30 分钟，仍无人处理。"


@pytest.mark.parametrize(
    ("words", "language", "told"),
    [
        ("找主管", "zh-hans", "我已请主管查看 T-000001，您的请求优先级已提高。"),
        (
            "I want a manager",
            "en",
            "I have asked a supervisor to look at T-000001; your request now has a higher "
            "priority.",
        ),
    ],
)
async def test_a_customer_who_asks_for_a_supervisor_raises_the_ticket(
    services: Services,
    dispatcher: Dispatcher,
    bot: MockedBot,
    words: str,
    language: str,
    told: str,
) -> None:
    await staff_in_teams(dispatcher, bot)
    mei = PrivateChat(dispatcher, bot, 7, language)
    await open_ticket(mei, "物流" if language != "en" else "Shipping")
    start = len(bot.recorder.requests)
    [answer] = await mei.say(words)
    assert answer.text == told
    ticket = await ticket_of(services, 7)
    assert ticket.priority == "high"
    assert ticket.first_response_due - ticket.created_at == timedelta(minutes=20)
    [topic] = [m for m in in_group(bot, start) if "🙋" in m.text]
    assert topic.text.startswith(
        "🙋 The customer asks for a supervisor on T-000001: priority raised to high."
    )
    assert f"tg://user?id={SUP_LOGISTICS}" in topic.text


async def test_the_tickets_button_asks_for_a_supervisor_once(
    services: Services, dispatcher: Dispatcher, bot: MockedBot
) -> None:
    await staff_in_teams(dispatcher, bot)
    mei = PrivateChat(dispatcher, bot, 7, "en")
    await open_ticket(mei, "Shipping")
    [listing] = await mei.say("/tickets")
    start = len(bot.recorder.requests)
    [told] = await mei.press(listing, "🙋 Ask for a supervisor (T-000001)")
    assert told.text == (
        "I have asked a supervisor to look at T-000001; your request now has a higher priority."
    )
    assert [m for m in in_group(bot, start) if m.text.startswith("🙋")]
    assert (await ticket_of(services, 7)).priority == "high"
    # asking again, by button or in words, changes nothing more and says so
    start = len(bot.recorder.requests)
    [again] = await mei.press(listing, "🙋 Ask for a supervisor (T-000001)")
    assert again.text == (
        "A supervisor has already been asked to look at T-000001; they will be with you as soon "
        "as they can."
    )
    [words] = await mei.say("supervisor please")
    assert words.text == again.text
    assert not [m for m in in_group(bot, start) if m.text.startswith("🙋")]
    assert (await ticket_of(services, 7)).priority == "high"
    # someone else's ticket: nothing happens to it
    stranger = PrivateChat(dispatcher, bot, 8, "en")
    assert await stranger.press(listing, "🙋 Ask for a supervisor (T-000001)") == []


async def test_a_vip_set_by_command_raises_priority_and_tightens_the_sla(
    services: Services, dispatcher: Dispatcher, bot: MockedBot
) -> None:
    mei = PrivateChat(dispatcher, bot, 7, "en")
    await mei.say("hello")
    admin = PrivateChat(dispatcher, bot, ADMIN, "en")
    [usage] = await admin.say("/vip 7")
    assert usage.text.startswith("Write /vip USER_ID TIER (tiers: A, B)")
    [unknown] = await admin.say("/vip 7 Z")
    assert unknown.text == "Z is not a tier. Tiers: A, B"
    [nobody] = await admin.say("/vip 123456 A")
    assert nobody.text == "No customer 123456 has written to the bot."
    [done] = await admin.say("/vip 7 A")
    assert done.text == "Mei (ID 7) is now VIP A."

    told = await open_ticket(mei, "Shipping")
    ticket = await ticket_of(services, 7)
    # one priority higher, and tier A's 10 minutes rather than high's 20
    assert (ticket.priority, ticket.vip_tier) == ("high", "A")
    assert ticket.first_response_due - ticket.created_at == timedelta(minutes=10)
    assert told.text == "Your ticket T-000001 is open. An agent will reply here within 10 minutes."
    card = next(m for m in in_group(bot) if m.reply_markup is not None)
    assert "VIP A" in card.text

    # cleared: the open ticket follows at once (the tier's target no longer holds)
    [cleared] = await admin.say("/vip 7 -")
    assert cleared.text == "Mei (ID 7) is no longer a VIP."
    ticket = await ticket_of(services, 7)
    assert ticket.vip_tier is None
    assert ticket.first_response_due - ticket.created_at == timedelta(minutes=20)

    # an admin who reads Chinese
    await admin.say("/role 901 admin")
    chinese = PrivateChat(dispatcher, bot, 901, "zh-hans")
    [set_again] = await chinese.say("/vip 7 B")
    assert set_again.text == "Mei（ID 7）的会员等级现在是 B。"
    [wrong] = await chinese.say("/vip 7 VIP!")
    assert wrong.text == "VIP! 不是会员等级。等级：A, B"


async def test_a_vip_set_on_an_open_ticket_raises_it(
    services: Services, dispatcher: Dispatcher, bot: MockedBot
) -> None:
    mei = PrivateChat(dispatcher, bot, 7, "en")
    await open_ticket(mei, "Shipping")
    assert (await ticket_of(services, 7)).priority == "normal"
    await PrivateChat(dispatcher, bot, ADMIN, "en").say("/vip 7 B")
    ticket = await ticket_of(services, 7)
    assert (ticket.priority, ticket.vip_tier) == ("high", "B")
    # B's 240 minutes are not stricter than high's 20: the priority's target holds
    assert ticket.first_response_due - ticket.created_at == timedelta(minutes=20)


async def test_customers_import_sets_tiers_and_names_bad_lines(
    services: Services,
    dispatcher: Dispatcher,
    bot: MockedBot,
    kefu: Kefu,
    config_path: Path,
    tmp_path: Path,
) -> None:
    config = config_path
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "telegram_id,vip_tier,name\n7,A,Mei\nabc,A,\n8,Z,\n,B,\n7,B,\n", encoding="utf-8"
    )
    ran = await asyncio.to_thread(kefu, config, "customers", "import", str(bad))
    assert ran.returncode == 1
    assert ran.stderr.splitlines() == [
        f"{bad}:3: telegram_id: 'abc' is no Telegram id",
        f"{bad}:4: vip_tier: 'Z' is not a tier (A, B)",
        f"{bad}:5: telegram_id: empty (and no channel and external_id)",
        f"{bad}:6: telegram_id: the customer is already on line 2",
        "4 error(s): nothing was imported",
    ]
    await PrivateChat(dispatcher, bot, 8, "en").say("hello")  # already known
    good = tmp_path / "vip.csv"
    good.write_text(
        "telegram_id,channel,external_id,vip_tier,name\n7,,,A,Mei\n8,,,B,\n,web,v-1,A,Visitor\n",
        encoding="utf-8",
    )
    ran = await asyncio.to_thread(kefu, config, "customers", "import", str(good))
    assert (ran.returncode, ran.stdout.strip()) == (
        0,
        f"{good}: 2 customers added, 1 changed, 0 unchanged",
    )
    again = await asyncio.to_thread(kefu, config, "customers", "import", str(good))
    assert again.stdout.strip().endswith("0 customers added, 0 changed, 3 unchanged")

    await open_ticket(PrivateChat(dispatcher, bot, 7, "en"), "Shipping")
    ticket = await ticket_of(services, 7)
    assert (ticket.priority, ticket.vip_tier) == ("high", "A")
    assert ticket.first_response_due - ticket.created_at == timedelta(minutes=10)


async def test_the_orders_csv_carries_the_customers_tier(
    services: Services,
    dispatcher: Dispatcher,
    bot: MockedBot,
    kefu: Kefu,
    config_path: Path,
    tmp_path: Path,
) -> None:
    config = config_path
    await PrivateChat(dispatcher, bot, 7, "en").say("hello")
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "number,items,status,ordered_at,telegram_id,phone,vip_tier\n"
        "A-7001,Kettle|home|1,shipped,2026-02-20T10:00:00+08:00,7,13800138001,B\n"
        "A-8001,Lamp|home|1,delivered,2026-02-21T10:00:00+08:00,8,13900139001,A\n",
        encoding="utf-8",
    )
    ran = await asyncio.to_thread(kefu, config, "orders", "import", str(orders))
    assert ran.returncode == 0, ran.stderr
    async with services.session_factory() as session:
        known = (await session.exec(select(Customer).where(Customer.external_id == "7"))).one()
    assert known.vip_tier == "B"  # set at the import: the customer was known

    # customer 8 writes for the first time: their tier comes with their order, read for the
    # ticket's card, and their open ticket follows it
    await open_ticket(PrivateChat(dispatcher, bot, 8, "en"), "Shipping")
    ticket = await ticket_of(services, 8)
    assert (ticket.priority, ticket.vip_tier) == ("high", "A")
    assert ticket.first_response_due - ticket.created_at == timedelta(minutes=10)
    card = next(m for m in in_group(bot) if m.reply_markup is not None)
    assert "Recent orders:\n  A-8001 · delivered · 2026-02-21 · phone 139****9001" in card.text


async def test_the_card_shows_earlier_tickets_with_outcome_and_csat(
    services: Services, dispatcher: Dispatcher, bot: MockedBot
) -> None:
    await on_duty(dispatcher, bot, (ALICE, "Alice"))
    mei = PrivateChat(dispatcher, bot, 7, "en")
    await open_ticket(mei, "Shipping")
    card = next(m for m in in_group(bot) if m.reply_markup is not None)
    alice = AgentInGroup(dispatcher, bot, ALICE, "Alice")
    await alice.write(card.message_thread_id or 0, "Found it, arriving tomorrow.")
    start = len(bot.recorder.requests)
    await alice.press(card, "Resolve")
    [cause] = [m for m in in_group(bot, start) if m.reply_markup is not None]
    await alice.press(cause, buttons(cause)[0])
    [remedy] = [m for m in in_group(bot, len(bot.recorder.requests) - 3) if m.reply_markup]
    await alice.press(remedy, buttons(remedy)[-1])
    first = await ticket_of(services, 7)
    async with services.session_factory() as session:
        session.add(
            Feedback(
                scheduled_id=await _a_scheduled_id(services),
                kind=FeedbackKind.CSAT,
                customer_id=first.customer_id,
                ticket_id=first.id,
                score=4,
                answered_at=first.created_at,
            )
        )
        await session.commit()
    # the reopen window aside: a new request after the first is closed
    await alice.press(card, "Close")
    start = len(bot.recorder.requests)
    await open_ticket(mei, "Payment")
    second = next(m for m in in_group(bot, start) if m.reply_markup is not None)
    lines = second.text.splitlines()
    at = lines.index("Earlier tickets:")
    assert lines[at + 1].startswith("  T-000001 · closed · outcome ")
    assert lines[at + 1].endswith(" · CSAT 4")


async def _a_scheduled_id(services: Services) -> int:
    from storage.models import ScheduledMessage

    async with services.session_factory() as session:
        found = (await session.exec(select(ScheduledMessage))).first()
    assert found is not None and found.id is not None  # the survey scheduled on resolving
    return found.id


async def test_two_replicas_at_once_say_each_escalation_once(
    services: Services,
    start_services: StartServices,
    config_path: Path,
    dispatcher: Dispatcher,
    bot: MockedBot,
    clock: ManualClock,
) -> None:
    other = await start_services(config_path)  # a second replica on the same database
    await open_ticket(PrivateChat(dispatcher, bot, 7, "en"), "Shipping")
    opened = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)

    async def both() -> list[int]:
        async def one(replica: Services) -> int:
            async with replica.session_factory() as session:
                breaches = await alert_breaches(session, bot, replica.handoff, replica.tickets)
                return breaches + await escalate(session, bot, replica.handoff, replica.tickets)

        return list(await asyncio.gather(one(services), one(other)))

    said = []
    for minutes in (31, 46, 61, 76):
        clock.set(opened + timedelta(minutes=minutes))
        start = len(bot.recorder.requests)
        assert sum(await both()) == 1
        said += [m.text[:2] for m in in_group(bot, start)]
    assert said == ["⚠️", "⏰ ", "🔺 ", "🔺 "]


@pytest.mark.parametrize(
    ("replace", "said"),
    [
        ({"categories = {}": 'categories = { parcels = "logistics" }'}, "'parcels' is not a"),
        ({"categories = {}": 'categories = { shipping = "Logistics!" }'}, "should match"),
        (
            {'# logistics = { zh = "物流组", en = "Logistics" }': 'sales = { en = "Sales" }'},
            "names: team 'sales' takes no category",
        ),
        ({"A = { first_response_minutes = 60,": "A = { first_response_minutes = 0,"}, "A"),
        ({"escalate_after_minutes = 30": "escalate_after_minutes = 0"}, "escalate_after"),
    ],
)
def test_a_wrong_teams_or_tiers_config_stops_the_start_saying_where(
    write_config: Callable[..., Path], replace: dict[str, str], said: str
) -> None:
    with pytest.raises(ConfigError) as stopped:
        load_config(write_config(replace=replace), environ={})
    assert said in str(stopped.value)
