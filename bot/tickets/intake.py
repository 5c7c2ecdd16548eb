"""The way to a person: what the problem is about, the customer's words and photos, the order it
concerns; then the ticket, and what the customer may expect. Also the customer's own list of
tickets and their "solved" button."""

from __future__ import annotations

import logging
from datetime import timedelta

from aiogram import Bot
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import CategoryCallback, SkipCallback, SolvedCallback, SupervisorCallback
from bot.channels.replies import Reply, bot_of
from bot.incidents.words import UrgentWords
from bot.texts import Texts
from bot.tickets.handoff import Handoff, RelayFailed, asks_for_a_supervisor, what_was_said
from bot.tickets.lifecycle import CATEGORIES, OPEN_STATUSES, TicketService
from bot.tickets.outcomes import outcome_question
from storage.models import Customer, Ticket, TicketPriority, TicketStatus

log = logging.getLogger(__name__)

ORDER_NUMBER_LIMIT = 64  # what a ticket keeps (the orders table's own limit)
DESCRIPTION_LIMIT = 4096  # one message's worth, as Telegram lets a customer write it


class IntakeForm(StatesGroup):
    category = State()
    description = State()
    order_number = State()


class Intake:
    def __init__(
        self,
        tickets: TicketService,
        handoff: Handoff,
        texts: Texts,
        reopen_window: timedelta = timedelta(0),
        urgent_words: UrgentWords | None = None,
    ) -> None:
        self.tickets = tickets
        self.handoff = handoff
        self.texts = texts
        self.reopen_window = reopen_window
        self.urgent_words = urgent_words

    async def ticket_to_relay(
        self, session: AsyncSession, customer: Customer, *, in_form: bool
    ) -> Ticket | None:
        """The ticket a customer's message belongs to: their open ticket, else (unless they are
        filling in a form) the one resolved within the reopen window, which the message will
        reopen. None: the message is for the bot."""
        ticket = await self.tickets.open_ticket_of(session, customer)
        if ticket is not None or in_form:
            return ticket
        return await self.tickets.resolved_since(session, customer, self.reopen_window)

    async def begin(
        self,
        session: AsyncSession,
        customer: Customer,
        form: FSMContext,
        language: str,
        order_number: str | None = None,
    ) -> Reply:
        """Ask what it is about, unless the customer already has an open ticket. An order
        number already known (from the order lookup) is not asked again."""
        existing = await self.already_open(session, customer, language)
        if existing is not None:
            return existing
        await form.set_state(IntakeForm.category)
        await form.set_data({"order_number": order_number} if order_number else {})
        buttons = [
            [
                InlineKeyboardButton(
                    text=self.texts(f"category_{category}", language),
                    callback_data=CategoryCallback(category=category).pack(),
                )
            ]
            for category in CATEGORIES
        ]
        return Reply(
            self.texts("handoff_choose_category", language),
            InlineKeyboardMarkup(inline_keyboard=buttons),
        )

    async def already_open(
        self, session: AsyncSession, customer: Customer, language: str
    ) -> Reply | None:
        """Where the customer's open ticket stands, if they have one: a new request waits."""
        open_ticket = await self.tickets.open_ticket_of(session, customer)
        if open_ticket is None:
            return None
        return Reply(self.texts("handoff_existing", language, number=open_ticket.number))

    async def choose_category(self, form: FSMContext, category: str, language: str) -> Reply:
        await form.update_data(category=category)
        await form.set_state(IntakeForm.description)
        return Reply(self.texts("handoff_describe", language))

    async def describe(
        self,
        session: AsyncSession,
        bot: Bot,
        customer: Customer,
        form: FSMContext,
        language: str,
        *,
        chat_id: int,
        text: str | None,
    ) -> Reply:
        await form.update_data(description=text[:DESCRIPTION_LIMIT] if text else text)
        known = (await form.get_data()).get("order_number")
        if known:
            return await self.finish(session, bot, customer, form, language, chat_id, known)
        await form.set_state(IntakeForm.order_number)
        skip = InlineKeyboardButton(
            text=self.texts("skip", language), callback_data=SkipCallback().pack()
        )
        return Reply(
            self.texts("handoff_order", language), InlineKeyboardMarkup(inline_keyboard=[[skip]])
        )

    async def keep_photo(
        self,
        session: AsyncSession,
        bot: Bot,
        customer: Customer,
        form: FSMContext,
        language: str,
        *,
        chat_id: int,
        message_id: int,
        caption: str | None,
        file_id: str | None = None,
    ) -> Reply:
        """Photos during the intake go to the agents with the ticket, and on its record; a
        captioned photo while the problem is asked for is the description too."""
        data = await form.get_data()
        await form.update_data(
            photos=[*data.get("photos", []), message_id],
            photo_files=[*data.get("photo_files", []), [file_id, caption or ""]],
        )
        if caption and await form.get_state() == IntakeForm.description.state:
            return await self.describe(
                session, bot, customer, form, language, chat_id=chat_id, text=caption
            )
        return Reply(self.texts("handoff_photo_kept", language))

    async def finish(
        self,
        session: AsyncSession,
        bot: Bot,
        customer: Customer,
        form: FSMContext,
        language: str,
        chat_id: int,
        order_number: str | None,
    ) -> Reply:
        data = await form.get_data()
        await form.clear()
        description = data.get("description")
        # a problem described with an urgent word (food poisoning, an injury...) is urgent at once
        urgent = self.urgent_words.find(description) if self.urgent_words and description else None
        ticket, created = await self.handoff.open(
            session,
            bot,
            customer,
            category=data.get("category", "other"),
            description=description,
            order_number=(order_number or "").strip()[:ORDER_NUMBER_LIMIT] or None,
            priority=TicketPriority.URGENT if urgent else None,
        )
        if urgent and created:
            await self.tickets.record(session, ticket, "system", "urgent", urgent)
            await session.commit()
            await self.handoff.page_urgent(bot, ticket, urgent)
        for file_id, caption in data.get("photo_files", []) if created else []:
            await self.tickets.record(
                session,
                ticket,
                f"customer:{customer.id}",
                "message",
                caption or "[photo]",
                media="photo" if file_id else None,
                file_id=file_id,
            )
        await self.handoff.copy_into_topic(bot, ticket, chat_id, data.get("photos", []))
        return Reply(self.handoff.expectation(ticket, language))

    async def relay(
        self,
        session: AsyncSession,
        customer: Customer,
        ticket: Ticket,
        message: Message,
        language: str,
    ) -> Reply | None:
        """A message on an open ticket is kept on it (the ticket's transcript) and goes to its
        topic; without an agents' group yet the customer is told where it went. A message on a
        ticket resolved within the reopen window reopens it first, and the customer is told."""
        bot = bot_of(message)
        told = None
        if ticket.status == TicketStatus.RESOLVED:
            await self.handoff.reopen_by_customer(session, bot, ticket, customer)
            told = Reply(self.texts("ticket_told_reopened", language, number=ticket.number))
        was_waiting = ticket.status == TicketStatus.WAITING
        await self.tickets.customer_replied(session, ticket)
        said = what_was_said(message)
        await self.tickets.record(
            session,
            ticket,
            f"customer:{customer.id}",
            "message",
            said.detail,
            media=said.media,
            file_id=said.file_id,
        )
        if not self.handoff.group_id:
            return told or Reply(self.texts("handoff_existing", language, number=ticket.number))
        try:
            await self.handoff.relay_to_agents(session, bot, ticket, customer, message)
        except RelayFailed:
            await self.tickets.record(session, ticket, "system", "relay_failed", said.detail)
            return Reply(self.texts("relay_failed", language, number=ticket.number))
        if was_waiting:
            await session.commit()
            await self.handoff.topic_changed(session, bot, ticket, was_settled=False)
        if asks_for_a_supervisor(message.text) and ticket.status in OPEN_STATUSES:
            return await self._supervisor(session, bot, ticket, language)
        return told

    async def _supervisor(
        self, session: AsyncSession, bot: Bot, ticket: Ticket, language: str
    ) -> Reply:
        asked = await self.handoff.supervisor_requested(session, bot, ticket)
        key = "supervisor_requested" if asked else "supervisor_requested_already"
        return Reply(self.texts(key, language, number=ticket.number))

    async def ask_supervisor(
        self, session: AsyncSession, bot: Bot, customer: Customer, ticket_id: int, language: str
    ) -> Reply | None:
        """The customer's button asking for a supervisor on their open ticket; None for a
        ticket that is not theirs."""
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None or ticket.customer_id != customer.id:
            log.warning("customer=%s asked a supervisor on a ticket not theirs", customer.id)
            return None
        if ticket.status not in OPEN_STATUSES:
            return Reply(self._ticket_line(ticket, language))
        return await self._supervisor(session, bot, ticket, language)

    def _ticket_line(self, ticket: Ticket, language: str) -> str:
        """ "T-000123 · shipping · in progress", in the customer's language."""
        return self.texts(
            "tickets_line",
            language,
            number=ticket.number,
            category=self.texts(f"category_{ticket.category}", language),
            status=self.texts(f"status_{ticket.status}", language),
        )

    async def ticket_list(self, session: AsyncSession, customer: Customer, language: str) -> Reply:
        found = await self.tickets.tickets_of(session, customer)
        if not found:
            return Reply(self.texts("tickets_none", language))
        lines = [self._ticket_line(ticket, language) for ticket in found]
        buttons = [
            [
                InlineKeyboardButton(
                    text=f"{self.texts('ticket_solved_button', language)} ({ticket.number})",
                    callback_data=SolvedCallback(ticket_id=ticket.id or 0).pack(),
                ),
                InlineKeyboardButton(
                    text=f"{self.texts('ticket_supervisor_button', language)} ({ticket.number})",
                    callback_data=SupervisorCallback(ticket_id=ticket.id or 0).pack(),
                ),
            ]
            for ticket in found
            if ticket.status in OPEN_STATUSES
        ]
        markup = InlineKeyboardMarkup(inline_keyboard=buttons) if buttons else None
        return Reply("\n".join(lines), markup)

    async def ticket_status(
        self, session: AsyncSession, customer: Customer, ticket_id: int, language: str
    ) -> Reply:
        """A customer who writes a ticket number: where that ticket stands, if it is theirs."""
        ticket = await session.get(Ticket, ticket_id) if ticket_id < 2**31 else None
        if ticket is None or ticket.customer_id != customer.id:
            return Reply(self.texts("ticket_not_yours", language, number=f"T-{ticket_id:06d}"))
        return Reply(self._ticket_line(ticket, language))

    async def mark_solved(
        self, session: AsyncSession, bot: Bot, customer: Customer, ticket_id: int, language: str
    ) -> Reply | None:
        """The customer says their ticket is solved (the agents' topic is told); None for a
        ticket that is not theirs."""
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None or ticket.customer_id != customer.id:
            log.warning("customer=%s pressed solved on a ticket not theirs", customer.id)
            return None
        if ticket.status in OPEN_STATUSES:
            await self.tickets.resolve(session, ticket, f"customer:{customer.id}")
            await session.commit()
            await self.handoff.alert(
                bot,
                ticket,
                self.handoff.say_group("alert_solved_by_customer", number=ticket.number),
                mention=False,
            )
            # the agents still say how it ended, for the report
            language = self.handoff.group_language()
            settings = self.handoff.config.tickets
            ask = outcome_question(self.texts, settings, ticket, "cause", language)
            await self.handoff.post_in_topic(bot, ticket, ask.text, reply_markup=ask.markup)
            await self.handoff.topic_changed(session, bot, ticket, was_settled=False)
        return Reply(self.texts("ticket_solved", language, number=ticket.number))
