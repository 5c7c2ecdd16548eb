"""Surge alerts: when many more customers than usual ask about one thing at once (a delivery
area cut off, a payment method failing, a batch gone bad), the supervisors hear of it from the
questions before anyone reports it, once, with the latest three questions as examples and the
command that tells every customer who asks.

A subject is a knowledge-base entry, a category of entries (when none of its entries surges on
its own), or the questions the bot could not answer. It surges when its questions in the last
`[incidents] window_minutes` are at least `surge_min_count` and `surge_factor` times its usual
number: the mean over the same minutes of each of the `baseline_days` before (of those on
record: a shop a week old compares with its week)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.config import IncidentsConfig
from bot.texts import Texts
from bot.tickets.roles import RoleBook
from knowledge import KnowledgeBase
from storage.surges import (
    UNANSWERED,
    claim_alert,
    first_question_at,
    latest_questions,
    questions_between,
)

log = logging.getLogger(__name__)

EXAMPLES = 3
EXAMPLE_LENGTH = 80  # characters of each example question


@dataclass(frozen=True)
class Surge:
    subject: str  # "entry:<id>", "category:<name>" or "unanswered"
    count: int
    usual: float
    entries: tuple[str, ...]  # the entries it is about; empty for the unanswered


class SurgeWatch:
    def __init__(
        self,
        settings: IncidentsConfig,
        clock: Clock,
        knowledge_base: Callable[[], KnowledgeBase],
        roles: RoleBook,
        texts: Texts,
        group_id: int,
        staff_language: str,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.knowledge_base = knowledge_base
        self.roles = roles
        self.texts = texts
        self.group_id = group_id
        self.staff_language = staff_language

    async def find(self, session: AsyncSession) -> list[Surge]:
        now = self.clock.now()
        window = timedelta(minutes=self.settings.window_minutes)
        current = await questions_between(session, now - window, now)
        first = await first_question_at(session)
        usual: Counter[str] = Counter()
        days = 0  # of those before, the days on record (a new shop has few)
        for before in range(1, self.settings.baseline_days + 1):
            then = now - timedelta(days=before)
            if first is None or then - window < first:
                break
            usual.update(await questions_between(session, then - window, then))
            days += 1
        days = max(days, 1)
        members = self._categories()
        usual_all = self._with_categories(usual, members)
        surging = {
            subject: count
            for subject, count in self._with_categories(current, members).items()
            if self._surges(count, usual_all[subject] / days)
        }
        found = []
        for subject, count in sorted(surging.items(), key=lambda item: -item[1]):
            if subject.startswith("category:"):
                entries = members[subject.removeprefix("category:")]
                if any(f"entry:{entry}" in surging for entry in entries):
                    continue  # said more precisely by the entry's own alert
            else:
                entries = [subject.removeprefix("entry:")] if subject != UNANSWERED else []
            found.append(Surge(subject, count, usual_all[subject] / days, tuple(entries)))
        return found

    async def check(self, session: AsyncSession, bot: Bot) -> int:
        """Alert the supervisors about each new surge (once per subject and quiet period,
        whichever replica sees it first); the number of alerts sent."""
        now = self.clock.now()
        period = int(now.timestamp() // (self.settings.surge_quiet_hours * 3600))
        window = timedelta(minutes=self.settings.window_minutes)
        sent = 0
        for surge in await self.find(session):
            if not await claim_alert(
                session, surge.subject, period, surge.count, surge.usual, now
            ):
                continue
            examples = await latest_questions(
                session, now - window, now, list(surge.entries) or None, EXAMPLES
            )
            await session.commit()
            log.warning(
                "surge: %s questions about %s (usually %.1f)",
                surge.count,
                surge.subject,
                surge.usual,
            )
            await self._alert(bot, surge, examples)
            sent += 1
        return sent

    async def _alert(self, bot: Bot, surge: Surge, examples: list[str]) -> None:
        say = self.staff_language
        if surge.subject == UNANSWERED:
            about = self.texts("surge_about_unanswered", say)
        elif surge.subject.startswith("category:"):
            about = self.texts("surge_about_category", say, category=surge.subject[9:])
        else:
            about = self.texts("surge_about_entry", say, entry=surge.entries[0])
        scope = f"entries={','.join(surge.entries)} " if surge.entries else ""
        text = self.texts(
            "surge_alert",
            say,
            count=surge.count,
            about=about,
            minutes=self.settings.window_minutes,
            usual=f"{surge.usual:.1f}",
            examples="\n".join(f"• {_shortened(example)}" for example in examples),
            command=f"/incident 6 {scope}中文 | English",
        )
        recipients = self.roles.with_role("supervisor") or self.roles.with_role("admin")
        for chat_id in [*recipients, *([self.group_id] if self.group_id else [])]:
            try:
                await bot.send_message(chat_id, text)
            except TelegramAPIError as error:
                log.error("could not alert chat=%s about a surge: %s", chat_id, error)

    def _categories(self) -> dict[str, list[str]]:
        members: dict[str, list[str]] = {}
        for entry in self.knowledge_base().entries.values():
            if entry.category:
                members.setdefault(entry.category, []).append(entry.id)
        return members

    @staticmethod
    def _with_categories(counts: Counter[str], members: dict[str, list[str]]) -> Counter[str]:
        total = Counter(counts)
        for category, entries in members.items():
            total[f"category:{category}"] = sum(counts[f"entry:{e}"] for e in entries)
        return total

    def _surges(self, count: int, usual: float) -> bool:
        return (
            count >= self.settings.surge_min_count and count >= self.settings.surge_factor * usual
        )


def _shortened(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= EXAMPLE_LENGTH else line[: EXAMPLE_LENGTH - 1] + "…"
