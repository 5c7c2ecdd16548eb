"""The knowledge base that learns from confirmed answers: what confirms a pairing, what is kept
of a customer's words, and admins approving candidates in Telegram and on the command line,
published without a restart."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiogram.methods import AnswerCallbackQuery, SendMessage
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from bot.app import Services, create_dispatcher
from bot.cli import main
from bot.clock import ManualClock
from knowledge import KnowledgeBaseError, load_knowledge_base
from knowledge.learning import LEARNED_FILE, scrub, with_learned
from storage.database import create_session_factory
from storage.learned_questions import confirm_question, waiting_questions
from storage.models import LearnedQuestion, LearnedStatus
from tests.chat import AgentInGroup, PrivateChat
from tests.conftest import ADMIN_ID, TEST_KB, StartServices
from tests.mocked_bot import MockedBot

ORDER_NUMBER = re.compile(r"(?<![A-Z0-9])[A-Z]-\d{4,}(?!\d)", re.IGNORECASE)


# What is kept of a customer's words


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("退的钱几天能回到支付宝", "退的钱几天能回到支付宝"),
        ("where is my order A-1003?", "where is my order?"),
        ("my phone is 138 1234 5678, call me", "my phone is, call me"),
        ("refund to +86-138-1234-5678 please", "refund to please"),
        ("write to mei.li@example.com about the refund", "write to about the refund"),
        ("快递单号SF1234567890到哪了", "快递单号 到哪了"),
        ("退款12345678到了吗", "退款 到了吗"),
        ("is it 3 days or 7 days", "is it 3 days or 7 days"),
        ("see https://shop.example/x?id=99 and @mei_li", "see and"),
        ("A-1003", None),
        ("13812345678", None),
        ("x" * 101, None),
    ],
)
def test_personal_details_are_taken_out_and_what_is_left_must_be_a_question(
    text: str, kept: str | None
) -> None:
    assert scrub(text, ORDER_NUMBER) == kept


# learned.yaml in the knowledge base

ENTRIES = """
entries:
  - id: refund_time
    category: returns
    questions: {en: [how long does a refund take]}
    answer: {en: Three to five days.}
  - id: returns
    category: returns
    questions: {en: [how do i return an item]}
    answer: {en: Within 7 days.}
"""


def write_kb(folder: Path, learned: str) -> Path:
    folder.mkdir()
    (folder / "entries.yaml").write_text(ENTRIES, encoding="utf-8")
    (folder / LEARNED_FILE).write_text(learned, encoding="utf-8")
    return folder


def test_learned_questions_join_their_entries(tmp_path: Path) -> None:
    learned = with_learned(None, [("refund_time", "退的钱几天能回到支付宝")])
    learned = with_learned(
        learned,
        [("refund_time", "when is my money back"), ("refund_time", "退的钱几天能回到支付宝")],
    )
    assert yaml.safe_load(learned) == {
        "learned": {
            "refund_time": {"en": ["when is my money back"], "zh": ["退的钱几天能回到支付宝"]}
        }
    }
    knowledge_base = load_knowledge_base(write_kb(tmp_path / "kb", learned))
    assert knowledge_base.entries["refund_time"].questions == {
        "en": ("how long does a refund take", "when is my money back"),
        "zh": ("退的钱几天能回到支付宝",),
    }


def test_a_learned_question_the_entry_already_has_is_left_out(tmp_path: Path) -> None:
    learned = "learned:\n  refund_time:\n    en: [How long does a refund take?]\n"
    knowledge_base = load_knowledge_base(write_kb(tmp_path / "kb", learned))
    assert knowledge_base.entries["refund_time"].questions == {
        "en": ("how long does a refund take",)
    }


def test_learned_questions_are_validated_like_any_other(tmp_path: Path) -> None:
    learned = (
        "learned:\n"
        "  refund_time:\n"
        "    en: [how do i return an item]\n"
        "  gift_cards:\n"
        "    en: [do you sell gift cards]\n"
        "  returns:\n"
        "    fr: [comment retourner]\n"
    )
    with pytest.raises(KnowledgeBaseError) as raised:
        load_knowledge_base(write_kb(tmp_path / "kb", learned))
    problems = [str(p) for p in raised.value.problems]
    learned_file = str(tmp_path / "kb" / LEARNED_FILE)
    assert problems == [
        f"{learned_file}:7: learned questions of 'returns': unknown language 'fr' in 'learned' "
        "(expected zh or en)",
        f"{learned_file}:3: entry 'refund_time': question 'how do i return an item' is also a "
        f"question of entry 'returns' ({tmp_path / 'kb' / 'entries.yaml'}:9)",
        f"{learned_file}:5: learned question 'do you sell gift cards': no entry with id "
        "'gift_cards'",
    ]


# Candidates in the database


async def test_a_wording_is_counted_once_per_piece_of_evidence(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    async with create_session_factory(engine)() as session:

        async def confirm(evidence: str, source: str) -> LearnedQuestion | None:
            return await confirm_question(
                session,
                entry_id="refund_time",
                text="when is my money back",
                key="when is my money back",
                evidence=evidence,
                source=source,
                now=clock.now(),
            )

        assert await confirm("message:1", "suggestion") is not None
        assert await confirm("message:1", "vote") is None  # the same message again
        question = await confirm("ticket:4", "agent")
        await session.commit()
        assert question is not None
        assert (question.confirmations, question.sources) == (2, "agent,suggestion")
        [waiting] = await waiting_questions(session)
        assert (waiting.id, waiting.status) == (question.id, LearnedStatus.PENDING)


# Through the dispatcher: what confirms a pairing


@pytest.fixture
def chats(admin_services: Services, bot: MockedBot) -> tuple[PrivateChat, PrivateChat]:
    dispatcher = create_dispatcher(admin_services)
    return PrivateChat(dispatcher, bot, ADMIN_ID, "en"), PrivateChat(dispatcher, bot, 7, "en")


async def candidates(services: Services) -> list[tuple[str, str, int, str, str]]:
    async with services.session_factory() as session:
        found = (
            await session.exec(select(LearnedQuestion).order_by(col(LearnedQuestion.id)))
        ).all()
    return [(q.entry_id, q.text, q.confirmations, q.sources, q.status) for q in found]


def buttons(reply: SendMessage) -> list[Any]:
    markup: Any = reply.reply_markup
    return [b for row in markup.inline_keyboard for b in row] if markup else []


async def test_a_pressed_suggestion_confirms_the_customers_words(
    chats: tuple[PrivateChat, PrivateChat], admin_services: Services, bot: MockedBot
) -> None:
    _, mei = chats
    [suggested] = await mei.say("when does my money come back")
    assert suggested.text.startswith("I am not quite sure what you mean")
    assert all(len(b.callback_data.encode()) <= 64 for b in buttons(suggested) if b.callback_data)
    [answer] = await mei.press(suggested, "how long does a refund take")
    assert answer.text.startswith("Refunds reach your original payment method")
    await mei.press(suggested, "how long does a refund take")  # pressed twice: counted once
    assert len(bot.recorder.of_type(AnswerCallbackQuery)) == 2
    assert await candidates(admin_services) == [
        ("refund_time", "when does my money come back", 1, "suggestion", "pending")
    ]


async def test_a_thumbs_up_after_rephrasing_confirms_the_words_that_went_unanswered(
    chats: tuple[PrivateChat, PrivateChat], admin_services: Services, clock: ManualClock
) -> None:
    _, mei = chats
    [fallback] = await mei.say("退的钱几天能回到支付宝")
    assert fallback.text.startswith("抱歉")
    clock.advance(timedelta(minutes=1))
    [answer] = await mei.say("how long does a refund take")
    await mei.press(answer, "👍 Yes")
    assert await candidates(admin_services) == [
        ("refund_time", "退的钱几天能回到支付宝", 1, "vote", "pending")
    ]


@pytest.mark.parametrize("pause", [timedelta(minutes=6), None])
async def test_a_thumbs_up_confirms_nothing_without_a_recent_rephrasing(
    chats: tuple[PrivateChat, PrivateChat],
    admin_services: Services,
    clock: ManualClock,
    pause: timedelta | None,
) -> None:
    _, mei = chats
    if pause is not None:  # asked long before: another matter, not a rephrasing
        await mei.say("退的钱几天能回到支付宝")
        clock.advance(pause)
    else:  # answered the first time: nothing to learn
        await mei.say("what are your opening hours")
    [answer] = await mei.say("how long does a refund take")
    await mei.press(answer, "👍 Yes")
    assert await candidates(admin_services) == []


async def test_an_agents_kb_answer_confirms_the_tickets_description(
    start_services: StartServices, bot: MockedBot
) -> None:
    services = await start_services(
        kb=TEST_KB,
        replace={"group_id = 0": "group_id = -1001234", "agents = []": "agents = [501]"},
    )
    dispatcher = create_dispatcher(services)
    mei = PrivateChat(dispatcher, bot, 7, "en")
    [choose] = await mei.say("/human")
    await mei.press(choose, "Payment")
    await mei.say("my money for order A-1001 never came back")
    await mei.say("A-1001")
    card = next(m for m in bot.recorder.sent_messages() if m.chat_id == -1001234)
    agent = AgentInGroup(dispatcher, bot, 501, "Alice")
    await agent.write(card.message_thread_id or 0, "/kb refund_time")
    assert await candidates(services) == [
        ("refund_time", "my money for order never came back", 1, "agent", "pending")
    ]


# Admins decide in Telegram; approved questions are published without a restart


async def test_admins_approve_in_telegram_and_the_next_question_matches(
    chats: tuple[PrivateChat, PrivateChat],
    admin_services: Services,
    bot: MockedBot,
    kb_copy: Path,
    clock: ManualClock,
) -> None:
    admin, mei = chats
    [suggested] = await mei.say("when does my money come back")
    await mei.press(suggested, "how long does a refund take")
    await mei.say("退的钱几天能回到支付宝")
    [answer] = await mei.say("how long does a refund take")
    await mei.press(answer, "👍 Yes")

    [refusal] = await mei.say("/learn")
    assert refusal.text == "Sorry, this command is for admins only."
    header, first, second = await admin.say("/learn")
    assert header.text == "2 learned question(s) waiting; the 2 most confirmed:"
    assert second.text == "#2 for refund_time, confirmed 1 time(s):\n退的钱几天能回到支付宝"
    assert [b.text for b in buttons(second)] == ["✅ Approve", "✖ Reject"]
    assert all(len(b.callback_data.encode()) <= 64 for b in buttons(first) + buttons(second))

    pressed = len(bot.recorder.of_type(AnswerCallbackQuery))
    await mei.press(second, "✅ Approve")  # not an admin
    [refused] = bot.recorder.of_type(AnswerCallbackQuery)[pressed:]
    assert (refused.text, refused.show_alert) == ("Sorry, this command is for admins only.", True)
    assert not (kb_copy / LEARNED_FILE).exists()

    await admin.press(second, "✅ Approve")
    approved = bot.recorder.of_type(AnswerCallbackQuery)[-1]
    assert approved.text == "#2 approved and published."
    assert "退的钱几天能回到支付宝" in (kb_copy / LEARNED_FILE).read_text(encoding="utf-8")
    [learned] = await PrivateChat(create_dispatcher(admin_services), bot, 8, "zh").say(
        "退的钱几天能回到支付宝"
    )
    assert learned.text.startswith("退款会在3到5个工作日内")

    await admin.press(first, "✖ Reject")
    assert bot.recorder.of_type(AnswerCallbackQuery)[-1].text == (
        "#1 rejected; it will not be proposed again."
    )
    await admin.press(first, "✅ Approve")  # a second press on a decided candidate
    assert bot.recorder.of_type(AnswerCallbackQuery)[-1].text == "#1 approved and published."
    [history] = await admin.say("/kb_history")
    assert "learned #2 for refund_time: changed 1: refund_time" in history.text
    [none] = await admin.say("/learn")
    assert none.text == "No learned questions are waiting for a decision."
    assert [c[4] for c in await candidates(admin_services)] == ["approved", "approved"]


async def test_a_candidate_that_became_another_entrys_question_is_refused(
    chats: tuple[PrivateChat, PrivateChat], admin_services: Services, bot: MockedBot
) -> None:
    admin, _ = chats
    async with admin_services.session_factory() as session:
        await confirm_question(
            session,
            entry_id="refund_time",
            text="how do i return an item",
            key="how do i return an item",
            evidence="message:1",
            source="suggestion",
            now=admin_services.clock.now(),
        )
        await session.commit()
    _, candidate = await admin.say("/learn")
    await admin.press(candidate, "✅ Approve")
    refused = bot.recorder.of_type(AnswerCallbackQuery)[-1]
    assert refused.show_alert
    assert refused.text == "#1 was not approved: already a question of entry 'returns'."


# The command line


async def test_kefu_kb_learn_lists_reviews_and_approves_and_the_service_publishes_it(
    admin_services: Services,
    write_config: Callable[..., Path],
    kb_copy: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    bot: MockedBot,
) -> None:
    config = write_config(kb=kb_copy, replace={"admins = []": f"admins = [{ADMIN_ID}]"})
    learning = admin_services.learning
    async with admin_services.session_factory() as session:
        for number, text in enumerate(
            ["退的钱几天能回到支付宝", "money home when", "13812345678"]
        ):
            await learning.confirm(session, "refund_time", text, f"message:{number}", "vote")
        await learning.confirm(session, "refund_time", "money home when", "ticket:1", "agent")
        await session.commit()

    async def kefu(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        # its own event loop, as from a shell, while this test's loop runs the service
        code = await asyncio.to_thread(main, ["--config", str(config), "kb", "learn", *args])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = await kefu()
    assert code == 0
    assert out.splitlines() == [
        "refund_time: 2 candidate(s)",
        "  #2     x2   money home when  (agent, vote)",
        "  #1     x1   退的钱几天能回到支付宝  (vote)",
        "Approve with `kefu kb learn --approve ID...`, reject with `--reject ID...`.",
    ]
    code, out, _ = await kefu("--yaml")
    review = yaml.safe_load(out)
    assert review["candidates"][1] == {
        "id": 1,
        "entry": "refund_time",
        "confirmed": 1,
        "text": "退的钱几天能回到支付宝",
        "decision": "pending",
    }
    review["candidates"][1]["decision"] = "approve"
    review["candidates"][0]["decision"] = "reject"
    (tmp_path / "review.yaml").write_text(yaml.safe_dump(review, allow_unicode=True))
    code, out, err = await kefu("--review", str(tmp_path / "review.yaml"))
    assert (code, err) == (0, "")
    assert out.splitlines()[:2] == [
        "approved #1 for refund_time: 退的钱几天能回到支付宝",
        "rejected #2 for refund_time: money home when",
    ]
    assert "退的钱几天能回到支付宝" in (kb_copy / LEARNED_FILE).read_text(encoding="utf-8")
    code, _, err = await kefu("--approve", "1", "9")
    assert code == 1
    assert err.splitlines() == [
        "kefu: #1 not decided: already approved",
        "kefu: #9 not decided: no such candidate",
    ]

    # the running service picks the file up with its watch, no restart
    result = await admin_services.publisher.check_for_changes()
    assert result is not None and result.ok
    [answer] = await PrivateChat(create_dispatcher(admin_services), bot, 8, "zh").say(
        "退的钱几天能回到支付宝"
    )
    assert answer.text.startswith("退款会在3到5个工作日内")


# The benchmark's replay goes through the same loop


async def test_the_benchmark_replays_pairs_through_the_loop(tmp_path: Path) -> None:
    from benchmarks.learning_loop import benchmark_config, replay_and_approve

    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "entries.yaml").write_text(ENTRIES, encoding="utf-8")
    config = benchmark_config(folder, tmp_path / "loop.db")
    outcome = await replay_and_approve(
        config,
        [
            ("when is my money back", "refund_time"),
            ("When is my money back?", "refund_time"),  # the same wording: one candidate
            ("how do i return an item", "refund_time"),  # another entry's question
            ("13812345678", "returns"),  # nothing left once scrubbed
            ("send it back how", "returns"),
        ],
    )
    assert outcome == {
        "replayed": 5,
        "candidates": 3,
        "not_kept": 1,
        "approved": 2,
        "refused": 1,
    }
    learned = (folder / LEARNED_FILE).read_text(encoding="utf-8")
    assert yaml.safe_load(learned) == {
        "learned": {
            "refund_time": {"en": ["when is my money back"]},
            "returns": {"en": ["send it back how"]},
        }
    }


def test_kefu_kb_learn_on_a_database_never_written_lists_nothing(
    write_config: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(kb=TEST_KB)
    assert main(["--config", str(config), "kb", "learn"]) == 0
    assert capsys.readouterr().out == "No learned questions are waiting for a decision.\n"
    assert not (tmp_path / "kefu.db").exists()
    review = tmp_path / "review.yaml"
    review.write_text("candidates:\n  - {id: 1, decision: maybe}\n", encoding="utf-8")
    assert main(["--config", str(config), "kb", "learn", "--review", str(review)]) == 2
    assert "needs an id and a decision of approve, reject or pending" in capsys.readouterr().err
