"""A customer flooding the bot gets one notice; the excess is neither stored nor answered, and
other customers are answered as usual."""

from __future__ import annotations

from datetime import timedelta

from aiogram.methods import AnswerCallbackQuery
from sqlmodel import func, select

from bot.app import Services, create_dispatcher
from bot.clock import ManualClock
from storage.models import Message
from tests.chat import PrivateChat
from tests.mocked_bot import MockedBot

NOTICE = "You are sending messages very quickly. I will read what you send again in a moment."


async def stored_messages(services: Services) -> int:
    async with services.session_factory() as session:
        return int((await session.exec(select(func.count()).select_from(Message))).one())


async def test_a_flood_gets_one_notice_and_nothing_else(
    admin_services: Services, clock: ManualClock
) -> None:
    bot = MockedBot()
    dispatcher = create_dispatcher(admin_services)
    flooder = PrivateChat(dispatcher, bot, 61, "en")
    other = PrivateChat(dispatcher, bot, 62, "en")
    replies = []
    for n in range(200):  # all within the same second
        replies += await flooder.say(f"how long does a refund take {n}")
        if n == 100:
            [answer] = await other.say("how long does a refund take")
            assert answer.text.startswith("Refunds reach your original payment method")
    texts = [reply.text for reply in replies]
    assert texts.count(NOTICE) == 1
    assert len(texts) == 10 + 1  # the burst allowance, then the notice
    assert await stored_messages(admin_services) == 2 * 10 + 2  # the flooder's and the other's

    clock.advance(timedelta(seconds=30))  # 10 more allowed at 20 a minute
    [again] = await flooder.say("how long does a refund take")
    assert again.text.startswith("Refunds reach your original payment method")


async def test_a_button_pressed_over_the_limit_is_still_answered(
    admin_services: Services,
) -> None:
    bot = MockedBot()
    flooder = PrivateChat(create_dispatcher(admin_services), bot, 63, "en")
    [menu] = await flooder.say("/start")
    for _ in range(12):
        await flooder.press(menu, "what are your opening hours")
    answers = bot.recorder.of_type(AnswerCallbackQuery)
    assert len(answers) == 12
    assert answers[-1].text == NOTICE


async def test_every_forged_or_stale_button_gets_an_answer(admin_services: Services) -> None:
    bot = MockedBot()
    customer = PrivateChat(create_dispatcher(admin_services), bot, 64, "en")
    [menu] = await customer.say("/start")
    button = menu.reply_markup.inline_keyboard[0][0]  # type: ignore[union-attr]
    forged = ["nonsense", "tk:explode:1", "csat:99999999999999999999:5", "faq:" + "x" * 60]
    for data in forged:
        button.callback_data = data
        await customer.press(menu, button.text)
    answers = bot.recorder.of_type(AnswerCallbackQuery)
    assert len(answers) == len(forged)
