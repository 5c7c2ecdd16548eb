"""The shop's orders API as a provider, against a real aiohttp server on 127.0.0.1: the field
mapping, the auth header, and every way the shop can fail, down to what the customer sees."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiogram import Dispatcher
from aiohttp import web
from sqlmodel import select

from bot.app import Services
from bot.clock import ManualClock
from bot.config import Config, ConfigError, load_config
from bot.orders.http_api import HttpOrders
from bot.orders.providers import OrderItem, OrdersUnavailable
from storage.models import Customer, Ticket
from tests.chat import PrivateChat
from tests.conftest import StartServices
from tests.mocked_bot import MockedBot

OWNER = 7
TOKEN = "Bearer shop-secret"

# An order as a shop with its own names might answer it.
SHOP_ORDER = {
    "order_no": "A-2001",
    "state": "SHIPPED",
    "buyer": {
        "mobile": "13900139001",
        "tg": OWNER,
        "address": "1 Shop Street, Hangzhou",
        "level": "A",
    },
    "lines": [{"title": "Rain jacket", "kind": "clothing", "qty": 1}],
    "shipping": {"company": "SF Express", "waybill": "SF99"},
    "created": "2026-11-20T10:00:00+08:00",
    "eta": "2026-11-25T18:00:00+08:00",
}

MAPPING = """
[orders.http.fields]
number = "order_no"
status = "state"
items = "lines"
item_name = "title"
item_category = "kind"
item_quantity = "qty"
phone = "buyer.mobile"
telegram_id = "buyer.tg"
vip_tier = "buyer.level"
address = "buyer.address"
carrier = "shipping.company"
tracking_number = "shipping.waybill"
ordered_at = "created"
expected_delivery_at = "eta"
orders = "data"

[orders.http.statuses]
SHIPPED = "shipped"
DONE = "delivered"
"""


@dataclass
class Shop:
    """The shop's API; `mode` says how it behaves next."""

    mode: str = "ok"
    failures_left: int = 0
    calls: int = 0
    headers: list[str | None] = field(default_factory=list)
    url: str = ""

    async def order(self, request: web.Request) -> web.StreamResponse:
        self.calls += 1
        self.headers.append(request.headers.get("Authorization"))
        if self.failures_left > 0:
            self.failures_left -= 1
            return web.Response(status=500, text="oops")
        if self.mode == "500":
            return web.Response(status=500, text="Internal Server Error")
        if self.mode == "slow":
            await asyncio.sleep(2)
        if self.mode == "garbage":
            return web.Response(text="<html>maintenance</html>", content_type="application/json")
        if self.mode == "wrong_shape":
            return web.json_response({"order_no": "A-2001", "state": "SHIPPED", "lines": "x"})
        if self.mode == "401":
            return web.Response(status=401)
        if request.match_info["number"] != "A-2001":
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response(SHOP_ORDER)

    async def recent(self, request: web.Request) -> web.StreamResponse:
        self.calls += 1
        if request.match_info["telegram_id"] != str(OWNER):
            return web.json_response({"data": []})
        return web.json_response({"data": [SHOP_ORDER]})


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    shop = Shop()
    app = web.Application()
    app.router.add_get("/orders/{number}", shop.order)
    app.router.add_get("/customers/{telegram_id}/orders", shop.recent)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    shop.url = f"http://127.0.0.1:{port}"
    yield shop
    await runner.cleanup()


def with_mapping(config_text: str, mapping: str) -> str:
    """The config with the example's field and status tables replaced by `mapping`."""
    start = config_text.index("[orders.http.fields]")
    end = config_text.index("\n[hours]\n") + 1
    return config_text[:start] + mapping.lstrip() + "\n" + config_text[end:]


@pytest.fixture
def http_config(write_config: Callable[..., Path], shop: Shop) -> Config:
    path = write_config()
    text = with_mapping(path.read_text(encoding="utf-8"), MAPPING)
    text = text.replace('provider = "builtin"', 'provider = "http"')
    text = text.replace('\nurl = ""\n', f'\nurl = "{shop.url}/orders/{{number}}"\n', 1)
    text = text.replace(
        'recent_url = ""', f'recent_url = "{shop.url}/customers/{{telegram_id}}/orders"'
    )
    text = text.replace("timeout_seconds = 3.0", "timeout_seconds = 0.3")
    text = text.replace("backoff_seconds = 0.5", "backoff_seconds = 0.01")
    text = text.replace("breaker_failures = 5", "breaker_failures = 2")
    text = text.replace(  # tier A answered within 10 minutes, stricter than any priority's 20+
        "A = { first_response_minutes = 60,", "A = { first_response_minutes = 10,"
    )
    path.write_text(text, encoding="utf-8")
    return load_config(path, environ={"KEFU_ORDERS_API_TOKEN": TOKEN})


@pytest.fixture
async def provider(http_config: Config, clock: ManualClock) -> AsyncIterator[HttpOrders]:
    provider = HttpOrders(http_config.orders.http, clock)
    yield provider
    await provider.close()


async def test_the_shops_json_is_mapped_to_an_order(provider: HttpOrders, shop: Shop) -> None:
    order = await provider.find("a-2001".upper())
    assert order is not None
    assert (order.number, order.status, order.phone, order.telegram_id) == (
        "A-2001",
        "shipped",
        "13900139001",
        OWNER,
    )
    assert order.items == (OrderItem(name="Rain jacket", category="clothing", quantity=1),)
    assert (order.carrier, order.tracking_number) == ("SF Express", "SF99")
    assert order.vip_tier == "A"
    assert order.expected_delivery_at == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert shop.headers == [TOKEN]
    assert [o.number for o in await provider.recent_for(OWNER)] == ["A-2001"]
    assert await provider.recent_for(OWNER + 1) == []


async def test_an_unknown_order_is_none(provider: HttpOrders) -> None:
    assert await provider.find("A-404") is None


async def test_server_errors_are_tried_again(provider: HttpOrders, shop: Shop) -> None:
    shop.failures_left = 2
    order = await provider.find("A-2001")
    assert order is not None and shop.calls == 3


@pytest.mark.parametrize(
    ("mode", "calls"), [("500", 3), ("slow", 3), ("garbage", 1), ("wrong_shape", 1), ("401", 1)]
)
async def test_every_failure_becomes_orders_unavailable(
    provider: HttpOrders, shop: Shop, mode: str, calls: int
) -> None:
    shop.mode = mode
    with pytest.raises(OrdersUnavailable):
        await provider.find("A-2001")
    assert shop.calls == calls


async def test_the_circuit_breaker_leaves_a_failing_shop_alone(
    provider: HttpOrders, shop: Shop, clock: ManualClock
) -> None:
    shop.mode = "garbage"
    for _ in range(2):
        with pytest.raises(OrdersUnavailable):
            await provider.find("A-2001")
    assert shop.calls == 2
    shop.mode = "ok"
    with pytest.raises(OrdersUnavailable):  # open: the shop is not called
        await provider.find("A-2001")
    assert shop.calls == 2

    clock.advance(timedelta(seconds=61))
    assert await provider.find("A-2001") is not None  # one try let through, and it closes
    assert await provider.find("A-2001") is not None
    assert shop.calls == 4


@pytest.fixture
async def services(http_config: Config, start_services: StartServices) -> Services:
    return await start_services(http_config)


async def test_customers_get_the_shops_answer_through_the_bot(
    dispatcher: Dispatcher, shop: Shop
) -> None:
    bot = MockedBot()
    owner = PrivateChat(dispatcher, bot, OWNER, "zh")
    [reply] = await owner.say("我的订单 A-2001 到哪了")
    assert reply.text.splitlines()[:3] == [
        "订单 A-2001：已发货",
        "商品：Rain jacket × 1",
        "预计送达：2026-11-25",
    ]
    assert "电话：139****9001 · 地址：**** Hangzhou" in reply.text

    stranger = PrivateChat(dispatcher, bot, OWNER + 1, "zh")
    [ask] = await stranger.say("我的订单 A-2001 到哪了")
    assert ask.text == "为保护您的隐私，请发送订单 A-2001 收货手机号的后 4 位。"
    [mismatch] = await stranger.say("0000")
    assert mismatch.text == "与我们的记录不符，还可以再试 2 次。"


@pytest.mark.parametrize("mode", ["500", "slow", "garbage", "401"])
async def test_a_failing_shop_leaves_the_customer_a_way_to_a_person(
    dispatcher: Dispatcher, shop: Shop, mode: str
) -> None:
    shop.mode = mode
    bot = MockedBot()
    owner = PrivateChat(dispatcher, bot, OWNER, "en")
    [reply] = await owner.say("where is A-2001")
    assert reply.text == (
        "Sorry, I cannot look up orders right now. Please try again later, or talk to a person."
    )
    [choose] = await owner.press(reply, "Still a problem? Talk to a person")
    assert choose.text == "I will pass you to a person. What is it about?"


def test_a_mapping_to_an_unknown_status_is_a_config_error(
    write_config: Callable[..., Path],
) -> None:
    path = write_config()
    mapping = '[orders.http.statuses]\nGONE = "vanished"\n'
    path.write_text(with_mapping(path.read_text(encoding="utf-8"), mapping), encoding="utf-8")
    with pytest.raises(ConfigError, match="'GONE' maps to 'vanished'"):
        load_config(path, environ={})


async def test_a_lookup_after_shutdown_fails_without_opening_a_connection(
    http_config: Config, clock: ManualClock, shop: Shop
) -> None:
    provider = HttpOrders(http_config.orders.http, clock)
    assert await provider.find("A-2001") is not None
    await provider.close()
    with pytest.raises(OrdersUnavailable):
        await provider.find("A-2001")
    assert shop.calls == 1


async def test_the_shops_vip_tier_reaches_the_customer_and_their_ticket(
    services: Services, dispatcher: Dispatcher, shop: Shop, clock: ManualClock
) -> None:
    """The tier the shop gives with the customer's orders is set on them when the orders are
    read, and their next ticket starts one priority higher with the tier's target."""
    clock.set(datetime(2026, 3, 2, 2, 0, tzinfo=UTC))  # Monday 10:00 in Shanghai: open
    bot = MockedBot()
    owner = PrivateChat(dispatcher, bot, OWNER, "en")
    await owner.say("where is my order A-2001")
    async with services.session_factory() as session:
        customer = (
            await session.exec(select(Customer).where(Customer.external_id == str(OWNER)))
        ).one()
    assert customer.vip_tier == "A"
    [choose] = await owner.say("/human")
    await owner.press(choose, "Shipping")
    await owner.say("it is late")
    [done] = await owner.say("A-2001")
    assert done.text == "Your ticket T-000001 is open. An agent will reply here within 10 minutes."
    async with services.session_factory() as session:
        ticket = (await session.exec(select(Ticket))).one()
    assert (ticket.priority, ticket.vip_tier) == ("high", "A")
    assert ticket.first_response_due - ticket.created_at == timedelta(minutes=10)
