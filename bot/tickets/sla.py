"""The SLA watch over tickets: alerts when a first response or a resolution is overdue, and
tickets nobody took announced again. Plain coroutines: the scheduler runs `check_sla`, tests
call each directly."""

from __future__ import annotations

import html
import logging
from datetime import timedelta

from aiogram import Bot
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.tickets.handoff import Handoff, ticket_buttons
from bot.tickets.labels import priority_label
from bot.tickets.lifecycle import TicketService
from storage.database import SessionFactory

log = logging.getLogger(__name__)


async def check_sla(
    session_factory: SessionFactory, bot: Bot, handoff: Handoff, tickets: TicketService
) -> None:
    """The scheduled job: breaches first, then the tickets still waiting for an agent."""
    async with session_factory() as session:
        await alert_breaches(session, bot, handoff, tickets)
        await announce_unassigned(session, bot, handoff, tickets)


async def alert_breaches(
    session: AsyncSession, bot: Bot, handoff: Handoff, tickets: TicketService
) -> int:
    """Tell the agents' group, mentioning the supervisors, about each new SLA breach (once)."""
    breaches = await tickets.breaches(session)
    await session.commit()
    if not handoff.group_id:
        return len(breaches)
    mentions = handoff.supervisor_mentions()
    say = handoff.say_group
    for breach in breaches:
        ticket = breach.ticket
        due = (
            ticket.first_response_due
            if breach.kind == "first_response"
            else (ticket.resolution_due)
        )
        missed = say(
            "alert_sla",
            number=ticket.number,
            priority=priority_label(say, ticket.priority),
            what=say(f"sla_{breach.kind}"),
            due=handoff.hours.local(due).strftime("%Y-%m-%d %H:%M"),
        )
        text = f"{html.escape(missed)} {mentions}".strip()
        await handoff.post_in_topic(bot, ticket, text, parse_mode="HTML")

        log.warning("ticket=%s missed its %s SLA", ticket.id, breach.kind)
    return len(breaches)


async def announce_unassigned(
    session: AsyncSession, bot: Bot, handoff: Handoff, tickets: TicketService
) -> int:
    """Tickets nobody took: try round robin again, else say so again in their topic."""
    every = timedelta(minutes=handoff.config.agents.reannounce_minutes)
    waiting = await tickets.to_announce(session, every)
    await session.commit()
    for ticket in waiting:
        if not await handoff.assign_round_robin(session, bot, ticket):
            minutes = int((handoff.clock.now() - ticket.created_at).total_seconds() // 60)
            await handoff.post_in_topic(
                bot,
                ticket,
                handoff.say_group("alert_unassigned", number=ticket.number, minutes=minutes),
                reply_markup=ticket_buttons(ticket, handoff.say_group),
            )
    return len(waiting)
