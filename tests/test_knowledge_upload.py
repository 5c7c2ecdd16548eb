"""Admins upload, confirm, list, roll back and export the knowledge base from Telegram."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiogram.methods import AnswerCallbackQuery, SendDocument

from bot.app import Services, create_dispatcher, create_services
from bot.clock import ManualClock
from bot.config import load_config
from tests.chat import PrivateChat
from tests.mocked_bot import MockedBot

KB = Path(__file__).parent / "data" / "kb"
ADMIN = 900
GIFT_CARDS = """
  - id: gift_cards
    category: products
    questions:
      zh: [有礼品卡吗, 礼品卡怎么买]
      en: [do you sell gift cards, how to buy a gift card]
    answer:
      zh: 有的，礼品卡在首页购买。
      en: Yes, gift cards are sold on our home page.
"""


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    folder = tmp_path / "kb"
    shutil.copytree(KB, folder)
    return folder


@pytest.fixture
async def services(
    kb: Path, write_config: Callable[..., Path], clock: ManualClock
) -> AsyncIterator[Services]:
    path = write_config(kb=kb)
    text = path.read_text().replace("admins = []", f"admins = [{ADMIN}]")
    path.write_text(text.replace("watch_interval = 2.0", "watch_interval = 0"))
    services = await create_services(load_config(path, environ={}), clock=clock)
    yield services
    await services.close()


@pytest.fixture
def bot() -> MockedBot:
    return MockedBot()


@pytest.fixture
def chats(services: Services, bot: MockedBot) -> tuple[PrivateChat, PrivateChat]:
    dispatcher = create_dispatcher(services)
    return PrivateChat(dispatcher, bot, ADMIN, "en"), PrivateChat(dispatcher, bot, 5, "en")


async def upload(admin: PrivateChat, bot: MockedBot, name: str, text: str) -> list[object]:
    bot.recorder.files[name] = text.encode("utf-8")
    return await admin.send_document(name, name)  # type: ignore[return-value]


async def test_a_broken_upload_is_explained_and_the_bot_keeps_answering(
    chats: tuple[PrivateChat, PrivateChat], bot: MockedBot, kb: Path
) -> None:
    admin, customer = chats
    before = (kb / "shop.yaml").read_text(encoding="utf-8")
    broken = before.replace("action: talk_to_human", "action: teleport")
    [reply] = await upload(admin, bot, "shop.yaml", broken)  # type: ignore[misc]
    assert reply.text.startswith("shop.yaml was not accepted; the knowledge base is unchanged.")
    assert "shop.yaml:45: entry 'talk_to_human': unknown action 'teleport'" in reply.text
    assert reply.reply_markup is None
    assert (kb / "shop.yaml").read_text(encoding="utf-8") == before
    [answer] = await customer.say("how long does a refund take")
    assert answer.text.startswith("Refunds reach your original payment method")


async def test_upload_confirm_history_rollback_and_export(
    chats: tuple[PrivateChat, PrivateChat], bot: MockedBot, kb: Path
) -> None:
    admin, customer = chats
    [summary] = await upload(admin, bot, "gifts.yaml", "entries:" + GIFT_CARDS)  # type: ignore[misc]
    assert summary.text == "gifts.yaml is valid. If applied: added 1: gift_cards."
    [not_yet] = await customer.say("do you sell gift cards")
    assert not_yet.text.startswith("Sorry, I do not have an answer")

    [published] = await admin.press(summary, "✅ Apply")
    assert published.text == "Published: added 1: gift_cards."
    assert (kb / "gifts.yaml").exists()
    [answer] = await customer.say("do you sell gift cards")
    assert answer.text.startswith("Yes, gift cards are sold on our home page.")

    [history] = await admin.say("/kb_history")
    lines = history.text.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("#2 ") and "by telegram:900: upload gifts.yaml: added 1" in lines[0]
    assert lines[1].startswith("#1 ") and "as it was before the first change" in lines[1]

    [rolled_back] = await admin.say("/kb_rollback")
    assert rolled_back.text == "Back to version #1: removed 1: gift_cards."
    assert not (kb / "gifts.yaml").exists()
    [gone] = await customer.say("do you sell gift cards")
    assert gone.text.startswith("Sorry, I do not have an answer")

    await admin.say("/kb_export")
    documents = bot.recorder.of_type(SendDocument)
    assert [d.document.filename for d in documents] == ["shop.yaml"]
    assert documents[0].document.data == (kb / "shop.yaml").read_bytes()


async def test_a_cancelled_upload_changes_nothing(
    chats: tuple[PrivateChat, PrivateChat], bot: MockedBot, kb: Path
) -> None:
    admin, _ = chats
    [summary] = await upload(admin, bot, "gifts.yaml", "entries:" + GIFT_CARDS)  # type: ignore[misc]
    [cancelled] = await admin.press(summary, "Cancel")
    assert cancelled.text == "Upload cancelled; nothing was changed."
    assert not (kb / "gifts.yaml").exists()
    [again] = await admin.press(summary, "✅ Apply")
    assert "no longer pending" in again.text


async def test_only_admins_can_upload_confirm_or_roll_back(
    chats: tuple[PrivateChat, PrivateChat], bot: MockedBot, kb: Path
) -> None:
    admin, customer = chats
    [summary] = await upload(admin, bot, "gifts.yaml", "entries:" + GIFT_CARDS)  # type: ignore[misc]
    assert await customer.press(summary, "✅ Apply") == []
    [refusal] = bot.recorder.of_type(AnswerCallbackQuery)[-1:]
    assert refusal.text == "Sorry, this command is for admins only."
    assert not (kb / "gifts.yaml").exists()

    [ignored] = await upload(customer, bot, "evil.yaml", "entries: []")  # type: ignore[misc]
    assert ignored.text == "I can only read text messages for now. Please type your question."
    assert not (kb / "evil.yaml").exists()
    for command in ("/kb_rollback", "/kb_history", "/kb_export", "/reload"):
        [reply] = await customer.say(command)
        assert reply.text == "Sorry, this command is for admins only."


async def test_a_file_that_is_not_yaml_is_refused(
    chats: tuple[PrivateChat, PrivateChat], bot: MockedBot
) -> None:
    admin, _ = chats
    [reply] = await upload(admin, bot, "notes.txt", "hello")  # type: ignore[misc]
    assert "'notes.txt' is not a knowledge-base file: send a .yaml file" in reply.text
