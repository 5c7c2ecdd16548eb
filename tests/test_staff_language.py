"""Staff read the bot in their own language: the agents' group in [agents] language (Chinese by
default), each staff member's private chat in the language they chose there; customers are
named as an agent can find them; the command menus come from the catalogues and keep staff
commands to staff chats. All through the real dispatcher with a recording bot session."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

import pytest
from aiogram import Dispatcher
from aiogram.methods import AnswerCallbackQuery, DeleteMyCommands, SendMessage, SetMyCommands
from aiogram.types import BotCommandScopeChat, BotCommandScopeDefault, InlineKeyboardMarkup, User

from bot.app import Services
from bot.channels.commands import (
    ADMIN_COMMANDS,
    AGENT_COMMANDS,
    CUSTOMER_COMMANDS,
    SUPERVISOR_COMMANDS,
    set_commands,
)
from bot.clock import ManualClock
from bot.tickets.sla import alert_breaches
from tests.chat import AgentInGroup, PrivateChat
from tests.conftest import TEST_KB, StartServices
from tests.mocked_bot import MockedBot

GROUP = -1001234
ALICE = 501
BEN = 502
ADMIN = 900
SUPERVISOR = 777
SHANGHAI = ZoneInfo("Asia/Shanghai")

T = TypeVar("T")


@pytest.fixture
async def services(start_services: StartServices, clock: ManualClock) -> Services:
    """The example config as it stands ([agents] language = "zh"), with a group and a team."""
    clock.set(datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI))  # Monday morning: open
    return await start_services(
        kb=TEST_KB,
        replace={
            "group_id = 0": f"group_id = {GROUP}",
            "supervisors = []": f"supervisors = [{SUPERVISOR}]",
            "admins = []": f"admins = [{ADMIN}]",
            "agents = []": f"agents = [{ALICE}, {BEN}]",
        },
    )


def sent(bot: MockedBot, kind: type[T], start: int) -> list[T]:
    return [r for r in bot.recorder.requests[start:] if isinstance(r, kind)]


def english_words(text: str) -> list[str]:
    """Words of two or more Latin letters, other than what is not English: the customer's and
    the agents' names, and "ID" (as Chinese software writes it)."""
    allowed = {"Mei", "Alice", "Ben", "ID", "mei_li"}
    return [word for word in re.findall(r"[A-Za-z_]{2,}", text) if word not in allowed]


def labels(message: SendMessage) -> list[str]:
    markup = message.reply_markup
    assert isinstance(markup, InlineKeyboardMarkup)
    return [button.text for row in markup.inline_keyboard for button in row]


async def chinese_ticket(dispatcher: Dispatcher, bot: MockedBot) -> SendMessage:
    """A Chinese customer with a @username opens a ticket; the card posted in the group."""
    mei = PrivateChat(dispatcher, bot, 7, "zh-hans")
    mei.user = User(
        id=7, is_bot=False, first_name="Mei", username="mei_li", language_code="zh-hans"
    )
    start = len(bot.recorder.requests)
    await mei.say("包裹什么时候到")
    [choose] = await mei.say("/human")
    [describe] = await mei.press(choose, "物流")
    await mei.say("包裹丢了")
    await mei.say("A-1001")
    return next(m for m in sent(bot, SendMessage, start) if m.chat_id == GROUP)


async def test_a_chinese_team_reads_no_english_word_on_the_card_or_its_buttons(
    services: Services, dispatcher: Dispatcher, bot: MockedBot
) -> None:
    card = await chinese_ticket(dispatcher, bot)
    assert english_words(card.text) == []
    assert english_words(" ".join(labels(card))) == []
    assert labels(card) == [
        "接单",
        "已解决",
        "关闭",
        "等待客户回复",
        "转交",
        "优先级 ↑",
        "优先级 ↓",
    ]
    # the customer as an agent can find them: name, @username and Telegram id
    assert "客户：Mei（@mei_li，ID 7），语言：中文" in card.text
    assert card.text.startswith("T-000001 · 物流 · 普通 · 待接单")

    alice = AgentInGroup(dispatcher, bot, ALICE, "Alice")
    start = len(bot.recorder.requests)
    await alice.press(card, "接单")
    [taken] = [m for m in sent(bot, SendMessage, start) if m.chat_id == GROUP]
    assert taken.text == "T-000001：Alice「接单」→ 处理中，普通"
    [popup] = sent(bot, AnswerCallbackQuery, start)
    assert popup.text == "T-000001：处理中，普通"

    start = len(bot.recorder.requests)
    await alice.press(card, "关闭")
    await alice.press(card, "接单")  # a closed ticket cannot be taken
    refusal = sent(bot, AnswerCallbackQuery, start)[-1]
    assert refusal.text == "T-000001 当前为「已关闭」，现在无法这样操作。"


async def test_alerts_in_the_group_are_in_its_language(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    await chinese_ticket(dispatcher, bot)
    clock.advance(timedelta(minutes=31))
    start = len(bot.recorder.requests)
    async with services.session_factory() as session:
        await alert_breaches(session, bot, services.handoff, services.tickets)
    [alert] = sent(bot, SendMessage, start)
    assert alert.text.startswith("⚠️ 超时：T-000001（普通）的首次回复时限是 2026-03-02 10:30。")
    assert f'<a href="tg://user?id={SUPERVISOR}">主管</a>' in alert.text
    assert english_words(alert.text.split("<a ")[0]) == []


async def test_a_transfer_names_the_agent_it_went_to(
    services: Services, dispatcher: Dispatcher, bot: MockedBot
) -> None:
    alice = AgentInGroup(dispatcher, bot, ALICE, "Alice")
    ben = AgentInGroup(dispatcher, bot, BEN, "Ben")
    start = len(bot.recorder.requests)
    await alice.write_general("/duty on")
    await ben.write_general("/duty on")
    assert [m.text for m in sent(bot, SendMessage, start)] == [
        "Alice 已上班：新工单会分配给你。",
        "Ben 已上班：新工单会分配给你。",
    ]
    card = await chinese_ticket(dispatcher, bot)  # round robin gives it to Alice
    assert any(m.text == "T-000001 已分配给 Alice。" for m in bot.recorder.sent_messages())

    start = len(bot.recorder.requests)
    await alice.press(card, "转交")
    [choice] = sent(bot, SendMessage, start)
    assert choice.text == "把 T-000001 转给：" and labels(choice) == ["Ben"]
    start = len(bot.recorder.requests)
    await alice.press(choice, "Ben")
    [done] = sent(bot, SendMessage, start)
    assert done.text == "T-000001 已转给了 Ben。"


async def test_staff_read_their_private_chat_in_the_language_they_chose(
    services: Services, dispatcher: Dispatcher, bot: MockedBot
) -> None:
    admin = PrivateChat(dispatcher, bot, ADMIN, "zh-hans")
    [roles] = await admin.say("/roles")
    assert roles.text.splitlines() == [
        f"管理员：{ADMIN}",
        f"主管：{SUPERVISOR}",
        f"客服：{ALICE}, {BEN}",
    ]
    [usage] = await admin.say("/report 0")
    assert usage.text.startswith("用法：/report [天数]，天数为 1 到 366；")

    [choose] = await admin.say("/language")
    await admin.press(choose, "English")
    [roles] = await admin.say("/roles")
    assert roles.text.splitlines() == [
        f"admin: {ADMIN}",
        f"supervisor: {SUPERVISOR}",
        f"agent: {ALICE}, {BEN}",
    ]
    [report] = await admin.say("/report 7")
    assert report.text.startswith("Service report 2026-02-24 00:00 to 2026-03-02 10:00")
    assert english_words(report.text)  # English through and through, no Chinese
    assert not re.search(r"[\u4e00-\u9fff]", report.text)
    [done] = await admin.say("/role 999 agent")
    assert done.text == "999 is now: agent."


async def test_a_chinese_admin_reads_the_report_in_chinese(
    services: Services, dispatcher: Dispatcher, bot: MockedBot
) -> None:
    [report] = await PrivateChat(dispatcher, bot, ADMIN, "zh-hans").say("/report 7")
    assert report.text.startswith(
        "服务报告：2026-02-24 00:00 至 2026-03-02 10:00（Asia/Shanghai）"
    )
    assert (
        "没有未达标项；暂无数据：首次接触解决率、首次回复按时率、按时解决率、满意度\n\n"
        "与上一期（2026-02-17 14:00 至 2026-02-24 00:00）对比：" in report.text
    )
    assert "本期创建的工单，按类别、原因和处理方式：\n" in report.text
    assert "按处理方式（其中投诉）：无\n" in report.text
    assert report.text.endswith("调查评语：0 条")


async def test_the_command_menus_come_from_the_catalogues_and_staff_ones_stay_in_staff_chats(
    services: Services,
) -> None:
    bot = MockedBot()
    await set_commands(bot, services.texts, "zh", GROUP, [ADMIN], [SUPERVISOR])
    menus = {
        (type(call.scope).__name__, getattr(call.scope, "chat_id", None), call.language_code): [
            (command.command, command.description) for command in call.commands
        ]
        for call in bot.recorder.of_type(SetMyCommands)
    }
    for language in ("zh", "en", None):
        everyone = [name for name, _ in menus["BotCommandScopeDefault", None, language]]
        assert everyone == list(CUSTOMER_COMMANDS)  # no staff command for customers
        group = [name for name, _ in menus["BotCommandScopeChat", GROUP, language]]
        assert group == list(AGENT_COMMANDS)
        admin = [name for name, _ in menus["BotCommandScopeChat", ADMIN, language]]
        assert admin == [*CUSTOMER_COMMANDS, *ADMIN_COMMANDS]
        chief = [name for name, _ in menus["BotCommandScopeChat", SUPERVISOR, language]]
        assert chief == [*CUSTOMER_COMMANDS, *SUPERVISOR_COMMANDS]
    assert ("human", "联系人工客服") in menus["BotCommandScopeDefault", None, "zh"]
    assert ("human", "Talk to a person") in menus["BotCommandScopeDefault", None, "en"]
    assert ("report", "最近几天的服务报告") in menus["BotCommandScopeChat", ADMIN, None]
    assert ("duty", "On or off duty: /duty on, /duty off") in menus[
        "BotCommandScopeChat", GROUP, "en"
    ]
    assert isinstance(bot.recorder.of_type(SetMyCommands)[0].scope, BotCommandScopeDefault)


async def test_a_new_admin_gets_the_admins_menu_and_loses_it_with_the_role(
    services: Services, dispatcher: Dispatcher, bot: MockedBot
) -> None:
    admin = PrivateChat(dispatcher, bot, ADMIN, "en")
    start = len(bot.recorder.requests)
    await admin.say("/role 999 admin")
    given = sent(bot, SetMyCommands, start)
    assert {call.language_code for call in given} == {"zh", "en", None}
    assert all(call.scope == BotCommandScopeChat(chat_id=999) for call in given)
    assert "report" in [command.command for command in given[0].commands]

    start = len(bot.recorder.requests)
    await admin.say("/role 999 supervisor")
    given = sent(bot, SetMyCommands, start)
    assert [command.command for command in given[0].commands] == [
        *CUSTOMER_COMMANDS,
        *SUPERVISOR_COMMANDS,
    ]

    start = len(bot.recorder.requests)
    await admin.say("/role 999 none")
    taken = sent(bot, DeleteMyCommands, start)
    assert [call.scope for call in taken] == [BotCommandScopeChat(chat_id=999)] * 3
