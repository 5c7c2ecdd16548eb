"""A return request through the real dispatcher: from the customer's orders to a return ticket
with items, reason and photos, or to a refusal that says why and offers a person."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiogram import Dispatcher
from aiogram.methods import CopyMessage
from sqlmodel import select

from bot.app import Services
from bot.clock import ManualClock
from storage.models import Ticket
from tests.chat import PrivateChat
from tests.conftest import StartServices
from tests.mocked_bot import MockedBot
from tests.sample_orders import import_sample_orders

SHANGHAI = ZoneInfo("Asia/Shanghai")
GROUP = -1001234
OWNER = 7
STRANGER = 8

# Two more orders for OWNER: one with an item that cannot be returned, one still on its way.
MORE_ORDERS = (
    "A-1007,13800138007,7,Wool scarf|clothing|1; Gift card|gift_card|1,delivered,ZTO,ZT1,"
    '"1 Road, Suzhou",2026-11-12T10:00:00+08:00,2026-11-13T10:00:00+08:00,'
    "2026-11-15T12:00:00+08:00,2026-11-15T18:00:00+08:00\n"
)


def buttons(reply) -> list[str]:
    markup = reply.reply_markup
    return [b.text for row in markup.inline_keyboard for b in row] if markup else []


@pytest.fixture
async def services(start_services: StartServices, clock: ManualClock, tmp_path: Path) -> Services:
    clock.set(datetime(2026, 11, 16, 10, 0, tzinfo=SHANGHAI))  # A-1001 delivered 3 days ago
    services = await start_services(replace={"group_id = 0": f"group_id = {GROUP}"})
    await import_sample_orders(
        services, tmp_path, {"A-1001": OWNER, "A-1002": OWNER}, more_rows=MORE_ORDERS
    )
    return services


async def only_ticket(services: Services) -> Ticket:
    async with services.session_factory() as session:
        return (await session.exec(select(Ticket))).one()


async def test_a_return_within_the_window_becomes_a_ticket_with_everything(
    services: Services, dispatcher: Dispatcher, bot: MockedBot
) -> None:
    owner = PrivateChat(dispatcher, bot, OWNER, "en")
    [choose] = await owner.say("/return")
    assert choose.text == "Which order is it?"
    assert buttons(choose) == [
        "A-1002 · T-shirt +1",
        "A-1007 · Wool scarf +1",
        "A-1001 · Running shoes",
    ]
    [reasons] = await owner.press(choose, "A-1001 · Running shoes")  # one item: not asked
    assert reasons.text == "Why are you returning it?"
    assert buttons(reasons) == [
        "Wrong size",
        "Damaged",
        "Not as described",
        "Changed my mind",
        "Other",
    ]
    [extras] = await owner.press(reasons, "Damaged")
    assert extras.text.startswith("If you like, send photos")
    [kept] = await owner.send_photo()
    assert kept.text == "Got it. Send more, or tap Done."
    await owner.say("the sole came off")
    start = len(bot.recorder.requests)
    [done] = await owner.press(kept, "Done")
    assert done.text.startswith("Your ticket T-000001 is open.")
    assert "Next steps: pack the item with its tags" in done.text

    ticket = await only_ticket(services)
    assert (ticket.category, ticket.order_number) == ("return_refund", "A-1001")
    # the agents' record, in the agents' language (the example config's Chinese team)
    assert (
        ticket.description
        == "退货：Running shoes × 1\n原因：商品损坏\n客户说明：the sole came off"
    )
    copies = [r for r in bot.recorder.requests[start:] if isinstance(r, CopyMessage)]
    assert [(c.chat_id, c.from_chat_id) for c in copies] == [(GROUP, OWNER)]

    # A button of the finished request answers, and opens nothing more.
    [over] = await owner.press(kept, "Done")
    assert over.text == "That return request is over. Send /return to start a new one."


async def test_a_return_after_the_window_is_refused_with_the_reason(
    services: Services, dispatcher: Dispatcher, bot: MockedBot, clock: ManualClock
) -> None:
    clock.advance(timedelta(days=5))  # A-1001 was delivered 8 days ago
    owner = PrivateChat(dispatcher, bot, OWNER, "zh")
    [choose] = await owner.say("/return")
    [refused] = await owner.press(choose, "A-1001 · Running shoes")
    assert refused.text == (
        "这个订单不能退货：签收后 7 天内才能申请退货，现在已经超过期限。\n"
        "如果您觉得有误，可以请人工客服帮您看看。"
    )
    [choose_category] = await owner.press(refused, "还有问题？联系人工客服")
    assert choose_category.text == "我来为您转接人工客服。请问是关于什么的问题？"
    async with services.session_factory() as session:
        assert (await session.exec(select(Ticket))).all() == []


async def test_items_that_cannot_be_returned_are_named(
    dispatcher: Dispatcher, bot: MockedBot
) -> None:
    owner = PrivateChat(dispatcher, bot, OWNER, "en")
    [choose] = await owner.say("/return")
    [items] = await owner.press(choose, "A-1007 · Wool scarf +1")
    assert items.text == "Which item do you want to return?"
    assert buttons(items) == ["Wool scarf × 1", "Gift card × 1", "All items"]
    [refused] = await owner.press(items, "Gift card × 1")
    assert refused.text.startswith("These items cannot be returned: Gift card.")
    [refused_all] = await owner.press(items, "All items")
    assert refused_all.text.startswith("These items cannot be returned: Gift card.")

    [choose] = await owner.say("/return")
    [items] = await owner.press(choose, "A-1007 · Wool scarf +1")
    [reasons] = await owner.press(items, "Wool scarf × 1")
    assert reasons.text == "Why are you returning it?"


async def test_an_order_not_yet_delivered_cannot_be_returned(
    dispatcher: Dispatcher, bot: MockedBot
) -> None:
    owner = PrivateChat(dispatcher, bot, OWNER, "en")
    [status] = await owner.say("/order A-1002")
    assert buttons(status) == ["Still a problem? Talk to a person"]  # no return button
    [choose] = await owner.say("/return")
    [refused] = await owner.press(choose, "A-1002 · T-shirt +1")
    assert refused.text.startswith("This order cannot be returned: it is on its way.")


async def test_the_knowledge_base_answer_leads_into_the_return(
    dispatcher: Dispatcher, bot: MockedBot
) -> None:
    owner = PrivateChat(dispatcher, bot, OWNER, "zh")
    [reply] = await owner.say("我想退货")
    assert reply.text.startswith("签收后 7 天内")
    assert reply.text.endswith("是哪个订单？")
    assert "A-1001 · Running shoes" in buttons(reply)


async def test_a_customer_without_linked_orders_proves_one_then_returns_from_it(
    services: Services, dispatcher: Dispatcher, bot: MockedBot
) -> None:
    stranger = PrivateChat(dispatcher, bot, STRANGER, "en")
    [ask] = await stranger.say("/return")
    assert ask.text.startswith("Which order do you want to return something from?")
    [digits] = await stranger.say("A-1001")
    assert digits.text.startswith("To protect your privacy")
    [order] = await stranger.say("8001")
    assert order.text.startswith("Order A-1001: delivered")
    assert buttons(order) == ["Still a problem? Talk to a person", "Return an item"]
    [reasons] = await stranger.press(order, "Return an item")
    [extras] = await stranger.press(reasons, "Wrong size")
    [done] = await stranger.press(extras, "Done")
    assert done.text.startswith("Your ticket T-000001 is open.")
    ticket = await only_ticket(services)
    assert ticket.description == "退货：Running shoes × 1\n原因：尺码不合适"

    # Proof is per customer: another stranger pressing the same button is asked for it.
    other = PrivateChat(dispatcher, bot, STRANGER + 1, "en")
    [asked] = await other.press(order, "Return an item")
    assert asked.text.startswith("To protect your privacy")
