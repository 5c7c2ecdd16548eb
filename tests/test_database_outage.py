"""The database goes away for a while (its connections cut and refused, as a network would)
while customers write: what they wrote is held, each customer is told once that it is safe, and
once the database answers again every question is answered and every message for an agent is
relayed to the ticket's topic and kept on its record, in order. The real dispatcher polls a fake
Bot API server on 127.0.0.1; PostgreSQL is reached through a TCP forwarder the test cuts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.app import create_dispatcher
from bot.channels.telegram import create_bot
from storage.database import create_engine
from storage.models import TicketEvent
from tests.conftest import POSTGRES_URL, TEST_KB, StartServices, _reset_postgres
from tests.fake_bot_api import FakeBotAPI, open_ticket_through, to_chat
from tests.forwarder import forwarded_postgres

pytestmark = pytest.mark.slow

ANN, BEN = 7101, 7102
GROUP, AGENT = -1009877, 4322
HELD = "Sorry, we are having a technical problem."


async def test_what_is_written_while_the_database_is_away_is_answered_and_relayed_when_it_returns(
    telegram: tuple[FakeBotAPI, str],
    start_services: StartServices,
    write_config: Callable[..., Path],
) -> None:
    if not POSTGRES_URL:
        pytest.skip("KEFU_TEST_DATABASE_URL is not set")
    fake, url = telegram
    engine = create_engine(POSTGRES_URL)
    await _reset_postgres(engine)
    await engine.dispose()
    forwarder, through = await forwarded_postgres(POSTGRES_URL)
    services = await start_services(
        write_config(
            kb=TEST_KB,
            database=through,
            replace={
                'token = ""': 'token = "123456:TEST"',
                'api_server = ""': f'api_server = "{url}"',
                "group_id = 0": f"group_id = {GROUP}",
                "agents = []": f"agents = [{AGENT}]",
            },
        )
    )
    bot = create_bot(services.config)
    dispatcher = create_dispatcher(services, jobs=False)
    polling = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False))
    try:
        card = await open_ticket_through(fake, ANN, GROUP)  # before the outage
        await until_confirmed(fake)

        await forwarder.cut()
        start = len(fake.sent)
        for n in range(3):
            fake.push_message(ANN, f"it was a blue box, part {n}", language_code="en")
        fake.push_message(BEN, "how long does a refund take", language_code="en")
        await fake.wait_for(
            lambda m, p: (
                len([t for t in texts_to(fake, ANN, start) if t.startswith(HELD)]) == 1
                and len([t for t in texts_to(fake, BEN, start) if t.startswith(HELD)]) == 1
            ),
            start=start,
            timeout=30,
        )
        assert to_chat(fake, "copymessage", GROUP, start) == []  # nothing relayed meanwhile

        await forwarder.start()
        await fake.wait_for(
            lambda m, p: (
                len(to_chat(fake, "copymessage", GROUP, start)) == 3
                and any(t.startswith("Refunds") for t in texts_to(fake, BEN, start))
            ),
            start=start,
            timeout=60,
        )
        await asyncio.sleep(1.0)  # anything sent twice would arrive meanwhile
    finally:
        polling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await polling
        await bot.session.close()

    relays = to_chat(fake, "copymessage", GROUP, start)
    assert [int(r["message_id"]) for r in relays] == sorted(int(r["message_id"]) for r in relays)
    assert all(int(r["message_thread_id"]) == int(card["message_thread_id"]) for r in relays)
    assert texts_to(fake, ANN, start) == [texts_to(fake, ANN, start)[0]]  # told once, only
    assert [t for t in texts_to(fake, BEN, start) if t.startswith(HELD)] == [
        texts_to(fake, BEN, start)[0]
    ]  # told once, then answered
    assert fake.unconfirmed == []
    async with services.session_factory() as session:
        kept = (
            await session.exec(
                select(TicketEvent.detail)
                .where(TicketEvent.kind == "message")
                .order_by(col(TicketEvent.id))
            )
        ).all()
    parts = [d for d in kept if "blue box" in d]
    assert len(parts) == 3 and all(f"part {n}" in d for n, d in enumerate(parts))
    await services.engine.dispose()  # before the forwarder's links go
    await forwarder.cut()


def texts_to(fake: FakeBotAPI, chat: int, start: int) -> list[str]:
    return [str(p.get("text", "")) for p in to_chat(fake, "sendmessage", chat, start)]


async def until_confirmed(fake: FakeBotAPI) -> None:
    """Every update handed out so far is done (its handler finished)."""
    for _ in range(100):
        if not fake.unconfirmed:
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"updates {fake.unconfirmed} were not confirmed")
