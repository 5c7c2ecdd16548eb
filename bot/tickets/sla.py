"""The SLA watch over tickets: alerts when a first response or a resolution is overdue, raised
in levels (the team's supervisors, then the admins) and said again until staff act, and tickets
nobody took announced again. Plain coroutines: the scheduler runs `check_sla`, tests call each
directly."""

from __future__ import annotations

import html
import logging
from datetime import timedelta

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.texts import Say
from bot.tickets.handoff import Handoff, ticket_buttons
from bot.tickets.labels import priority_label
from bot.tickets.lifecycle import Escalation, TicketService
from storage.customers import language_of
from storage.database import SessionFactory

log = logging.getLogger(__name__)


async def check_sla(
    session_factory: SessionFactory, bot: Bot, handoff: Handoff, tickets: TicketService
) -> None:
    """The scheduled job: breaches first, then the tickets still waiting for an agent."""
    async with session_factory() as session:
        await alert_breaches(session, bot, handoff, tickets)
        await escalate(session, bot, handoff, tickets)
        await announce_unassigned(session, bot, handoff, tickets)


async def alert_breaches(
    session: AsyncSession, bot: Bot, handoff: Handoff, tickets: TicketService
) -> int:
    """Tell the ticket's topic, mentioning the supervisors of its team (else all of them),
    about each new SLA breach (once): the first level of its escalation."""
    breaches = await tickets.breaches(session)
    await session.commit()
    if not handoff.group_id:
        return len(breaches)
    say = handoff.say_group
    for breach in breaches:
        ticket = breach.ticket
        supervisors = await handoff.teams.supervisors_for(session, ticket.team)
        mentions = handoff.supervisor_mentions(supervisors)
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


async def escalate(
    session: AsyncSession, bot: Bot, handoff: Handoff, tickets: TicketService
) -> int:
    """Breaches no one on the staff touched: after `[sla] escalate_after_minutes` the admins
    are alerted (in the topic and privately, in their own language); every
    `remind_every_minutes` the alert of the level reached is said again."""
    sla = handoff.config.sla
    found = await tickets.escalations(
        session,
        timedelta(minutes=sla.escalate_after_minutes),
        timedelta(minutes=sla.remind_every_minutes),
    )
    await session.commit()
    for escalation in found:
        await _tell_escalation(session, bot, handoff, escalation)
    return len(found)


async def _tell_escalation(
    session: AsyncSession, bot: Bot, handoff: Handoff, escalation: Escalation
) -> None:
    ticket = escalation.ticket
    assert ticket.breached_at is not None
    minutes = int((handoff.clock.now() - ticket.breached_at).total_seconds() // 60)

    def text(say: Say) -> str:
        if escalation.level >= 2:
            key = "alert_escalated_reminder" if escalation.reminder else "alert_escalated"
        else:
            key = "alert_sla_reminder"
        return say(
            key,
            number=ticket.number,
            priority=priority_label(say, ticket.priority),
            minutes=minutes,
        )

    if escalation.level >= 2:
        targets = handoff.roles.with_role("admin")
        mentions = handoff.supervisor_mentions(targets, "admin_mention")
    else:
        targets = []
        supervisors = await handoff.teams.supervisors_for(session, ticket.team)
        mentions = handoff.supervisor_mentions(supervisors)
    if handoff.group_id:
        body = f"{html.escape(text(handoff.say_group))} {mentions}".strip()
        try:
            await handoff.post_in_topic(bot, ticket, body, parse_mode="HTML")
        except TelegramAPIError as error:
            log.error("ticket=%s: an escalation could not be posted: %s", ticket.id, error)
    default = handoff.config.bot.default_language
    for user_id in targets:
        language = await language_of(session, "telegram", str(user_id)) or default
        try:
            await bot.send_message(user_id, text(Say(handoff.texts, language)))
        except TelegramAPIError as error:
            log.error("could not alert admin=%s about ticket=%s: %s", user_id, ticket.id, error)
    log.warning(
        "ticket=%s escalation level %s%s",
        ticket.id,
        escalation.level,
        " (reminder)" if escalation.reminder else "",
    )


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
