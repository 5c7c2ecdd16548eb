"""Handing a conversation to people: the ticket, its topic in the agents' group, and the relay
of messages both ways. Agents talk to customers through copies, so their accounts stay private."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramForbiddenError
from aiogram.methods import (
    CloseForumTopic,
    CopyMessage,
    EditForumTopic,
    ReopenForumTopic,
    SendDocument,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import TicketAction, TicketCallback
from bot.channels.long_text import cut_to_fit
from bot.channels.retries import DeliveryFailed, DeliveryUncertain
from bot.channels.web_chat import FileTooLarge
from bot.clock import Clock
from bot.config import Config
from bot.orders.providers import OrderView, mask_phone
from bot.schedule.business_hours import BusinessHours
from bot.texts import Say, Texts
from bot.tickets.labels import (
    category_label,
    customer_label,
    priority_label,
    status_label,
)
from bot.tickets.lifecycle import TicketService
from bot.tickets.outcomes import outcome_label
from bot.tickets.roles import RoleBook
from bot.tickets.teams import Teams
from bot.tickets.transcript import Transcripts
from storage.bans import ban_of
from storage.models import (
    AgentDuty,
    Customer,
    Feedback,
    FeedbackKind,
    Ticket,
    TicketPriority,
    TicketStatus,
)
from storage.models import Message as StoredMessage
from storage.privacy import record_access

log = logging.getLogger(__name__)

HUMAN_WORDS = ("人工", "真人", "投诉", "客服", "complaint", "complain", "agent", "human")
SUMMARY_MESSAGES = 10
SETTLED = (TicketStatus.RESOLVED, TicketStatus.CLOSED)
CARD_PROBLEM_LIMIT = 1500  # the card is one message with its buttons: the rest is in the topic


def wants_a_person(text: str | None) -> bool:
    """Short messages that ask for a person or complain: 人工, 投诉, agent..."""
    if not text:
        return False
    lowered = text.lower()

    return any(word in lowered for word in HUMAN_WORDS) and len(lowered) <= 40


# Whether a customer has shown that an order is theirs (linked to their account, or the phone's
# digits given); False when it cannot be told.
OrderCheck = Callable[[AsyncSession, Customer, str], Awaitable[bool]]
# The customer's recent orders (theirs, or shown to be), for the card.
RecentOrders = Callable[[AsyncSession, Customer], Awaitable[list[OrderView]]]
CARD_ORDERS = 3
CARD_EARLIER = 5
SUPERVISOR_WORDS = ("找主管", "主管", "经理", "领导", "上级")
SUPERVISOR_TERMS = re.compile(r"\b(supervisor|manager)\b", re.IGNORECASE)


def asks_for_a_supervisor(text: str | None) -> bool:
    """A short message asking for a supervisor: 找主管, 我要找经理, "supervisor please"."""
    if not text or len(text) > 40:
        return False
    return any(word in text for word in SUPERVISOR_WORDS) or bool(SUPERVISOR_TERMS.search(text))


class CustomerUnreachable(Exception):
    """The customer blocked the bot."""


class ReplyNotDelivered(Exception):
    """Telegram refused an agent's reply (or kept failing), or did not say whether it arrived
    (`uncertain`): the agent is told, since the customer may not have it."""

    def __init__(
        self, reason: str, *, uncertain: bool = False, too_large_mb: float | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.uncertain = uncertain
        self.too_large_mb = too_large_mb  # a file over what the web chat's pages show


class RelayFailed(Exception):
    """A customer's message Telegram would not let into the ticket's topic in any form."""


class Handoff:
    def __init__(
        self,
        config: Config,
        tickets: TicketService,
        hours: BusinessHours,
        texts: Texts,
        clock: Clock,
        roles: RoleBook,
        order_check: OrderCheck | None = None,
        *,
        transcripts: Transcripts,
        teams: Teams | None = None,
        recent_orders: RecentOrders | None = None,
    ) -> None:
        self.recent_orders = recent_orders
        self.teams = teams or Teams(config.teams, roles, clock)
        self.roles = roles
        self.transcripts = transcripts
        self.order_check = order_check
        self.config = config
        self.tickets = tickets
        self.hours = hours
        self.texts = texts
        self.clock = clock
        self.group_id = config.agents.group_id
        self.say_group = Say(texts, config.agents.language)  # what all of the agents read
        # the bots of kefu's own channels (the web chat), by channel: agents' replies and
        # notices to their customers go through them instead of Telegram
        self.channel_bots: dict[str, Bot] = {}

    def expectation(self, ticket: Ticket, language: str) -> str:
        now = self.clock.now()
        if self.hours.is_open(now):
            minutes = self.tickets.sla_target(ticket).first_response_minutes
            return self.texts("handoff_open", language, number=ticket.number, minutes=minutes)
        when = self.hours.opening(self.hours.next_open(now), now, self.texts, language)
        return self.texts("handoff_closed", language, number=ticket.number, opens=when)

    async def open(
        self,
        session: AsyncSession,
        bot: Bot,
        customer: Customer,
        *,
        category: str,
        description: str | None,
        order_number: str | None,
        priority: TicketPriority | None = None,
    ) -> tuple[Ticket, bool]:
        ticket, created = await self.tickets.open_ticket(
            session,
            customer,
            category=category,
            description=description,
            order_number=order_number,
            priority=priority,
        )
        if created:
            await session.commit()  # the ticket is safe before anything is sent
            await self.ensure_topic(session, bot, ticket, customer)
            await self.assign_round_robin(session, bot, ticket)
        return ticket, created

    async def assign_round_robin(
        self, session: AsyncSession, bot: Bot, ticket: Ticket, *, fallback: bool = True
    ) -> bool:
        """Round robin within the ticket's team. When nobody of the team is on duty, any agent
        on duty takes it rather than nobody (unless not `fallback`: a ticket just transferred
        to the team waits for it until it is announced again), and the topic says it is outside
        the team; when some are on duty but all at their limit, it waits for them."""
        limit = self.config.agents.max_open_tickets
        team = await self.teams.members(session, ticket.team) if ticket.team else None
        outside = False
        if team is not None:
            on_duty = {agent.telegram_id for agent in await self.tickets.agents_on_duty(session)}
            outside = not on_duty.intersection(team)
            if outside and not fallback:
                return False
        agent = await self.tickets.auto_assign(session, ticket, limit, None if outside else team)
        await session.commit()
        if agent is None:
            return False
        assigned = self.say_group("ticket_assigned", number=ticket.number, agent=agent.name)
        if outside:
            name = self.teams.name(ticket.team, self.group_language())
            assigned = self.say_group(
                "ticket_assigned_outside_team", number=ticket.number, agent=agent.name, team=name
            )
            log.info("ticket=%s: nobody of team=%s on duty", ticket.id, ticket.team)
        await self.post_in_topic(bot, ticket, assigned)
        await self.topic_changed(session, bot, ticket, was_settled=False)
        return True

    async def post_in_topic(self, bot: Bot, ticket: Ticket, text: str, **options: object) -> None:
        if self.group_id and ticket.topic_id is not None:
            await bot.send_message(
                self.group_id,
                text,
                message_thread_id=ticket.topic_id,
                **options,  # type: ignore[arg-type]
            )

    async def reopen_unsolved(
        self, session: AsyncSession, bot: Bot, customer: Customer, ticket: Ticket
    ) -> Ticket:
        """The customer says a resolved problem is not solved: the ticket is reopened (its SLA
        starts again) and the agents are told; a closed ticket gets a new one that names it."""
        actor = f"customer:{customer.id}"
        if ticket.status == TicketStatus.RESOLVED:
            await self.tickets.reopen(session, ticket, actor)
            await session.commit()
            await self.topic_changed(session, bot, ticket, was_settled=True)
            await self.alert(
                bot,
                ticket,
                self.say_group("alert_reopened_at_revisit", number=ticket.number),
            )
            return ticket
        follow_up, _ = await self.open(
            session,
            bot,
            customer,
            category=ticket.category,
            description=self.say_group("follow_up_description", number=ticket.number),
            order_number=ticket.order_number,
        )
        await self.tickets.record(session, ticket, actor, "follow_up_ticket", follow_up.number)
        await session.commit()
        return follow_up

    def supervisor_mentions(self, user_ids: list[int] | None = None, key: str = "") -> str:
        """HTML mentions of the supervisors (or of `user_ids`, labelled by catalogue `key`),
        for alerts sent with parse_mode="HTML"."""
        label = html.escape(self.say_group(key or "supervisor_mention"))
        if user_ids is None:
            user_ids = self.roles.with_role("supervisor")
        return " ".join(f'<a href="tg://user?id={user_id}">{label}</a>' for user_id in user_ids)

    async def supervisor_requested(self, session: AsyncSession, bot: Bot, ticket: Ticket) -> bool:
        """The customer asked for a supervisor: the ticket goes up a priority, and its topic
        says so, mentioning the team's supervisors; once per ticket (False when asked before)."""
        if not await self.tickets.supervisor_requested(session, ticket):
            return False
        await session.commit()
        log.info("ticket=%s: the customer asked for a supervisor", ticket.id)
        say = self.say_group
        text = html.escape(
            say(
                "topic_supervisor_requested",
                number=ticket.number,
                priority=priority_label(say, ticket.priority),
            )
        )
        mentions = self.supervisor_mentions(await self.teams.supervisors_for(session, ticket.team))
        await self.post_in_topic(bot, ticket, f"{text} {mentions}".strip(), parse_mode="HTML")
        await self.topic_changed(session, bot, ticket, was_settled=False)
        return True

    async def alert(self, bot: Bot, ticket: Ticket, text: str, *, mention: bool = True) -> None:
        """Tell the agents' group about a ticket, in its topic when it has one, mentioning the
        supervisors."""
        if not self.group_id:
            return
        body = html.escape(text)
        if mention and self.supervisor_mentions():
            body = f"{body} {self.supervisor_mentions()}"
        if ticket.topic_id is not None:
            await self.post_in_topic(bot, ticket, body, parse_mode="HTML")
        else:
            await bot.send_message(self.group_id, body, parse_mode="HTML")

    async def page_urgent(self, bot: Bot, ticket: Ticket, term: str) -> None:
        """A customer wrote of something urgent (`term`): said in the ticket's topic with the
        supervisors mentioned, and to each supervisor (else each admin) privately, whatever the
        hour."""
        text = self.say_group("urgent_page", number=ticket.number, term=term)
        try:
            await self.alert(bot, ticket, text)
        except TelegramAPIError as error:
            log.error("ticket=%s: the urgent alert could not be posted: %s", ticket.id, error)
        for user_id in self.roles.with_role("supervisor") or self.roles.with_role("admin"):
            try:
                await bot.send_message(user_id, text)
            except TelegramAPIError as error:
                log.error("could not page user=%s about ticket=%s: %s", user_id, ticket.id, error)

    async def tell_customer(
        self, session: AsyncSession, bot: Bot, ticket: Ticket, key: str
    ) -> bool:
        """Tell the ticket's customer, in their language, how their case stands (a catalogue
        text given the ticket's number, and the reopen window's hours); False, recorded on the
        ticket, when it cannot reach them. A resolved ticket that the customer can reopen by
        replying says so."""
        window = self.config.tickets.reopen_window_hours
        if key == "ticket_told_resolved" and window > 0:
            key = "ticket_told_resolved_reply"
        customer = await session.get(Customer, ticket.customer_id)
        if customer is None or customer.erased_at is not None:
            return False
        telegram = bot if customer.channel == "telegram" else None
        reaching = self.channel_bots.get(customer.channel, telegram)
        if reaching is None:
            return False
        bot = reaching
        language = customer.language or self.config.bot.default_language
        try:
            text = self.texts(key, language, number=ticket.number, hours=f"{window:g}")
            await bot.send_message(int(customer.external_id), text)
        except TelegramForbiddenError:
            reason = "the customer blocked the bot"
        except (DeliveryFailed, TelegramBadRequest) as error:
            reason = f"a notice to the customer failed: {type(error).__name__}"
        else:
            return True
        await self.tickets.record(session, ticket, "system", "unreachable", reason)
        return False

    def topic_name(self, ticket: Ticket, customer: Customer, owner: str | None = None) -> str:
        """The topic's name in the group's language: "T-000002 · Emma · 投诉 · 紧急", then who
        owns the ticket and, once it is no longer simply in an agent's hands, its status:
        "... · Alice · 已解决"."""
        say = self.say_group
        name = customer.first_name or customer.username or customer.external_id
        parts = [
            say(
                "topic_name",
                number=ticket.number,
                name=name,
                category=category_label(say, ticket.category),
                priority=priority_label(say, ticket.priority),
            )
        ]
        if owner:
            parts.append(owner)
        if ticket.status not in (TicketStatus.NEW, TicketStatus.ASSIGNED):
            parts.append(status_label(say, ticket.status))
        return " · ".join(parts)[:128]

    def group_language(self) -> str:
        """The language of what the bot posts for all the agents in their group."""
        return self.config.agents.language

    async def topic_changed(
        self, session: AsyncSession, bot: Bot, ticket: Ticket, *, was_settled: bool
    ) -> None:
        """The ticket's topic follows the ticket: renamed for its priority, owner and status,
        closed once it is resolved or closed, reopened when it opens again. Telegram refusing
        any of these is logged by id and holds nothing up: the topic is only a view."""
        if not self.group_id or ticket.topic_id is None:
            return
        customer = await session.get(Customer, ticket.customer_id)
        if customer is None:
            return
        owner = None
        if ticket.assigned_agent is not None:
            duty = await session.get(AgentDuty, ticket.assigned_agent)
            owner = (duty.name if duty else None) or str(ticket.assigned_agent)
        settled = ticket.status in SETTLED
        chat, topic = self.group_id, ticket.topic_id
        calls: list[TelegramMethod[Any]] = []
        if was_settled and not settled:
            calls.append(ReopenForumTopic(chat_id=chat, message_thread_id=topic))
        name = self.topic_name(ticket, customer, owner)
        calls.append(EditForumTopic(chat_id=chat, message_thread_id=topic, name=name))
        if settled and not was_settled:
            calls.append(CloseForumTopic(chat_id=chat, message_thread_id=topic))
        for method in calls:
            try:
                await bot(method)
            except TelegramAPIError as error:
                if "not_modified" in str(error).lower():  # the name was already right
                    continue
                log.warning(
                    "%s for topic=%s of ticket=%s failed: %s",
                    type(method).__name__,
                    ticket.topic_id,
                    ticket.id,
                    type(error).__name__,
                )

    async def reopen_by_customer(
        self, session: AsyncSession, bot: Bot, ticket: Ticket, customer: Customer
    ) -> None:
        """The customer wrote within the reopen window after resolution: the ticket reopens
        in the same agent's hands and its topic opens again and says so."""
        await self.tickets.reopen(session, ticket, f"customer:{customer.id}")
        await session.commit()
        log.info("ticket=%s reopened by customer=%s", ticket.id, customer.id)
        await self.topic_changed(session, bot, ticket, was_settled=True)
        agent = ""
        if ticket.assigned_agent is not None:
            duty = await session.get(AgentDuty, ticket.assigned_agent)
            name = html.escape((duty.name if duty else None) or str(ticket.assigned_agent))
            agent = f'<a href="tg://user?id={ticket.assigned_agent}">{name}</a>'
        text = self.texts(
            "topic_told_reopened",
            self.group_language(),
            number=ticket.number,
            hours=f"{self.config.tickets.reopen_window_hours:g}",
            agent=agent,
        )
        await self.post_in_topic(bot, ticket, text.strip(), parse_mode="HTML")

    async def ensure_topic(
        self, session: AsyncSession, bot: Bot, ticket: Ticket, customer: Customer
    ) -> int | None:
        """The ticket's topic in the agents' group, created (or created again) when missing."""
        if not self.group_id:
            return None
        if ticket.topic_id is not None:
            return ticket.topic_id
        topic = await bot.create_forum_topic(self.group_id, self.topic_name(ticket, customer))
        ticket.topic_id = topic.message_thread_id
        session.add(ticket)
        await session.commit()
        card, orders = await self.card(session, ticket, customer)
        await bot.send_message(
            self.group_id,
            card,
            message_thread_id=topic.message_thread_id,
            reply_markup=ticket_buttons(ticket, self.say_group),
        )
        await self.audit_card(session, ticket, customer, orders)
        log.info("ticket=%s has topic=%s", ticket.id, ticket.topic_id)
        return ticket.topic_id

    async def audit_card(
        self,
        session: AsyncSession,
        ticket: Ticket,
        customer: Customer,
        orders: list[str] | None = None,
    ) -> None:
        """The card shows the agents' group the customer's conversation, the ticket's order
        number and their recent orders: all go to the audit log of staff access."""
        assert customer.id is not None
        shown = [("transcript", ticket.number)]
        if ticket.order_number:
            shown.append(("order", ticket.order_number))
        shown += [("order", n) for n in orders or [] if n != ticket.order_number]
        for kind, detail in shown:
            await record_access(
                session,
                actor=f"group:{self.group_id}",
                customer_id=customer.id,
                kind=kind,
                detail=detail,
                now=self.clock.now(),
            )

    async def summary(self, session: AsyncSession, ticket: Ticket, customer: Customer) -> str:
        return (await self.card(session, ticket, customer))[0]

    async def card(
        self, session: AsyncSession, ticket: Ticket, customer: Customer
    ) -> tuple[str, list[str]]:
        """The ticket's card, and the numbers of the recent orders it shows."""
        orders = (
            (await self.recent_orders(session, customer))[:CARD_ORDERS]
            if (self.recent_orders is not None)
            else []
        )
        tickets = await self.tickets.tickets_of(session, customer)
        earlier = [t for t in tickets if t.id != ticket.id]
        statement = (
            select(StoredMessage)
            .where(StoredMessage.customer_id == customer.id)
            .order_by(col(StoredMessage.id).desc())
            .limit(SUMMARY_MESSAGES)
        )
        recent = list(reversed((await session.exec(statement)).all()))
        say = self.say_group
        language = say(f"language_name_{customer.language}") if customer.language else "-"
        lines = [
            say(
                "card_title",
                number=ticket.number,
                category=category_label(say, ticket.category),
                priority=priority_label(say, ticket.priority),
                status=status_label(say, ticket.status),
            ),
            say(
                "card_customer",
                who=customer_label(say, customer),
                speaks=language,
                vip=customer.vip_tier or "-",
                earlier=len(earlier),
            ),
            say("card_team", team=self.teams.name(ticket.team, say.language)),
            say("card_order", order=await self._order_line(session, ticket, customer)),
            *self._orders_lines(orders),
            *await self._earlier_lines(session, earlier),
            *await self._ban_line(session, customer),
            say("card_problem", problem=cut_to_fit(ticket.description or "-", CARD_PROBLEM_LIMIT)),
            say("card_conversation"),
        ]
        for message in recent:
            line = "card_line_customer" if message.direction == "in" else "card_line_bot"
            lines.append(say(line, text=message.text[:200]))
        return cut_to_fit("\n".join(lines)), [order.number for order in orders]

    def _orders_lines(self, orders: list[OrderView]) -> list[str]:
        """The customer's latest orders, the phone masked as everywhere staff see it."""
        if not orders:
            return []
        say = self.say_group
        lines = [say("card_recent_orders")]
        for order in orders:
            when = (
                self.hours.local(order.ordered_at).strftime("%Y-%m-%d")
                if order.ordered_at
                else "-"
            )
            lines.append(
                say(
                    "card_recent_order",
                    number=order.number,
                    status=say(f"order_status_{order.status}"),
                    date=when,
                    phone=mask_phone(order.phone) or "-",
                )
            )
        return lines

    async def _earlier_lines(self, session: AsyncSession, earlier: list[Ticket]) -> list[str]:
        """The customer's earlier tickets, latest first: number, status, outcome, CSAT."""
        shown = earlier[:CARD_EARLIER]
        if not shown:
            return []
        ids = [ticket.id for ticket in shown]
        statement = select(Feedback).where(
            col(Feedback.ticket_id).in_(ids), Feedback.kind == FeedbackKind.CSAT
        )
        scores = {f.ticket_id: f.score for f in (await session.exec(statement)).all()}
        say = self.say_group
        lines = [say("card_earlier")]
        for ticket in shown:
            outcome = "-"
            if ticket.cause or ticket.remedy:
                outcome = " / ".join(
                    outcome_label(self.texts, part, value, say.language)
                    for part, value in (("cause", ticket.cause), ("remedy", ticket.remedy))
                    if value
                )
            score = scores.get(ticket.id)
            lines.append(
                say(
                    "card_earlier_ticket",
                    number=ticket.number,
                    status=status_label(say, ticket.status),
                    outcome=outcome,
                    csat=score if score is not None else "-",
                )
            )
        return lines

    async def _ban_line(self, session: AsyncSession, customer: Customer) -> list[str]:
        found = await ban_of(session, customer.id) if customer.id is not None else None
        if found is None:
            return []
        since = found.banned_at.strftime("%Y-%m-%d %H:%M UTC")
        return [self.say_group("card_banned", since=since, admin=found.banned_by)]

    async def _order_line(self, session: AsyncSession, ticket: Ticket, customer: Customer) -> str:
        """The ticket's order, flagged when the customer never showed it is theirs: the number
        may come from a button's data or from what they typed, and agents must not take it
        for theirs."""
        number = ticket.order_number
        if not number:
            return "-"
        if self.order_check is not None and await self.order_check(session, customer, number):
            return number
        return self.say_group("card_order_unverified", number=number)

    async def relay_to_agents(
        self,
        session: AsyncSession,
        bot: Bot,
        ticket: Ticket,
        customer: Customer,
        message: Message,
    ) -> None:
        topic = await self.ensure_topic(session, bot, ticket, customer)
        if topic is None:
            return
        try:
            await bot.copy_message(
                self.group_id, message.chat.id, message.message_id, message_thread_id=topic
            )
        except DeliveryUncertain:
            log.warning("ticket=%s: a relay to the topic may not have arrived", ticket.id)
        except DeliveryFailed as error:
            raise RelayFailed(str(error.message)) from None
        except TelegramBadRequest as error:
            if "thread not found" not in str(error).lower():
                await self._relay_as_text(bot, ticket, message, str(error.message))
                return
            log.warning("topic=%s of ticket=%s was deleted; creating it again", topic, ticket.id)
            ticket.topic_id = None
            topic = await self.ensure_topic(session, bot, ticket, customer)
            await self.post_transcript(session, bot, ticket, customer)
            await bot.copy_message(
                self.group_id, message.chat.id, message.message_id, message_thread_id=topic
            )

    async def _relay_as_text(
        self, bot: Bot, ticket: Ticket, message: Message, reason: str
    ) -> None:
        """A message Telegram would not copy (a kind it cannot copy, or content it refuses),
        posted into the topic as text instead; RelayFailed when it has none."""
        log.warning("ticket=%s: a customer's message could not be copied (%s)", ticket.id, reason)
        text = message.text or message.caption
        if not text:
            raise RelayFailed(reason)
        try:
            await self.post_in_topic(
                bot, ticket, self.say_group("relay_as_text", number=ticket.number, text=text)
            )
        except (DeliveryFailed, TelegramBadRequest) as error:
            raise RelayFailed(str(error.message)) from None

    async def post_transcript(
        self, session: AsyncSession, bot: Bot, ticket: Ticket, customer: Customer
    ) -> None:
        """The ticket's record so far, as a file under the card of a topic created again after
        the first was deleted: the agents lose nothing of the conversation."""
        if not self.group_id or ticket.topic_id is None:
            return
        await self.tickets.record(session, ticket, "system", "topic_recreated")
        language = self.group_language()
        text = await self.transcripts.render(session, ticket, language)
        await bot.send_document(
            self.group_id,
            BufferedInputFile(text.encode("utf-8"), self.transcripts.file_name(ticket)),
            message_thread_id=ticket.topic_id,
            caption=self.texts("transcript_caption", language, number=ticket.number),
        )
        assert customer.id is not None
        await record_access(
            session,
            actor=f"group:{self.group_id}",
            customer_id=customer.id,
            kind="transcript",
            detail=ticket.number,
            now=self.clock.now(),
        )

    async def copy_into_topic(
        self, bot: Bot, ticket: Ticket, from_chat_id: int, message_ids: list[int]
    ) -> None:
        """Messages the customer sent during the intake (photos), copied to the ticket's topic."""
        if not self.group_id or ticket.topic_id is None:
            return
        topic = ticket.topic_id
        for message_id in message_ids:
            await bot.copy_message(
                self.group_id, from_chat_id, message_id, message_thread_id=topic
            )

    async def relay_to_customer(
        self,
        session: AsyncSession,
        bot: Bot,
        ticket: Ticket,
        customer: Customer,
        message: Message,
        agent_id: int,
    ) -> None:
        chat_id = int(customer.external_id)
        own = self.channel_bots.get(customer.channel)
        if own is not None:  # a channel of kefu's own (the web chat): nothing to copy from
            said = what_was_said(message)
            if said.file_id is None:
                await self.send_text_to_customer(
                    session, own, ticket, customer, said.detail, agent_id
                )
                return
            # a photo stays a photo; any other file (a document, a video...) is a download
            media: TelegramMethod[Any] = (
                SendPhoto(chat_id=chat_id, photo=said.file_id, caption=message.caption)
                if said.media == "photo"
                else SendDocument(chat_id=chat_id, document=said.file_id, caption=message.caption)
            )
            await self._deliver(session, own, ticket, agent_id, media, said)
            return
        if message.text and self.config.agents.signature:
            await self.send_text_to_customer(
                session, bot, ticket, customer, message.text, agent_id
            )
            return
        copy = CopyMessage(
            chat_id=chat_id, from_chat_id=message.chat.id, message_id=message.message_id
        )
        await self._deliver(session, bot, ticket, agent_id, copy, what_was_said(message))

    async def send_text_to_customer(
        self,
        session: AsyncSession,
        bot: Bot,
        ticket: Ticket,
        customer: Customer,
        text: str,
        agent_id: int,
    ) -> None:
        signature = self.config.agents.signature
        if signature:
            text = f"{text}\n\n{signature}"
        chat_id = int(customer.external_id)
        bot = self.channel_bots.get(customer.channel, bot)
        await self._deliver(
            session, bot, ticket, agent_id, SendMessage(chat_id=chat_id, text=text), Said(text)
        )

    async def _deliver(
        self,
        session: AsyncSession,
        bot: Bot,
        ticket: Ticket,
        agent_id: int,
        method: TelegramMethod[Any],
        said: Said,
    ) -> None:
        """Send an agent's reply; once sent it is kept on the ticket (its transcript)."""
        try:
            await bot(method)
        except TelegramForbiddenError:
            await self.tickets.record(
                session, ticket, "system", "unreachable", "the customer blocked the bot"
            )
            raise CustomerUnreachable(ticket.number) from None
        except (DeliveryFailed, TelegramBadRequest) as error:
            uncertain = isinstance(error, DeliveryUncertain)
            reason = "uncertain" if uncertain else str(error.message)[:200]
            log.warning("ticket=%s: an agent's reply was not delivered (%s)", ticket.id, reason)
            await self.tickets.record(
                session, ticket, f"agent:{agent_id}", "undelivered", said.detail
            )
            too_large = error.limit_mb if isinstance(error, FileTooLarge) else None
            raise ReplyNotDelivered(reason, uncertain=uncertain, too_large_mb=too_large) from None
        await self.tickets.record(
            session,
            ticket,
            f"agent:{agent_id}",
            "reply",
            said.detail,
            media=said.media,
            file_id=said.file_id,
        )
        if ticket.assigned_agent is None:
            await self.tickets.assign(session, ticket, agent_id, f"agent:{agent_id}")
        await self.tickets.agent_replied(session, ticket, agent_id)


# The kinds of message that carry a file, by aiogram's content type (the Message's field).
MEDIA_KINDS = (
    "photo",
    "document",
    "video",
    "voice",
    "audio",
    "animation",
    "sticker",
    "video_note",
)


@dataclass(frozen=True)
class Said:
    """A message of the human conversation as its ticket keeps it: its text or caption (else
    its kind in brackets, "[photo]"), and for a file its kind and Telegram's file id, with which
    staff can see the file again after the topic is gone."""

    detail: str
    media: str | None = None
    file_id: str | None = None


def what_was_said(message: Message) -> Said:
    kind = str(getattr(message.content_type, "value", message.content_type))
    file_id: str | None = None
    if message.photo:
        file_id = message.photo[-1].file_id  # the largest size
    elif kind in MEDIA_KINDS:
        file_id = getattr(getattr(message, kind, None), "file_id", None)
    detail = message.text or message.caption or f"[{kind}]"
    return Said(detail, kind if file_id else None, file_id)


def ticket_buttons(ticket: Ticket, say: Say) -> InlineKeyboardMarkup:
    assert ticket.id is not None

    def button(action: TicketAction) -> InlineKeyboardButton:
        data = TicketCallback(action=action, ticket_id=ticket.id or 0).pack()
        return InlineKeyboardButton(text=action_label(say, action), callback_data=data)

    return InlineKeyboardMarkup(
        inline_keyboard=[
            [button(TicketAction.TAKE), button(TicketAction.RESOLVE), button(TicketAction.CLOSE)],
            [
                button(TicketAction.WAIT),
                button(TicketAction.TRANSFER),
                button(TicketAction.RAISE),
                button(TicketAction.LOWER),
            ],
        ]
    )


def action_label(say: Say, action: TicketAction) -> str:
    return say(f"button_{action.value}")
