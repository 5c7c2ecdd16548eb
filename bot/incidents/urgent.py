"""Urgent words: a customer who writes of food poisoning, an allergy, an injury, a fire, fraud or
going to the media or the authorities is not answered from the FAQ. Their case becomes an urgent
ticket (a new one, or their open one raised), the supervisors are paged at once (in the ticket's
topic and privately, out of hours too), and the customer gets a calm answer that says so."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.channels.replies import Reply
from bot.texts import Texts
from bot.tickets.handoff import Handoff
from bot.tickets.intake import Intake
from bot.tickets.lifecycle import TicketService
from bot.tickets.roles import RoleBook
from knowledge.normalize import normalize
from storage.models import Customer, Ticket, TicketPriority

log = logging.getLogger(__name__)

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


@dataclass
class UrgentDesk:
    words: UrgentWords
    tickets: TicketService
    handoff: Handoff
    intake: Intake
    roles: RoleBook
    texts: Texts
    staff_language: str

    async def take(
        self,
        session: AsyncSession,
        bot: Bot,
        customer: Customer,
        message: Message,
        language: str,
        term: str,
    ) -> Reply:
        """The customer's message, which names `term`, made an urgent case."""
        text = message.text or message.caption or ""
        ticket = await self.tickets.open_ticket_of(session, customer)
        if ticket is None:
            ticket, _ = await self.handoff.open(
                session,
                bot,
                customer,
                category="complaint",
                description=text,
                order_number=None,
                priority=TicketPriority.URGENT,
            )
        else:
            if ticket.priority != TicketPriority.URGENT:
                await self.tickets.set_priority(session, ticket, "urgent", "system")
            await self.intake.relay(session, customer, ticket, message, language)
        await self.tickets.record(session, ticket, "system", "urgent", term)
        await session.commit()
        log.warning(
            "ticket=%s is urgent: customer=%s wrote an urgent word", ticket.id, customer.id
        )
        await self.page(bot, ticket, term)
        return Reply(self.texts("urgent_received", language, number=ticket.number))

    async def page(self, bot: Bot, ticket: Ticket, term: str) -> None:
        """In the ticket's topic with the supervisors mentioned, and to each supervisor (else
        each admin) privately, whatever the hour."""
        text = self.texts("urgent_page", self.staff_language, number=ticket.number, term=term)
        try:
            await self.handoff.alert(bot, ticket, text)
        except TelegramAPIError as error:
            log.error("ticket=%s: the urgent alert could not be posted: %s", ticket.id, error)
        for user_id in self.roles.with_role("supervisor") or self.roles.with_role("admin"):
            try:
                await bot.send_message(user_id, text)
            except TelegramAPIError as error:
                log.error("could not page user=%s about ticket=%s: %s", user_id, ticket.id, error)
