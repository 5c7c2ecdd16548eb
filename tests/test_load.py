"""Many customers at once through the real dispatcher, on a small connection pool: nothing
waits for a second connection while it holds one, so nothing times out and nobody is told
"something went wrong"."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.app import create_dispatcher
from tests.chat import PrivateChat
from tests.conftest import StartServices
from tests.mocked_bot import MockedBot
from tests.sample_orders import import_sample_orders

APOLOGY = "Sorry, something went wrong"
# Long enough for every update queued on the two connections to get one on a loaded machine (30
# intakes through 2 connections took over 3 s beside other work), short enough that an update
# holding one connection while it waits for another (a deadlock of the pool) fails the test.
POOL_TIMEOUT = 20.0


async def test_sixty_simultaneous_order_lookups_on_a_pool_of_two(
    start_services: StartServices, database: str, tmp_path: Path
) -> None:
    services = await start_services(
        database=database,
        replace={
            "pool_size = 10": "pool_size = 2",
            "pool_timeout_seconds = 30.0": f"pool_timeout_seconds = {POOL_TIMEOUT}",
        },
    )
    await import_sample_orders(services, tmp_path, {})
    dispatcher = create_dispatcher(services)
    bot = MockedBot()
    customers = [PrivateChat(dispatcher, bot, 5000 + n, "en") for n in range(60)]
    answers = await asyncio.gather(*(c.say("/order A-1001") for c in customers))
    texts = [reply.text for replies in answers for reply in replies]
    assert not [t for t in texts if t.startswith(APOLOGY)]
    assert len(texts) == 60
    assert all(t.startswith("To protect your privacy") for t in texts)


async def test_thirty_intakes_at_once(start_services: StartServices, database: str) -> None:
    services = await start_services(
        database=database,
        replace={
            "pool_size = 10": "pool_size = 2",
            "pool_timeout_seconds = 30.0": f"pool_timeout_seconds = {POOL_TIMEOUT}",
        },
    )
    dispatcher = create_dispatcher(services)
    bot = MockedBot()
    customers = [PrivateChat(dispatcher, bot, 6000 + n, "en") for n in range(30)]
    chosen = await asyncio.gather(*(c.say("/human") for c in customers))
    described = await asyncio.gather(
        *(c.press(replies[0], "Shipping") for c, replies in zip(customers, chosen, strict=True))
    )
    asked = await asyncio.gather(*(c.say("my parcel is lost") for c in customers))
    done = await asyncio.gather(
        *(c.press(replies[0], "Skip") for c, replies in zip(customers, asked, strict=True))
    )
    texts = [r.text for group in (chosen, described, asked, done) for rs in group for r in rs]
    assert not [t for t in texts if t.startswith(APOLOGY)]
    numbers = sorted(t.split("ticket ")[1].split(" ")[0] for rs in done for t in [rs[0].text])
    assert numbers == [f"T-{n:06d}" for n in range(1, 31)]
