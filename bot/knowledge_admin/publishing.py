"""Publishing a new knowledge base into the running service: validated whole, then swapped in.

A broken edit never replaces a good knowledge base: the previous one keeps serving and the
errors go back to whoever asked (the admin's /reload, the file watcher's notice to admins).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from bot.config import Config
from bot.faq.answers import FaqService, create_matcher
from bot.texts import Say
from knowledge import (
    KnowledgeBase,
    KnowledgeBaseError,
    Matcher,
    Problem,
    load_knowledge_base,
    problems_text,
)
from knowledge.loader import knowledge_files

log = logging.getLogger(__name__)

Fingerprint = tuple[tuple[str, int, int], ...]


@dataclass(frozen=True)
class KnowledgeChange:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def summary(self) -> str:
        parts = []
        for label, ids in (
            ("added", self.added),
            ("changed", self.changed),
            ("removed", self.removed),
        ):
            if ids:
                parts.append(f"{label} {len(ids)}: {', '.join(ids)}")
        return "; ".join(parts) if parts else "no changes"

    def told(self, say: Say) -> str:
        """The summary for staff to read, in their language."""
        parts = [
            say(f"kb_change_{label}", count=len(ids), ids=", ".join(ids))
            for label, ids in (
                ("added", self.added),
                ("changed", self.changed),
                ("removed", self.removed),
            )
            if ids
        ]
        return say("kb_change_separator").join(parts) if parts else say("kb_change_none")


@dataclass(frozen=True)
class Publication:
    """Why a version was published: an upload (file), a rollback (version), learned questions
    (questions: [id, entry] pairs, or count) or the files as they were before kefu's first
    change. Kept with the change as the version's summary, and told in the reader's language."""

    kind: str
    values: dict[str, object] = field(default_factory=dict)

    def summary(self, change: KnowledgeChange) -> str:
        return json.dumps(
            {
                "kind": self.kind,
                "values": self.values,
                "added": change.added,
                "changed": change.changed,
                "removed": change.removed,
            },
            ensure_ascii=False,
        )

    def told(self, say: Say) -> str:
        values = dict(self.values)
        questions = values.pop("questions", None)
        if isinstance(questions, list):
            values["questions"] = say("kb_change_separator").join(
                say("kb_version_learned_one", id=id_, entry=entry) for id_, entry in questions
            )
        return say(f"kb_version_{self.kind}", **values)


def version_summary(summary: str, say: Say) -> str:
    """A stored version's summary in the reader's language (one written by an earlier kefu, in
    English words, is shown as it is)."""
    try:
        stored = json.loads(summary)
        publication = Publication(stored["kind"], stored["values"])
        change = KnowledgeChange(stored["added"], stored["changed"], stored["removed"])
    except (ValueError, TypeError, KeyError):
        return summary
    if publication.kind == "before_first":
        return publication.told(say)
    return f"{publication.told(say)}{say('kb_version_colon')}{change.told(say)}"


def compare(old: KnowledgeBase, new: KnowledgeBase) -> KnowledgeChange:
    return KnowledgeChange(
        added=[i for i in new.entries if i not in old.entries],
        changed=[
            i
            for i, entry in new.entries.items()
            if i in old.entries and _content(old.entries[i]) != _content(entry)
        ],
        removed=[i for i in old.entries if i not in new.entries],
    )


def _content(entry: object) -> object:
    # Where an entry was read from is not part of what it says.
    return {k: v for k, v in vars(entry).items() if k != "source"}


@dataclass(frozen=True)
class PublishResult:
    ok: bool
    change: KnowledgeChange = field(default_factory=KnowledgeChange)
    problems: tuple[Problem, ...] = ()
    entries: int = 0

    @property
    def errors(self) -> list[str]:
        """The problems, in English (for the log and the command line)."""
        return [str(problem) for problem in self.problems]

    def errors_in(self, language: str) -> str:
        return problems_text(self.problems, language)

    def message(self) -> str:
        if self.ok:
            return f"Knowledge base reloaded: {self.entries} entries ({self.change.summary()})."
        return (
            "The knowledge base was NOT reloaded; the previous one is still answering.\n"
            + "\n".join(self.errors)
        )

    def told(self, say: Say) -> str:
        """What staff are told of a reload, in their language (the log keeps `message`)."""
        if self.ok:
            return say("reload_done", entries=self.entries, summary=self.change.told(say))
        return say("reload_failed", errors=self.errors_in(say.language))


def fingerprint(path: Path) -> Fingerprint:
    try:
        files = knowledge_files(path)
    except OSError:
        return ()
    found = []
    for file in files:
        try:
            status = file.stat()
        except OSError:
            continue
        found.append((str(file), status.st_mtime_ns, status.st_size))
    return tuple(found)


class KnowledgePublisher:
    def __init__(self, config: Config, faq: FaqService) -> None:
        self.config = config
        self.faq = faq
        self.path = config.knowledge.path
        self._seen = fingerprint(self.path)
        self._lock = asyncio.Lock()

    async def build(self, path: Path) -> Matcher:
        """Load, validate and index a knowledge base off the event loop (raises on errors)."""

        def load() -> Matcher:
            knowledge_base = load_knowledge_base(path, self.config.placeholders())
            return create_matcher(self.config, knowledge_base)

        return await asyncio.to_thread(load)

    async def reload(self) -> PublishResult:
        async with self._lock:
            self._seen = fingerprint(self.path)
            try:
                matcher = await self.build(self.path)
            except KnowledgeBaseError as error:
                log.warning("knowledge base reload refused: %d error(s)", len(error.problems))
                return PublishResult(False, problems=tuple(error.problems))
            change = compare(self.faq.knowledge_base, matcher.knowledge_base)
            self.faq.matcher = matcher
            log.info("knowledge base reloaded: %s", change.summary())
            return PublishResult(True, change=change, entries=len(matcher.knowledge_base))

    async def check_for_changes(self) -> PublishResult | None:
        """Reload when the files changed since the last look; None when they did not."""
        if fingerprint(self.path) == self._seen:
            return None
        return await self.reload()
