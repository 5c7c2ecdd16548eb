"""Grouping the questions the bot could not answer well, so that admins see what to add."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from knowledge.normalize import detect_language, normalize

SAME_QUESTION = 72.0


@dataclass
class Gap:
    """Questions that say much the same thing."""

    representative: str
    questions: list[str] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def count(self) -> int:
        return len(self.questions)

    def examples(self, limit: int = 5) -> list[str]:
        seen: dict[str, None] = {}
        for question in self.questions:
            seen.setdefault(question.strip(), None)
        return list(seen)[:limit]


def group_questions(
    questions: Iterable[tuple[str, str]], similar: float = SAME_QUESTION
) -> list[Gap]:
    """Greedy grouping by rapidfuzz similarity of the normalised text; biggest groups first."""
    gaps: list[tuple[str, Gap]] = []
    for text, reason in questions:
        key = normalize(text)
        if not key:
            continue
        gap = next(
            (
                g
                for representative, g in gaps
                if fuzz.token_set_ratio(key, representative) >= similar
            ),
            None,
        )
        if gap is None:
            gap = Gap(text)
            gaps.append((key, gap))
        gap.questions.append(text)
        gap.reasons[reason] += 1
    return sorted((gap for _, gap in gaps), key=lambda g: g.count, reverse=True)


def skeleton_entries(gaps: list[Gap]) -> dict[str, list[dict[str, object]]]:
    """New, unfinished entries for the biggest gaps, for an admin to complete."""
    entries: list[dict[str, object]] = []
    for number, gap in enumerate(gaps, start=1):
        questions: dict[str, list[str]] = {}
        for example in gap.examples(limit=10):
            questions.setdefault(detect_language(example) or "en", []).append(example)
        entries.append(
            {
                "id": f"new_question_{number}",
                "category": "new",
                "questions": questions,
                "answer": {language: "TODO: write the answer" for language in questions},
            }
        )
    return {"entries": entries}
