"""Returns: whether an order, or some of its items, can be returned (the shop's rules from
config, and the reason in words the customer understands when not), and the customer's request
from start to finish."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aiogram import Bot
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import (
    ReturnCallback,
    ReturnDoneCallback,
    ReturnItemCallback,
    ReturnReasonCallback,
)
from bot.channels.replies import Reply
from bot.config import ReturnsConfig
from bot.faq.answers import FaqService
from bot.orders.lookup import (
    OrderForm,
    OrderLookup,
    OrdersUnavailableNow,
    person_button,
    telegram_id,
)
from bot.orders.providers import OrderItem, OrdersUnavailable, OrderView
from bot.texts import Say, Texts
from bot.tickets.handoff import Handoff
from bot.tickets.intake import Intake
from storage.models import Customer

# The reasons a customer picks from, as the agents' ticket card names them.
RETURN_REASONS = ("wrong_size", "damaged", "not_as_described", "changed_mind", "other")


@dataclass(frozen=True)
class Refusal:
    """Why a return is refused: a text key and its placeholders."""

    key: str
    details: dict[str, str] = field(default_factory=dict)


def order_refusal(order: OrderView, now: datetime, rules: ReturnsConfig) -> Refusal | None:
    if order.status not in rules.allowed_statuses:
        return Refusal("return_refused_status", {"status": order.status})
    if order.delivered_at is not None:
        last_day = order.delivered_at + timedelta(days=rules.window_days)
        if now > last_day:
            return Refusal("return_refused_window", {"days": str(rules.window_days)})
    return None


def items_refusal(items: list[OrderItem], rules: ReturnsConfig) -> Refusal | None:
    excluded = [item.name for item in items if item.category in rules.non_returnable_categories]
    if excluded:
        return Refusal("return_refused_category", {"items": ", ".join(excluded)})
    return None


def return_description(items: list[OrderItem], reason: str, comment: str | None, say: Say) -> str:
    """What the agents read on the ticket, in their language: the items, the reason and the
    customer's words."""
    listed = ", ".join(f"{item.name} × {item.quantity}" for item in items)
    lines = [
        say("return_summary", items=listed),
        say("return_summary_reason", reason=say(f"return_reason_{reason}")),
    ]
    if comment:
        lines.append(say("return_summary_comment", comment=comment))
    return "\n".join(lines)


class ReturnForm(StatesGroup):
    reason = State()
    extras = State()


def _order_label(order: OrderView) -> str:
    first = order.items[0].name if order.items else ""
    more = f" +{len(order.items) - 1}" if len(order.items) > 1 else ""
    return f"{order.number} · {first}{more}"


class ReturnRequests:
    """A return request from start to finish: which order, which items, why, photos; then
    either a return ticket for the agents or the reason it cannot be returned, with a person
    on offer."""

    def __init__(
        self,
        lookup: OrderLookup,
        intake: Intake,
        handoff: Handoff,
        faq: FaqService,
        rules: ReturnsConfig,
        texts: Texts,
    ) -> None:
        self.lookup = lookup
        self.intake = intake
        self.handoff = handoff
        self.faq = faq
        self.rules = rules
        self.texts = texts

    async def begin(
        self,
        session: AsyncSession,
        customer: Customer,
        form: FSMContext,
        language: str,
        intro: str | None = None,
    ) -> Reply:
        """Offer the customer's recent orders; with none known, ask for the order number (the
        order lookup then shows it with a return button once it is proven theirs)."""
        assert customer.id is not None
        await form.clear()
        existing = await self.intake.already_open(session, customer, language)
        if existing is not None:
            return existing
        prefix = f"{intro}\n\n" if intro else ""
        try:
            orders = await self.lookup.order_status.orders_of(
                session, customer.id, telegram_id(customer)
            )
        except OrdersUnavailable:
            raise OrdersUnavailableNow("") from None
        if not orders:
            await form.set_state(OrderForm.number)
            return Reply(prefix + self.texts("return_ask_number", language))
        buttons = [
            [
                InlineKeyboardButton(
                    text=_order_label(order),
                    callback_data=ReturnCallback(number=order.number[:40]).pack(),
                )
            ]
            for order in orders
        ]
        return Reply(
            prefix + self.texts("return_choose_order", language),
            InlineKeyboardMarkup(inline_keyboard=buttons),
        )

    async def choose_order(
        self,
        session: AsyncSession,
        customer: Customer,
        form: FSMContext,
        language: str,
        number: str,
    ) -> Reply:
        order = await self._returnable_order(session, customer, form, language, number)
        if isinstance(order, Reply):
            return order
        if len(order.items) == 1:
            return await self._ask_reason(form, order, list(order.items), language)
        buttons = [
            [
                InlineKeyboardButton(
                    text=f"{item.name} × {item.quantity}",
                    callback_data=ReturnItemCallback(number=order.number, index=index).pack(),
                )
            ]
            for index, item in enumerate(order.items)
        ]
        every = ReturnItemCallback(number=order.number, index=-1).pack()
        buttons.append(
            [
                InlineKeyboardButton(
                    text=self.texts("return_all_items", language), callback_data=every
                )
            ]
        )
        return Reply(
            self.texts("return_choose_items", language),
            InlineKeyboardMarkup(inline_keyboard=buttons),
        )

    async def choose_items(
        self,
        session: AsyncSession,
        customer: Customer,
        form: FSMContext,
        language: str,
        number: str,
        index: int,
    ) -> Reply:
        """`index` -1 is every item."""
        order = await self._returnable_order(session, customer, form, language, number)
        if isinstance(order, Reply):
            return order
        items = list(order.items)
        if index >= 0:
            items = items[index : index + 1]
        return await self._ask_reason(form, order, items, language)

    async def choose_reason(self, form: FSMContext, language: str, reason: str) -> Reply | None:
        if reason not in RETURN_REASONS:
            return None
        await form.update_data(reason=reason)
        await form.set_state(ReturnForm.extras)
        return Reply(self.texts("return_extras", language), self._done_button(language))

    async def keep_extra(
        self, form: FSMContext, language: str, *, photo_message_id: int | None, words: str | None
    ) -> Reply:
        """Photos and words for the agents, kept until the customer taps Done."""
        data = await form.get_data()
        if photo_message_id is not None:
            await form.update_data(photos=[*data.get("photos", []), photo_message_id])
        if words:
            await form.update_data(comment=" ".join(filter(None, [data.get("comment"), words])))
        return Reply(self.texts("return_extra_kept", language), self._done_button(language))

    async def finish(
        self,
        session: AsyncSession,
        bot: Bot,
        customer: Customer,
        form: FSMContext,
        language: str,
        chat_id: int,
    ) -> Reply:
        data = await form.get_data()
        await form.clear()
        items = [OrderItem(**item) for item in data.get("chosen", [])]
        ticket, _ = await self.handoff.open(
            session,
            bot,
            customer,
            category="return_refund",
            description=return_description(
                items, data.get("reason", "other"), data.get("comment"), self.handoff.say_group
            ),
            order_number=data.get("order_number"),
        )
        await self.handoff.copy_into_topic(bot, ticket, chat_id, data.get("photos", []))
        lines = [self.handoff.expectation(ticket, language)]
        next_steps = self.faq.knowledge_base.get(self.rules.next_steps_entry)
        if next_steps is not None and next_steps.answer_in(language):
            lines.append(next_steps.answer_in(language) or "")
        return Reply("\n\n".join(lines))

    def over(self, language: str) -> Reply:
        """For a button from a request that is over (finished, refused or started again)."""
        return Reply(self.texts("return_over", language))

    async def _returnable_order(
        self,
        session: AsyncSession,
        customer: Customer,
        form: FSMContext,
        language: str,
        number: str,
    ) -> OrderView | Reply:
        """The order behind a return button, checked once more to be the customer's and
        returnable, or what to tell the customer instead. A button press starts the request
        afresh."""
        await form.clear()
        order = await self.lookup.owned_order(session, customer, number)
        if order is None:  # never proven, or the proof has expired: prove it, then press again
            return await self.lookup.ask_digits(form, language, number)
        refusal = order_refusal(order, self.lookup.order_status.clock.now(), self.rules)
        if refusal is not None:
            return self._refusal(refusal, order.number, language)
        return order

    async def _ask_reason(
        self, form: FSMContext, order: OrderView, items: list[OrderItem], language: str
    ) -> Reply:
        refusal = items_refusal(items, self.rules)
        if not items or refusal is not None:
            return self._refusal(
                refusal or Refusal("return_refused_nothing"), order.number, language
            )
        await form.update_data(
            order_number=order.number,
            chosen=[
                {"name": i.name, "category": i.category, "quantity": i.quantity} for i in items
            ],
        )
        buttons = [
            [
                InlineKeyboardButton(
                    text=self.texts(f"return_reason_{reason}", language),
                    callback_data=ReturnReasonCallback(reason=reason).pack(),
                )
            ]
            for reason in RETURN_REASONS
        ]
        await form.set_state(ReturnForm.reason)
        return Reply(
            self.texts("return_choose_reason", language),
            InlineKeyboardMarkup(inline_keyboard=buttons),
        )

    def _refusal(self, refusal: Refusal, number: str, language: str) -> Reply:
        details = dict(refusal.details)
        if "status" in details:
            details["status"] = self.texts(f"order_status_{details['status']}", language)
        text = self.texts(refusal.key, language, **details)
        return Reply(
            text + "\n" + self.texts("return_refused_help", language),
            person_button(number, language, self.texts),
        )

    def _done_button(self, language: str) -> InlineKeyboardMarkup:
        done = InlineKeyboardButton(
            text=self.texts("return_done_button", language),
            callback_data=ReturnDoneCallback().pack(),
        )
        return InlineKeyboardMarkup(inline_keyboard=[[done]])
