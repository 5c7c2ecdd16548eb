"""Where is my order: the order is shown only to its owner, with phone and address masked;
strangers learn nothing, and a provider that fails still leaves the customer a way to a person."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiogram import Dispatcher
from pydantic import ValidationError
from sqlmodel import select

from bot.app import Services
from bot.clock import ManualClock
from bot.orders.providers import OrdersUnavailable, OrderView, mask_address, mask_phone
from storage.models import Ticket
from tests.chat import PrivateChat
from tests.conftest import StartServices
from tests.mocked_bot import MockedBot
from tests.sample_orders import import_sample_orders

SHANGHAI = ZoneInfo("Asia/Shanghai")
OWNER = 7
STRANGER = 8


def buttons(reply) -> list[str]:
    markup = reply.reply_markup
    return [b.text for row in markup.inline_keyboard for b in row] if markup else []


@pytest.fixture
async def services(start_services: StartServices, clock: ManualClock, tmp_path: Path) -> Services:
    clock.set(datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI))
    services = await start_services()
    await import_sample_orders(services, tmp_path, {"A-1002": OWNER})
    return services


async def test_the_owner_sees_the_real_status_at_once(
    dispatcher: Dispatcher, bot: MockedBot
) -> None:
    owner = PrivateChat(dispatcher, bot, OWNER, "zh")
    [reply] = await owner.say("我的订单a-1002到哪了")
    assert reply.text.splitlines() == [
        "订单 A-1002：运输中",
        "商品：T-shirt × 2, Socks × 3",
        "原预计送达：2026-11-22，已经延误了，非常抱歉让您久等。",  # the clock is past it
        "快递：Yunda，运单号 YD4420002",
        "电话：138****8002 · 地址：**** Beijing",
    ]
    assert "还有问题？联系人工客服" in buttons(reply)


async def test_a_stranger_proves_it_with_the_phone_digits(
    dispatcher: Dispatcher, bot: MockedBot
) -> None:
    stranger = PrivateChat(dispatcher, bot, STRANGER, "en")
    [ask] = await stranger.say("/order A-1003")
    assert ask.text == (
        "To protect your privacy, please send the last 4 digits of the phone number "
        "on order A-1003."
    )
    [reply] = await stranger.say("8003")
    assert reply.text.splitlines()[:2] == [
        "Order A-1003: shipped",
        "Items: Bluetooth earphones × 1",
    ]
    assert "Phone: 138****8003 · Address: **** Guangzhou" in reply.text
    assert "13800138003" not in reply.text and "3 Demo Lane" not in reply.text
    assert "Expected delivery: 2026-11-24" in reply.text.splitlines()  # not late yet


async def test_a_stranger_cannot_tell_whether_an_order_exists(
    dispatcher: Dispatcher, bot: MockedBot
) -> None:
    async def try_number(user_id: int, number: str) -> list[str]:
        chat = PrivateChat(dispatcher, bot, user_id, "en")
        replies = [await chat.say(f"where is my order {number}"), await chat.say("1234")]
        return [r.text.replace(number, "N") for [r] in replies]

    existing = await try_number(21, "A-1002")
    missing = await try_number(22, "A-9999")
    assert existing == missing
    assert existing[1] == "That does not match our records. Tries left: 2."


async def test_wrong_digits_lock_the_lookup_and_offer_a_person(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    stranger = PrivateChat(dispatcher, bot, STRANGER, "en")
    await stranger.say("/order A-1001")
    [first] = await stranger.say("1111")
    [second] = await stranger.say("2222")
    [locked] = await stranger.say("3333")
    assert (first.text, second.text) == (
        "That does not match our records. Tries left: 2.",
        "That does not match our records. Tries left: 1.",
    )
    assert locked.text.startswith("I could not confirm that the order is yours")
    assert buttons(locked) == ["Still a problem? Talk to a person"]

    # Even with the right digits, nothing is shown while locked.
    [again] = await stranger.say("/order A-1001")
    assert again.text.startswith("I could not confirm")

    clock.advance(timedelta(minutes=61))
    [ask] = await stranger.say("/order A-1001")
    assert ask.text.startswith("To protect your privacy")
    [shown] = await stranger.say("8001")
    assert shown.text.startswith("Order A-1001: delivered")

    # The person button opens a ticket with the order attached, without asking for it again.
    [choose] = await stranger.press(locked, "Still a problem? Talk to a person")
    [describe] = await stranger.press(choose, "Order")
    assert describe.text == "Please describe the problem in a few words."
    [done] = await stranger.say("the parcel never came")
    assert done.text.startswith("Your ticket T-000001 is open")
    async with services.session_factory() as session:
        ticket = (await session.exec(select(Ticket))).one()
    assert (ticket.category, ticket.order_number) == ("order", "A-1001")


async def test_the_knowledge_base_entry_starts_the_lookup(
    dispatcher: Dispatcher, bot: MockedBot
) -> None:
    owner = PrivateChat(dispatcher, bot, OWNER, "zh")
    [ask] = await owner.say("我的订单到哪了")
    assert ask.text == "请发送您的订单号（例如 A-1001）。"
    [reply] = await owner.say("A-1002")
    assert reply.text.startswith("订单 A-1002：运输中")


async def test_something_that_is_not_an_order_number(
    dispatcher: Dispatcher, bot: MockedBot
) -> None:
    owner = PrivateChat(dispatcher, bot, OWNER, "en")
    await owner.say("/order")
    [reply] = await owner.say("I lost it")
    assert reply.text.startswith("That does not look like an order number")
    assert buttons(reply) == ["Still a problem? Talk to a person"]
    # The lookup is over: the next message is an ordinary question again.
    [answer] = await owner.say("what are your opening hours")
    assert "does not look like" not in answer.text


class BrokenProvider:
    async def find(self, number: str) -> OrderView | None:
        raise OrdersUnavailable("shop API down")

    async def recent_for(self, telegram_id: int, limit: int = 5) -> list[OrderView]:
        raise OrdersUnavailable("shop API down")

    async def close(self) -> None:
        pass


async def test_a_provider_failure_is_explained_with_a_way_to_a_person(
    services: Services, dispatcher: Dispatcher, bot: MockedBot
) -> None:
    services.order_status.provider = BrokenProvider()
    owner = PrivateChat(dispatcher, bot, OWNER, "en")
    [reply] = await owner.say("where is A-1002?")
    assert reply.text == (
        "Sorry, I cannot look up orders right now. Please try again later, or talk to a person."
    )
    [choose] = await owner.press(reply, "Still a problem? Talk to a person")
    assert choose.text == "I will pass you to a person. What is it about?"


def test_masking() -> None:
    assert mask_phone("13800138001") == "138****8001"
    assert mask_phone("+4917612345678") == "+49*******5678"
    assert mask_phone("1234") == "****"
    assert mask_phone(None) == ""
    assert mask_address("88 Example Road, Shanghai") == "**** Shanghai"
    assert mask_address("上海市浦东新区某路 88 号") == "****"
    assert mask_address(None) == ""


async def test_a_question_asked_while_an_order_number_is_awaited_is_answered(
    dispatcher: Dispatcher, bot: MockedBot
) -> None:
    customer = PrivateChat(dispatcher, bot, STRANGER, "en")
    [ask] = await customer.say("/order")
    assert ask.text.startswith("Please send your order number")
    [answer] = await customer.say("actually nevermind, what are your opening hours")
    assert "does not look like an order number" not in answer.text
    left, hours = answer.text.split("\n\n", 1)
    assert (
        left == "(I have stopped waiting for the order: send /order when you want to look it up.)"
    )
    assert hours.startswith("We are open Mon–Fri 9:00–18:00")
    # The lookup was left: an order number now is an ordinary message again.
    [shown] = await customer.say("A-1003")
    assert shown.text.startswith("To protect your privacy")


async def test_a_question_instead_of_the_digits_is_answered_and_costs_no_try(
    dispatcher: Dispatcher, bot: MockedBot
) -> None:
    customer = PrivateChat(dispatcher, bot, STRANGER, "zh")
    [ask] = await customer.say("/order A-1003")
    [answer] = await customer.say("你们营业时间是几点")
    left, hours = answer.text.split("\n\n", 1)
    assert left == "（已不再等待订单信息：需要查询订单时请发送 /order。）"
    assert hours.startswith("我们的营业时间：")
    [ask_again] = await customer.say("/order A-1003")
    [wrong] = await customer.say("1111")
    assert wrong.text == "与我们的记录不符，还可以再试 2 次。"


@pytest.mark.parametrize("argument", ["x" * 4000, "A-" + "1" * 4000])
async def test_an_absurd_order_argument_is_not_an_order_number(
    dispatcher: Dispatcher, bot: MockedBot, argument: str
) -> None:
    customer = PrivateChat(dispatcher, bot, STRANGER, "en")
    [reply] = await customer.say(f"/order {argument}")
    assert reply.text.startswith("That does not look like an order number")


@pytest.mark.parametrize(
    "wrong",
    [
        {"status": "lost"},
        {"items": [{"name": "Hat", "quantity": 0}]},
        {"items": [{"name": "Hat", "quantity": True}]},
        {"items": [{"name": "", "quantity": 1}]},
        {"ordered_at": "yesterday"},
        {"telegram_id": "abc"},
    ],
)
def test_an_order_is_checked_whoever_provides_it(wrong: dict[str, Any]) -> None:
    order: dict[str, Any] = {
        "number": 2001,  # a shop's JSON may hold it as a number
        "status": "paid",
        "items": [{"name": "Hat"}],
        "ordered_at": "2026-11-20T10:00:00",
        "phone": "",
    }
    view = OrderView.model_validate(order)
    assert (view.number, view.items[0].quantity, view.phone) == ("2001", 1, None)
    assert view.ordered_at == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # no zone: UTC
    with pytest.raises(ValidationError):
        OrderView.model_validate(order | wrong)
