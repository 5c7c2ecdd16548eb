"""Questions learned from customers: what may be kept of a customer's words, and the knowledge
base's file of approved learned questions (`learned.yaml`).

A learned question is a customer's own wording that was confirmed to mean an entry. Before it is
kept anywhere, anything personal is taken out of it (order numbers, e-mail addresses, links,
@handles, phone numbers and every run of five digits or more); what is too short or too long to
be a question afterwards is not kept at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import yaml

from knowledge.normalize import detect_language, normalize

LEARNED_FILE = "learned.yaml"
MAX_LENGTH = 100  # characters: longer is a story, not a question
MIN_KEY_LENGTH = 2  # characters left after normalisation
LONG_DIGITS = 5

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_LINK = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"@\w{2,}")
# a word of letters and digits (a tracking number, SF1234567890), or digits with the separators
# of a phone number (138 1234 5678, +86-138-1234-5678): personal when it holds 5 digits or more
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_NUMBER = re.compile(r"[A-Za-z]*\+?\d(?:[\d ().-]*\d)?[A-Za-z]*")
_SPACE_BEFORE_MARK = re.compile(r"\s+([?？!！,，.。:：;；])")
_SPACES = re.compile(r"\s+")

HEADER = """\
# Questions learned from customers' own words, each approved by an admin (`kefu kb learn`, or
# /learn in Telegram). Validated and published like every other file of the knowledge base;
# edit or remove a line here to take a question back.
"""


def _digits(text: str) -> int:
    return sum(char.isdigit() for char in text)


def scrub(text: str, order_number: re.Pattern[str] | None = None) -> str | None:
    """The customer's words with everything personal taken out, or None when what is left is
    not a question worth keeping (too short, or too long)."""
    cleaned = text
    if order_number is not None:
        cleaned = order_number.sub(" ", cleaned)
    for pattern in (_EMAIL, _LINK, _HANDLE):
        cleaned = pattern.sub(" ", cleaned)
    for pattern in (_NUMBER, _TOKEN):
        cleaned = pattern.sub(
            lambda found: " " if _digits(found.group()) >= LONG_DIGITS else found.group(),
            cleaned,
        )
    cleaned = _SPACES.sub(" ", _SPACE_BEFORE_MARK.sub(r"\1", cleaned)).strip()
    if len(cleaned) > MAX_LENGTH or len(normalize(cleaned).replace(" ", "")) < MIN_KEY_LENGTH:
        return None
    return cleaned


def question_key(text: str) -> str:
    """What makes two learned questions the same (as the loader compares questions)."""
    return normalize(text)[:200]


def question_language(text: str) -> str:
    return detect_language(text) or "en"


Learned = dict[str, dict[str, list[str]]]  # entry id -> language -> questions


def read_learned(text: str | None) -> Learned:
    """The learned questions of a learned.yaml as written (validation is the loader's)."""
    if not text:
        return {}
    document = yaml.safe_load(text) or {}
    learned = document.get("learned") if isinstance(document, dict) else None
    if not isinstance(learned, dict):
        return {}
    found: Learned = {}
    for entry_id, by_language in learned.items():
        if not isinstance(by_language, dict):
            continue
        found[str(entry_id)] = {
            str(language): [str(q) for q in questions]
            for language, questions in by_language.items()
            if isinstance(questions, list)
        }
    return found


def with_learned(current: str | None, additions: Iterable[tuple[str, str]]) -> str:
    """learned.yaml's text with (entry id, question) pairs added to what it already holds;
    a question it already has is not added twice."""
    learned = read_learned(current)
    known = {
        (entry_id, question_key(q))
        for entry_id, by_language in learned.items()
        for questions in by_language.values()
        for q in questions
    }
    for entry_id, question in additions:
        if (entry_id, question_key(question)) in known:
            continue
        known.add((entry_id, question_key(question)))
        language = question_language(question)
        learned.setdefault(entry_id, {}).setdefault(language, []).append(question)
    body = yaml.safe_dump(
        {"learned": _sorted(learned)}, allow_unicode=True, sort_keys=False, width=1000
    )
    return HEADER + body


def _sorted(learned: Mapping[str, Mapping[str, list[str]]]) -> Learned:
    return {
        entry_id: {language: list(learned[entry_id][language]) for language in sorted(by_language)}
        for entry_id, by_language in sorted(learned.items())
    }
