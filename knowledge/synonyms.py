"""Words that mean the same to the matcher, from the knowledge base's `synonyms.yaml`.

Each group's terms are rewritten to its first term, in the questions and in the customer's
message alike, so that '我想return这个' and '我想退货' look the same to the matcher. English terms
match whole words only ('return' does not touch 'returned'); Chinese terms match anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from knowledge.normalize import is_cjk, normalize


class Synonyms:
    def __init__(self, groups: Sequence[Sequence[str]] = ()) -> None:
        self._canonical: dict[str, str] = {}
        for group in groups:
            terms = [normalize(term) for term in group]
            terms = [term for term in terms if term]
            for term in terms[1:]:
                self._canonical.setdefault(term, terms[0])
        self._pattern = self._compile(self._canonical) if self._canonical else None

    @staticmethod
    def _compile(terms: dict[str, str]) -> re.Pattern[str]:
        alternatives = []
        for term in sorted(terms, key=len, reverse=True):
            escaped = re.escape(term)
            start = "" if is_cjk(term) else r"(?<![^\s\u3400-\u9fff\uf900-\ufaff])"
            end = "" if is_cjk(term[-1]) else r"(?![^\s\u3400-\u9fff\uf900-\ufaff])"
            alternatives.append(f"{start}{escaped}{end}")
        return re.compile("|".join(alternatives))

    def __len__(self) -> int:
        return len(self._canonical)

    def apply(self, normalized: str) -> str:
        if self._pattern is None:
            return normalized
        return self._pattern.sub(lambda found: self._canonical[found.group()], normalized)
