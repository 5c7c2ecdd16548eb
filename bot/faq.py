"""Answering a customer's question from the knowledge base, and recording what happened."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.config import Config
from knowledge import Decision, Entry, KnowledgeBase, Matcher, MatchSettings, load_knowledge_base
from storage.conversations import record_message, record_unanswered
from storage.models import Customer

log = logging.getLogger(__name__)


def load_knowledge(config: Config) -> KnowledgeBase:
    return load_knowledge_base(config.knowledge.path, config.business.placeholders())


def create_matcher(config: Config, knowledge_base: KnowledgeBase) -> Matcher:
    settings = config.matching
    return Matcher(
        knowledge_base,
        MatchSettings(
            answer_threshold=settings.answer_threshold,
            suggest_threshold=settings.suggest_threshold,
            answer_margin=settings.answer_margin,
            suggestions=settings.suggestions,
        ),
    )


@dataclass
class FaqReply:
    """What the bot answers: an entry, suggestions, or the fallback."""

    decision: Decision
    entry: Entry | None = None
    suggestions: list[Entry] = field(default_factory=list)
    message_id: int | None = None  # the stored outgoing message, for votes


class FaqService:
    def __init__(self, matcher: Matcher, clock: Clock) -> None:
        self.matcher = matcher
        self.clock = clock

    @property
    def knowledge_base(self) -> KnowledgeBase:
        return self.matcher.knowledge_base

    async def answer_question(
        self, session: AsyncSession, customer: Customer, text: str
    ) -> FaqReply:
        now = self.clock.now()
        match = self.matcher.match(text)
        best = match.best
        incoming = await record_message(
            session,
            customer,
            direction="in",
            text=text,
            now=now,
            entry_id=best.entry_id if best else None,
            score=best.score if best else None,
            decision=match.decision.value,
        )
        log.info(
            "customer=%s message=%s decision=%s entry=%s score=%.1f",
            customer.id,
            incoming.id,
            match.decision.value,
            match.entry_id,
            match.score,
        )
        if match.decision is Decision.ANSWER and best is not None:
            entry = self.knowledge_base.entries[best.entry_id]
            return await self.reply_with_entry(session, customer, entry, match.decision)
        if match.decision is Decision.SUGGEST:
            entries = [self.knowledge_base.entries[c.entry_id] for c in match.candidates]
            await record_message(
                session,
                customer,
                direction="out",
                text="(suggestions)",
                now=now,
                decision=match.decision.value,
            )
            return FaqReply(Decision.SUGGEST, suggestions=entries)
        await record_unanswered(
            session,
            customer,
            incoming,
            now=now,
            best_entry_id=best.entry_id if best else None,
            best_score=best.score if best else None,
        )
        await record_message(
            session,
            customer,
            direction="out",
            text="(fallback)",
            now=now,
            decision=match.decision.value,
        )
        return FaqReply(Decision.FALLBACK)

    async def reply_with_entry(
        self,
        session: AsyncSession,
        customer: Customer,
        entry: Entry,
        decision: Decision = Decision.ANSWER,
    ) -> FaqReply:
        """The answer of one entry (matched, or picked from a menu or a suggestion)."""
        outgoing = await record_message(
            session,
            customer,
            direction="out",
            text=entry.answer_in(customer.language or "zh") or f"(action {entry.action})",
            now=self.clock.now(),
            entry_id=entry.id,
            decision=decision.value,
        )
        return FaqReply(decision, entry=entry, message_id=outgoing.id)
