"""Knowledge-base files that would freeze the bot or that Telegram would refuse: YAML bombs,
oversized files and uploads, ids too long for a button's data, answers too long for a message,
more entries or buttons than a keyboard holds. Each is refused quickly, naming file, line and
limit; other customers keep getting answers meanwhile."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from aiogram.methods import GetFile

from bot.app import Services, create_dispatcher
from bot.callbacks import EntryCallback
from bot.cli import main
from knowledge import KnowledgeBaseError, load_knowledge_base
from knowledge.loader import MAX_ANSWER_LENGTH, MAX_BUTTONS, MAX_ENTRIES, MAX_ID_LENGTH
from tests.chat import PrivateChat
from tests.conftest import ADMIN_ID, GIFT_CARDS_ENTRY
from tests.mocked_bot import MockedBot

# 481 bytes of nested aliases: expanded, a billion strings
BOMB = """\
entries:
  - id: bomb
    category: x
    questions:
      en: [boom]
    answer:
      en: fine
    related: &a [x, x, x, x, x, x, x, x, x]
    buttons: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
    menu: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
    action: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
    extra1: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
    extra2: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
    extra3: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
    extra4: [*g, *g, *g, *g, *g, *g, *g, *g, *g]
"""


def entry(entry_id: str, answer: str = "An answer.", extra: str = "") -> str:
    return (
        f"  - id: {entry_id}\n    category: c\n    questions:\n      en: [question {entry_id}]\n"
        f"    answer:\n      en: {answer}\n{extra}"
    )


def problems_of(path: Path) -> list[str]:
    with pytest.raises(KnowledgeBaseError) as raised:
        load_knowledge_base(path, {"phone": "400-1"})
    return [str(problem) for problem in raised.value.problems]


def test_aliases_are_refused_at_their_line_without_being_expanded(tmp_path: Path) -> None:
    (tmp_path / "bomb.yaml").write_text(BOMB, encoding="utf-8")
    started = time.monotonic()
    problems = problems_of(tmp_path)
    assert time.monotonic() - started < 1.0
    assert problems == [
        f"{tmp_path / 'bomb.yaml'}:9: aliases (*name) are not allowed: write the value out"
    ]


def test_what_telegram_would_refuse_is_refused_with_file_line_and_limit(tmp_path: Path) -> None:
    long_id = "a" * 70
    long_answer = "x" * 4990 + " {phone}"
    related = "    related: [" + ", ".join(["fine"] * (MAX_BUTTONS + 1)) + "]\n"
    text = "entries:\n" + entry("fine") + entry(long_id) + entry("long", long_answer)
    text += entry("crowded", extra=related)
    (tmp_path / "shop.yaml").write_text(text, encoding="utf-8")
    file = tmp_path / "shop.yaml"
    assert problems_of(tmp_path) == [
        f"{file}:8: id 'aaaaaaaaaaaaaaaaaaaa...' has 70 characters; the limit is {MAX_ID_LENGTH} "
        "(an id travels in a button's data, 64 bytes at most)",
        f"{file}:19: entry 'long': answer.en has 4,996 characters with its placeholders filled; "
        f"the limit is {MAX_ANSWER_LENGTH:,} (one message)",
        f"{file}:20: entry 'crowded': {MAX_BUTTONS + 1} buttons and related entries; "
        f"the limit is {MAX_BUTTONS}",
    ]
    # the longest id allowed still fits a button's data
    assert len(EntryCallback(entry_id="a" * MAX_ID_LENGTH).pack().encode()) <= 64


def test_more_entries_than_a_knowledge_base_holds_is_said_once(tmp_path: Path) -> None:
    text = "entries:\n" + "".join(entry(f"e{n}") for n in range(MAX_ENTRIES + 50))
    (tmp_path / "many.yaml").write_text(text, encoding="utf-8")
    [problem] = problems_of(tmp_path)
    assert problem.endswith(f"entry 'e{MAX_ENTRIES}': more than {MAX_ENTRIES:,} entries in all")


def test_an_oversized_file_is_refused_unread(tmp_path: Path) -> None:
    (tmp_path / "big.yaml").write_text("# " + "x" * 1_000_000, encoding="utf-8")
    assert problems_of(tmp_path) == [
        f"{tmp_path / 'big.yaml'}:0: the file has 1,000,002 bytes; the limit is 1,000,000"
    ]


def test_kb_check_names_file_line_and_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "shop.yaml").write_text("entries:\n" + entry("b" * 70), encoding="utf-8")
    (tmp_path / "kb" / "bomb.yaml").write_text(BOMB, encoding="utf-8")
    code = main(["kb", "check", str(tmp_path / "kb")])
    out = capsys.readouterr()
    assert code != 0
    shown = out.out + out.err
    assert f"{tmp_path / 'kb' / 'bomb.yaml'}:9: aliases" in shown
    assert f"{tmp_path / 'kb' / 'shop.yaml'}:2: id 'bbbbbbbbbbbbbbbbbbbb...'" in shown
    assert "Traceback" not in shown


@pytest.fixture
def chats(admin_services: Services, bot: MockedBot) -> tuple[PrivateChat, PrivateChat]:
    dispatcher = create_dispatcher(admin_services)
    return PrivateChat(dispatcher, bot, ADMIN_ID, "en"), PrivateChat(dispatcher, bot, 5, "en")


async def test_an_upload_over_the_limit_is_refused_before_it_is_downloaded(
    chats: tuple[PrivateChat, PrivateChat], bot: MockedBot, kb_copy: Path
) -> None:
    admin, customer = chats
    [reply] = await admin.send_document("huge.yaml", "huge.yaml", file_size=4_000_000)
    assert "'huge.yaml' has 4,000,000 bytes; the limit is 1,000,000" in reply.text
    assert bot.recorder.of_type(GetFile) == []
    assert not (kb_copy / "huge.yaml").exists()


async def test_an_uploaded_bomb_is_refused_quickly(
    chats: tuple[PrivateChat, PrivateChat], bot: MockedBot, kb_copy: Path
) -> None:
    admin, customer = chats
    bot.recorder.files["bomb.yaml"] = BOMB.encode()
    started = time.monotonic()
    [reply] = await admin.send_document("bomb.yaml", "bomb.yaml")
    assert time.monotonic() - started < 2.0
    assert "bomb.yaml:9: aliases (*name) are not allowed" in reply.text
    [answer] = await customer.say("how long does a refund take")
    assert answer.text.startswith("Refunds reach your original payment method")


async def test_another_admin_cannot_cancel_a_pending_upload(
    admin_services: Services, bot: MockedBot, kb_copy: Path
) -> None:
    other = ADMIN_ID + 1
    async with admin_services.session_factory() as session:
        await admin_services.roles.change(session, other, "admin", by=ADMIN_ID)
        await session.commit()
    dispatcher = create_dispatcher(admin_services)
    admin = PrivateChat(dispatcher, bot, ADMIN_ID, "en")
    bot.recorder.files["gifts.yaml"] = ("entries:" + GIFT_CARDS_ENTRY).encode()
    [summary] = await admin.send_document("gifts.yaml", "gifts.yaml")

    [refused] = await PrivateChat(dispatcher, bot, other, "en").press(summary, "Cancel")
    assert "no longer pending" in refused.text
    [published] = await admin.press(summary, "✅ Apply")
    assert published.text == "Published: added 1: gift_cards."
