"""Telegram throttles the bot (429 with retry_after), then fails (502), while customers write, an
agent replies and surveys are due: once the storm is over every answer, relay, reply and survey
has arrived once, in order per chat. The real dispatcher polls a fake Bot API server on 127.0.0.1
over HTTP; the delivery job runs on the test's clock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import create_dispatcher
from bot.channels.telegram import create_bot
from bot.clock import ManualClock
from tests.conftest import TEST_KB, StartServices
from tests.fake_bot_api import FakeBotAPI, open_ticket_through, to_chat
from tests.test_schedule import schedule_surveys, statuses

pytestmark = pytest.mark.slow

ANN, BEN = 7001, 7002
GROUP, AGENT = -1009876, 4321
SURVEYED = range(1000, 1005)  # customers with a survey due during the storm


def surveys(fake: FakeBotAPI, start: int) -> list[int]:
    return [
        int(p["chat_id"])
        for m, p in fake.sent[start:]
        if m == "sendmessage" and p.get("text", "").startswith("How did we do?")
    ]


async def test_every_reply_relay_agent_answer_and_survey_arrives_once_after_a_storm(
    telegram: tuple[FakeBotAPI, str],
    start_services: StartServices,
    write_config: Callable[..., Path],
    clock: ManualClock,
) -> None:
    fake, url = telegram
    config = write_config(
        kb=TEST_KB,
        replace={
            'token = ""': 'token = "123456:TEST"',
            'api_server = ""': f'api_server = "{url}"',
            "group_id = 0": f"group_id = {GROUP}",
            "agents = []": f"agents = [{AGENT}]",
        },
    )
    services = await start_services(config)
    bot = create_bot(services.config)
    dispatcher = create_dispatcher(services, channel="terminal")  # no timed jobs
    polling = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False))
    try:
        # Ann has a ticket with its topic before the storm.
        card = await open_ticket_through(fake, ANN, GROUP)
        topic = int(card["message_thread_id"])

        await schedule_surveys(services, len(SURVEYED), timedelta(minutes=10))
        clock.advance(timedelta(minutes=10))

        start = len(fake.sent)
        fake.storm(2.0, 429, "Too Many Requests: retry after 1", retry_after=1)
        fake.storm(4.0, 502, "Bad Gateway")
        delivery = asyncio.create_task(services.delivery.deliver_due(bot))  # the job's call
        for n in range(3):
            fake.push_message(BEN, f"how long does a refund take {n}", language_code="en")
            fake.push_message(ANN, f"it was a blue box, part {n}", language_code="en")
            await asyncio.sleep(0.3)
        fake.push_group_message(GROUP, topic, "We found it!", user_id=AGENT)

        def all_arrived(method: str, params: dict[str, Any]) -> bool:
            return (
                len(to_chat(fake, "sendmessage", BEN, start)) >= 3
                and len(to_chat(fake, "copymessage", GROUP, start)) >= 3
                and len(to_chat(fake, "copymessage", ANN, start)) >= 1
                and len(surveys(fake, start)) >= len(SURVEYED)
            )

        await fake.wait_for(all_arrived, start=start, timeout=30)
        delivered = await delivery
        await asyncio.sleep(1.0)  # anything sent twice would arrive meanwhile
    finally:
        polling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await polling
        await bot.session.close()

    assert fake.refused > 5  # the storm did refuse requests
    answers = to_chat(fake, "sendmessage", BEN, start)
    relays = to_chat(fake, "copymessage", GROUP, start)
    assert len(answers) == 3 and all(a["text"].startswith("Refunds") for a in answers)
    assert [int(r["message_id"]) for r in relays] == sorted(int(r["message_id"]) for r in relays)
    assert len(relays) == 3  # each of Ann's messages copied to the topic once
    assert len(to_chat(fake, "copymessage", ANN, start)) == 1  # the agent's reply, once
    assert sorted(surveys(fake, start)) == list(SURVEYED)  # each survey once
    assert delivered == len(SURVEYED)
    assert await statuses(services) == ["sent"] * len(SURVEYED)
