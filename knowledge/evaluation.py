"""Measuring a knowledge base against a file of cases: which entry should answer each question."""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from knowledge.matcher import Decision, Matcher
from knowledge.problems import Problem


class CasesError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Case:
    text: str
    expect: str | None  # None: the bot should fall back


@dataclass
class Evaluation:
    in_scope: int = 0
    out_of_scope: int = 0
    top1: float = 0.0
    answered_correct: float = 0.0
    answered_wrong: float = 0.0
    suggested_contains: float = 0.0
    oos_fallback: float = 0.0
    oos_answered: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p99_ms: float = 0.0
    confusions: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "in_scope": self.in_scope,
            "out_of_scope": self.out_of_scope,
            "top1": round(self.top1, 4),
            "answered_correct": round(self.answered_correct, 4),
            "answered_wrong": round(self.answered_wrong, 4),
            "suggested_contains": round(self.suggested_contains, 4),
            "oos_fallback": round(self.oos_fallback, 4),
            "oos_answered": round(self.oos_answered, 4),
            "latency_p50_ms": round(self.latency_p50_ms, 3),
            "latency_p99_ms": round(self.latency_p99_ms, 3),
            "confusions": self.confusions,
        }


def load_cases(path: str | Path) -> list[Case]:
    """Cases from YAML (a list of {text, expect}) or JSON Lines (one such object a line)."""
    path = Path(path)
    try:
        raw_text = path.read_text(encoding="utf-8")
    except OSError as error:
        problem = Problem(str(path), 0, "cannot_read", {"reason": error.strerror})
        raise CasesError([problem]) from None
    rows: list[tuple[int, Any]] = []
    problems: list[Problem] = []
    if path.suffix == ".jsonl":
        for number, line in enumerate(raw_text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append((number, json.loads(line)))
                except json.JSONDecodeError as error:
                    problems.append(Problem(str(path), number, "not_json", {"detail": error.msg}))
    else:
        try:
            document = yaml.compose(raw_text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark
            at = mark.line + 1 if mark else 0
            problem = Problem(str(path), at, "not_yaml", {"detail": error.problem})
            raise CasesError([problem]) from None
        if document is None or not isinstance(document, yaml.SequenceNode):
            raise CasesError([Problem(str(path), 1, "cases_not_list")])
        for item in document.value:
            rows.append((item.start_mark.line + 1, yaml.safe_load(yaml.serialize(item))))
    cases: list[Case] = []
    for number, row in rows:
        if (
            not isinstance(row, dict)
            or not isinstance(row.get("text"), str)
            or "expect" not in row
        ):
            problems.append(Problem(str(path), number, "case_shape"))
            continue
        expect = row["expect"]
        if expect is not None and not isinstance(expect, str):
            problems.append(Problem(str(path), number, "case_expect"))
            continue
        cases.append(Case(row["text"], expect or None))
    if problems:
        raise CasesError(problems)
    if not cases:
        raise CasesError([Problem(str(path), 0, "no_cases")])
    return cases


def evaluate(matcher: Matcher, cases: list[Case]) -> Evaluation:
    unknown = sorted(
        {c.expect for c in cases if c.expect and c.expect not in matcher.knowledge_base}
    )
    if unknown:
        raise CasesError(
            [Problem("cases", 0, "no_such_entry", {"target": entry_id}) for entry_id in unknown]
        )
    counts: Counter[str] = Counter()
    confusions: defaultdict[str, Counter[str]] = defaultdict(Counter)
    timings: list[float] = []
    for case in cases:
        start = time.perf_counter()
        match = matcher.match(case.text)
        timings.append(time.perf_counter() - start)
        if case.expect is None:
            counts["oos"] += 1
            counts["oos_fallback"] += match.decision is Decision.FALLBACK
            counts["oos_answered"] += match.decision is Decision.ANSWER
            continue
        counts["in"] += 1
        counts["top1"] += match.entry_id == case.expect
        if match.entry_id != case.expect:
            confusions[case.expect][match.entry_id or "(none)"] += 1
        if match.decision is Decision.ANSWER:
            counts["answered_correct" if match.entry_id == case.expect else "answered_wrong"] += 1
        elif match.decision is Decision.SUGGEST:
            counts["suggested_contains"] += case.expect in {c.entry_id for c in match.candidates}
    ordered = sorted(timings)
    in_scope, out_of_scope = counts["in"], counts["oos"]
    return Evaluation(
        in_scope=in_scope,
        out_of_scope=out_of_scope,
        top1=counts["top1"] / in_scope if in_scope else 0.0,
        answered_correct=counts["answered_correct"] / in_scope if in_scope else 0.0,
        answered_wrong=counts["answered_wrong"] / in_scope if in_scope else 0.0,
        suggested_contains=counts["suggested_contains"] / in_scope if in_scope else 0.0,
        oos_fallback=counts["oos_fallback"] / out_of_scope if out_of_scope else 0.0,
        oos_answered=counts["oos_answered"] / out_of_scope if out_of_scope else 0.0,
        latency_p50_ms=statistics.median(ordered) * 1000,
        latency_p99_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        confusions={k: dict(v.most_common()) for k, v in sorted(confusions.items())},
    )


@dataclass(frozen=True)
class Conflict:
    variant: str
    entry_id: str
    other_entry_id: str
    other_variant: str
    score: float


def find_conflicts(matcher: Matcher, threshold: float) -> list[Conflict]:
    """Questions of one entry that are nearly the same as a question of another."""
    conflicts: dict[frozenset[str], Conflict] = {}
    for variant, entry_id, other_id, other_variant, score in matcher.close_questions(threshold):
        pair = frozenset((entry_id, other_id))
        if pair not in conflicts or conflicts[pair].score < score:
            conflicts[pair] = Conflict(variant, entry_id, other_id, other_variant, score)
    return sorted(conflicts.values(), key=lambda c: c.score, reverse=True)
