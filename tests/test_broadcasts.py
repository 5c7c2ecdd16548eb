"""Broadcasts (应急预案): an admin sends one message, in zh and en, to a segment of customers;
it goes out through the durable schedule at Telegram's pace, once each, honouring opt-outs,
blocked and banned customers, and can be cancelled while in progress. Through the real
dispatcher with the recording session, on the test's clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiogram.exceptions import TelegramForbiddenError
from aiogram.methods import AnswerCallbackQuery, SendMessage
from aiogram.types import InlineKeyboardMarkup
from sqlmodel import col, select

from bot.app import Services, create_dispatcher
from bot.clock import ManualClock
from bot.config import load_config
from bot.schedule.delivery import RateLimiter
from storage.database import create_session_factory, migrate, open_engine
from storage.models import (
    Broadcast,
    Customer,
    CustomerBan,
    Order,
    OrderStatus,
    ScheduledKind,
    ScheduledMessage,
    Ticket,
    TicketCategory,
    TicketPriority,
    TicketStatus,
)
from tests.chat import PrivateChat
from tests.conftest import TEST_KB, Kefu, StartServices
from tests.mocked_bot import MockedBot

ADMIN = 901
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)
DELAY_ZH = "受台风影响，华东地区配送将延迟 1-2 天。"
DELAY_EN = "A typhoon is delaying deliveries in East China by 1-2 days."
RATE = "messages_per_second = 20"


@pytest.fixture
async def services(start_services: StartServices, clock: ManualClock, database: str) -> Services:
    """On SQLite, and on PostgreSQL when KEFU_TEST_DATABASE_URL is set."""
    clock.set(NOW)
    return await start_services(
        kb=TEST_KB,
        database=database,
        replace={"admins = []": f"admins = [{ADMIN}]", "messages_per_second = 30": RATE},
    )


async def seed_customers(
    services: Services, languages: dict[int, str | None], channel: str = "telegram"
) -> dict[int, int]:
    """Customers by Telegram id and language; their row ids."""
    now = services.clock.now()
    async with services.session_factory() as session:
        customers = {
            telegram_id: Customer(
                channel=channel,
                external_id=str(telegram_id),
                language=language,
                first_seen=now - timedelta(days=60),
                last_seen=now - timedelta(days=30),
            )
            for telegram_id, language in languages.items()
        }
        session.add_all(customers.values())
        await session.commit()
        return {telegram_id: c.id for telegram_id, c in customers.items() if c.id is not None}


async def seed_order(
    services: Services,
    telegram_id: int,
    status: OrderStatus,
    *,
    carrier: str = "SF",
    address: str = "浙江省杭州市西湖区文三路 1 号",
    days_ago: int = 3,
) -> None:
    async with services.session_factory() as session:
        count = len((await session.exec(select(Order))).all())
        session.add(
            Order(
                number=f"A{count + 1:05d}",
                telegram_id=telegram_id,
                items="[]",
                status=status,
                carrier=carrier,
                address=address,
                ordered_at=services.clock.now() - timedelta(days=days_ago),
            )
        )
        await session.commit()


def broadcasts_to(bot: MockedBot) -> list[SendMessage]:
    return [m for m in bot.recorder.sent_messages() if m.text in (DELAY_ZH, DELAY_EN)]


async def write_broadcast(admin: PrivateChat, segment: str, zh: str, en: str) -> SendMessage:
    """The whole form, up to the preview with its Send and Cancel buttons."""
    await admin.say("/broadcast")
    await admin.say(segment)
    await admin.say(zh)
    *_, preview = await admin.say(en)
    return preview


async def test_segment_counts_on_seeded_orders(services: Services, clock: ManualClock) -> None:
    ids = await seed_customers(services, {1: "zh", 2: "en", 3: "zh", 4: None, 5: "en", 6: "zh"})
    await seed_order(services, 1, OrderStatus.SHIPPED)
    await seed_order(services, 2, OrderStatus.IN_TRANSIT, carrier="YTO")
    await seed_order(services, 3, OrderStatus.DELIVERED, address="广东省深圳市南山区", days_ago=40)
    await seed_order(services, 4, OrderStatus.SHIPPED, address="上海市浦东新区")
    await seed_order(services, 4, OrderStatus.PAID, address="浙江省宁波市")
    await seed_order(services, 99, OrderStatus.SHIPPED)  # no such customer: counts no one
    async with services.session_factory() as session:
        session.add(
            Ticket(
                customer_id=ids[5],
                channel="telegram",
                category=TicketCategory.ORDER,
                priority=TicketPriority.NORMAL,
                status=TicketStatus.WAITING,
                created_at=clock.now(),
                updated_at=clock.now(),
                first_response_due=clock.now(),
                resolution_due=clock.now(),
            )
        )
        six = await session.get(Customer, ids[6])
        assert six is not None
        six.last_seen = clock.now() - timedelta(days=2)
        session.add(six)
        await session.commit()

    async def count(segment: str) -> tuple[int, int, int]:
        async with services.session_factory() as session:
            audience = await services.broadcasts.audience(session, segment)
        return audience.reachable, audience.zh, audience.en

    assert await count("everyone") == (6, 4, 2)  # no language: the default (zh)
    assert await count("status=shipped") == (2, 2, 0)
    assert await count("status=shipped,in_transit") == (3, 2, 1)
    assert await count("status=shipped carrier=sf") == (2, 2, 0)
    assert await count("carrier=YTO") == (1, 0, 1)
    assert await count("region=浙江") == (3, 2, 1)  # 1, 2 and 4's order in Ningbo
    assert await count("region=浙江 status=shipped") == (1, 1, 0)  # one order holds both
    assert await count("from=2026-01-01 to=2026-01-31") == (1, 1, 0)  # 3 ordered 40 days ago
    assert await count("from=2026-02-20") == (3, 2, 1)
    assert await count("contacted=7") == (1, 1, 0)
    assert await count("open_tickets") == (1, 0, 1)
    assert await count("open_tickets status=shipped") == (0, 0, 0)


async def test_broadcast_to_a_segment_in_zh_and_en_delivered_once_each_at_the_configured_rate(
    services: Services, bot: MockedBot
) -> None:
    zh_readers = {1000 + n: "zh" for n in range(30)}
    en_readers = {2000 + n: "en" for n in range(30)}
    await seed_customers(services, {**zh_readers, **en_readers, 3000: "zh"})
    for telegram_id in [*zh_readers, *en_readers]:
        await seed_order(services, telegram_id, OrderStatus.IN_TRANSIT)
    await seed_order(services, 3000, OrderStatus.DELIVERED)  # not in the segment
    dispatcher = create_dispatcher(services)
    admin = PrivateChat(dispatcher, bot, ADMIN, "en")

    [ask] = await admin.say("/broadcast")
    assert ask.text.startswith("Who should get it?")
    [ask_zh] = await admin.say("status=in_transit")
    assert ask_zh.text.startswith("Customers in this segment now: 60.")
    [ask_en] = await admin.say(DELAY_ZH)
    assert ask_en.text == "Now the English text (everyone else gets it)."
    intro, sample_zh, sample_en, preview = await admin.say(DELAY_EN)
    assert intro.text == "This is how it will look:"
    assert (sample_zh.text, sample_en.text) == (DELAY_ZH, DELAY_EN)
    assert isinstance(sample_zh.reply_markup, InlineKeyboardMarkup)
    assert sample_zh.reply_markup.inline_keyboard[0][0].text == "🔕 不再接收此类消息"
    assert preview.text == (
        "Broadcast #1 to: orders on its way.\n"
        "Recipients: 60 (30 in Chinese, 30 in English); left out: 0 who stopped "
        "these messages, 0 who blocked the bot, 0 banned.\nSend it?"
    )
    assert broadcasts_to(bot) == [sample_zh, sample_en]  # nothing to customers before Send
    [sent] = await admin.press(preview, "📣 Send")
    assert sent.text == (
        "Broadcast #1 is on its way (recipients: 60). /broadcast status 1 shows how it goes."
    )
    [] = await admin.press(preview, "📣 Send")  # pressed twice: sent once
    answers = bot.recorder.of_type(AnswerCallbackQuery)
    assert answers[-1].text == "Broadcast #1 has already been sent."

    # 60 customers at the configured 20 a second: on a virtual clock, three seconds at least
    moments: list[float] = []
    now = 0.0

    def monotonic() -> float:
        return now

    async def sleep(seconds: float) -> None:
        nonlocal now
        now += seconds

    pace = services.config.schedule
    assert pace.messages_per_second == 20
    limiter = RateLimiter(pace.messages_per_second, pace.seconds_per_chat, monotonic, sleep)
    services.delivery.limiter = limiter
    original = limiter.wait

    async def wait(chat_id: int) -> None:
        await original(chat_id)
        moments.append(now)

    limiter.wait = wait  # type: ignore[method-assign]
    customers = MockedBot()
    assert await services.delivery.deliver_due(customers) == 60
    assert await services.delivery.deliver_due(customers) == 0
    delivered = broadcasts_to(customers)
    assert sorted(int(m.chat_id) for m in delivered) == sorted([*zh_readers, *en_readers])
    assert {int(m.chat_id): m.text for m in delivered} == {
        **dict.fromkeys(zh_readers, DELAY_ZH),
        **dict.fromkeys(en_readers, DELAY_EN),
    }
    assert len(moments) == 60
    for index in range(len(moments) - 20):
        assert moments[index + 20] - moments[index] >= 1.0 - 1e-9  # never 21 in one second
    assert moments[-1] == pytest.approx(2.0)  # the 41st to 60th in the third second

    [status] = await admin.say("/broadcast status 1")
    assert status.text.startswith(
        "Broadcast #1 (sent) to: orders on its way. Written by admin:901"
    )
    assert (
        "Recipients: 60. 60 delivered, 0 failed, 0 unreachable (blocked the bot), 0 still to "
        "send, 0 not sent (cancelled), 0 skipped" in status.text
    )
    async with services.session_factory() as session:
        record = await session.get(Broadcast, 1)
    assert record is not None
    assert (record.created_by, record.sent_by, record.segment) == (
        "admin:901",
        "admin:901",
        "status=in_transit",
    )
    assert (record.text_zh, record.text_en, record.sent_at) == (DELAY_ZH, DELAY_EN, NOW)


async def test_the_flow_in_chinese_and_the_cancel_button(
    services: Services, bot: MockedBot
) -> None:
    await seed_customers(services, {1: "zh"})
    admin = PrivateChat(create_dispatcher(services), bot, ADMIN, "zh")
    [ask] = await admin.say("/broadcast")
    assert ask.text.startswith("发给哪些客户？")
    [wrong] = await admin.say("status=lost")
    assert wrong.text.startswith("“lost”不是订单状态，可用的有：paid, packed, shipped")
    [ask_zh] = await admin.say("everyone")
    assert ask_zh.text.startswith("目前该范围内有 2 位客户。")  # the admin is one too
    await admin.say(DELAY_ZH)
    *_, preview = await admin.say(DELAY_EN)
    assert preview.text.startswith(
        "群发 #1，范围：所有人。\n将发给 2 位客户（中文 2 位，英文 0 位）"
    )
    [discarded] = await admin.press(preview, "取消")
    assert discarded.text == "群发 #1 未发送。"
    [] = await admin.press(preview, "📣 发送")
    assert bot.recorder.of_type(AnswerCallbackQuery)[-1].text == "群发 #1 已取消。"
    [listed] = await admin.say("/broadcast status")
    assert listed.text == "#1 已取消 · 2026-03-02 10:00 · 0 位客户 · 所有人"
    [usage] = await admin.say("/broadcast resend 1")
    assert usage.text.startswith("群发通知，一条消息发给一组客户：")
    assert await services.delivery.deliver_due(MockedBot()) == 0


async def test_text_longer_than_telegram_allows_is_refused_with_the_limit(
    services: Services, bot: MockedBot
) -> None:
    await seed_customers(services, {1: "en"})
    admin = PrivateChat(create_dispatcher(services), bot, ADMIN, "en")
    await admin.say("/broadcast")
    await admin.say("everyone")
    [refused] = await admin.say("长" * 4097)
    assert refused.text == (
        "The zh text has 4097 characters; Telegram allows at most 4096 in one message. "
        "Please send a shorter one."
    )
    [ask_en] = await admin.say("长" * 4096)  # the limit itself is fine
    assert ask_en.text.startswith("Now the English text")
    [refused_en] = await admin.say("x" * 5000)
    assert "The en text has 5000 characters" in refused_en.text
    *_, preview = await admin.say(DELAY_EN)
    assert preview.text.startswith("Broadcast #1 to: everyone.")


async def test_opt_outs_are_honoured_and_surveys_opt_out_is_not_one(
    services: Services, bot: MockedBot
) -> None:
    ids = await seed_customers(services, {1: "en", 2: "en", 3: "zh", 4: "en"})
    async with services.session_factory() as session:
        three = await session.get(Customer, ids[3])
        assert three is not None
        three.surveys_opt_out = True  # no more rating questions; announcements still
        session.add(three)
        await session.commit()
    dispatcher = create_dispatcher(services)
    one = PrivateChat(dispatcher, bot, 1, "en")
    [stopped] = await one.say("/stop_news")
    assert stopped.text.startswith("Done: you will not get these announcements any more.")

    admin = PrivateChat(dispatcher, bot, ADMIN, "en")
    preview = await write_broadcast(admin, "everyone", DELAY_ZH, DELAY_EN)
    assert "Recipients: 4 (" in preview.text  # the admin among them
    assert "left out: 1 who stopped these messages" in preview.text
    await admin.press(preview, "📣 Send")
    four = PrivateChat(dispatcher, bot, 4, "en")
    [stopped_four] = await four.say("/stop_news")  # after Send, before it reaches them
    assert stopped_four.text.startswith("Done:")

    customers = MockedBot()
    assert await services.delivery.deliver_due(customers) == 3
    assert sorted(int(m.chat_id) for m in broadcasts_to(customers)) == [2, 3, ADMIN]
    [status] = await admin.say("/broadcast status 1")
    assert "Recipients: 4. 3 delivered" in status.text
    assert "1 skipped (stopped these messages or banned since)" in status.text
    assert "Left out on Send: 1 who stopped these messages, 0 banned." in status.text

    # the button under a broadcast stops them too, in the customer's language
    [received] = [m for m in broadcasts_to(customers) if int(m.chat_id) == 3]
    three_chat = PrivateChat(dispatcher, bot, 3, "zh")
    [told] = await three_chat.press(received, "🔕 不再接收此类消息")
    assert told.text.startswith("好的，您将不再收到此类通知。")
    second = await write_broadcast(admin, "everyone", DELAY_ZH, DELAY_EN)
    assert "Recipients: 2 (" in second.text  # 2 and the admin
    [started] = await one.say("/start_news")
    assert started.text.startswith("You will get our announcements again.")


async def test_blocked_and_banned_customers_are_left_out_and_counted_unreachable(
    services: Services, bot: MockedBot, clock: ManualClock
) -> None:
    ids = await seed_customers(services, {1: "en", 2: "en", 3: "en", 4: "en", 5: "en"})
    async with services.session_factory() as session:
        earlier = await session.get(Customer, ids[4])
        assert earlier is not None
        earlier.unreachable_at = clock.now() - timedelta(days=3)  # blocked the bot before
        session.add(earlier)
        session.add(CustomerBan(customer_id=ids[5], banned_by=ADMIN, banned_at=clock.now()))
        await session.commit()
    admin = PrivateChat(create_dispatcher(services), bot, ADMIN, "en")
    preview = await write_broadcast(admin, "everyone", DELAY_ZH, DELAY_EN)
    assert "left out: 0 who stopped these messages, 1 who blocked the bot, 1 banned" in (
        preview.text
    )
    await admin.press(preview, "📣 Send")

    customers = MockedBot()
    customers.recorder.fail_next(
        SendMessage,
        TelegramForbiddenError(
            SendMessage(chat_id=1, text=""), "Forbidden: bot was blocked by the user"
        ),
    )
    assert await services.delivery.deliver_due(customers) == 3
    assert sorted(int(m.chat_id) for m in broadcasts_to(customers)) == [1, 2, 3, ADMIN]
    [status] = await admin.say("/broadcast status 1")  # 1 refused it
    assert "Recipients: 4. 3 delivered, 0 failed, 2 unreachable (blocked the bot)" in (status.text)
    assert "0 banned." not in status.text and "1 banned." in status.text
    async with services.session_factory() as session:
        blocked = await session.get(Customer, ids[1])
    assert blocked is not None and blocked.unreachable_at == clock.now()


async def test_cancel_stops_the_rest_and_the_counts_are_reported(
    services: Services, bot: MockedBot
) -> None:
    await seed_customers(services, {100 + n: "en" for n in range(10)})
    dispatcher = create_dispatcher(services)
    admin = PrivateChat(dispatcher, bot, ADMIN, "en")
    preview = await write_broadcast(admin, "everyone", DELAY_ZH, DELAY_EN)
    await admin.press(preview, "📣 Send")

    paced = 0
    cancelled: list[SendMessage] = []
    original = services.delivery.limiter.wait

    async def wait(chat_id: int) -> None:
        nonlocal paced
        paced += 1
        if paced == 4:  # the admin cancels while the fourth is on its way
            cancelled.extend(await admin.say("/broadcast cancel 1"))
        await original(chat_id)

    services.delivery.limiter.wait = wait  # type: ignore[method-assign]
    customers = MockedBot()
    assert await services.delivery.deliver_due(customers) == 4
    assert len(broadcasts_to(customers)) == 4
    assert "Cancelled by admin:901" in cancelled[0].text
    assert "3 delivered" in cancelled[0].text  # when it was cancelled
    assert await services.delivery.deliver_due(customers) == 0
    [status] = await admin.say("/broadcast status 1")
    assert status.text.startswith("Broadcast #1 (cancelled) to: everyone.")
    assert (
        "Recipients: 11. 4 delivered, 0 failed, 0 unreachable (blocked the bot), 0 still to "
        "send, 7 not sent (cancelled)" in status.text
    )
    [again] = await admin.say("/broadcast cancel 1")
    assert again.text == "Broadcast #1 was cancelled."


async def test_a_web_visitor_gets_the_broadcast_through_the_web_chats_bot(
    services: Services, bot: MockedBot
) -> None:
    await seed_customers(services, {1: "en"})
    await seed_customers(services, {7_000_001: "zh"}, channel="web")
    web = MockedBot()
    services.handoff.channel_bots["web"] = web
    admin = PrivateChat(create_dispatcher(services), bot, ADMIN, "en")
    preview = await write_broadcast(admin, "everyone", DELAY_ZH, DELAY_EN)
    await admin.press(preview, "📣 Send")
    telegram = MockedBot()
    assert await services.delivery.deliver_due(telegram) == 3  # the admin's too
    assert [(int(m.chat_id), m.text) for m in broadcasts_to(telegram)] == [
        (1, DELAY_EN),
        (ADMIN, DELAY_EN),
    ]
    assert [(int(m.chat_id), m.text) for m in broadcasts_to(web)] == [(7_000_001, DELAY_ZH)]


async def test_a_broadcast_waits_for_the_end_of_quiet_hours(
    services: Services, bot: MockedBot, clock: ManualClock
) -> None:
    await seed_customers(services, {1: "en"})
    clock.set(datetime(2026, 3, 2, 22, 0, tzinfo=SHANGHAI))
    admin = PrivateChat(create_dispatcher(services), bot, ADMIN, "en")
    preview = await write_broadcast(admin, "everyone", DELAY_ZH, DELAY_EN)
    await admin.press(preview, "📣 Send")
    customers = MockedBot()
    assert await services.delivery.deliver_due(customers) == 0
    clock.set(datetime(2026, 3, 3, 9, 0, tzinfo=SHANGHAI))
    assert await services.delivery.deliver_due(customers) == 2  # the customer and the admin


async def seed_database(config: Path) -> None:
    """Three customers and two shipped orders in the database `config` names."""
    url = load_config(config, environ={}).database.url
    async with open_engine(url) as engine:
        await migrate(engine)
        async with create_session_factory(engine)() as session:
            for telegram_id, language in ((1, "zh"), (2, "en"), (3, "en")):
                session.add(
                    Customer(
                        channel="telegram",
                        external_id=str(telegram_id),
                        language=language,
                        first_seen=NOW,
                        last_seen=NOW,
                    )
                )
            for number, (telegram_id, carrier) in enumerate(((1, "SF"), (2, "YTO"))):
                session.add(
                    Order(
                        number=f"B{number}",
                        telegram_id=telegram_id,
                        items="[]",
                        status=OrderStatus.SHIPPED,
                        carrier=carrier,
                        ordered_at=NOW,
                    )
                )
            await session.commit()


async def pending_messages(config: Path) -> int:
    url = load_config(config, environ={}).database.url
    async with open_engine(url) as engine, create_session_factory(engine)() as session:
        statement = select(ScheduledMessage).where(col(ScheduledMessage.status) == "pending")
        return len((await session.exec(statement)).all())


def test_kefu_broadcast_preview_send_status_cancel_list(
    kefu: Kefu, write_config: Callable[..., Path]
) -> None:
    config = write_config()
    asyncio.run(seed_database(config))

    preview = kefu(config, "broadcast", "preview", "--status", "shipped", "--carrier", "SF")
    assert preview.stdout.splitlines() == [
        "Segment: status=shipped carrier=SF",
        "Recipients: 1 (1 in Chinese, 0 in English); left out: 0 who stopped "
        "these messages, 0 who blocked the bot, 0 banned.",
    ]
    too_long = kefu(config, "broadcast", "send", "--everyone", "--zh", "长" * 5000, "--en", "x")
    assert too_long.returncode == 2
    assert "The zh text has 5000 characters; Telegram allows at most 4096" in too_long.stderr
    nobody = kefu(config, "broadcast", "send", "--zh", "x", "--en", "x")
    assert nobody.stderr == "kefu: Please write a segment, or everyone.\n"

    sent = kefu(config, "broadcast", "send", "--everyone", "--zh", DELAY_ZH, "--en", DELAY_EN)
    assert sent.returncode == 0
    assert sent.stdout.startswith("Broadcast #1 is on its way (recipients: 3).")
    assert asyncio.run(pending_messages(config)) == 3
    status = kefu(config, "broadcast", "status", "1")
    assert "Recipients: 3. 0 delivered, 0 failed, 0 unreachable" in status.stdout
    assert "3 still to send" in status.stdout
    cancelled = kefu(config, "broadcast", "cancel", "1")
    assert "Cancelled by cli" in cancelled.stdout and "3 not sent (cancelled)" in cancelled.stdout
    assert asyncio.run(pending_messages(config)) == 0
    listed = kefu(config, "broadcast", "list")
    assert listed.stdout.startswith("#1 cancelled · ")
    assert kefu(config, "broadcast", "status", "9").stderr == "kefu: There is no such broadcast.\n"


async def test_quiet_hours_starting_during_a_broadcast_hold_the_rest_till_morning(
    services: Services, bot: MockedBot, clock: ManualClock
) -> None:
    await seed_customers(services, {100 + n: "en" for n in range(6)})
    clock.set(datetime(2026, 3, 2, 20, 59, tzinfo=SHANGHAI))
    admin = PrivateChat(create_dispatcher(services), bot, ADMIN, "en")
    preview = await write_broadcast(admin, "everyone", DELAY_ZH, DELAY_EN)
    await admin.press(preview, "📣 Send")
    clock.set(datetime(2026, 3, 2, 21, 0, tzinfo=SHANGHAI))
    customers = MockedBot()
    assert await services.delivery.deliver_due(customers) == 0
    async with services.session_factory() as session:
        held = (await session.exec(select(ScheduledMessage))).all()
    morning = datetime(2026, 3, 3, 9, 0, tzinfo=SHANGHAI)
    assert {(m.status, m.due_at, m.claimed_by) for m in held} == {("pending", morning, None)}
    assert len(held) == 7  # the admin's own too
    clock.set(morning)
    assert await services.delivery.deliver_due(customers) == 7
    [status] = await admin.say("/broadcast status 1")
    assert "Recipients: 7. 7 delivered" in status.text


async def test_only_an_admin_s_press_sends_a_broadcast(services: Services, bot: MockedBot) -> None:
    await seed_customers(services, {1: "en"})
    dispatcher = create_dispatcher(services)
    admin = PrivateChat(dispatcher, bot, ADMIN, "en")
    preview = await write_broadcast(admin, "everyone", DELAY_ZH, DELAY_EN)
    customer = PrivateChat(dispatcher, bot, 1, "en")
    await customer.press(preview, "📣 Send")  # the same button data, from someone else
    answered = bot.recorder.of_type(AnswerCallbackQuery)[-1]
    assert answered.text is not None and "Broadcast" not in answered.text
    assert await services.delivery.deliver_due(MockedBot()) == 0
    [status] = await admin.say("/broadcast status 1")
    assert status.text.startswith("Broadcast #1 (draft, not sent) to: everyone.")


async def test_other_due_messages_go_before_a_broadcast_s(
    services: Services, bot: MockedBot, clock: ManualClock
) -> None:
    ids = await seed_customers(services, {100 + n: "en" for n in range(5)})
    admin = PrivateChat(create_dispatcher(services), bot, ADMIN, "en")
    preview = await write_broadcast(admin, "everyone", DELAY_ZH, DELAY_EN)
    await admin.press(preview, "📣 Send")
    clock.advance(timedelta(minutes=5))
    async with services.session_factory() as session:
        nps = await services.schedule.add(
            session,
            key="nps:test",
            kind=ScheduledKind.NPS,
            customer_id=ids[100],
            due_at=clock.now(),
            lifetime=timedelta(days=1),
        )
        await session.commit()
        due = await services.schedule.due(session)
    assert nps is not None
    assert [m.kind for m in due] == ["nps", *["broadcast"] * 6]  # due later, sent first
