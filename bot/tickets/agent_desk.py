"""What agents do in their forum group: reply to a customer in the ticket's topic, leave notes,
send a knowledge-base answer, go on and off duty, and work the ticket's buttons. Only people
with a role may act there."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import TeamTransferCallback, TicketAction, TransferCallback
from bot.channels.replies import FileReply, Pressed, Reply
from bot.config import AgentsConfig
from bot.faq.answers import FaqService
from bot.knowledge_admin.learning import Learning
from bot.texts import Say
from bot.tickets.handoff import (
    SETTLED,
    CustomerUnreachable,
    Handoff,
    ReplyNotDelivered,
    action_label,
    what_was_said,
)
from bot.tickets.labels import priority_label, status_label, ticket_state
from bot.tickets.lifecycle import TicketError, TicketService
from bot.tickets.outcomes import outcome_choices, outcome_label, outcome_question
from bot.tickets.roles import RoleBook
from storage.models import Customer, Ticket
from storage.privacy import record_access

log = logging.getLogger(__name__)

# What the customer is told when an agent presses one of these on the ticket's card.
CUSTOMER_TOLD = {
    TicketAction.RESOLVE: "ticket_told_resolved",
    TicketAction.CLOSE: "ticket_told_closed",
    TicketAction.WAIT: "ticket_told_waiting",
}


class AgentDesk:
    def __init__(
        self,
        settings: AgentsConfig,
        roles: RoleBook,
        tickets: TicketService,
        handoff: Handoff,
        faq: FaqService,
        learning: Learning,
        default_language: str,
    ) -> None:
        self.settings = settings
        self.roles = roles
        self.tickets = tickets
        self.handoff = handoff
        self.faq = faq
        self.learning = learning
        self.default_language = default_language

    @staticmethod
    async def ticket_in_topic(session: AsyncSession, topic_id: int) -> Ticket | None:
        statement = select(Ticket).where(Ticket.topic_id == topic_id)
        return (await session.exec(statement)).first()

    async def topic_message(
        self, session: AsyncSession, bot: Bot, agent_id: int, message: Message, say: Say
    ) -> str | None:
        """An agent's message in a ticket's topic: a note when it starts with the note prefix,
        else a reply relayed to the customer. Returns what to tell the agent, if anything."""
        if not self.roles.is_staff(agent_id):
            log.warning("refused message from user=%s in the agents' group", agent_id)
            return say("staff_only_relay")
        ticket = await self.ticket_in_topic(session, message.message_thread_id or 0)
        if ticket is None:
            return None
        text = message.text or message.caption or ""
        prefix = self.settings.note_prefix
        if text.startswith(prefix):
            said = what_was_said(message)
            await self.tickets.note(
                session,
                ticket,
                agent_id,
                text.removeprefix(prefix),
                media=said.media,
                file_id=said.file_id,
            )
            return None
        customer = await session.get(Customer, ticket.customer_id)
        assert customer is not None
        if customer.erased_at is not None:
            return say("staff_erased")
        try:
            await self.handoff.relay_to_customer(session, bot, ticket, customer, message, agent_id)
        except CustomerUnreachable:
            return say("staff_not_delivered")
        except ReplyNotDelivered as failed:
            if failed.uncertain:
                return say("staff_reply_uncertain")
            if failed.too_large_mb is not None:
                return say("staff_file_too_large_for_web", limit=f"{failed.too_large_mb:g}")
            return say("staff_reply_refused", reason=failed.reason)
        return None

    async def transcript(
        self, session: AsyncSession, agent_id: int, topic_id: int, language: str
    ) -> FileReply | str:
        """`/transcript` in a ticket's topic: the ticket's whole record as a file, in the
        reader's language; the look is written to the audit log of staff access."""
        if not self.roles.is_staff(agent_id):
            log.warning("refused transcript to user=%s", agent_id)
            return self.handoff.texts("staff_only_relay", language)
        ticket = await self.ticket_in_topic(session, topic_id)
        if ticket is None:
            return self.handoff.texts("transcript_no_ticket", language)
        transcripts = self.handoff.transcripts
        text = await transcripts.render(session, ticket, language)
        await record_access(
            session,
            actor=f"agent:{agent_id}",
            customer_id=ticket.customer_id,
            kind="transcript",
            detail=ticket.number,
            now=self.tickets.clock.now(),
        )
        log.info("transcript of ticket=%s sent to user=%s", ticket.id, agent_id)
        caption = self.handoff.texts("transcript_caption", language, number=ticket.number)
        return FileReply(transcripts.file_name(ticket), text.encode("utf-8"), caption)

    async def duty(
        self,
        session: AsyncSession,
        agent_id: int,
        name: str,
        argument: str | None,
        say: Say,
        username: str | None = None,
    ) -> str:
        """`/duty on` or `/duty off`: whether new tickets come to this agent."""
        if not self.roles.is_staff(agent_id):
            return say("duty_only_staff")
        argument = (argument or "").strip().lower()
        if argument not in ("on", "off"):
            return say("duty_usage")
        await self.tickets.set_duty(session, agent_id, name, argument == "on", username)
        return say(f"duty_{argument}", name=name)

    async def canned_answer(
        self,
        session: AsyncSession,
        bot: Bot,
        agent_id: int,
        topic_id: int,
        query: str | None,
        say: Say,
    ) -> str:
        """`/kb ID` or `/kb words`: a knowledge-base answer sent to the customer in their
        language; words get the closest entries to choose from."""
        if not self.roles.is_staff(agent_id):
            return say("staff_only_relay")
        ticket = await self.ticket_in_topic(session, topic_id)
        query = (query or "").strip()
        if ticket is None or not query:
            return say("kb_usage")
        entry = self.faq.knowledge_base.get(query)
        if entry is None:
            candidates = self.faq.matcher.rank(query, limit=3)
            if not candidates:
                return say("kb_no_match")
            lines = [f"/kb {c.entry_id}  ({c.variant}, {c.score:.0f})" for c in candidates]
            return say("kb_which") + "\n" + "\n".join(lines)
        customer = await session.get(Customer, ticket.customer_id)
        assert customer is not None
        if customer.erased_at is not None:
            return say("staff_erased")
        answer = entry.answer_in(customer.language or self.default_language)
        if not answer:
            return say("kb_no_answer", entry=entry.id)
        try:
            await self.handoff.send_text_to_customer(
                session, bot, ticket, customer, answer, agent_id
            )
        except CustomerUnreachable:
            return say("staff_not_delivered")
        await self.learning.agent_answered(session, ticket, entry.id)
        return say("kb_sent", entry=entry.id, answer=answer)

    async def ticket_button(
        self,
        session: AsyncSession,
        bot: Bot,
        agent_id: int,
        agent_name: str,
        ticket_id: int,
        action: TicketAction,
        say: Say,
    ) -> Pressed:
        """A button on a ticket's card; the customer is told when their case is resolved or
        closed, or when the agent waits for their answer. Resolve then asks the agent for the
        cause and the remedy (in `language`, the agent's)."""
        if not self.roles.is_staff(agent_id):
            log.warning("refused ticket button from user=%s", agent_id)
            return Pressed(say("staff_only_button"), alert=True)
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None:
            return Pressed(say("ticket_missing"), alert=True)
        if action is TicketAction.TRANSFER:
            return await self._offer_transfer(session, ticket, say)
        was_settled = ticket.status in SETTLED
        try:
            await self.tickets.apply(session, ticket, action, agent_id)
        except TicketError:
            return Pressed(cannot(say, ticket), alert=True)
        await session.commit()  # the change is on record before anyone hears of it
        told = CUSTOMER_TOLD.get(action)
        if told is not None:
            await self.handoff.tell_customer(session, bot, ticket, told)
        await self.handoff.topic_changed(session, bot, ticket, was_settled=was_settled)
        done = say(
            "ticket_changed",
            number=ticket.number,
            action=action_label(say, action),
            agent=agent_name,
            status=status_label(say, ticket.status),
            priority=priority_label(say, ticket.priority),
        )
        replies = [Reply(done)]
        if action is TicketAction.RESOLVE:
            replies.append(self._ask_outcome(ticket, "cause", say.language))
        return Pressed(ticket_state(say, ticket), replies=tuple(replies))

    def outcome_label(self, part: str, value: str, language: str) -> str:
        return outcome_label(self.handoff.texts, part, value, language)

    def _ask_outcome(self, ticket: Ticket, part: str, language: str | None) -> Reply:
        language = language or self.handoff.group_language()
        settings = self.handoff.config.tickets
        return outcome_question(self.handoff.texts, settings, ticket, part, language)

    async def outcome(
        self,
        session: AsyncSession,
        agent_id: int,
        ticket_id: int,
        part: str,
        value: str,
        language: str,
    ) -> Pressed:
        """The cause chosen (then the remedy is asked), or the remedy chosen: kept on the
        ticket for the report."""
        if not self.roles.is_staff(agent_id):
            log.warning("refused outcome button from user=%s", agent_id)
            return Pressed(self.handoff.texts("staff_only_button", language), alert=True)
        ticket = await session.get(Ticket, ticket_id)
        choices = outcome_choices(self.handoff.config.tickets, part)
        if ticket is None or value not in choices:
            log.warning("outcome %s=%s for ticket=%s is not offered", part, value, ticket_id)
            return Pressed(self.handoff.texts("outcome_stale", language), alert=True)
        await self.tickets.set_outcome(session, ticket, f"agent:{agent_id}", part, value)
        label = self.outcome_label(part, value, language)
        if part == "cause":
            return Pressed(
                label, clear_buttons=True, replies=(self._ask_outcome(ticket, "remedy", language),)
            )
        recorded = self.handoff.texts(
            "outcome_recorded",
            language,
            number=ticket.number,
            cause=self.outcome_label("cause", ticket.cause, language) if ticket.cause else "-",
            remedy=label,
        )
        return Pressed(label, clear_buttons=True, replies=(Reply(recorded),))

    async def _offer_transfer(self, session: AsyncSession, ticket: Ticket, say: Say) -> Pressed:
        """Agents on duty (but its owner), then the teams (but its own)."""
        agents = [
            agent
            for agent in await self.tickets.agents_on_duty(session)
            if agent.telegram_id != ticket.assigned_agent
        ]
        teams = [team for team in self.handoff.teams.ids if team != ticket.team]
        if not agents and not teams:
            return Pressed(say("transfer_nobody"), alert=True)
        team_buttons = [
            [
                InlineKeyboardButton(
                    text=say(
                        "transfer_team_button", team=self.handoff.teams.name(team, say.language)
                    ),
                    callback_data=TeamTransferCallback(ticket_id=ticket.id or 0, team=team).pack(),
                )
            ]
            for team in teams
        ]
        buttons = [
            [
                InlineKeyboardButton(
                    text=agent.name or str(agent.telegram_id),
                    callback_data=TransferCallback(
                        ticket_id=ticket.id or 0, agent_id=agent.telegram_id
                    ).pack(),
                )
            ]
            for agent in agents
        ] + team_buttons
        offer = Reply(
            say("transfer_choose", number=ticket.number),
            InlineKeyboardMarkup(inline_keyboard=buttons),
        )
        return Pressed(replies=(offer,))

    async def transfer(
        self,
        session: AsyncSession,
        bot: Bot,
        agent_id: int,
        ticket_id: int,
        to_agent: int,
        say: Say,
    ) -> Pressed:
        if not self.roles.is_staff(agent_id):
            return Pressed(say("staff_only_button"), alert=True)
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None:
            return Pressed(say("ticket_missing"), alert=True)
        # the button's data names the agent: whoever it names must be staff on duty now
        on_duty = {
            agent.telegram_id: agent for agent in await self.tickets.agents_on_duty(session)
        }
        if not self.roles.is_staff(to_agent) or to_agent not in on_duty:
            log.warning("refused transfer of ticket=%s to user=%s", ticket.id, to_agent)
            return Pressed(say("transfer_not_on_duty"), alert=True)
        try:
            await self.tickets.assign(session, ticket, to_agent, f"agent:{agent_id}")
        except TicketError:
            return Pressed(cannot(say, ticket), alert=True)
        await session.commit()
        await self.handoff.topic_changed(session, bot, ticket, was_settled=False)
        name = on_duty[to_agent].name or str(to_agent)  # the name the button showed
        done = Reply(say("transfer_done", number=ticket.number, agent=name))
        return Pressed(clear_buttons=True, replies=(done,))

    async def transfer_to_team(
        self,
        session: AsyncSession,
        bot: Bot,
        agent_id: int,
        ticket_id: int,
        team: str,
        say: Say,
    ) -> Pressed:
        """Transfer to a team: the ticket waits in the team's queue with the team's SLA, and round
        robin gives it to one of them on duty (else it is announced to the team as usual)."""
        if not self.roles.is_staff(agent_id):
            return Pressed(say("staff_only_button"), alert=True)
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None:
            return Pressed(say("ticket_missing"), alert=True)
        teams = self.handoff.teams
        if team not in teams.ids:
            log.warning("refused transfer of ticket=%s to team=%s", ticket.id, team)
            return Pressed(say("transfer_team_unknown"), alert=True)
        try:
            await self.tickets.move_to_team(session, ticket, team, f"agent:{agent_id}")
        except TicketError:
            return Pressed(cannot(say, ticket), alert=True)
        await session.commit()
        log.info("ticket=%s transferred to team=%s by user=%s", ticket.id, team, agent_id)
        name = teams.name(team, say.language)
        done = Reply(say("transfer_team_done", number=ticket.number, team=name))
        await self.handoff.topic_changed(session, bot, ticket, was_settled=False)
        await self.handoff.assign_round_robin(session, bot, ticket, fallback=False)
        return Pressed(clear_buttons=True, replies=(done,))


def cannot(say: Say, ticket: Ticket) -> str:
    """A button the ticket's state does not allow (a closed ticket cannot be taken)."""
    return say("ticket_cannot", number=ticket.number, status=status_label(say, ticket.status))
