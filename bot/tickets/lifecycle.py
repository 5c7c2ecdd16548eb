"""Tickets: opened when a customer needs a person, moved through their states by agents, with
every change in their history and due times that count open business hours only."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import TicketAction
from bot.clock import Clock
from bot.config import SlaConfig, SlaTarget, TeamsConfig, strictest
from bot.followups.surveys import FollowUps
from bot.schedule.business_hours import BusinessHours
from storage.models import (
    OPEN_STATUSES,
    AgentDuty,
    Conversation,
    Customer,
    Ticket,
    TicketCategory,
    TicketEvent,
    TicketPriority,
    TicketStatus,
)

log = logging.getLogger(__name__)

# Tuples, not the enum classes, so that `"x" in CATEGORIES` is simply False on Python 3.11
# (where `in` on an enum class raises TypeError for a plain string).
CATEGORIES = tuple(TicketCategory)
PRIORITIES = tuple(TicketPriority)  # most urgent first
STATUSES = tuple(TicketStatus)


class TicketError(Exception):
    """A change that the ticket's state does not allow."""


def starting_priority(category: str, vip: bool) -> TicketPriority:
    priority = (
        TicketPriority.HIGH if category == TicketCategory.COMPLAINT else TicketPriority.NORMAL
    )
    if vip:
        priority = PRIORITIES[max(0, PRIORITIES.index(priority) - 1)]
    return priority


@dataclass(frozen=True)
class Breach:
    ticket: Ticket
    kind: str  # "first_response" or "resolution"


@dataclass(frozen=True)
class Escalation:
    """A breach still untouched: raised to the admins now (`reminder` False, level 2), or its
    alert at `level` said again."""

    ticket: Ticket
    level: int  # 1: the team's supervisors, 2: the admins
    reminder: bool


class TicketService:
    def __init__(
        self,
        clock: Clock,
        hours: BusinessHours,
        sla: SlaConfig,
        follow_ups: FollowUps | None = None,
        teams: TeamsConfig | None = None,
    ) -> None:
        self.clock = clock
        self.hours = hours
        self.sla = sla
        self.follow_ups = follow_ups
        self.teams = teams or TeamsConfig()

    async def record(
        self,
        session: AsyncSession,
        ticket: Ticket,
        actor: str,
        kind: str,
        detail: str = "",
        *,
        media: str | None = None,
        file_id: str | None = None,
    ) -> TicketEvent:
        assert ticket.id is not None
        now = self.clock.now()
        event = TicketEvent(
            ticket_id=ticket.id,
            created_at=now,
            actor=actor,
            kind=kind,
            detail=detail,
            media=media,
            file_id=file_id,
        )
        ticket.updated_at = now
        if actor.startswith("agent:"):
            ticket.staff_acted_at = now  # what stops an escalation
        session.add(ticket)
        session.add(event)
        await session.flush()
        return event

    def sla_target(self, ticket: Ticket) -> SlaTarget:
        """The priority's target, or the team's or the VIP tier's where either is stricter."""
        return strictest(
            self.sla.for_priority(ticket.priority),
            self.teams.sla.get(ticket.team) if ticket.team else None,
            self.sla.tiers.get(ticket.vip_tier) if ticket.vip_tier else None,
        )

    def _set_due_times(self, ticket: Ticket, start: datetime) -> None:
        target = self.sla_target(ticket)
        ticket.first_response_due = self.hours.add(
            start, timedelta(minutes=target.first_response_minutes)
        )
        ticket.resolution_due = self.hours.add(start, timedelta(hours=target.resolution_hours))
        ticket.first_response_alerted = False
        ticket.resolution_alerted = False
        ticket.escalation_level = 0
        ticket.breached_at = ticket.escalated_at = None

    async def open_ticket(
        self,
        session: AsyncSession,
        customer: Customer,
        *,
        category: str,
        description: str | None = None,
        order_number: str | None = None,
        priority: TicketPriority | None = None,
    ) -> tuple[Ticket, bool]:
        """The customer's open ticket, or a new one (of `priority`, else the category's); True
        when it was created now."""
        existing = await self.open_ticket_of(session, customer)
        if existing is not None:
            return existing, False
        if category not in CATEGORIES:
            raise TicketError(f"unknown category {category!r}")
        category = TicketCategory(category)
        assert customer.id is not None
        now = self.clock.now()
        conversation = (
            await session.exec(
                select(Conversation)
                .where(Conversation.customer_id == customer.id)
                .order_by(col(Conversation.id).desc())
            )
        ).first()
        ticket = Ticket(
            customer_id=customer.id,
            conversation_id=conversation.id if conversation else None,
            channel=customer.channel,
            category=category,
            priority=priority or starting_priority(category, vip=bool(customer.vip_tier)),
            status=TicketStatus.NEW,
            description=description,
            order_number=order_number,
            team=self.teams.team_for(category),
            vip_tier=customer.vip_tier,
            created_at=now,
            updated_at=now,
            first_response_due=now,
            resolution_due=now,
        )
        self._set_due_times(ticket, now)
        session.add(ticket)
        await session.flush()
        await self.record(
            session, ticket, f"customer:{customer.id}", "created", f"{category}, {ticket.priority}"
        )
        log.info("ticket=%s opened for customer=%s", ticket.id, customer.id)
        return ticket, True

    async def open_ticket_of(self, session: AsyncSession, customer: Customer) -> Ticket | None:
        statement = (
            select(Ticket)
            .where(Ticket.customer_id == customer.id, col(Ticket.status).in_(OPEN_STATUSES))
            .order_by(col(Ticket.id).desc())
        )
        return (await session.exec(statement)).first()

    async def tickets_of(self, session: AsyncSession, customer: Customer) -> list[Ticket]:
        statement = (
            select(Ticket).where(Ticket.customer_id == customer.id).order_by(col(Ticket.id).desc())
        )
        return list((await session.exec(statement)).all())

    async def assign(
        self, session: AsyncSession, ticket: Ticket, agent_id: int, actor: str
    ) -> None:
        if ticket.status not in OPEN_STATUSES:
            raise TicketError(f"{ticket.number} is {ticket.status}")
        previous = ticket.assigned_agent
        ticket.assigned_agent = agent_id
        ticket.status = TicketStatus.ASSIGNED
        kind = "transferred" if previous and previous != agent_id else "assigned"
        await self.record(session, ticket, actor, kind, f"agent:{agent_id}")

    async def agent_replied(self, session: AsyncSession, ticket: Ticket, agent_id: int) -> None:
        if ticket.first_response_at is None:
            ticket.first_response_at = self.clock.now()
            await self.record(session, ticket, f"agent:{agent_id}", "first_response")

    async def note(
        self,
        session: AsyncSession,
        ticket: Ticket,
        agent_id: int,
        text: str,
        *,
        media: str | None = None,
        file_id: str | None = None,
    ) -> None:
        await self.record(
            session, ticket, f"agent:{agent_id}", "note", text, media=media, file_id=file_id
        )

    async def wait_for_customer(self, session: AsyncSession, ticket: Ticket, actor: str) -> None:
        if ticket.status not in OPEN_STATUSES:
            raise TicketError(f"{ticket.number} is {ticket.status}")
        ticket.status = TicketStatus.WAITING
        await self.record(session, ticket, actor, "waiting")

    async def customer_replied(self, session: AsyncSession, ticket: Ticket) -> None:
        """A reply to an agent's question puts the ticket back in the agent's hands."""
        if ticket.status == TicketStatus.WAITING:
            ticket.status = self._back_in_line(ticket)
            await self.record(session, ticket, f"customer:{ticket.customer_id}", "replied")

    @staticmethod
    def _back_in_line(ticket: Ticket) -> TicketStatus:
        return TicketStatus.ASSIGNED if ticket.assigned_agent else TicketStatus.NEW

    async def resolve(self, session: AsyncSession, ticket: Ticket, actor: str) -> None:
        """Resolved; the survey and the revisit are scheduled in the same transaction, unless
        the customer closed the case before any agent answered (there is no service to rate)."""
        if ticket.status not in OPEN_STATUSES:
            raise TicketError(f"{ticket.number} is {ticket.status}")
        ticket.status = TicketStatus.RESOLVED
        ticket.resolved_at = self.clock.now()
        await self.record(session, ticket, actor, "resolved")
        unanswered = actor.startswith("customer:") and ticket.first_response_at is None
        if self.follow_ups is not None and not unanswered:
            await self.follow_ups.ticket_resolved(session, ticket)

    async def close(self, session: AsyncSession, ticket: Ticket, actor: str) -> None:
        if ticket.status == TicketStatus.CLOSED:
            raise TicketError(f"{ticket.number} is closed")
        ticket.status = TicketStatus.CLOSED
        ticket.closed_at = self.clock.now()
        await self.record(session, ticket, actor, "closed")

    async def resolved_since(
        self, session: AsyncSession, customer: Customer, window: timedelta
    ) -> Ticket | None:
        """The customer's ticket resolved within the last `window`, the latest; None when the
        window is empty."""
        if window <= timedelta(0):
            return None
        statement = (
            select(Ticket)
            .where(
                Ticket.customer_id == customer.id,
                Ticket.status == TicketStatus.RESOLVED,
                col(Ticket.resolved_at) >= self.clock.now() - window,
            )
            .order_by(col(Ticket.resolved_at).desc())
        )
        return (await session.exec(statement)).first()

    async def reopen(
        self, session: AsyncSession, ticket: Ticket, actor: str, detail: str = ""
    ) -> None:
        if ticket.status != TicketStatus.RESOLVED:
            raise TicketError(f"{ticket.number} is {ticket.status}, not resolved")
        ticket.status = self._back_in_line(ticket)
        ticket.resolved_at = None
        ticket.first_response_at = None
        ticket.reopen_count += 1
        self._set_due_times(ticket, self.clock.now())
        await self.record(session, ticket, actor, "reopened", detail)

    async def apply(
        self, session: AsyncSession, ticket: Ticket, action: TicketAction, agent_id: int
    ) -> None:
        """An agent's button on the ticket's card (transfer, which needs a choice, aside)."""
        actor = f"agent:{agent_id}"
        if action is TicketAction.TAKE:
            await self.assign(session, ticket, agent_id, actor)
        elif action is TicketAction.WAIT:
            await self.wait_for_customer(session, ticket, actor)
        elif action is TicketAction.RESOLVE:
            await self.resolve(session, ticket, actor)
        elif action is TicketAction.CLOSE:
            await self.close(session, ticket, actor)
        elif action in (TicketAction.RAISE, TicketAction.LOWER):
            step = -1 if action is TicketAction.RAISE else 1  # PRIORITIES is most urgent first
            index = min(max(PRIORITIES.index(ticket.priority) + step, 0), len(PRIORITIES) - 1)
            await self.set_priority(session, ticket, PRIORITIES[index], actor)
        else:
            raise TicketError(f"{action} is not a change of the ticket")

    async def set_outcome(
        self, session: AsyncSession, ticket: Ticket, actor: str, part: str, value: str
    ) -> None:
        """The cause of the ticket's problem or the remedy given ("cause", "logistics")."""
        if part == "cause":
            ticket.cause = value
        elif part == "remedy":
            ticket.remedy = value
        else:
            raise TicketError(f"unknown outcome {part!r}")
        await self.record(session, ticket, actor, "outcome", f"{part}:{value}")

    async def set_priority(
        self, session: AsyncSession, ticket: Ticket, priority: str, actor: str
    ) -> None:
        if priority not in PRIORITIES:
            raise TicketError(f"unknown priority {priority!r}")
        ticket.priority = TicketPriority(priority)
        self._set_due_times(ticket, ticket.created_at)
        await self.record(session, ticket, actor, "priority", priority)

    async def breaches(self, session: AsyncSession) -> list[Breach]:
        """SLA breaches not yet alerted, each claimed by marking it in one conditional UPDATE,
        so that however many replicas look at once, each breach is alerted by one of them."""
        now = self.clock.now()
        still_open = col(Ticket.status).in_(OPEN_STATUSES)
        # a breach starts (again) at level 1: the team's supervisors
        escalation = {"escalation_level": 1, "breached_at": now, "escalated_at": now}
        no_answer = await self._claim(
            session,
            [
                still_open,
                col(Ticket.first_response_at).is_(None),
                col(Ticket.first_response_alerted).is_(False),
                Ticket.first_response_due <= now,
            ],
            first_response_alerted=True,
            **escalation,
        )
        unresolved = await self._claim(
            session,
            [still_open, col(Ticket.resolution_alerted).is_(False), Ticket.resolution_due <= now],
            resolution_alerted=True,
            **escalation,
        )
        found = [Breach(ticket, "first_response") for ticket in no_answer]
        found += [Breach(ticket, "resolution") for ticket in unresolved]
        for breach in found:
            await self.record(session, breach.ticket, "system", "sla_breach", breach.kind)
        return found

    async def escalations(
        self, session: AsyncSession, escalate_after: timedelta, remind_every: timedelta
    ) -> list[Escalation]:
        """Breaches nobody on the staff touched since: those alerted to the supervisors at
        least `escalate_after` ago go up to the admins; the others whose last alert is at least
        `remind_every` ago are said again. Each claimed in one conditional UPDATE (as breaches
        are), so that every replica together says each once per interval."""
        now = self.clock.now()
        untouched = [
            col(Ticket.status).in_(OPEN_STATUSES),
            col(Ticket.breached_at).is_not(None),
            or_(
                col(Ticket.staff_acted_at).is_(None),
                col(Ticket.staff_acted_at) < col(Ticket.breached_at),
            ),
        ]
        raised = await self._claim(
            session,
            [
                *untouched,
                Ticket.escalation_level == 1,
                col(Ticket.breached_at) <= now - escalate_after,
            ],
            escalation_level=2,
            escalated_at=now,
        )
        reminded = await self._claim(
            session,
            [
                *untouched,
                Ticket.escalation_level >= 1,
                col(Ticket.escalated_at) <= now - remind_every,
            ],
            escalated_at=now,
        )
        found = [Escalation(ticket, 2, reminder=False) for ticket in raised]
        found += [
            Escalation(ticket, ticket.escalation_level, reminder=True) for ticket in reminded
        ]
        for escalation in found:
            kind = "sla_reminder" if escalation.reminder else "escalated"
            await self.record(session, escalation.ticket, "system", kind, str(escalation.level))
        return found

    async def move_to_team(
        self, session: AsyncSession, ticket: Ticket, team: str, actor: str
    ) -> None:
        """Transfer to a team: the ticket waits in that team's queue (its SLA counted from the
        start with the team's own target), for round robin or one of them to take it."""
        if ticket.status not in OPEN_STATUSES:
            raise TicketError(f"{ticket.number} is {ticket.status}")
        ticket.team = team
        ticket.assigned_agent = None
        ticket.status = TicketStatus.NEW
        self._set_due_times(ticket, ticket.created_at)
        await self.record(session, ticket, actor, "team", team)

    async def tier_changed(self, session: AsyncSession, customer: Customer, actor: str) -> None:
        """The customer's VIP tier changed: their open ticket follows (a new VIP's ticket one
        priority higher, due times counted again from its start with the tier's target)."""
        ticket = await self.open_ticket_of(session, customer)
        if ticket is None or ticket.vip_tier == customer.vip_tier:
            return
        if customer.vip_tier and not ticket.vip_tier:
            ticket.priority = PRIORITIES[max(0, PRIORITIES.index(ticket.priority) - 1)]
        ticket.vip_tier = customer.vip_tier
        self._set_due_times(ticket, ticket.created_at)
        await self.record(session, ticket, actor, "vip", customer.vip_tier or "-")

    async def supervisor_requested(self, session: AsyncSession, ticket: Ticket) -> bool:
        """The customer asked for a supervisor: one priority higher (at least high), once per
        ticket (False when they had asked already: nothing changes)."""
        asked = select(TicketEvent.id).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "supervisor_requested"
        )
        if (await session.exec(asked)).first() is not None:
            return False
        index = min(max(PRIORITIES.index(ticket.priority) - 1, 0), PRIORITIES.index("high"))
        ticket.priority = PRIORITIES[index]
        self._set_due_times(ticket, ticket.created_at)
        await self.record(
            session,
            ticket,
            f"customer:{ticket.customer_id}",
            "supervisor_requested",
            ticket.priority,
        )
        return True

    async def _claim(
        self, session: AsyncSession, where: list[Any], **changes: Any
    ) -> list[Ticket]:
        """The tickets matching `where`, changed by one UPDATE ... RETURNING: a concurrent
        claim (another replica) waits for this one's row locks and then no longer matches.
        Looked for first with a plain SELECT, so that a minute with nothing to claim writes
        nothing (on SQLite, a write takes the one write lock)."""
        candidates = list((await session.exec(select(Ticket.id).where(*where))).all())
        if not candidates:
            return []
        claim = (
            update(Ticket)
            .where(col(Ticket.id).in_(candidates), *where)
            .values(**changes)
            .returning(col(Ticket.id))
        )
        ids = list((await session.exec(claim)).scalars())
        if not ids:
            return []
        statement = select(Ticket).where(col(Ticket.id).in_(ids)).order_by(col(Ticket.id))
        options = {"populate_existing": True}
        return list((await session.exec(statement, execution_options=options)).all())

    async def history(self, session: AsyncSession, ticket: Ticket) -> list[TicketEvent]:
        statement = (
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket.id)
            .order_by(col(TicketEvent.id))
        )
        return list((await session.exec(statement)).all())

    async def set_duty(
        self,
        session: AsyncSession,
        agent_id: int,
        name: str,
        on_duty: bool,
        username: str | None = None,
    ) -> AgentDuty:
        duty = await session.get(AgentDuty, agent_id) or AgentDuty(telegram_id=agent_id)
        duty.name = name
        duty.on_duty = on_duty
        duty.username = username or duty.username
        session.add(duty)
        await session.flush()
        return duty

    async def agents_on_duty(self, session: AsyncSession) -> list[AgentDuty]:
        statement = select(AgentDuty).where(col(AgentDuty.on_duty).is_(True))
        return list((await session.exec(statement)).all())

    async def open_count(self, session: AsyncSession, agent_id: int) -> int:
        statement = select(Ticket).where(
            Ticket.assigned_agent == agent_id, col(Ticket.status).in_(OPEN_STATUSES)
        )
        return len((await session.exec(statement)).all())

    async def auto_assign(
        self, session: AsyncSession, ticket: Ticket, limit: int, team: list[int] | None = None
    ) -> AgentDuty | None:
        """Round robin: the agent on duty with the fewest open tickets (under `limit`), the one
        assigned longest ago first; among the `team` given, if any."""
        if ticket.status != TicketStatus.NEW:
            return None
        on_duty = await self.agents_on_duty(session)
        if team is not None:
            on_duty = [agent for agent in on_duty if agent.telegram_id in team]
        loads = [(await self.open_count(session, a.telegram_id), a) for a in on_duty]
        free = [(count, agent) for count, agent in loads if count < limit]
        if not free:
            return None
        oldest = datetime.min.replace(tzinfo=UTC)
        _, agent = min(free, key=lambda pair: (pair[0], pair[1].last_assigned_at or oldest))
        await self.assign(session, ticket, agent.telegram_id, "system")
        agent.last_assigned_at = self.clock.now()
        session.add(agent)
        await session.flush()
        return agent

    async def to_announce(self, session: AsyncSession, every: timedelta) -> list[Ticket]:
        """Unassigned tickets whose last announcement is at least `every` ago, claimed by
        marking them announced now (once across replicas, as breaches are)."""
        now = self.clock.now()
        last = func.coalesce(col(Ticket.announced_at), col(Ticket.created_at))
        return await self._claim(
            session, [Ticket.status == TicketStatus.NEW, last <= now - every], announced_at=now
        )
