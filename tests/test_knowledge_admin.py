"""The admins' knowledge-base commands: check warnings, test, eval and gaps."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bot.app import create_services
from bot.cli import main
from bot.clock import ManualClock
from bot.config import load_config
from knowledge import Matcher, load_knowledge_base
from knowledge.evaluation import Case, CasesError, evaluate, load_cases
from knowledge.gaps import group_questions
from storage.conversations import record_vote
from storage.customers import touch_customer
from tests.conftest import TEST_KB


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_check_warns_about_entries_the_matcher_cannot_tell_apart(
    tmp_path: Path, write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    text = (TEST_KB / "shop.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "[how long does a refund take, when will i get my refund]",
        "[how long does a refund take, when will i get my refund, "
        "how do i return an item for a refund]",
    )
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "shop.yaml").write_text(text, encoding="utf-8")
    config = str(write_config(kb=tmp_path / "kb"))
    code, out, _ = run(capsys, "--config", config, "kb", "check", "--conflict-score", "75")
    assert code == 0
    assert "OK: 5 entries" in out
    assert (
        "warning: entries 'returns' and 'refund_time' are hard to tell apart: "
        "'how do i return an item' and 'how do i return an item for a refund' are 80% alike"
    ) in out
    code, out, _ = run(capsys, "--config", str(write_config(kb=TEST_KB)), "kb", "check")
    assert "warning" not in out


def test_kb_test_shows_five_candidates_and_the_decision(
    write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "--config", str(write_config()), "kb", "test", "退款多久能到账", "--json"
    )
    result = json.loads(out)
    assert code == 0
    assert result["decision"] == "answer"
    assert result["entry_id"] == "refund_time"
    assert len(result["candidates"]) == 5
    assert [c["entry_id"] for c in result["candidates"]][0] == "refund_time"


def test_eval_counts_each_outcome_on_a_known_case_file() -> None:
    matcher = Matcher(
        load_knowledge_base(TEST_KB, {k: "x" for k in ("business_hours", "address")})
    )
    cases = [
        Case("what are your opening hours", "business_hours"),  # answered right
        Case("when will i get my refund", "returns"),  # answered, but wrong entry
        Case("refund", "refund_time"),  # one word, a topic: its entries are suggested
        Case("what's the weather on mars", None),  # falls back, as it should
        Case("wann habt ihr offen", "business_hours"),  # nothing close: fallback, top1 misses
    ]
    result = evaluate(matcher, cases)
    assert (result.in_scope, result.out_of_scope) == (4, 1)
    assert result.answered_correct == 0.25
    assert result.answered_wrong == 0.25
    assert result.suggested_contains == 0.25
    assert result.oos_fallback == 1.0
    assert result.top1 == 0.5
    assert result.confusions["returns"] == {"refund_time": 1}
    assert 0 < result.latency_p50_ms <= result.latency_p99_ms


def test_eval_reads_json_lines_and_guards_a_minimum(
    tmp_path: Path, write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cases = tmp_path / "cases.jsonl"
    cases.write_text(
        '{"text": "营业时间是几点", "expect": "business_hours"}\n'
        '{"text": "how long does a refund take", "expect": "refund_time"}\n'
        '{"text": "tell me a joke", "expect": null}\n',
        encoding="utf-8",
    )
    config = str(write_config())
    args = ["--config", config, "kb", "eval", "--kb", str(TEST_KB), "--cases", str(cases)]
    code, out, _ = run(capsys, *args, "--json")
    figures = json.loads(out)
    assert code == 0
    assert figures["top1"] == 1.0
    assert figures["oos_fallback"] == 1.0
    assert {"answered_correct", "answered_wrong", "suggested_contains", "confusions"} <= set(
        figures
    )
    cases.write_text('{"text": "tell me a joke", "expect": "business_hours"}\n', encoding="utf-8")
    code, _, err = run(capsys, *args, "--min-top1", "0.9")
    assert code == 1
    assert "below --min-top1 0.9" in err


def test_a_broken_case_file_names_the_line(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_text("- {text: hi, expect: greeting}\n- {txt: oops}\n", encoding="utf-8")
    with pytest.raises(CasesError, match=r"cases.yaml:2: a case needs 'text' and 'expect'"):
        load_cases(cases)


def test_gaps_group_similar_questions_biggest_first() -> None:
    gaps = group_questions(
        [
            ("do you sell gift cards", "unanswered"),
            ("Do you sell gift cards?", "unanswered"),
            ("can i buy a gift card", "unsure"),
            ("你们有礼品卡吗", "unanswered"),
            ("你们有没有礼品卡", "downvoted"),
            ("what's the weather", "unanswered"),
            ("do you sell giftcards", "unanswered"),
        ]
    )
    assert [gap.count for gap in gaps][:2] == [3, 2]
    assert gaps[0].examples() == [
        "do you sell gift cards",
        "Do you sell gift cards?",
        "do you sell giftcards",
    ]
    assert gaps[1].reasons == {"unanswered": 1, "downvoted": 1}
    assert sum(gap.count for gap in gaps) == 7


async def test_gaps_reads_what_customers_asked_recently(
    write_config: Callable[..., Path], clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = write_config(kb=TEST_KB)
    services = await create_services(load_config(config_path, environ={}), clock=clock)
    async with services.session_factory() as session:
        clock.set(datetime.now(UTC) - timedelta(days=8))
        customer = await touch_customer(session, "telegram", "1", now=clock.now())
        await services.faq.answer_question(session, customer, "too old to count", "en")
        clock.set(datetime.now(UTC) - timedelta(days=1))
        for question in ("do you sell gift cards", "do you sell gift cards?", "礼品卡有吗"):
            await services.faq.answer_question(session, customer, question, "en")
        answer = await services.faq.answer_question(session, customer, "when are you open", "en")
        assert answer.message_id is not None
        await record_vote(session, customer, answer.message_id, helpful=False, now=clock.now())
        await session.commit()
    await services.close()

    code, out, _ = await asyncio.to_thread(
        run, capsys, "--config", str(config_path), "kb", "gaps", "--since", "7d"
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0].strip().startswith("2  do you sell gift cards  (unanswered 2)")
    assert any("when are you open  (downvoted 1)" in line for line in lines)
    assert "too old" not in out

    code, out, _ = await asyncio.to_thread(
        run, capsys, "--config", str(config_path), "kb", "gaps", "--yaml"
    )
    skeleton = yaml.safe_load(out)
    first = skeleton["entries"][0]
    assert first["questions"]["en"] == ["do you sell gift cards", "do you sell gift cards?"]
    assert first["answer"]["en"].startswith("TODO")
