"""The customer's side, in private chats: the menu, questions, suggestions, votes, language."""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import EntryCallback, LanguageCallback, VoteCallback
from bot.clock import Clock
from bot.config import Config
from bot.faq.answers import FaqReply, FaqService
from bot.faq.keyboards import (
    answer_keyboard,
    fallback_keyboard,
    language_keyboard,
    menu_keyboard,
    suggestions_keyboard,
)
from bot.followups.surveys import FollowUps
from bot.middlewares.language import customer_language
from bot.orders.lookup import OrderStatusService
from bot.texts import Texts
from bot.tickets.handoff import Handoff
from bot.tickets.lifecycle import TicketService
from handlers.customer_orders import begin_order_lookup
from handlers.customer_returns import begin_return
from handlers.customer_tickets import begin_intake
from knowledge import Decision
from storage.conversations import record_vote
from storage.customers import choose_language
from storage.models import Customer

log = logging.getLogger(__name__)


def create_router() -> Router:
    router = Router(name="customer")
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")

    router.message.register(show_start, CommandStart())
    router.message.register(show_help, Command("help"))
    router.message.register(ask_language, Command("language"))
    router.message.register(answer_question, F.text & ~F.text.startswith("/"))
    router.message.register(show_help, F.text.startswith("/"))
    router.message.register(refuse_unsupported)
    router.callback_query.register(answer_entry, EntryCallback.filter())
    router.callback_query.register(save_vote, VoteCallback.filter())
    router.callback_query.register(save_language, LanguageCallback.filter())
    return router


async def _remember_language(session: AsyncSession, customer: Customer, language: str) -> None:
    if customer.language != language and not customer.language_chosen:
        customer.language = language
        session.add(customer)


async def show_start(
    message: Message,
    customer: Customer,
    session: AsyncSession,
    config: Config,
    texts: Texts,
    faq: FaqService,
) -> None:
    language = customer_language(customer, message, config)
    await _remember_language(session, customer, language)
    name = f", {customer.first_name}" if customer.first_name and language == "en" else ""
    name = name or (f"，{customer.first_name}" if customer.first_name else "")
    menu = faq.knowledge_base.menu(config.bot.menu_size)
    await message.answer(
        texts("greeting", language, name=name), reply_markup=menu_keyboard(menu, language)
    )


async def show_help(message: Message, customer: Customer, config: Config, texts: Texts) -> None:
    await message.answer(texts("help", customer_language(customer, message, config)))


async def ask_language(message: Message, customer: Customer, config: Config, texts: Texts) -> None:
    await message.answer(
        texts("choose_language", customer_language(customer, message, config)),
        reply_markup=language_keyboard(),
    )


async def save_language(
    query: CallbackQuery,
    callback_data: LanguageCallback,
    customer: Customer,
    session: AsyncSession,
    texts: Texts,
) -> None:
    await choose_language(session, customer, callback_data.language)
    await query.answer()
    if query.message:
        await query.message.answer(texts("language_set", callback_data.language))


async def answer_question(
    message: Message,
    customer: Customer,
    session: AsyncSession,
    config: Config,
    texts: Texts,
    faq: FaqService,
    state: FSMContext,
    tickets: TicketService,
    handoff: Handoff,
    order_status: OrderStatusService,
) -> None:
    language = customer_language(customer, message, config)
    await _remember_language(session, customer, language)
    reply = await faq.answer_question(session, customer, message.text or "", language)
    if await _run_action(
        message, reply, state, customer, session, config, texts, tickets, handoff, order_status,
        language,
    ):  # fmt: skip
        return
    await _send_reply(message, reply, language, texts, faq)


async def answer_entry(
    query: CallbackQuery,
    callback_data: EntryCallback,
    customer: Customer,
    session: AsyncSession,
    config: Config,
    texts: Texts,
    faq: FaqService,
    state: FSMContext,
    tickets: TicketService,
    handoff: Handoff,
    order_status: OrderStatusService,
) -> None:
    language = customer_language(customer, query, config)
    await query.answer()
    if not isinstance(query.message, Message):
        return
    entry = faq.knowledge_base.get(callback_data.entry_id)
    if entry is None:
        await query.message.answer(texts("entry_missing", language))
        return
    reply = await faq.reply_with_entry(session, customer, entry, language)
    if await _run_action(
        query.message, reply, state, customer, session, config, texts, tickets, handoff,
        order_status, language,
    ):  # fmt: skip
        return
    await _send_reply(query.message, reply, language, texts, faq)


async def _run_action(
    message: Message,
    reply: FaqReply,
    state: FSMContext,
    customer: Customer,
    session: AsyncSession,
    config: Config,
    texts: Texts,
    tickets: TicketService,
    handoff: Handoff,
    order_status: OrderStatusService,
    language: str,
) -> bool:
    """Start the flow an entry names instead of a static answer; False when it names none."""
    action = reply.entry.action if reply.entry else None
    if action == "talk_to_human":
        await begin_intake(
            message, state, customer, session, config, texts, tickets, handoff, language
        )
        return True
    if action == "order_status":
        await begin_order_lookup(message, state, language, texts)
        return True
    if action == "return_request":
        await begin_return(
            message, state, customer, session, language, texts, tickets, order_status, reply.text
        )
        return True
    return False


async def _send_reply(
    message: Message, reply: FaqReply, language: str, texts: Texts, faq: FaqService
) -> None:
    markup: InlineKeyboardMarkup | None
    if reply.decision is Decision.SUGGEST:
        markup = suggestions_keyboard(reply.suggestions, language, texts)
    elif reply.entry is None:
        markup = fallback_keyboard(language, texts)
    elif reply.votable:
        markup = answer_keyboard(
            reply.entry, faq.knowledge_base, language, texts, reply.message_id
        )
    else:
        markup = None
    await message.answer(reply.text, reply_markup=markup)


async def save_vote(
    query: CallbackQuery,
    callback_data: VoteCallback,
    customer: Customer,
    session: AsyncSession,
    config: Config,
    texts: Texts,
    clock: Clock,
    follow_ups: FollowUps,
) -> None:
    language = customer_language(customer, query, config)
    vote = await record_vote(
        session,
        customer,
        callback_data.message_id,
        helpful=callback_data.helpful,
        now=clock.now(),
    )
    if vote is None:
        await query.answer(texts("vote_expired", language))
        return
    log.info(
        "customer=%s voted helpful=%s on message=%s", customer.id, vote.helpful, vote.message_id
    )
    if vote.helpful:
        await follow_ups.bot_answer_helpful(session, customer, vote.message_id)
    key = "vote_thanks_up" if vote.helpful else "vote_thanks_down"
    await query.answer(texts(key, language))
    if isinstance(query.message, Message) and query.message.reply_markup:
        remaining = [
            row
            for row in query.message.reply_markup.inline_keyboard
            if not any(
                (button.callback_data or "").startswith(VoteCallback.__prefix__ + ":")
                for button in row
            )
        ]
        await query.message.edit_reply_markup(
            reply_markup=InlineKeyboardMarkup(inline_keyboard=remaining) if remaining else None
        )
    if isinstance(query.message, Message) and not vote.helpful:
        await query.message.answer(
            texts("offer_human", language), reply_markup=fallback_keyboard(language, texts)
        )


async def refuse_unsupported(
    message: Message, customer: Customer, config: Config, texts: Texts
) -> None:
    await message.answer(
        texts("unsupported_content", customer_language(customer, message, config))
    )
