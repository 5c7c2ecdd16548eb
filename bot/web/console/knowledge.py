"""The Knowledge base and Gaps pages: the entries as the bot answers from them, what the matcher
would do with any question, the published versions with what each changed, rollback (admins);
the questions the bot could not answer well, grouped, and learned questions to approve."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import yaml
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.faq.answers import FaqService
from bot.knowledge_admin.editing import KnowledgeEditor
from bot.knowledge_admin.learning import Learning
from bot.texts import Say
from knowledge import Entry
from knowledge.gaps import Gap, group_questions, skeleton_entries
from knowledge.matcher import Candidate, Match
from storage.conversations import questions_to_review
from storage.knowledge_versions import evaluation_figures, latest_evaluation, version_files
from storage.models import KnowledgeEvaluation, KnowledgeVersion, LearnedQuestion
from storage.privacy import REMOVED

MAX_QUESTION = 500
HISTORY_SHOWN = 20
GAPS_SHOWN = 30


@dataclass(frozen=True)
class Trial:
    """What the matcher does with a question: its decision, and the best candidates."""

    question: str
    match: Match
    candidates: list[Candidate]


@dataclass(frozen=True)
class Change:
    """How a version differs from the one before it: a unified diff per file."""

    version: KnowledgeVersion
    before: KnowledgeVersion | None
    lines: list[str]


@dataclass
class KnowledgePage:
    entries: list[Entry]
    trial: Trial | None
    versions: list[KnowledgeVersion]
    change: Change | None = None
    evaluation: KnowledgeEvaluation | None = None
    figures: dict[str, object] = field(default_factory=dict)

    @property
    def changed_since_evaluation(self) -> bool:
        """A version was published after the latest evaluation: its figures may be stale."""
        return bool(
            self.evaluation
            and self.versions
            and self.versions[0].created_at > self.evaluation.evaluated_at
        )


def try_question(faq: FaqService, question: str) -> Trial | None:
    question = question.strip()[:MAX_QUESTION]
    if not question:
        return None
    matcher = faq.matcher  # one knowledge base for the whole answer, even across a reload
    return Trial(question, matcher.match(question), matcher.rank(question, limit=5))


def diff(version: KnowledgeVersion, before: KnowledgeVersion | None) -> list[str]:
    old = version_files(before) if before else {}
    new = version_files(version)
    lines: list[str] = []
    for name in sorted(set(old) | set(new)):
        lines += difflib.unified_diff(
            old.get(name, "").splitlines(),
            new.get(name, "").splitlines(),
            fromfile=f"#{before.id} {name}" if before else name,
            tofile=f"#{version.id} {name}",
            lineterm="",
        )
    return lines


async def knowledge_page(
    session: AsyncSession,
    faq: FaqService,
    editor: KnowledgeEditor,
    question: str,
    version_id: int | None,
) -> KnowledgePage:
    versions = await editor.history(session, HISTORY_SHOWN + 1)
    page = KnowledgePage(
        entries=list(faq.knowledge_base.entries.values()),
        trial=try_question(faq, question),
        versions=versions[:HISTORY_SHOWN],
        evaluation=await latest_evaluation(session),
    )
    if page.evaluation is not None:
        page.figures = evaluation_figures(page.evaluation)
    if version_id is not None:
        found = [i for i, v in enumerate(versions) if v.id == version_id]
        if found:
            before = versions[found[0] + 1] if found[0] + 1 < len(versions) else None
            page.change = Change(versions[found[0]], before, diff(versions[found[0]], before))
    return page


@dataclass
class GapsPage:
    days: int
    gaps: list[Gap]
    learned: list[LearnedQuestion] = field(default_factory=list)

    def draft(self, gap: Gap) -> str:
        """A new entry for the group to complete, as `kefu kb gaps --yaml` writes it."""
        entries = skeleton_entries([gap])
        return yaml.safe_dump(entries, allow_unicode=True, sort_keys=False)


async def gaps_page(
    session: AsyncSession, learning: Learning, now: datetime, days: int
) -> GapsPage:
    questions = await questions_to_review(session, now - timedelta(days=days))
    # texts erased or past their retention are no question to learn from
    kept = [(text, why) for text, why in questions if text != REMOVED]
    return GapsPage(days, group_questions(kept)[:GAPS_SHOWN], await learning.waiting(session, 100))


def decided_text(say: Say, question_id: int, approve: bool, refusals: list[str]) -> str:
    if refusals:
        return say("learn_refused", id=question_id, why="; ".join(refusals))
    return say("learn_approved" if approve else "learn_rejected", id=question_id)
