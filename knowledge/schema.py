"""The knowledge base as the rest of the service sees it: validated, immutable entries."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

LANGUAGES = ("zh", "en")

# Flows of the bot that an entry may start instead of giving a static answer. The bot maps each
# name to its handler; the loader refuses any other name.
ACTIONS = frozenset({"talk_to_human", "order_status", "return_request"})


def other_language(language: str) -> str:
    return "en" if language == "zh" else "zh"


@dataclass(frozen=True)
class Button:
    entry: str | None = None
    url: str | None = None
    label: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Entry:
    id: str
    category: str
    questions: Mapping[str, tuple[str, ...]]
    answer: Mapping[str, str]
    buttons: tuple[Button, ...] = ()
    related: tuple[str, ...] = ()
    action: str | None = None
    menu: bool = False
    source: str = ""

    def answer_in(self, language: str) -> str | None:
        return self.answer.get(language) or self.answer.get(other_language(language))

    def title(self, language: str) -> str:
        """A short label for buttons: the entry's first question in that language."""
        questions = self.questions.get(language) or self.questions.get(other_language(language))
        return questions[0] if questions else self.id

    def variants(self) -> Iterator[tuple[str, str]]:
        for language, questions in self.questions.items():
            for question in questions:
                yield language, question


@dataclass(frozen=True)
class KnowledgeBase:
    entries: Mapping[str, Entry]
    files: tuple[str, ...] = ()
    # Groups of words that mean the same to the matcher; each group's first term stands for all.
    synonyms: tuple[tuple[str, ...], ...] = ()

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self.entries

    def get(self, entry_id: str) -> Entry | None:
        return self.entries.get(entry_id)

    def menu(self, limit: int) -> list[Entry]:
        return [entry for entry in self.entries.values() if entry.menu][:limit]

    def variant_count(self) -> int:
        return sum(
            len(questions) for e in self.entries.values() for questions in e.questions.values()
        )
