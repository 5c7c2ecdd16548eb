"""Admins upload, confirm, list, roll back and export the knowledge base from Telegram."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from aiogram.methods import AnswerCallbackQuery, SendDocument, SendMessage

from bot.app import Services, create_dispatcher, create_services
from bot.channels.telegram import FileDownloadFailed
from bot.clock import ManualClock
from tests.chat import PrivateChat
from tests.conftest import ADMIN_ID, GIFT_CARDS_ENTRY
from tests.mocked_bot import MockedBot


@pytest.fixture
def chats(admin_services: Services, bot: MockedBot) -> tuple[PrivateChat, PrivateChat]:
    dispatcher = create_dispatcher(admin_services)
    return PrivateChat(dispatcher, bot, ADMIN_ID, "en"), PrivateChat(dispatcher, bot, 5, "en")


async def upload(admin: PrivateChat, bot: MockedBot, name: str, text: str) -> list[SendMessage]:
    bot.recorder.files[name] = text.encode("utf-8")
    return await admin.send_document(name, name)


async def test_a_broken_upload_is_explained_and_the_bot_keeps_answering(
    chats: tuple[PrivateChat, PrivateChat], bot: MockedBot, kb_copy: Path
) -> None:
    admin, customer = chats
    before = (kb_copy / "shop.yaml").read_text(encoding="utf-8")
    broken = before.replace("action: talk_to_human", "action: teleport")
    [reply] = await upload(admin, bot, "shop.yaml", broken)
    assert reply.text.startswith("shop.yaml was not accepted; the knowledge base is unchanged.")
    assert "shop.yaml:45: entry 'talk_to_human': unknown action 'teleport'" in reply.text
    assert reply.reply_markup is None
    assert (kb_copy / "shop.yaml").read_text(encoding="utf-8") == before
    [answer] = await customer.say("how long does a refund take")
    assert answer.text.startswith("Refunds reach your original payment method")


async def test_upload_confirm_history_rollback_and_export(
    chats: tuple[PrivateChat, PrivateChat], bot: MockedBot, kb_copy: Path
) -> None:
    admin, customer = chats
    [summary] = await upload(admin, bot, "gifts.yaml", "entries:" + GIFT_CARDS_ENTRY)
    assert summary.text == "gifts.yaml is valid. If applied: added 1: gift_cards."
    [not_yet] = await customer.say("do you sell gift cards")
    assert not_yet.text.startswith("Sorry, I do not have an answer")

    [published] = await admin.press(summary, "✅ Apply")
    assert published.text == "Published: added 1: gift_cards."
    assert (kb_copy / "gifts.yaml").exists()
    [answer] = await customer.say("do you sell gift cards")
    assert answer.text.startswith("Yes, gift cards are sold on our home page.")

    [history] = await admin.say("/kb_history")
    lines = history.text.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("#2 ") and "by telegram:900: upload gifts.yaml: added 1" in lines[0]
    assert lines[1].startswith("#1 ") and "as it was before the first change" in lines[1]

    [rolled_back] = await admin.say("/kb_rollback")
    assert rolled_back.text == "Back to version #1: removed 1: gift_cards."
    assert not (kb_copy / "gifts.yaml").exists()
    [gone] = await customer.say("do you sell gift cards")
    assert gone.text.startswith("Sorry, I do not have an answer")

    await admin.say("/kb_export")
    documents = bot.recorder.of_type(SendDocument)
    assert [d.document.filename for d in documents] == ["shop.yaml"]
    assert documents[0].document.data == (kb_copy / "shop.yaml").read_bytes()


async def test_a_cancelled_upload_changes_nothing(
    chats: tuple[PrivateChat, PrivateChat], bot: MockedBot, kb_copy: Path
) -> None:
    admin, _ = chats
    [summary] = await upload(admin, bot, "gifts.yaml", "entries:" + GIFT_CARDS_ENTRY)
    [cancelled] = await admin.press(summary, "Cancel")
    assert cancelled.text == "Upload cancelled; nothing was changed."
    assert not (kb_copy / "gifts.yaml").exists()
    [again] = await admin.press(summary, "✅ Apply")
    assert "no longer pending" in again.text


async def test_only_admins_can_upload_confirm_or_roll_back(
    chats: tuple[PrivateChat, PrivateChat], bot: MockedBot, kb_copy: Path
) -> None:
    admin, customer = chats
    [summary] = await upload(admin, bot, "gifts.yaml", "entries:" + GIFT_CARDS_ENTRY)
    assert await customer.press(summary, "✅ Apply") == []
    [refusal] = bot.recorder.of_type(AnswerCallbackQuery)[-1:]
    assert refusal.text == "Sorry, this command is for admins only."
    assert not (kb_copy / "gifts.yaml").exists()

    [ignored] = await upload(customer, bot, "evil.yaml", "entries: []")
    assert ignored.text == "I can only read text messages for now. Please type your question."
    assert not (kb_copy / "evil.yaml").exists()
    for command in ("/kb_rollback", "/kb_history", "/kb_export", "/reload"):
        [reply] = await customer.say(command)
        assert reply.text == "Sorry, this command is for admins only."


async def test_a_file_that_is_not_yaml_is_refused(
    chats: tuple[PrivateChat, PrivateChat], bot: MockedBot
) -> None:
    admin, _ = chats
    [reply] = await upload(admin, bot, "notes.txt", "hello")
    assert "'notes.txt' is not a knowledge-base file: send a .yaml file" in reply.text


async def test_an_upload_awaiting_apply_survives_a_restart_and_stays_its_admins(
    admin_services: Services, kb_copy: Path, clock: ManualClock
) -> None:
    """Applied on a fresh SQLite database while time moves (so each update writes the admin's
    last-seen time): the publish shares the update's session instead of waiting for its lock."""
    bot = MockedBot()
    other_admin = ADMIN_ID + 1
    async with admin_services.session_factory() as session:
        await admin_services.roles.change(session, other_admin, "admin", by=ADMIN_ID)
        await session.commit()
    admin = PrivateChat(create_dispatcher(admin_services), bot, ADMIN_ID, "en")
    [summary] = await upload(admin, bot, "gifts.yaml", "entries:" + GIFT_CARDS_ENTRY)

    restarted = await create_services(admin_services.config, clock=clock)
    try:
        dispatcher = create_dispatcher(restarted)
        clock.advance(timedelta(minutes=1))
        someone_else = PrivateChat(dispatcher, bot, other_admin, "en")
        [refused] = await someone_else.press(summary, "✅ Apply")
        assert "no longer pending" in refused.text
        assert not (kb_copy / "gifts.yaml").exists()

        clock.advance(timedelta(minutes=1))
        admin = PrivateChat(dispatcher, bot, ADMIN_ID, "en")
        [published] = await admin.press(summary, "✅ Apply")
        assert published.text == "Published: added 1: gift_cards."
        assert (kb_copy / "gifts.yaml").exists()
    finally:
        await restarted.close()


async def test_a_chinese_admin_reads_problems_history_and_failed_downloads_in_chinese(
    admin_services: Services, bot: MockedBot, kb_copy: Path
) -> None:
    admin = PrivateChat(create_dispatcher(admin_services), bot, ADMIN_ID, "zh")
    shop = (kb_copy / "shop.yaml").read_text(encoding="utf-8")
    broken = shop.replace("action: talk_to_human", "action: teleport")
    [refused] = await upload(admin, bot, "shop.yaml", broken)
    assert refused.text.startswith("shop.yaml 未被接受，知识库没有改动。")
    assert "shop.yaml:45: 条目 'talk_to_human': 未知的动作 'teleport'（可用：" in refused.text
    assert "unknown" not in refused.text and "entry" not in refused.text

    [summary] = await upload(admin, bot, "gifts.yaml", "entries:" + GIFT_CARDS_ENTRY)
    await admin.press(summary, "✅ 应用")
    [history] = await admin.say("/kb_history")
    lines = history.text.splitlines()
    assert "由 telegram:900：上传 gifts.yaml：新增 1 条：gift_cards" in lines[0]
    assert lines[1].endswith("kefu 第一次发布改动之前的原样")

    bot.recorder.files["gone.yaml"] = FileDownloadFailed("answered 404", 404)
    [failed] = await admin.send_document("gone.yaml", "gone.yaml")
    assert failed.text.splitlines() == [
        "gone.yaml 未被接受，知识库没有改动。",
        "「gone.yaml」无法下载（Telegram 返回 404）：请重新发送",
    ]
