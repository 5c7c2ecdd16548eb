"""Publishing knowledge-base edits into the running service without a restart."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.app import Services, create_dispatcher, create_services, knowledge_updates
from bot.clock import ManualClock
from bot.config import load_config
from bot.publishing import PublishResult
from storage.customers import touch_customer
from tests.chat import PrivateChat
from tests.mocked_bot import MockedBot

KB = Path(__file__).parent / "data" / "kb"
ADMIN = 900
NEW_ENTRY = """
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
    path.write_text(text.replace("watch_interval = 2.0", "watch_interval = 0.02"))
    config = load_config(path, environ={})
    services = await create_services(config, clock=clock)
    yield services
    await services.close()


def edit(kb: Path, old: str, new: str) -> None:
    path = kb / "shop.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


async def ask(services: Services, text: str) -> str | None:
    async with services.session_factory() as session:
        customer = await touch_customer(session, "test", "1", now=services.clock.now())
        reply = await services.faq.answer_question(session, customer, text, "en")
        await session.commit()
    return reply.entry.id if reply.entry else None


async def test_a_good_edit_is_swapped_in_with_a_summary(services: Services, kb: Path) -> None:
    assert await ask(services, "do you sell gift cards") is None
    (kb / "shop.yaml").write_text(
        (kb / "shop.yaml")
        .read_text(encoding="utf-8")
        .replace("We are at {address}.", "Find us at {address}.")
        + NEW_ENTRY,
        encoding="utf-8",
    )
    result = await services.publisher.reload()
    assert result.ok
    assert result.change.added == ["gift_cards"]
    assert result.change.changed == ["store_address"]
    assert result.message().startswith("Knowledge base reloaded: 6 entries")
    assert await ask(services, "do you sell gift cards") == "gift_cards"


async def test_a_broken_edit_is_refused_and_the_old_one_keeps_answering(
    services: Services, kb: Path
) -> None:
    edit(kb, "action: talk_to_human", "action: nonsense")
    result = await services.publisher.reload()
    assert not result.ok
    assert "NOT reloaded; the previous one is still answering" in result.message()
    assert any("shop.yaml:" in e and "unknown action 'nonsense'" in e for e in result.errors)
    assert await ask(services, "how long does a refund take") == "refund_time"
    assert await ask(services, "real person please") == "talk_to_human"


async def test_removing_an_entry_is_reported(services: Services, kb: Path) -> None:
    text = (kb / "shop.yaml").read_text(encoding="utf-8")
    start = text.index("  - id: talk_to_human")
    (kb / "shop.yaml").write_text(text[:start], encoding="utf-8")
    result = await services.publisher.reload()
    assert result.change.removed == ["talk_to_human"]


async def test_the_watcher_notices_changed_files_only(services: Services, kb: Path) -> None:
    assert await services.publisher.check_for_changes() is None
    with (kb / "shop.yaml").open("a", encoding="utf-8") as file:
        file.write(NEW_ENTRY)
    result = await services.publisher.check_for_changes()
    assert result is not None and result.change.added == ["gift_cards"]
    assert await services.publisher.check_for_changes() is None


async def test_file_watch_and_sighup_reload_while_running(services: Services, kb: Path) -> None:
    results: asyncio.Queue[PublishResult] = asyncio.Queue()

    async with knowledge_updates(services, results.put):
        with (kb / "shop.yaml").open("a", encoding="utf-8") as file:
            file.write(NEW_ENTRY)
        watched = await asyncio.wait_for(results.get(), timeout=5)
        assert watched.ok and watched.change.added == ["gift_cards"]

        os.kill(os.getpid(), signal.SIGHUP)
        hung_up = await asyncio.wait_for(results.get(), timeout=5)
        assert hung_up.ok and hung_up.change.empty


async def test_answers_keep_coming_during_a_reload(services: Services, kb: Path) -> None:
    questions = ["how long does a refund take", "what are your opening hours"] * 50
    edit(kb, "We are at {address}.", "Find us at {address}.")
    answers, result = await asyncio.gather(
        asyncio.gather(*(ask(services, q) for q in questions)), services.publisher.reload()
    )
    assert result.ok
    assert answers == ["refund_time", "business_hours"] * 50


async def test_reload_command_for_admins_only(services: Services, kb: Path) -> None:
    bot = MockedBot()
    dispatcher = create_dispatcher(services)
    admin = PrivateChat(dispatcher, bot, ADMIN, "en")
    stranger = PrivateChat(dispatcher, bot, 901, "zh")

    [refusal] = await stranger.say("/reload")
    assert refusal.text == "抱歉，此命令仅限管理员使用。"

    edit(kb, "id: returns", "id: returns\n    bogus: 1")
    [refused] = await admin.say("/reload")
    assert "NOT reloaded" in refused.text
    assert "unknown key 'bogus'" in refused.text

    edit(kb, "id: returns\n    bogus: 1", "id: returns")
    with (kb / "shop.yaml").open("a", encoding="utf-8") as file:
        file.write(NEW_ENTRY)
    [done] = await admin.say("/reload")
    assert done.text == "Knowledge base reloaded: 6 entries (added 1: gift_cards)."
    [answer] = await stranger.say("有礼品卡吗")
    assert answer.text.startswith("有的，礼品卡在首页购买。")
