"""The customer's side through the real dispatcher, with a bot session that records requests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiogram import Dispatcher
from aiogram.methods import AnswerCallbackQuery, EditMessageReplyMarkup, SendMessage
from sqlmodel import col, select

from bot.app import Services
from storage.models import AnswerVote, Customer, UnansweredQuestion
from storage.models import Message as StoredMessage
from tests.chat import PrivateChat
from tests.conftest import TEST_KB, StartServices
from tests.mocked_bot import MockedBot


@pytest.fixture
async def services(start_services: StartServices) -> Services:
    return await start_services(kb=TEST_KB)


@pytest.fixture
def customer(dispatcher: Dispatcher, bot: MockedBot) -> Callable[..., PrivateChat]:
    def make(user_id: int = 7, language: str | None = "en") -> PrivateChat:
        return PrivateChat(dispatcher, bot, user_id, language)

    return make


def labels(reply: SendMessage) -> list[str]:
    markup: Any = reply.reply_markup
    return [b.text for row in markup.inline_keyboard for b in row] if markup else []


async def test_start_greets_in_the_app_language_with_the_menu(
    customer: Callable[..., PrivateChat],
) -> None:
    [reply] = await customer(language="zh-hans").say("/start")
    assert "您好，Mei！" in reply.text
    assert labels(reply) == ["营业时间是几点", "怎么退货"]
    [reply] = await customer(user_id=8, language="en").say("/start")
    assert reply.text.startswith("Hello, Mei!")
    assert labels(reply) == ["what are your opening hours", "how do i return an item"]


async def test_a_question_is_answered_with_votes_and_related_buttons(
    customer: Callable[..., PrivateChat], services: Services
) -> None:
    [reply] = await customer(language=None).say("營業時間幾點？")
    # the hours come from [hours], in the customer's language, weekdays and all
    assert reply.text.startswith("营业时间：周一至周五 9:00–18:00，周六 10:00–16:00（UTC+8）")
    assert "这个回答对您有帮助吗？" in reply.text
    assert labels(reply) == ["你们店在哪里", "👍 有帮助", "👎 没帮助"]
    async with services.session_factory() as session:
        stored = (await session.exec(select(StoredMessage).order_by(col(StoredMessage.id)))).all()
    assert [(m.direction, m.entry_id, m.decision) for m in stored] == [
        ("in", "business_hours", "answer"),
        ("out", "business_hours", "answer"),
    ]
    assert stored[0].text == "營業時間幾點？"
    assert stored[1].text == reply.text


async def test_english_customers_read_the_same_hours_in_english(
    customer: Callable[..., PrivateChat],
) -> None:
    [reply] = await customer(language="en").say("what are your opening hours")
    assert reply.text.startswith("We are open Mon–Fri 9:00–18:00; Sat 10:00–16:00 (UTC+8).")


async def test_the_reply_follows_the_script_when_the_app_language_is_unknown(
    customer: Callable[..., PrivateChat],
) -> None:
    [reply] = await customer(language="ru").say("how can i send back my shoes")
    assert reply.text.startswith("You can return items within 7 days")


async def test_a_related_button_answers_that_entry(customer: Callable[..., PrivateChat]) -> None:
    mei = customer()
    [answer] = await mei.say("i want to return my shoes")
    assert "refund" not in answer.text
    [refund] = await mei.press(answer, "how long does a refund take")
    assert refund.text.startswith("Refunds reach your original payment method")


async def test_a_url_button_is_shown_as_a_link(customer: Callable[..., PrivateChat]) -> None:
    [reply] = await customer().say("where is your shop")
    markup: Any = reply.reply_markup
    assert markup.inline_keyboard[0][0].url == "https://example.com/map"
    assert markup.inline_keyboard[0][0].text == "Map"


async def test_an_unclear_question_gets_suggestions_and_a_pick_answers_it(
    customer: Callable[..., PrivateChat],
) -> None:
    mei = customer()
    [reply] = await mei.say("refund return")
    assert reply.text == "I am not quite sure what you mean. Did you mean one of these?"
    assert "Talk to a person" in labels(reply)
    assert len(labels(reply)) >= 3
    picked = labels(reply)[0]
    [answer] = await mei.press(reply, picked)
    assert answer.text.endswith("Did this help?")


async def test_an_unknown_question_falls_back_offers_a_person_and_is_recorded(
    customer: Callable[..., PrivateChat], services: Services
) -> None:
    mei = customer()
    [reply] = await mei.say("what's the weather on mars")
    assert reply.text.startswith("Sorry, I do not have an answer to that yet.")
    assert "400-123-4567" in reply.text
    [contact] = await mei.press(reply, "Talk to a person")
    assert contact.text == "I will pass you to a person. What is it about?"
    async with services.session_factory() as session:
        unanswered = (await session.exec(select(UnansweredQuestion))).all()
    assert [q.text for q in unanswered] == ["what's the weather on mars"]


async def test_a_vote_is_stored_and_the_vote_buttons_go_away(
    customer: Callable[..., PrivateChat], services: Services, bot: MockedBot
) -> None:
    mei = customer()
    [answer] = await mei.say("when will i get my refund")
    followups = await mei.press(answer, "👎 No")
    assert "reach a person" in followups[0].text
    [thanks] = bot.recorder.of_type(AnswerCallbackQuery)[-1:]
    assert thanks.text == "Thank you, we will improve this answer."
    [edit] = bot.recorder.of_type(EditMessageReplyMarkup)
    assert edit.reply_markup is None
    async with services.session_factory() as session:
        votes = (await session.exec(select(AnswerVote))).all()
    assert [(v.entry_id, v.helpful) for v in votes] == [("refund_time", False)]


async def test_talk_to_human_entry_runs_its_action(customer: Callable[..., PrivateChat]) -> None:
    [reply] = await customer(language="zh").say("我要找人工客服")
    assert reply.text == "我来为您转接人工客服。请问是关于什么的问题？"
    assert "物流" in labels(reply)


async def test_language_can_be_switched_and_is_remembered(
    customer: Callable[..., PrivateChat], services: Services
) -> None:
    mei = customer(language="en")
    [choice] = await mei.say("/language")
    [confirmed] = await mei.press(choice, "中文")
    assert confirmed.text == "好的，之后我会用中文回答您。"
    [reply] = await mei.say("how long does a refund take")
    assert reply.text.startswith("退款会在3到5个工作日内")
    async with services.session_factory() as session:
        stored = (await session.exec(select(Customer))).one()
    assert (stored.language, stored.language_chosen) == ("zh", True)


async def test_help_unknown_commands_and_photos_get_a_clear_answer(
    customer: Callable[..., PrivateChat],
) -> None:
    mei = customer()
    [help_text] = await mei.say("/help")
    assert "/language" in help_text.text
    [unknown] = await mei.say("/frobnicate")
    assert unknown.text == help_text.text
    [photo] = await mei.send_photo()
    assert photo.text == "I can only read text messages for now. Please type your question."


async def test_a_failure_inside_a_handler_gives_the_customer_an_apology(
    customer: Callable[..., PrivateChat], services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(services.faq, "answer_question", broken)
    [reply] = await customer().say("how do i return an item")
    assert reply.text.startswith("Sorry, something went wrong on our side.")


async def test_a_message_is_answered_in_the_language_it_is_written_in(
    customer: Callable[..., PrivateChat],
) -> None:
    english_app = customer(user_id=21, language="en")
    [reply] = await english_app.say("我的退款什么时候能到账")
    assert reply.text.startswith("退款")
    # A Chinese sentence with an English loan word is Chinese.
    [mixed] = await english_app.say("refund 一般几天到账")
    assert mixed.text.startswith("退款")
    # A message in no clear language keeps the last one.
    [unclear] = await english_app.say("ok")
    assert any("\u4e00" <= ch <= "\u9fff" for ch in unclear.text), unclear.text
    [english] = await english_app.say("how long does a refund take")
    assert english.text.startswith("Refunds")


async def test_an_explicit_language_choice_wins_over_what_is_written(
    customer: Callable[..., PrivateChat],
) -> None:
    chinese_app = customer(user_id=22, language="zh-hans")
    [ask] = await chinese_app.say("/language")
    await chinese_app.press(ask, "English")
    [reply] = await chinese_app.say("退款多久到账")
    assert reply.text.startswith("Refunds")
