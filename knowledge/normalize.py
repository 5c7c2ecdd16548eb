"""Text normalisation shared by the loader and the matcher.

Customers write full-width letters, traditional characters, stray punctuation and emoji; all of it
must compare equal to the knowledge base's plain wording.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from functools import cache
from importlib.resources import files

_SPACES = re.compile(r"\s+")
# A run of CJK ideographs, or a run of anything else that is not a space.
_SEGMENTS = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+|[^\s\u3400-\u9fff\uf900-\ufaff]+")


@cache
def _translation_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code))[0] in "PSC" and chr(code) not in "\t\n\r ":
            table[code] = " "
    dictionary = files("opencc") / "dictionary" / "TSCharacters.txt"
    for line in dictionary.read_text(encoding="utf-8").splitlines():
        traditional, _, simplified = line.partition("\t")
        if len(traditional) == 1 and simplified:
            table[ord(traditional)] = simplified.split()[0]
    return table


def normalize(text: str) -> str:
    """Lower case, half-width, simplified Chinese, no punctuation, single spaces."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = text.translate(_translation_table())
    return _SPACES.sub(" ", text).strip()


def is_cjk(segment: str) -> bool:
    return "\u3400" <= segment[0] <= "\u9fff" or "\uf900" <= segment[0] <= "\ufaff"


def segments(normalized: str) -> list[str]:
    """Split normalised text into CJK runs and other words.

    '我想return这个' gives 我想, return, 这个.
    """
    return _SEGMENTS.findall(normalized)


def detect_language(text: str) -> str | None:
    """'zh' when the text has Chinese characters, 'en' when it has Latin letters, else None."""
    if any(is_cjk(char) for char in text if not char.isspace()):
        return "zh"
    if any("a" <= char.lower() <= "z" for char in text):
        return "en"
    return None
