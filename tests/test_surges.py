"""Surge alerts (in the staff's language, Chinese by default): forty customers asking about
refunds within ten minutes, where two or three a day is usual, raise one alert to the supervisors
with the latest three questions and the command that tells every customer who asks; the usual
volume raises none. Questions go through the real dispatcher on the test's clock; the job is
called as the scheduler would."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiogram.methods import SendMessage

from bot.app import Services, create_dispatcher
from bot.clock import ManualClock
from tests.chat import PrivateChat
from tests.conftest import TEST_KB, StartServices
from tests.mocked_bot import MockedBot

SUPERVISOR = 779
GROUP = -1005555
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
async def services(start_services: StartServices, clock: ManualClock) -> Services:
    clock.set(datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI))
    return await start_services(
        kb=TEST_KB,
        replace={
            "supervisors = []": f"supervisors = [{SUPERVISOR}]",
            "group_id = 0": f"group_id = {GROUP}",
        },
    )


async def ask(services: Services, bot: MockedBot, customers: range, text: str) -> None:
    dispatcher = create_dispatcher(services)
    for number in customers:
        await PrivateChat(dispatcher, bot, number, "en").say(f"{text} {number}")


def alerts(bot: MockedBot, start: int = 0) -> list[SendMessage]:
    return [
        r
        for r in bot.recorder.requests[start:]
        if isinstance(r, SendMessage) and r.text.startswith("📈")
    ]


async def test_forty_questions_about_one_entry_in_ten_minutes_raise_one_alert(
    services: Services, bot: MockedBot, clock: ManualClock
) -> None:
    # the days before: a couple of refund questions around this hour
    for days in range(3, 0, -1):
        clock.set(datetime(2026, 3, 2, 9, 55, tzinfo=SHANGHAI) - timedelta(days=days))
        await ask(services, bot, range(100 * days, 100 * days + 3), "how long does a refund take")
    clock.set(datetime(2026, 3, 2, 9, 52, tzinfo=SHANGHAI))
    for minute in range(8):
        await ask(
            services, bot, range(1000 + 5 * minute, 1005 + 5 * minute), "when will i get my refund"
        )
        clock.advance(timedelta(minutes=1))

    async with services.session_factory() as session:
        assert await services.surges.check(session, bot) == 1
    [private, in_group] = alerts(bot)
    assert (private.chat_id, in_group.chat_id) == (SUPERVISOR, GROUP)
    lines = private.text.splitlines()
    assert (
        lines[0]
        == "📈 咨询激增：最近 10 分钟有 40 个问题关于 refund_time（平时约 3.0 个）。最新的几条："
    )
    assert lines[1:4] == [f"• when will i get my refund {n}" for n in (1039, 1038, 1037)]
    assert lines[4] == "如需告知所有来问的顾客：/incident 6 entries=refund_time 中文 | English"

    clock.advance(timedelta(minutes=1))  # still surging: not said again
    await ask(services, bot, range(2000, 2010), "how long does a refund take")
    start = len(bot.recorder.requests)
    async with services.session_factory() as session:
        assert await services.surges.check(session, bot) == 0
    assert alerts(bot, start) == []


async def test_the_usual_volume_raises_no_alert(
    services: Services, bot: MockedBot, clock: ManualClock
) -> None:
    for days in range(3, -1, -1):  # every day, the same thirty questions around this hour
        clock.set(datetime(2026, 3, 2, 9, 55, tzinfo=SHANGHAI) - timedelta(days=days))
        await ask(services, bot, range(100 * days, 100 * days + 30), "how long does a refund take")
    async with services.session_factory() as session:
        assert await services.surges.find(session) == []
        assert await services.surges.check(session, bot) == 0
    assert alerts(bot) == []
