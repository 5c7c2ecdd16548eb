"""Incident notices (应急预案): an admin publishes a notice in zh and en (/incident in Telegram,
`kefu incident` on the server); while it is in force it stands before the answers it concerns
and before the fallback, in the customer's language, until it is ended or expires. Through the
real dispatcher with the recording session, on the test's clock."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot.app import Services, create_dispatcher
from bot.cli import incident_command
from bot.clock import ManualClock
from bot.config import load_config
from bot.schedule.jobs import refresh_shared_lists
from storage.models import Incident
from tests.chat import PrivateChat
from tests.conftest import TEST_KB, Kefu, StartServices
from tests.mocked_bot import MockedBot

ADMIN = 901
SHANGHAI = ZoneInfo("Asia/Shanghai")
STORM_ZH = "受台风影响，华东地区配送将延迟 1-2 天。"
STORM_EN = "A typhoon is delaying deliveries in East China by 1-2 days."


@pytest.fixture
async def services(start_services: StartServices, clock: ManualClock) -> Services:
    clock.set(datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI))
    return await start_services(kb=TEST_KB, replace={"admins = []": f"admins = [{ADMIN}]"})


async def test_a_notice_stands_before_every_answer_and_the_fallback_until_it_expires(
    services: Services, bot: MockedBot, clock: ManualClock
) -> None:
    dispatcher = create_dispatcher(services)
    admin = PrivateChat(dispatcher, bot, ADMIN, "en")
    [started] = await admin.say(f"/incident 2 {STORM_ZH} | {STORM_EN}")
    assert started.text == (
        "Notice #1 is shown until 2026-03-02 12:00 (before every answer and the fallback)."
    )
    mei = PrivateChat(dispatcher, bot, 7301, "zh")
    [answer] = await mei.say("退款多久到账")
    assert answer.text.startswith(f"📢 {STORM_ZH}\n\n退款会在3到5个工作日内原路退回。")
    ann = PrivateChat(dispatcher, bot, 7302, "en")
    [fallback] = await ann.say("what is the meaning of life")
    assert fallback.text.startswith(f"📢 {STORM_EN}\n\n")

    clock.advance(timedelta(hours=2))
    [later] = await ann.say("how long does a refund take")
    assert later.text.startswith("Refunds reach your original payment method within 3-5 working")


async def test_a_notice_for_some_entries_and_ending_it(services: Services, bot: MockedBot) -> None:
    dispatcher = create_dispatcher(services)
    admin = PrivateChat(dispatcher, bot, ADMIN, "zh")
    [started] = await admin.say(
        "/incident 24 entries=refund_time 退款系统维护中 | Refunds are delayed"
    )
    assert (
        started.text == "公告 #1 将显示到 2026-03-03 10:00（refund_time 的答案和兜底回复之前）。"
    )
    ann = PrivateChat(dispatcher, bot, 7303, "en")
    [refund] = await ann.say("when will i get my refund")
    assert refund.text.startswith("📢 Refunds are delayed\n\n")
    [returns] = await ann.say("how do i return an item")
    assert returns.text.startswith("You can return items within 7 days of delivery.")

    [listing] = await admin.say("/incident")
    assert listing.text.startswith("生效中的公告：\n#1 至 2026-03-03 10:00，refund_time 的答案")
    [ended] = await admin.say("/incident end")
    assert ended.text == "已结束：#1。"
    [refund_again] = await ann.say("when will i get my refund")
    assert not refund_again.text.startswith("📢")
    async with services.session_factory() as session:
        [kept] = (await session.exec(select(Incident))).all()
    assert (kept.started_by, kept.ended_by) == (f"admin:{ADMIN}", f"admin:{ADMIN}")


@pytest.mark.parametrize(
    ("argument", "said"),
    [
        (
            f"2 {'台' * 1001} | typhoon",
            "The zh text has 1001 characters; a notice may have at most 1000.",
        ),
        (
            "2 only one language",
            "A notice needs its text in Chinese and in English, separated by |.",
        ),
        ("0 台风 | typhoon", "The hours must be a number more than 0 and at most 336."),
        ("2 entries=nope 台风 | typhoon", "No such knowledge-base entry: nope."),
    ],
)
async def test_a_notice_that_cannot_be_shown_is_refused_saying_why(
    services: Services, bot: MockedBot, argument: str, said: str
) -> None:
    admin = PrivateChat(create_dispatcher(services), bot, ADMIN, "en")
    [refused] = await admin.say(f"/incident {argument}")
    assert refused.text == said
    async with services.session_factory() as session:
        assert (await session.exec(select(Incident))).all() == []


async def test_only_admins_publish_notices(services: Services, bot: MockedBot) -> None:
    stranger = PrivateChat(create_dispatcher(services), bot, 7304, "en")
    [refused] = await stranger.say("/incident 2 台风 | typhoon")
    assert refused.text == "Sorry, this command is for admins only."


async def test_a_notice_from_the_server_reaches_a_running_bot_within_its_refresh(
    services: Services, bot: MockedBot
) -> None:
    """`kefu incident start` writes to the database; the running bot re-reads the notices with
    the roles every few seconds (the job is called here as the scheduler would)."""
    args = argparse.Namespace(
        incident_command="start", zh=STORM_ZH, en=STORM_EN, hours=6.0, entries=""
    )
    assert await incident_command(services.config, args) == 0
    ann = PrivateChat(create_dispatcher(services), bot, 7305, "en")
    [before] = await ann.say("how long does a refund take")
    assert not before.text.startswith("📢")
    await refresh_shared_lists(
        services.session_factory, services.roles, services.ban_list, services.incidents
    )
    [after] = await ann.say("how long does a refund take")
    assert after.text.startswith(f"📢 {STORM_EN}\n\n")


def test_kefu_incident_start_list_end(kefu: Kefu, write_config: Callable[..., Path]) -> None:
    config = write_config(kb=TEST_KB)
    started = kefu(config, "incident", "start", "--zh", STORM_ZH, "--en", STORM_EN, "--hours", "3")
    assert started.returncode == 0 and started.stdout.startswith("Notice #1 is shown until ")
    listed = kefu(config, "incident", "list")
    assert "#1 in force;" in listed.stdout and f"en: {STORM_EN}" in listed.stdout
    assert kefu(config, "incident", "end", "1").stdout == "Ended: #1.\n"
    assert "#1 ended " in kefu(config, "incident", "list").stdout
    again = kefu(config, "incident", "end")
    assert again.returncode == 1 and "No notice is in force." in again.stderr
    refused = kefu(config, "incident", "start", "--zh", "台风", "--en", "x", "--entries", "nope")
    assert refused.returncode == 2 and "No such knowledge-base entry: nope." in refused.stderr
    assert load_config(config).database.url  # the config the commands read
