"""The admins' knowledge-base tools behind `kefu kb ...` and `kefu ask`."""

from __future__ import annotations

import json
import re
import sys
from datetime import timedelta
from pathlib import Path

import yaml

from bot.clock import Clock
from bot.config import Config
from bot.faq.answers import create_matcher, load_knowledge
from knowledge import KnowledgeBaseError, load_knowledge_base
from knowledge.evaluation import CasesError, evaluate, find_conflicts, load_cases
from knowledge.gaps import group_questions, skeleton_entries
from storage.conversations import questions_to_review
from storage.database import reading
from storage.privacy import REMOVED

DEFAULT_CONFLICT_SCORE = 80.0


def check(config: Config, path: str | None, conflict_score: float) -> int:
    target = Path(path) if path else config.knowledge.path
    try:
        knowledge_base = load_knowledge_base(target, config.business.placeholders())
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
) -> int:
    target = Path(kb_path) if kb_path else config.knowledge.path
    try:
        knowledge_base = load_knowledge_base(target, config.business.placeholders())
        result = evaluate(create_matcher(config, knowledge_base), load_cases(cases_path))
    except (KnowledgeBaseError, CasesError) as error:
        print(error, file=sys.stderr)
        return 1
    figures = result.as_dict()
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
