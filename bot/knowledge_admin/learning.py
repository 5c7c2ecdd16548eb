"""The knowledge base that learns: customers' words confirmed to mean an entry become candidate
questions for it, and admins approve or reject them; approved ones are published in the
knowledge base's learned.yaml like any other edit.

What confirms a pairing of a customer's words with an entry:
- the customer pressed one of the "did you mean" suggestions under their question;
- an agent answered the customer's ticket with `/kb ID` (the words: the ticket's description);
- the customer voted 👍 on an answer after rephrasing: the message just before the answered one
  got no answer (a fallback or only suggestions), came at most REPHRASE_WINDOW earlier in the
  same conversation and is worded differently; that earlier message is paired with the entry.

Only what is left after personal details are taken out is kept (knowledge.learning.scrub), and
nothing reaches the knowledge base without an admin's approval.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import LearnCallback
from bot.channels.replies import Pressed, Reply
from bot.clock import Clock
from bot.config import Config
from bot.knowledge_admin.editing import keep_first_version, staged, write_files
from bot.knowledge_admin.publishing import Publication, PublishResult, compare
from bot.texts import Say, Texts
from knowledge import Decision, KnowledgeBase, KnowledgeBaseError, load_knowledge_base
from knowledge.learning import LEARNED_FILE, question_key, scrub, with_learned
from knowledge.loader import knowledge_files
from storage.knowledge_versions import add_version
from storage.learned_questions import (
    confirm_question,
    count_waiting,
    questions_by_id,
    waiting_questions,
)
from storage.models import Customer, LearnedQuestion, LearnedStatus, Message, Ticket

log = logging.getLogger(__name__)

REPHRASE_WINDOW = timedelta(minutes=5)
SHOWN_IN_TELEGRAM = 10

# (session, files, author, what) -> the result of publishing those files
Publish = Callable[[AsyncSession, dict[str, str], str, Publication], Awaitable[PublishResult]]


@dataclass(frozen=True)
class Refusal:
    """Why a candidate was not decided: a catalogue text (learn_why_*) and its values, told in
    the reader's language (the command line's English, an admin's in Telegram)."""

    key: str
    entry: str = ""

    def told(self, say: Say) -> str:
        return say(f"learn_why_{self.key}", entry=self.entry)


@dataclass
class Decided:
    approved: list[LearnedQuestion] = field(default_factory=list)
    rejected: list[LearnedQuestion] = field(default_factory=list)
    refused: list[tuple[int, Refusal]] = field(default_factory=list)  # candidate id, why
    result: PublishResult | None = None  # None when nothing had to be published


class Learning:
    def __init__(
        self,
        config: Config,
        clock: Clock,
        knowledge_base: Callable[[], KnowledgeBase],
        publish: Publish,
        texts: Texts,
    ) -> None:
        self.config = config
        self.clock = clock
        self.knowledge_base = knowledge_base
        self.publish = publish
        self.texts = texts
        self.folder = config.knowledge.path
        self.order_number = re.compile(config.orders.number_pattern, re.IGNORECASE)
        self._owners: tuple[KnowledgeBase, dict[str, str]] | None = None

    def owners(self) -> dict[str, str]:
        """Normalised question -> the entry it belongs to, in the knowledge base answering now."""
        knowledge_base = self.knowledge_base()
        if self._owners is None or self._owners[0] is not knowledge_base:
            owners = {
                question_key(question): entry.id
                for entry in knowledge_base.entries.values()
                for _, question in entry.variants()
            }
            self._owners = (knowledge_base, owners)
        return self._owners[1]

    async def confirm(
        self, session: AsyncSession, entry_id: str, text: str, evidence: str, source: str
    ) -> LearnedQuestion | None:
        """One confirmed pairing of a customer's words with an entry; None when there is
        nothing to learn (nothing left once scrubbed, already a question of the entry, or this
        evidence counted before)."""
        wording = scrub(text, self.order_number)
        if wording is None or entry_id not in self.knowledge_base():
            return None
        key = question_key(wording)
        if self.owners().get(key) == entry_id:
            return None
        question = await confirm_question(
            session,
            entry_id=entry_id,
            text=wording,
            key=key,
            evidence=evidence,
            source=source,
            now=self.clock.now(),
        )
        if question is not None:
            log.info(
                "learned question=%s for entry=%s confirmed (%s, %d in all)",
                question.id,
                entry_id,
                source,
                question.confirmations,
            )
        return question

    async def suggestion_picked(
        self, session: AsyncSession, customer: Customer, message_id: int, entry_id: str
    ) -> None:
        """The customer pressed a suggestion offered for their message `message_id`."""
        message = await session.get(Message, message_id)
        if (
            message is None
            or message.customer_id != customer.id
            or message.direction != "in"
            or message.decision != Decision.SUGGEST
        ):
            return
        await self.confirm(session, entry_id, message.text, f"message:{message_id}", "suggestion")

    async def helpful_answer(
        self, session: AsyncSession, customer: Customer, answer_id: int
    ) -> None:
        """The customer voted 👍 on the answer `answer_id`: when it answered a rephrasing of a
        question that went unanswered just before, that question is paired with its entry."""
        answer = await session.get(Message, answer_id)
        if answer is None or answer.customer_id != customer.id or answer.entry_id is None:
            return
        rephrased = await self._asked_before(session, answer)
        if (
            rephrased is None
            or rephrased.decision != Decision.ANSWER
            or rephrased.entry_id != answer.entry_id
        ):
            return  # not an answer to a question of its own (a suggestion picked, a menu button)
        first = await self._asked_before(session, rephrased)
        if (
            first is None
            or first.decision not in (Decision.FALLBACK, Decision.SUGGEST)
            or rephrased.created_at - first.created_at > REPHRASE_WINDOW
            or question_key(first.text) == question_key(rephrased.text)
        ):
            return
        await self.confirm(session, answer.entry_id, first.text, f"message:{first.id}", "vote")

    @staticmethod
    async def _asked_before(session: AsyncSession, message: Message) -> Message | None:
        """The customer's last message before `message`, in the same conversation."""
        statement = (
            select(Message)
            .where(
                Message.conversation_id == message.conversation_id,
                Message.direction == "in",
                col(Message.id) < message.id,
            )
            .order_by(col(Message.id).desc())
            .limit(1)
        )
        return (await session.exec(statement)).first()

    async def agent_answered(self, session: AsyncSession, ticket: Ticket, entry_id: str) -> None:
        """An agent sent the entry's answer on the ticket: the customer's description of the
        problem is paired with it."""
        if ticket.description:
            await self.confirm(
                session, entry_id, ticket.description, f"ticket:{ticket.id}", "agent"
            )

    async def waiting(
        self, session: AsyncSession, limit: int | None = None
    ) -> list[LearnedQuestion]:
        return await waiting_questions(session, limit)

    async def decide(
        self,
        session: AsyncSession,
        *,
        approve: list[int],
        reject: list[int],
        by: str,
        edits: dict[int, str] | None = None,
    ) -> Decided:
        """Approve and reject candidates; the approved are added to learned.yaml and published
        (validated whole first: when publishing fails, no candidate changes). `edits` gives an
        approved candidate other words (scrubbed again)."""
        edits = edits or {}
        found = await questions_by_id(session, [*approve, *reject])
        decided = Decided()
        additions: list[tuple[LearnedQuestion, str]] = []
        batch: dict[str, str] = {}  # the keys approved now, and their entries
        for question_id in dict.fromkeys(approve):
            question = found.get(question_id)
            if question is None:
                decided.refused.append((question_id, Refusal("no_candidate")))
                continue
            if question.status is LearnedStatus.APPROVED:
                decided.refused.append((question_id, Refusal("already_approved")))
                continue
            why = self._refusal(question, edits.get(question_id))
            if isinstance(why, Refusal):
                decided.refused.append((question_id, why))
                continue
            taken = batch.setdefault(question_key(why[0]), question.entry_id)
            if taken != question.entry_id:
                decided.refused.append((question_id, Refusal("taken", taken)))
                continue
            additions.append((question, why[0]))
        rejected = [
            found[i]
            for i in dict.fromkeys(reject)
            if i in found and i not in {q.id for q, _ in additions}
        ]
        decided.refused += [
            (i, Refusal("no_candidate")) for i in dict.fromkeys(reject) if i not in found
        ]
        new = [(q, text) for q, text in additions if self.owners().get(question_key(text)) is None]
        if new:
            if not self.folder.is_dir():
                decided.refused += [(q.id or 0, Refusal("one_file")) for q, _ in new]
                return decided
            files = {f.name: f.read_text(encoding="utf-8") for f in knowledge_files(self.folder)}
            files[LEARNED_FILE] = with_learned(
                files.get(LEARNED_FILE), [(q.entry_id, text) for q, text in new]
            )
            what = (
                Publication("learned", {"questions": [[q.id, q.entry_id] for q, _ in new]})
                if len(new) <= 3
                else Publication("learned_many", {"count": len(new)})
            )
            decided.result = await self.publish(session, files, by, what)
            if not decided.result.ok:
                return decided
        now = self.clock.now()
        for question, text in additions:
            question.text = text
            question.status = LearnedStatus.APPROVED
            decided.approved.append(question)
        for question in rejected:
            question.status = LearnedStatus.REJECTED
            decided.rejected.append(question)
        for question in [*decided.approved, *decided.rejected]:
            question.decided_at = now
            question.decided_by = by
            session.add(question)
        await session.flush()
        log.info(
            "%s approved %d and rejected %d learned questions",
            by,
            len(decided.approved),
            len(decided.rejected),
        )
        return decided

    def _refusal(self, question: LearnedQuestion, edited: str | None) -> Refusal | tuple[str]:
        """Why a candidate cannot be approved, or (the words to add,)."""
        text = question.text if edited is None else scrub(edited, self.order_number)
        if text is None:
            return Refusal("scrubbed")
        if question.entry_id not in self.knowledge_base():
            return Refusal("gone", question.entry_id)
        owner = self.owners().get(question_key(text))
        if owner is not None and owner != question.entry_id:
            return Refusal("owned", owner)
        return (text,)

    # Telegram: /learn and its buttons

    async def show(self, session: AsyncSession, language: str) -> list[Reply]:
        """The most confirmed candidates, each with Approve and Reject."""
        shown = await waiting_questions(session, SHOWN_IN_TELEGRAM)
        if not shown:
            return [Reply(self.texts("learn_none", language))]
        total = await count_waiting(session)
        replies = [Reply(self.texts("learn_header", language, total=total, shown=len(shown)))]
        for question in shown:
            assert question.id is not None
            buttons = [
                InlineKeyboardButton(
                    text=self.texts("learn_approve", language),
                    callback_data=LearnCallback(id=question.id, approve=True).pack(),
                ),
                InlineKeyboardButton(
                    text=self.texts("learn_reject", language),
                    callback_data=LearnCallback(id=question.id, approve=False).pack(),
                ),
            ]
            text = self.texts(
                "learn_candidate",
                language,
                id=question.id,
                entry=question.entry_id,
                count=question.confirmations,
                text=question.text,
            )
            replies.append(Reply(text, InlineKeyboardMarkup(inline_keyboard=[buttons])))
        return replies

    async def press(
        self, session: AsyncSession, admin_id: int, pressed: LearnCallback, language: str
    ) -> Pressed:
        approve, reject = ([pressed.id], []) if pressed.approve else ([], [pressed.id])
        decided = await self.decide(
            session, approve=approve, reject=reject, by=f"telegram:{admin_id}"
        )
        if decided.result is not None and not decided.result.ok:
            errors = decided.result.errors_in(language)
            return Pressed(
                replies=(Reply(self.texts("kb_failed", language, errors=errors)),),
            )
        if decided.refused:
            _, why = decided.refused[0]
            return Pressed(
                self.texts(
                    "learn_refused",
                    language,
                    id=pressed.id,
                    why=why.told(Say(self.texts, language)),
                ),
                alert=True,
                clear_buttons=True,
            )
        key = "learn_approved" if decided.approved else "learn_rejected"
        return Pressed(self.texts(key, language, id=pressed.id), clear_buttons=True)


async def publish_offline(
    session: AsyncSession,
    files: dict[str, str],
    author: str,
    what: Publication,
    *,
    config: Config,
    clock: Clock,
) -> PublishResult:
    """Publishing from the command line, where no service runs in this process: the files are
    validated whole, written and recorded as a version; a running service picks them up with its
    file watch (or /reload, or SIGHUP)."""
    folder = config.knowledge.path
    before = {f.name: f.read_text(encoding="utf-8") for f in knowledge_files(folder)}
    try:
        candidate = staged(files, config)
        current = load_knowledge_base(folder, config.placeholders())
    except KnowledgeBaseError as error:
        return PublishResult(False, problems=tuple(error.problems))
    change = compare(current, candidate)
    await keep_first_version(session, before, author, clock.now())
    write_files(folder, files, remove=set(before) - set(files))
    await add_version(
        session, files=files, author=author, summary=what.summary(change), now=clock.now()
    )
    log.info("%s published the knowledge base: %s", author, what.kind)
    return PublishResult(True, change=change, entries=len(candidate))
