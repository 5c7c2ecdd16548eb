"""Publishing knowledge-base edits into the running service without a restart."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from bot.app import Services, create_dispatcher
from bot.knowledge_admin.publishing import PublishResult
from bot.schedule.jobs import running_jobs
from storage.customers import touch_customer
from tests.chat import PrivateChat
from tests.conftest import ADMIN_ID, GIFT_CARDS_ENTRY
from tests.mocked_bot import MockedBot


def edit(kb_copy: Path, old: str, new: str) -> None:
    path = kb_copy / "shop.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


async def ask(admin_services: Services, text: str) -> str | None:
    async with admin_services.session_factory() as session:
        customer = await touch_customer(session, "test", "1", now=admin_services.clock.now())
        reply = await admin_services.faq.answer_question(session, customer, text, "en")
        await session.commit()
    return reply.entry.id if reply.entry else None


async def test_a_good_edit_is_swapped_in_with_a_summary(
    admin_services: Services, kb_copy: Path
) -> None:
    assert await ask(admin_services, "do you sell gift cards") is None
    (kb_copy / "shop.yaml").write_text(
        (kb_copy / "shop.yaml")
        .read_text(encoding="utf-8")
        .replace("We are at {address}.", "Find us at {address}.")
        + GIFT_CARDS_ENTRY,
        encoding="utf-8",
    )
    result = await admin_services.publisher.reload()
    assert result.ok
    assert result.change.added == ["gift_cards"]
    assert result.change.changed == ["store_address"]
    assert result.message().startswith("Knowledge base reloaded: 6 entries")
    assert await ask(admin_services, "do you sell gift cards") == "gift_cards"


async def test_a_broken_edit_is_refused_and_the_old_one_keeps_answering(
    admin_services: Services, kb_copy: Path
) -> None:
    edit(kb_copy, "action: talk_to_human", "action: nonsense")
    result = await admin_services.publisher.reload()
    assert not result.ok
    assert "NOT reloaded; the previous one is still answering" in result.message()
    assert any("shop.yaml:" in e and "unknown action 'nonsense'" in e for e in result.errors)
    assert await ask(admin_services, "how long does a refund take") == "refund_time"
    assert await ask(admin_services, "real person please") == "talk_to_human"


async def test_removing_an_entry_is_reported(admin_services: Services, kb_copy: Path) -> None:
    text = (kb_copy / "shop.yaml").read_text(encoding="utf-8")
    start = text.index("  - id: talk_to_human")
    (kb_copy / "shop.yaml").write_text(text[:start], encoding="utf-8")
    result = await admin_services.publisher.reload()
    assert result.change.removed == ["talk_to_human"]


async def test_the_watcher_notices_changed_files_only(
    admin_services: Services, kb_copy: Path
) -> None:
    assert await admin_services.publisher.check_for_changes() is None
    with (kb_copy / "shop.yaml").open("a", encoding="utf-8") as file:
        file.write(GIFT_CARDS_ENTRY)
    result = await admin_services.publisher.check_for_changes()
    assert result is not None and result.change.added == ["gift_cards"]
    assert await admin_services.publisher.check_for_changes() is None


async def test_file_watch_and_sighup_reload_while_running(
    admin_services: Services, kb_copy: Path
) -> None:
    results: asyncio.Queue[PublishResult] = asyncio.Queue()

    async with running_jobs(admin_services, results.put):
        with (kb_copy / "shop.yaml").open("a", encoding="utf-8") as file:
            file.write(GIFT_CARDS_ENTRY)
        watched = await asyncio.wait_for(results.get(), timeout=5)
        assert watched.ok and watched.change.added == ["gift_cards"]

        os.kill(os.getpid(), signal.SIGHUP)
        hung_up = await asyncio.wait_for(results.get(), timeout=5)
        assert hung_up.ok and hung_up.change.empty


async def test_answers_keep_coming_during_a_reload(
    admin_services: Services, kb_copy: Path
) -> None:
    questions = ["how long does a refund take", "what are your opening hours"] * 50
    edit(kb_copy, "We are at {address}.", "Find us at {address}.")
    answers, result = await asyncio.gather(
        asyncio.gather(*(ask(admin_services, q) for q in questions)),
        admin_services.publisher.reload(),
    )
    assert result.ok
    assert answers == ["refund_time", "business_hours"] * 50


async def test_reload_command_for_admins_only(admin_services: Services, kb_copy: Path) -> None:
    bot = MockedBot()
    dispatcher = create_dispatcher(admin_services)
    admin = PrivateChat(dispatcher, bot, ADMIN_ID, "en")
    stranger = PrivateChat(dispatcher, bot, 901, "zh")

    [refusal] = await stranger.say("/reload")
    assert refusal.text == "抱歉，此命令仅限管理员使用。"

    edit(kb_copy, "id: returns", "id: returns\n    bogus: 1")
    [refused] = await admin.say("/reload")
    assert "NOT reloaded" in refused.text
    assert "unknown key 'bogus'" in refused.text

    edit(kb_copy, "id: returns\n    bogus: 1", "id: returns")
    with (kb_copy / "shop.yaml").open("a", encoding="utf-8") as file:
        file.write(GIFT_CARDS_ENTRY)
    [done] = await admin.say("/reload")
    assert done.text == "Knowledge base reloaded: 6 entries (added 1: gift_cards)."
    [answer] = await stranger.say("有礼品卡吗")
    assert answer.text.startswith("有的，礼品卡在首页购买。")
