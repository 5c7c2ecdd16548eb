"""Forms survive a restart: a customer in the middle of the intake or an order lookup goes on
where they were, with the forms kept in the database (SQLite, PostgreSQL) or in Redis."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.app import Services, create_dispatcher, create_services
from bot.clock import ManualClock
from bot.config import load_config
from storage.database import create_engine
from tests.chat import PrivateChat
from tests.mocked_bot import MockedBot
from tests.sample_orders import import_sample_orders

POSTGRES_URL = os.environ.get("KEFU_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("KEFU_TEST_REDIS_URL")
CUSTOMER = 31

Restart = Callable[[], Awaitable[PrivateChat]]


async def reset_postgres(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


async def forget_redis_forms(url: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    keys = [key async for key in client.scan_iter(f"fsm:{MockedBot().id}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
async def restart(
    request: pytest.FixtureRequest,
    write_config: Callable[..., Path],
    clock: ManualClock,
    tmp_path: Path,
) -> AsyncIterator[Restart]:
    """Starts the service over the same database (and Redis): each call stops the running
    one, if any, and gives the customer's chat with a fresh service."""
    database = None
    replace: dict[str, str] = {}
    if request.param == "postgresql":
        if not POSTGRES_URL:
            pytest.skip("KEFU_TEST_DATABASE_URL is not set")
        await reset_postgres(POSTGRES_URL)
        database = POSTGRES_URL
    if request.param == "redis":
        if not REDIS_URL:
            pytest.skip("KEFU_TEST_REDIS_URL is not set")
        await forget_redis_forms(REDIS_URL)
        replace = {
            'fsm_storage = "database"': 'fsm_storage = "redis"',
            '# redis_url = "redis://127.0.0.1:6379/0"': f'redis_url = "{REDIS_URL}"',
        }
    path = write_config(database=database, replace=replace)
    running: list[Services] = []
    starts = 0

    async def start() -> PrivateChat:
        nonlocal starts
        if running:
            await running.pop().close()
        services = await create_services(load_config(path, environ={}), clock=clock)
        running.append(services)
        if starts == 0:
            await import_sample_orders(services, tmp_path, {})
        starts += 1
        return PrivateChat(create_dispatcher(services), MockedBot(), CUSTOMER, "en")

    yield start
    for services in running:
        await services.close()


async def test_the_intake_goes_on_after_a_restart(restart: Restart) -> None:
    customer = await restart()
    [choose] = await customer.say("/human")
    [describe] = await customer.press(choose, "Shipping")
    assert describe.text == "Please describe the problem in a few words."

    customer = await restart()
    [ask_order] = await customer.say("my parcel has not arrived for two weeks")
    assert ask_order.text == "Do you have an order number? Send it, or tap Skip."
    [done] = await customer.press(ask_order, "Skip")
    assert "T-000001" in done.text


async def test_the_order_lookup_goes_on_after_a_restart(restart: Restart) -> None:
    customer = await restart()
    [ask] = await customer.say("/order")
    assert ask.text == "Please send your order number (for example A-1001)."

    customer = await restart()
    [digits] = await customer.say("A-1003")
    assert digits.text.startswith("To protect your privacy")

    customer = await restart()
    [shown] = await customer.say("8003")
    assert shown.text.startswith("Order A-1003:")


async def test_the_lock_out_and_a_proof_survive_a_restart(restart: Restart) -> None:
    customer = await restart()
    await customer.say("/order A-1001")
    for digits in ("1111", "2222", "3333"):
        [reply] = await customer.say(digits)
    assert reply.text.startswith("I could not confirm that the order is yours")

    customer = await restart()
    [still] = await customer.say("/order A-1001")
    assert still.text.startswith("I could not confirm")

    [ask] = await customer.say("/order A-1003")
    assert ask.text.startswith("I could not confirm")  # locked for every order, not one


async def test_a_proven_order_is_shown_without_digits_after_a_restart(restart: Restart) -> None:
    customer = await restart()
    await customer.say("/order A-1003")
    [shown] = await customer.say("8003")
    assert shown.text.startswith("Order A-1003:")

    customer = await restart()
    [again] = await customer.say("/order A-1003")
    assert again.text.startswith("Order A-1003:")
