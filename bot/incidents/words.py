"""Urgent words: the terms of [incidents] urgent_terms found in a customer's message, in any
language, traditional characters too."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from knowledge.normalize import normalize

# A word of negation just before the term ("没有受伤", "nobody was injured") takes it back.
_NEGATED_ZH = ("没有", "没", "不", "无", "非")
_NEGATED_EN = re.compile(
    r"\b(?:not|no|nobody|never|isn't|wasn't|weren't|don't|didn't)\s+(?:\S+\s+){0,2}$"
)


class UrgentWords:
    """Finds the first urgent term of any language in a message (customers mix languages).
    Terms are compared normalised: case, full-width forms and traditional characters do not
    matter. A term in Latin letters is found only as whole words; any other (Chinese, a hotline
    number) anywhere."""

    def __init__(self, terms: Mapping[str, Iterable[str]]) -> None:
        chinese: list[str] = []
        english: list[str] = []
        for listed in terms.values():
            for term in listed:
                normalized = normalize(term)
                if not normalized:
                    continue
                words_of_latin_letters = normalized.isascii() and any(
                    c.isalpha() for c in normalized
                )
                (english if words_of_latin_letters else chinese).append(normalized)
        self._chinese = sorted(set(chinese), key=len, reverse=True)
        words = "|".join(re.escape(t) for t in sorted(set(english), key=len, reverse=True))
        self._english = re.compile(rf"\b(?:{words})\b") if words else None

    def find(self, text: str) -> str | None:
        normalized = normalize(text)
        for term in self._chinese:
            start = normalized.find(term)
            while start != -1:
                if not normalized[:start].endswith(_NEGATED_ZH):
                    return term
                start = normalized.find(term, start + 1)
        if self._english is not None:
            for found in self._english.finditer(normalized):
                if not _NEGATED_EN.search(normalized[: found.start()]):
                    return found.group(0)
        return None
