"""Words that mean the same to the matcher, from the knowledge base's `synonyms:` groups.

Each term of a group is followed by the group's first term, in the questions and in the
customer's message alike, so that '我想return这个' and '我想退货' share 退货 for the matcher, while
the word as written still matches its misspellings. English terms match whole words only
('return' does not touch 'returned'); Chinese terms match anywhere.
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
            # The first term maps to itself, so that a longer term wins over a shorter one inside
            # it (优惠券 stays whole though 券 is a synonym of it).
            for term in terms:
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

    def apply(self, normalized: str, *, keep_terms: bool = True) -> str:
        """Each term followed by its group's first term; or, with `keep_terms` false, replaced
        by it."""
        if self._pattern is None:
            return normalized

        def canonical(found: re.Match[str]) -> str:
            term = found.group()
            first = self._canonical[term]
            if term == first:
                return term
            if keep_terms:
                return f"{term} {first} "
            return first if is_cjk(first) else f" {first} "

        return " ".join(self._pattern.sub(canonical, normalized).split())
