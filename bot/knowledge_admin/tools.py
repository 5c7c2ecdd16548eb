"""The admins' knowledge-base tools behind `kefu kb ...` and `kefu ask`."""

from __future__ import annotations

import asyncio
import functools
import json
import re
import sys
from datetime import timedelta
from pathlib import Path

import yaml

from bot.clock import Clock
from bot.config import Config
from bot.faq.answers import create_matcher, load_knowledge
from bot.knowledge_admin.learning import Learning, publish_offline
from bot.texts import Say, Texts
from knowledge import KnowledgeBaseError, load_knowledge_base
from knowledge.evaluation import CasesError, evaluate, find_conflicts, load_cases
from knowledge.gaps import group_questions, skeleton_entries
from knowledge.learning import LEARNED_FILE
from storage.conversations import questions_to_review
from storage.database import migrated_session, reading
from storage.knowledge_versions import add_evaluation
from storage.learned_questions import waiting_questions
from storage.models import LearnedQuestion
from storage.privacy import REMOVED

DEFAULT_CONFLICT_SCORE = 80.0


def check(config: Config, path: str | None, conflict_score: float) -> int:
    target = Path(path) if path else config.knowledge.path
    try:
        knowledge_base = load_knowledge_base(target, config.placeholders())
    except KnowledgeBaseError as error:
        print(error, file=sys.stderr)
        print(f"{len(error.problems)} error(s) in {target}", file=sys.stderr)
        return 1
    print(
        f"{target}: OK: {len(knowledge_base)} entries, {knowledge_base.variant_count()} "
        f"questions in {len(knowledge_base.files)} file(s)"
    )
    conflicts = find_conflicts(create_matcher(config, knowledge_base), conflict_score)
    for conflict in conflicts:
        print(
            f"warning: entries '{conflict.entry_id}' and '{conflict.other_entry_id}' are hard to "
            f"tell apart: {conflict.variant!r} and {conflict.other_variant!r} are "
            f"{conflict.score:.0f}% alike"
        )
    if conflicts:
        print(f"{len(conflicts)} warning(s): reword those questions so that each entry stands out")
    return 0


def test_question(config: Config, text: str, *, as_json: bool, limit: int = 5) -> int:
    matcher = create_matcher(config, load_knowledge(config))
    match = matcher.match(text)
    candidates = matcher.rank(text, limit=limit)
    if as_json:
        result = {
            "text": text,
            "decision": match.decision.value,
            "entry_id": match.entry_id,
            "score": match.score,
            "candidates": [
                {"entry_id": c.entry_id, "score": c.score, "variant": c.variant}
                for c in candidates
            ],
        }
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(f"decision: {match.decision.value}")
    print(f"entry:    {match.entry_id or '-'}")
    print(f"score:    {match.score:.1f}")
    for candidate in candidates:
        print(f"  {candidate.score:5.1f}  {candidate.entry_id}  ({candidate.variant})")
    return 0


def run_evaluation(
    config: Config,
    kb_path: str | None,
    cases_path: str,
    *,
    as_json: bool,
    min_top1: float | None,
    keep: bool,
    clock: Clock,
) -> int:
    """The figures of a knowledge base on a file of cases; with `keep`, those of the configured
    one are also kept in the database, where the console's knowledge-base page shows the latest
    (without it, no database is opened: the knowledge base can be checked anywhere)."""
    if keep and kb_path is not None:
        print("kefu: --keep keeps the figures of the configured knowledge base", file=sys.stderr)
        return 2
    target = Path(kb_path) if kb_path else config.knowledge.path
    try:
        knowledge_base = load_knowledge_base(target, config.placeholders())
        result = evaluate(create_matcher(config, knowledge_base), load_cases(cases_path))
    except (KnowledgeBaseError, CasesError) as error:
        print(error, file=sys.stderr)
        return 1
    figures = result.as_dict()
    if keep:
        asyncio.run(_record_evaluation(config, clock, cases_path, len(knowledge_base), figures))
    if as_json:
        print(json.dumps(figures, ensure_ascii=False))
    else:
        print(f"cases: {result.in_scope} in scope, {result.out_of_scope} out of scope")
        for key in (
            "top1",
            "answered_correct",
            "answered_wrong",
            "suggested_contains",
            "oos_fallback",
        ):
            print(f"{key:>20}: {figures[key]:.1%}")
        latency = f"{result.latency_p50_ms:.2f} / {result.latency_p99_ms:.2f} ms"
        print(f"{'latency p50 / p99':>20}: {latency}")
        for expected, found in result.confusions.items():
            wrong = ", ".join(f"{entry} x{count}" for entry, count in found.items())
            print(f"  {expected} -> {wrong}")
    if min_top1 is not None and result.top1 < min_top1:
        print(f"top1 {result.top1:.3f} is below --min-top1 {min_top1}", file=sys.stderr)
        return 1
    return 0


async def _record_evaluation(
    config: Config, clock: Clock, cases: str, entries: int, figures: dict[str, object]
) -> None:
    async with migrated_session(config.database.url) as session:
        await add_evaluation(
            session, cases=Path(cases).name, entries=entries, figures=figures, now=clock.now()
        )
        await session.commit()


_PERIOD = re.compile(r"^(\d+)([hdw])$")


def parse_period(text: str) -> timedelta:
    """'36h', '7d', '2w' -> a timedelta."""
    found = _PERIOD.match(text.strip())
    if not found:
        raise ValueError(f"not a period: {text!r} (write e.g. 24h, 7d or 2w)")
    amount, unit = int(found.group(1)), found.group(2)
    return {
        "h": timedelta(hours=amount),
        "d": timedelta(days=amount),
        "w": timedelta(weeks=amount),
    }[unit]


async def show_gaps(
    config: Config, clock: Clock, *, since: timedelta, as_yaml: bool, limit: int
) -> int:
    async with reading(config.database.url) as sessions, sessions() as session:
        questions = await questions_to_review(session, clock.now() - since)
    # texts erased or past their retention are no question to learn from
    questions = [(text, why) for text, why in questions if text != REMOVED]
    gaps = group_questions(questions)[:limit]
    if as_yaml:
        print(yaml.safe_dump(skeleton_entries(gaps), allow_unicode=True, sort_keys=False), end="")
        return 0
    if not gaps:
        print("No unanswered, unsure or downvoted questions in that period.")
        return 0
    for gap in gaps:
        reasons = ", ".join(f"{reason} {count}" for reason, count in gap.reasons.most_common())
        print(f"{gap.count:4d}  {gap.representative}  ({reasons})")
        for example in gap.examples():
            print(f"        - {example}")
    return 0


REVIEW_HINT = """\
# Learned questions waiting for a decision. Set each `decision` to approve or reject (or leave
# it pending), edit a `text` before approving it if you like, then run:
#   kefu kb learn --review THIS_FILE
"""


def _learning(config: Config, clock: Clock) -> Learning:
    knowledge_base = load_knowledge(config)
    publish = functools.partial(publish_offline, config=config, clock=clock)
    return Learning(config, clock, lambda: knowledge_base, publish, Texts.load())


async def list_learned(config: Config, *, as_yaml: bool, limit: int) -> int:
    """Candidates waiting for a decision, grouped by entry, the most confirmed first."""
    async with reading(config.database.url) as sessions, sessions() as session:
        questions = await waiting_questions(session, limit)
    if as_yaml:
        items = [
            {
                "id": q.id,
                "entry": q.entry_id,
                "confirmed": q.confirmations,
                "text": q.text,
                "decision": "pending",
            }
            for q in questions
        ]
        body = yaml.safe_dump(
            {"candidates": items}, allow_unicode=True, sort_keys=False, width=1000
        )
        print(REVIEW_HINT + body, end="")
        return 0
    if not questions:
        print("No learned questions are waiting for a decision.")
        return 0
    groups: dict[str, list[LearnedQuestion]] = {}
    for question in questions:
        groups.setdefault(question.entry_id, []).append(question)
    ordered = sorted(groups.items(), key=lambda g: -sum(q.confirmations for q in g[1]))
    for entry_id, group in ordered:
        print(f"{entry_id}: {len(group)} candidate(s)")
        for q in group:
            sources = q.sources.replace(",", ", ")
            print(f"  #{q.id:<5} x{q.confirmations:<3} {q.text}  ({sources})")
    print("Approve with `kefu kb learn --approve ID...`, reject with `--reject ID...`.")
    return 0


def read_review(path: str) -> tuple[list[int], list[int], dict[int, str]]:
    """The decisions of a review file written by `kefu kb learn --yaml`."""
    document = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    items = document.get("candidates") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a mapping with the key 'candidates'")
    approve: list[int] = []
    reject: list[int] = []
    edits: dict[int, str] = {}
    for number, item in enumerate(items, 1):
        decision = item.get("decision") if isinstance(item, dict) else None
        if decision not in ("approve", "reject", "pending") or not isinstance(item["id"], int):
            raise ValueError(
                f"{path}: candidate {number}: needs an id and a decision of approve, reject "
                "or pending"
            )
        if decision == "approve":
            approve.append(item["id"])
            if isinstance(item.get("text"), str):
                edits[item["id"]] = item["text"]
        elif decision == "reject":
            reject.append(item["id"])
    return approve, reject, edits


async def decide_learned(
    config: Config,
    clock: Clock,
    *,
    approve: list[int],
    reject: list[int],
    edits: dict[int, str],
) -> int:
    """Approve (written to learned.yaml, validated, recorded as a version) and reject."""
    async with migrated_session(config.database.url) as session:
        decided = await _learning(config, clock).decide(
            session, approve=approve, reject=reject, by="cli", edits=edits
        )
        if decided.result is not None and not decided.result.ok:
            print("Not published: the knowledge base would not validate.", file=sys.stderr)
            print("\n".join(decided.result.errors), file=sys.stderr)
            return 1
        await session.commit()
    for question in decided.approved:
        print(f"approved #{question.id} for {question.entry_id}: {question.text}")
    for question in decided.rejected:
        print(f"rejected #{question.id} for {question.entry_id}: {question.text}")
    english = Say(Texts.load(), "en")  # as all of the command line speaks
    for question_id, why in decided.refused:
        print(f"kefu: #{question_id} not decided: {why.told(english)}", file=sys.stderr)
    if decided.result is not None:
        print(
            f"{config.knowledge.path / LEARNED_FILE}: {decided.result.change.summary()}; "
            "a running kefu publishes it with its file watch (or /reload)"
        )
    return 1 if decided.refused else 0
