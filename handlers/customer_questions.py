"""The customer's side, in private chats: the menu, questions, suggestions, votes, language."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import EntryCallback, LanguageCallback, SuggestionCallback, VoteCallback
from bot.channels.filters import a_command, plain_text, private_chat
from bot.channels.replies import press_then
from bot.faq.front_desk import FrontDesk
from bot.faq.keyboards import language_keyboard
from bot.texts import Say, Texts
from storage.customers import choose_language
from storage.models import Customer


def create_router() -> Router:
    router = Router(name="customer_questions")
    router.message.filter(private_chat)
    router.callback_query.filter(private_chat)

    # a question first: the commonest message, and one no command filter below could match
    router.message.register(answer_question, plain_text)
    router.message.register(show_start, CommandStart())
    router.message.register(show_help, Command("help"))
    router.message.register(ask_language, Command("language"))
    router.message.register(show_help, a_command)
    router.message.register(refuse_unsupported)
    router.callback_query.register(answer_entry, EntryCallback.filter())
    router.callback_query.register(answer_suggestion, SuggestionCallback.filter())
    router.callback_query.register(save_vote, VoteCallback.filter())
    router.callback_query.register(save_language, LanguageCallback.filter())
    return router


async def show_start(
    message: Message, customer: Customer, session: AsyncSession, desk: FrontDesk, language: str
) -> None:
    await (await desk.greet(session, customer, language)).send(message)


async def show_help(message: Message, say: Say) -> None:
    await message.answer(say("help"))


async def ask_language(message: Message, say: Say) -> None:
    await message.answer(say("choose_language"), reply_markup=language_keyboard())


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
    state: FSMContext,
    desk: FrontDesk,
    language: str,
) -> None:
    reply = await desk.question(session, customer, state, language, message.text or "")
    await reply.send(message)


async def answer_entry(
    query: CallbackQuery,
    customer: Customer,
    session: AsyncSession,
    state: FSMContext,
    desk: FrontDesk,
    language: str,
) -> None:
    """A menu button or a suggestion (registered with EntryCallback's filter)."""
    entry_id = EntryCallback.unpack(query.data or "").entry_id
    reply = await desk.entry(session, customer, state, language, entry_id)
    await press_then(reply).render(query)


async def answer_suggestion(
    query: CallbackQuery,
    customer: Customer,
    session: AsyncSession,
    state: FSMContext,
    desk: FrontDesk,
    language: str,
) -> None:
    """A "did you mean" suggestion (registered with SuggestionCallback's filter)."""
    pressed = SuggestionCallback.unpack(query.data or "")
    reply = await desk.suggestion(session, customer, state, language, pressed)
    await press_then(reply).render(query)


async def save_vote(
    query: CallbackQuery,
    callback_data: VoteCallback,
    customer: Customer,
    session: AsyncSession,
    desk: FrontDesk,
    language: str,
) -> None:
    pressed = await desk.vote(
        session, customer, callback_data.message_id, callback_data.helpful, language
    )
    await pressed.render(query)


async def refuse_unsupported(message: Message, say: Say) -> None:
    await message.answer(say("unsupported_content"))
