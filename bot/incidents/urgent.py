"""Urgent words: a customer who writes of food poisoning, an allergy, an injury, a fire, fraud or
going to the media or the authorities is not answered from the FAQ. Their case becomes an urgent
ticket (a new one, or their open one raised), the supervisors are paged at once (in the ticket's
topic and privately, out of hours too), and the customer gets a calm answer that says so."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiogram import Bot
from aiogram.types import Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.channels.replies import Reply
from bot.incidents.words import UrgentWords
from bot.texts import Texts
from bot.tickets.handoff import Handoff
from bot.tickets.intake import Intake
from bot.tickets.lifecycle import TicketService
from storage.models import Customer, TicketPriority

log = logging.getLogger(__name__)


@dataclass
class UrgentDesk:
    words: UrgentWords
    tickets: TicketService
    handoff: Handoff
    intake: Intake
    texts: Texts

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
        await self.handoff.page_urgent(bot, ticket, term)
        return Reply(self.texts("urgent_received", language, number=ticket.number))
