"""Admins' commands in private chat: publishing, uploading and rolling back the knowledge base."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.filters import Command, CommandObject, ExceptionTypeFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    ErrorEvent,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import KnowledgeUploadCallback, LearnCallback
from bot.channels.commands import ADMIN_COMMANDS, AGENT_COMMANDS, set_staff_commands
from bot.channels.filters import (
    command_or_document,
    has_document,
    is_admin,
    is_supervisor,
    private_chat,
)
from bot.channels.replies import bot_of
from bot.channels.telegram import FileDownloadFailed
from bot.clock import Clock
from bot.config import Config
from bot.knowledge_admin.editing import EditError, KnowledgeEditor
from bot.knowledge_admin.learning import Learning
from bot.knowledge_admin.publishing import KnowledgePublisher, version_summary
from bot.reports.period_report import period_report
from bot.reports.scorecards import scorecard_report
from bot.reports.service_report import MAX_DAYS, parse_period
from bot.schedule.delivery import Schedule, schedule_report
from bot.texts import Say
from bot.tickets.bans import Bans
from bot.tickets.roles import RoleBook
from bot.tickets.teams import Teams
from bot.tickets.vip import VipTiers
from storage.models import Customer

log = logging.getLogger(__name__)


def create_router() -> Router:
    router = Router(name="admin")
    router.message.filter(private_chat, command_or_document)
    router.message.register(reload_knowledge, Command("reload"), is_admin)
    router.message.register(show_history, Command("kb_history"), is_admin)
    router.message.register(roll_back, Command("kb_rollback"), is_admin)
    router.message.register(export_files, Command("kb_export"), is_admin)
    router.message.register(receive_upload, has_document, is_admin)
    router.message.register(change_role, Command("role"), is_admin)
    router.message.register(list_roles, Command("roles"), is_admin)
    router.message.register(show_scheduled, Command("scheduled"), is_admin)
    router.message.register(show_report, Command("report"), is_admin)
    router.message.register(show_scorecards, Command("scorecard"), is_supervisor)
    router.message.register(refuse_scorecards, Command("scorecard"))
    router.message.register(show_learned, Command("learn"), is_admin)
    router.message.register(ban_customer, Command("ban"), is_admin)
    router.message.register(unban_customer, Command("unban"), is_admin)
    router.message.register(manage_teams, Command("team"), is_admin)
    router.message.register(set_vip_tier, Command("vip"), is_admin)
    router.message.register(refuse, Command(*ADMIN_COMMANDS))
    router.message.register(refuse_agent_command, Command(*AGENT_COMMANDS))
    router.callback_query.register(decide_upload, KnowledgeUploadCallback.filter(), is_admin)
    router.callback_query.register(refuse_button, KnowledgeUploadCallback.filter())
    router.callback_query.register(decide_learned, LearnCallback.filter(), is_admin)
    router.callback_query.register(refuse_button, LearnCallback.filter())
    router.errors.register(edit_refused, ExceptionTypeFilter(EditError))
    return router


async def reload_knowledge(message: Message, publisher: KnowledgePublisher, say: Say) -> None:
    result = await publisher.reload()
    await message.answer(result.told(say))


async def receive_upload(
    message: Message, state: FSMContext, editor: KnowledgeEditor, say: Say
) -> None:
    document = message.document
    assert document is not None and message.from_user is not None
    name = document.file_name or "upload.yaml"
    editor.check_upload(name, document.file_size)  # before the download: it may be huge
    try:
        data = await bot_of(message).download(document)
    except FileDownloadFailed as error:
        cause = (
            say("download_answered", status=error.status)
            if error.status
            else say("download_unreachable")
        )
        raise EditError("kb_download_failed", name, error=cause) from None
    content = data.read() if data else b""
    proposal = await editor.propose(state, message.from_user.id, name, content)
    buttons = [
        InlineKeyboardButton(
            text=say("kb_apply"),
            callback_data=KnowledgeUploadCallback(token=proposal.token, apply=True).pack(),
        ),
        InlineKeyboardButton(
            text=say("kb_cancel"),
            callback_data=KnowledgeUploadCallback(token=proposal.token, apply=False).pack(),
        ),
    ]
    await message.answer(
        say("kb_upload_summary", file=name, summary=proposal.change.told(say)),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[buttons]),
    )


async def decide_upload(
    query: CallbackQuery,
    callback_data: KnowledgeUploadCallback,
    session: AsyncSession,
    state: FSMContext,
    editor: KnowledgeEditor,
    say: Say,
) -> None:
    await query.answer()
    if not isinstance(query.message, Message):
        return
    await query.message.edit_reply_markup(reply_markup=None)
    if not callback_data.apply:
        await editor.cancel(state, callback_data.token, query.from_user.id)
        await query.message.answer(say("kb_cancelled"))
        return
    result = await editor.apply(session, state, callback_data.token, query.from_user.id)
    if result.ok:
        await query.message.answer(say("kb_applied", summary=result.change.told(say)))
    else:
        await query.message.answer(say("kb_failed", errors=result.errors_in(say.language)))


async def show_history(
    message: Message, session: AsyncSession, editor: KnowledgeEditor, say: Say
) -> None:
    versions = await editor.history(session)
    if not versions:
        await message.answer(say("kb_history_empty"))
        return
    lines = [
        say(
            "kb_history_line",
            id=v.id,
            when=v.created_at.strftime("%Y-%m-%d %H:%M UTC"),
            author=v.author,
            summary=version_summary(v.summary, say),
        )
        for v in versions
    ]
    await message.answer("\n".join(lines))


async def roll_back(
    message: Message, session: AsyncSession, editor: KnowledgeEditor, say: Say
) -> None:
    assert message.from_user is not None
    version, result = await editor.rollback(session, message.from_user.id)
    if result.ok:
        await message.answer(say("kb_rolled_back", id=version.id, summary=result.change.told(say)))
    else:
        await message.answer(say("kb_failed", errors=result.errors_in(say.language)))


async def export_files(message: Message, editor: KnowledgeEditor, say: Say) -> None:
    for name, text in editor.current_files().items():
        await message.answer_document(
            BufferedInputFile(text.encode("utf-8"), filename=name),
            caption=say("kb_export_caption", file=name),
        )


async def change_role(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    roles: RoleBook,
    say: Say,
    config: Config,
) -> None:
    """`/role USER_ID agent|supervisor|admin|none`."""
    parts = (command.args or "").split()
    if len(parts) != 2 or not parts[0].lstrip("-").isdigit():
        await message.answer(say("role_usage"))
        return
    assert message.from_user is not None
    user_id, role = int(parts[0]), parts[1].lower()
    try:
        await roles.change(session, user_id, role, by=message.from_user.id)
    except ValueError:
        await message.answer(say("role_unknown", role=parts[1][:32]))
        return
    log.info("admin=%s set the role of user=%s to %s", message.from_user.id, user_id, role)
    await session.commit()  # the role holds before the menus follow it
    await set_staff_commands(
        bot_of(message), say.texts, config.bot.default_language, user_id, role
    )
    await message.answer(say("role_set", user=user_id, role=say(f"role_{role}")))


async def ban_customer(
    message: Message, command: CommandObject, session: AsyncSession, bans: Bans, say: Say
) -> None:
    """`/ban USER_ID` or `/ban #N`: the bot stays silent to that customer."""
    assert message.from_user is not None
    reply = await bans.ban(session, bot_of(message), message.from_user.id, command.args, say)
    await message.answer(reply)


async def unban_customer(
    message: Message, command: CommandObject, session: AsyncSession, bans: Bans, say: Say
) -> None:
    assert message.from_user is not None
    await message.answer(await bans.unban(session, message.from_user.id, command.args, say))


async def manage_teams(
    message: Message, command: CommandObject, session: AsyncSession, teams: Teams, say: Say
) -> None:
    """`/team` lists the teams and their members; `/team add|remove TEAM USER_ID|@username`."""
    assert message.from_user is not None
    change = await teams.command(session, message.from_user.id, command.args, say.language)
    if change is not None:
        await session.commit()
        await message.answer(change.told(say))
        return
    rows = await teams.listing(session, say.language)
    if not rows:
        await message.answer(say("team_none"))
        return
    lines = [
        say("team_line", team=team, name=name, members=members) for team, name, members in rows
    ]
    await message.answer("\n".join([*lines, say("team_help")]))


async def set_vip_tier(
    message: Message, command: CommandObject, session: AsyncSession, vip: VipTiers, say: Say
) -> None:
    """`/vip USER_ID TIER`, `/vip USER_ID -` to clear it."""
    assert message.from_user is not None
    await message.answer(await vip.command(session, message.from_user.id, command.args, say))


async def list_roles(message: Message, roles: RoleBook, say: Say) -> None:
    lines = [
        say(
            "roles_line",
            role=say(f"role_{role}"),
            members=", ".join(map(str, roles.with_role(role))) or "-",
        )
        for role in ("admin", "supervisor", "agent")
    ]
    await message.answer("\n".join(lines))


async def show_scheduled(
    message: Message, session: AsyncSession, schedule: Schedule, say: Say
) -> None:
    """What the bot will send on its own: surveys, reminders, revisits, NPS."""
    await message.answer(await schedule_report(session, schedule, say))


async def show_report(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    config: Config,
    clock: Clock,
    say: Say,
) -> None:
    """The report of the last N days (default [report] days) or between two dates: the
    figures against their targets and beside the previous period's, trends, distributions,
    how the tickets ended and what customers wrote."""
    zone = config.hours.business_hours().zone
    period = parse_period(command.args, clock.now(), zone, config.report.days)
    if period is None:
        await message.answer(say("report_usage", max=MAX_DAYS))
        return
    await message.answer(await period_report(session, config, *period, say))


async def show_scorecards(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    config: Config,
    clock: Clock,
    say: Say,
) -> None:
    """Each agent's figures and composite score over the last N days or between two dates,
    the best first, with the top agents and those below target."""
    zone = config.hours.business_hours().zone
    period = parse_period(command.args, clock.now(), zone, config.report.days)
    if period is None:
        await message.answer(say("scorecard_usage", max=MAX_DAYS))
        return
    await message.answer(await scorecard_report(session, config, *period, say))


async def refuse_scorecards(message: Message, customer: Customer, say: Say) -> None:
    log.warning("refused /scorecard from customer=%s", customer.id)
    await message.answer(say("scorecard_staff_only"))


async def show_learned(
    message: Message, session: AsyncSession, learning: Learning, language: str
) -> None:
    """Customers' words confirmed for an entry, the most confirmed first, to approve or reject."""
    for reply in await learning.show(session, language):
        await reply.send(message)


async def decide_learned(
    query: CallbackQuery,
    callback_data: LearnCallback,
    session: AsyncSession,
    learning: Learning,
    language: str,
) -> None:
    """Approve (added to learned.yaml and published) or reject a learned question."""
    pressed = await learning.press(session, query.from_user.id, callback_data, language)
    await pressed.render(query)


async def refuse_agent_command(message: Message, customer: Customer, say: Say) -> None:
    log.warning("refused agent command in private chat from customer=%s", customer.id)
    await message.answer(say("agents_only"))


async def refuse(message: Message, customer: Customer, say: Say) -> None:
    log.warning("refused admin command from customer=%s", customer.id)
    await message.answer(say("admin_only"))


async def refuse_button(query: CallbackQuery, customer: Customer, say: Say) -> None:
    log.warning("refused admin button from customer=%s", customer.id)
    await query.answer(say("admin_only"), show_alert=True)


async def edit_refused(event: ErrorEvent, say: Say) -> None:
    """An upload, an Apply or a rollback that cannot be done: the admin is told why, and the
    knowledge base that is answering stays as it was."""
    error = event.exception
    assert isinstance(error, EditError)
    update = event.update
    message = update.message or (update.callback_query.message if update.callback_query else None)
    if not isinstance(message, Message):
        return
    if error.file:
        await message.answer(say("kb_upload_invalid", file=error.file, errors=error.told(say)))
    else:
        await message.answer(say("kb_failed", errors=error.told(say)))
