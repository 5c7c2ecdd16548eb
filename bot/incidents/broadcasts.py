"""Broadcasts (应急预案: telling affected customers before they ask): an admin writes one message
in zh and en for a segment of customers (by their orders, their last contact, their open
tickets, or everyone), sees how many it reaches and how it reads, and sends it. Send is a state
change claimed once (a second press, a second replica, finds it taken); the messages go into
the durable schedule in one statement and out at Telegram's pace (bot.schedule.delivery), each
in its customer's language, with a button to stop them. Customers who opted out, blocked the
bot or are banned are left out, and counted; a cancel stops what is not sent yet.

Quiet hours: a broadcast is an announcement, not an emergency: like the surveys it waits for
the end of [schedule] quiet_hours, unless [broadcasts] during_quiet_hours (a safety recall).
surveys_opt_out does not apply: a customer who wants no more rating questions has not asked
to miss that their delivery is late; /stop_news is its own choice."""

from __future__ import annotations

import logging
import shlex
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import BroadcastCallback, BroadcastStopCallback
from bot.channels.replies import Pressed, Reply
from bot.clock import Clock
from bot.config import Config
from bot.schedule.delivery import BLOCKED_NOTE, Outgoing, Schedule
from bot.texts import Say, Texts
from storage import broadcasts
from storage.broadcasts import Audience, Segment
from storage.models import (
    Broadcast,
    BroadcastStatus,
    Customer,
    CustomerBan,
    OrderStatus,
    ScheduledMessage,
    ScheduledStatus,
)

log = logging.getLogger(__name__)

# Telegram's limit for one message's text.
TEXT_LIMIT = 4096
CANCELLED_NOTE = "broadcast cancelled"
LONGEST_CONTACT_DAYS = 3650
EVERYONE = ("everyone", "all", "全部", "所有人")


class BroadcastRefused(ValueError):
    """What cannot be done, as a catalogue key and its values, said so that an admin can fix
    it."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


class BroadcastForm(StatesGroup):
    segment = State()
    text_zh = State()
    text_en = State()


@dataclass(frozen=True)
class ParsedSegment:
    segment: Segment
    parts: tuple[tuple[str, str], ...]  # (name, value) as written, for describing it


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BroadcastRefused("broadcast_bad_date", value=value) from None


def parse_segment(text: str, now: datetime, zone: ZoneInfo) -> ParsedSegment:
    """`status=shipped,in_transit carrier=SF region=浙江 from=2026-11-01 to=2026-11-30
    contacted=7 open_tickets`, each optional, all holding together; or `everyone`. Dates are
    days in the shop's time zone, `to` included; `contacted` counts days back from Send."""
    try:
        words = shlex.split(text)
    except ValueError:
        raise BroadcastRefused("broadcast_bad_segment", word=text.strip()[:40]) from None
    if not words:
        raise BroadcastRefused("broadcast_no_segment")
    fields: dict[str, object] = {}
    parts: list[tuple[str, str]] = []
    for word in words:
        name, equals, value = word.partition("=")
        name = name.lower()
        if not equals and name in EVERYONE:
            fields["everyone"] = True
            parts.append(("everyone", ""))
            continue
        if not equals and name == "open_tickets":
            fields["open_tickets"] = True
            parts.append(("open_tickets", ""))
            continue
        if not equals or not value:
            raise BroadcastRefused("broadcast_bad_segment", word=word[:40])
        if name == "status":
            statuses = []
            for one in value.lower().split(","):
                try:
                    statuses.append(OrderStatus(one))
                except ValueError:
                    raise BroadcastRefused(
                        "broadcast_bad_status",
                        value=one[:40],
                        statuses=", ".join(OrderStatus),
                    ) from None
            fields["order_statuses"] = tuple(statuses)
        elif name in ("carrier", "region"):
            fields[name] = value
        elif name == "from":
            fields["ordered_from"] = datetime.combine(_day(value), time(0), zone)
        elif name == "to":
            fields["ordered_before"] = datetime.combine(
                _day(value) + timedelta(days=1), time(0), zone
            )
        elif name == "contacted":
            if not value.isdigit() or not 0 < int(value) <= LONGEST_CONTACT_DAYS:
                raise BroadcastRefused("broadcast_bad_days", value=value[:40])
            fields["contacted_since"] = now - timedelta(days=int(value))
        else:
            raise BroadcastRefused("broadcast_bad_segment", word=word[:40])
        parts.append((name, value))
    segment = Segment(**fields)  # type: ignore[arg-type]
    if segment.everyone and len(parts) > 1:
        raise BroadcastRefused("broadcast_everyone_alone")
    return ParsedSegment(segment, tuple(parts))


def describe_segment(say: Say, parts: tuple[tuple[str, str], ...]) -> str:
    """The segment as its reader understands it, in their language."""
    shown = []
    for name, value in parts:
        if name == "status":
            statuses = [say(f"order_status_{one.lower()}") for one in value.split(",")]
            shown.append(say("broadcast_seg_status", statuses=", ".join(statuses)))
        elif name in ("everyone", "open_tickets"):
            shown.append(say(f"broadcast_seg_{name}"))
        else:
            shown.append(say(f"broadcast_seg_{name}", value=value))
    return " · ".join(shown)


@dataclass(frozen=True)
class Report:
    """What became of a broadcast's messages."""

    delivered: int = 0
    failed: int = 0
    unreachable: int = 0
    waiting: int = 0
    cancelled: int = 0
    skipped: int = 0  # opted out or banned after Send, erased, a channel not served


def check_texts(zh: str, en: str) -> None:
    if not zh.strip() or not en.strip():
        raise BroadcastRefused("broadcast_needs_both")
    for language, text in (("zh", zh), ("en", en)):
        if len(text) > TEXT_LIMIT:
            raise BroadcastRefused(
                "broadcast_too_long", which=language, length=len(text), limit=TEXT_LIMIT
            )


class Broadcasts:
    def __init__(self, config: Config, schedule: Schedule, clock: Clock, texts: Texts) -> None:
        self.config = config
        self.schedule = schedule
        self.clock = clock
        self.texts = texts
        self.zone = schedule.zone

    def parse(self, segment_text: str) -> ParsedSegment:
        return parse_segment(segment_text, self.clock.now(), self.zone)

    async def audience(self, session: AsyncSession, segment_text: str) -> Audience:
        parsed = self.parse(segment_text)
        return await broadcasts.audience(session, parsed.segment, self.config.bot.default_language)

    async def draft(
        self, session: AsyncSession, segment_text: str, zh: str, en: str, by: str
    ) -> tuple[Broadcast, Audience]:
        """Recorded as a draft, with the count it would reach now; refused with the reason."""
        segment_text = segment_text.strip()
        audience = await self.audience(session, segment_text)
        check_texts(zh, en)
        broadcast = Broadcast(
            segment=segment_text,
            text_zh=zh.strip(),
            text_en=en.strip(),
            created_by=by,
            created_at=self.clock.now(),
        )
        session.add(broadcast)
        await session.flush()
        log.info("broadcast=%s drafted by %s", broadcast.id, by)
        return broadcast, audience

    async def send(self, session: AsyncSession, broadcast_id: int, by: str) -> Broadcast:
        """The draft's messages into the schedule, once: a second Send (a double press, another
        replica) finds it no longer a draft and is refused."""
        now = self.clock.now()
        if not await broadcasts.claim_draft(session, broadcast_id, by, now):
            await session.rollback()
            key, values = self._not_a_draft(await session.get(Broadcast, broadcast_id))
            raise BroadcastRefused(key, **values)
        broadcast = await session.get(Broadcast, broadcast_id)
        assert broadcast is not None
        await session.refresh(broadcast)
        parsed = self.parse(broadcast.segment)
        audience = await broadcasts.audience(
            session, parsed.segment, self.config.bot.default_language
        )
        settings = self.config.broadcasts
        due = now if settings.during_quiet_hours else self.schedule.when(now)
        broadcast.recipients = await broadcasts.schedule_messages(
            session,
            broadcast_id,
            parsed.segment,
            due_at=due,
            expires_at=due + timedelta(hours=settings.lifetime_hours),
            now=now,
        )
        broadcast.left_out_opted_out = audience.opted_out
        broadcast.left_out_unreachable = audience.unreachable
        broadcast.left_out_banned = audience.banned
        session.add(broadcast)
        await session.flush()
        log.warning(
            "broadcast=%s sent by %s to %s customers", broadcast_id, by, broadcast.recipients
        )
        return broadcast

    def _not_a_draft(self, broadcast: Broadcast | None) -> tuple[str, dict[str, object]]:
        if broadcast is None:
            return "broadcast_unknown", {}
        if broadcast.status == BroadcastStatus.CANCELLED:
            return "broadcast_was_cancelled", {"number": broadcast.id}
        return "broadcast_already_sent", {"number": broadcast.id}

    async def cancel(self, session: AsyncSession, broadcast_id: int, by: str) -> Broadcast:
        """A draft is discarded; a broadcast being sent stops: what is not sent yet never is."""
        broadcast = await session.get(Broadcast, broadcast_id)
        if broadcast is None:
            raise BroadcastRefused("broadcast_unknown")
        if broadcast.status == BroadcastStatus.CANCELLED:
            raise BroadcastRefused("broadcast_was_cancelled", number=broadcast.id)
        broadcast.status = BroadcastStatus.CANCELLED
        broadcast.cancelled_by = by
        broadcast.cancelled_at = self.clock.now()
        session.add(broadcast)
        stopped = await broadcasts.cancel_pending(session, broadcast_id, CANCELLED_NOTE)
        await session.flush()
        log.warning("broadcast=%s cancelled by %s; %s not sent", broadcast_id, by, stopped)
        return broadcast

    async def report(self, session: AsyncSession, broadcast_id: int) -> tuple[Broadcast, Report]:
        broadcast = await session.get(Broadcast, broadcast_id)
        if broadcast is None:
            raise BroadcastRefused("broadcast_unknown")
        counts = await broadcasts.outcomes(session, broadcast_id)
        tally = dict.fromkeys(
            ("delivered", "failed", "unreachable", "waiting", "cancelled", "skipped"), 0
        )
        tally["unreachable"] = broadcast.left_out_unreachable
        for (status, note), number in counts.items():
            if status == ScheduledStatus.SENT:
                tally["delivered"] += number
            elif note == BLOCKED_NOTE:
                tally["unreachable"] += number
            elif status in (
                ScheduledStatus.PENDING,
                ScheduledStatus.CLAIMED,
                ScheduledStatus.SENDING,
            ):
                tally["waiting"] += number
            elif status == ScheduledStatus.CANCELLED and note == CANCELLED_NOTE:
                tally["cancelled"] += number
            elif status == ScheduledStatus.CANCELLED:
                tally["skipped"] += number
            else:  # failed, expired, uncertain
                tally["failed"] += number
        return broadcast, Report(**tally)

    async def recent(self, session: AsyncSession, limit: int = 10) -> list[Broadcast]:
        return await broadcasts.recent(session, limit)

    # What an admin reads

    def local(self, moment: datetime) -> str:
        return moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")

    def preview_text(self, say: Say, broadcast: Broadcast, audience: Audience) -> str:
        parts = self.parse(broadcast.segment).parts
        return say(
            "broadcast_preview",
            number=broadcast.id,
            segment=describe_segment(say, parts),
            count=f"{audience.reachable:,}",
            zh=f"{audience.zh:,}",
            en=f"{audience.en:,}",
            opted_out=audience.opted_out,
            unreachable=audience.unreachable,
            banned=audience.banned,
        )

    def report_text(self, say: Say, broadcast: Broadcast, report: Report) -> str:
        parts = self.parse(broadcast.segment).parts
        status = broadcast.status.value
        if broadcast.status == BroadcastStatus.SENDING and not report.waiting:
            status = "done"
        lines = [
            say(
                "broadcast_report_head",
                number=broadcast.id,
                status=say(f"broadcast_status_{status}"),
                segment=describe_segment(say, parts),
                by=broadcast.created_by,
                at=self.local(broadcast.created_at),
            )
        ]
        if broadcast.sent_at is not None:
            lines.append(
                say(
                    "broadcast_report_sent", by=broadcast.sent_by, at=self.local(broadcast.sent_at)
                )
            )
        if broadcast.cancelled_at is not None:
            lines.append(
                say(
                    "broadcast_report_cancelled",
                    by=broadcast.cancelled_by,
                    at=self.local(broadcast.cancelled_at),
                )
            )
        if broadcast.sent_at is not None:
            lines.append(
                say(
                    "broadcast_report_counts",
                    recipients=broadcast.recipients,
                    delivered=report.delivered,
                    failed=report.failed,
                    unreachable=report.unreachable,
                    waiting=report.waiting,
                    cancelled=report.cancelled,
                    skipped=report.skipped,
                    opted_out=broadcast.left_out_opted_out,
                    banned=broadcast.left_out_banned,
                )
            )
        return "\n".join(lines)

    def list_text(self, say: Say, listed: list[Broadcast]) -> str:
        if not listed:
            return say("broadcast_none")
        return "\n".join(
            say(
                "broadcast_list_line",
                number=broadcast.id,
                status=say(f"broadcast_status_{broadcast.status.value}"),
                at=self.local(broadcast.sent_at or broadcast.created_at),
                recipients=broadcast.recipients,
                segment=describe_segment(say, self.parse(broadcast.segment).parts),
            )
            for broadcast in listed
        )

    # /broadcast in Telegram: segment -> text zh -> text en -> preview -> Send / Cancel

    async def command(
        self, session: AsyncSession, state: FSMContext, argument: str, say: Say
    ) -> Reply:
        """`/broadcast` starts the form; `/broadcast status [N]` reports one or lists the
        latest; `/broadcast cancel N` stops one."""
        words = argument.split()
        if not words:
            await state.set_state(BroadcastForm.segment)
            # the form goes on in this language, though the admin writes the zh text next
            await state.set_data({"language": say.language})
            return Reply(say("broadcast_ask_segment"))
        action, rest = words[0].lower(), words[1:]
        number = int(rest[0].lstrip("#")) if rest and rest[0].lstrip("#").isdigit() else None
        try:
            if action in ("status", "list") and number is None and not rest:
                return Reply(self.list_text(say, await self.recent(session)))
            if action == "status" and number is not None:
                return Reply(self.report_text(say, *await self.report(session, number)))
            if action == "cancel" and number is not None:
                by = f"admin:{state.key.user_id}"
                await self.cancel(session, number, by)
                return Reply(self.report_text(say, *await self.report(session, number)))
        except BroadcastRefused as refused:
            return Reply(say(refused.key, **refused.values))
        return Reply(say("broadcast_usage"))

    async def take_segment(
        self, session: AsyncSession, state: FSMContext, text: str, say: Say
    ) -> Reply:
        try:
            audience = await self.audience(session, text)
        except BroadcastRefused as refused:
            return Reply(f"{say(refused.key, **refused.values)}\n\n{say('broadcast_ask_segment')}")
        await state.update_data(segment=text.strip())
        await state.set_state(BroadcastForm.text_zh)
        return Reply(say("broadcast_ask_zh", count=f"{audience.reachable:,}"))

    async def take_text(
        self, session: AsyncSession, state: FSMContext, admin: Customer, text: str, say: Say
    ) -> tuple[Reply, ...]:
        """The zh text, then the en one; with both, the draft, samples of how each reads and
        the preview with Send and Cancel. Writing a text in the other language does not change
        the language the admin reads."""
        language = "zh" if await state.get_state() == BroadcastForm.text_zh.state else "en"
        data = await state.get_data()
        say = Say(self.texts, str(data.get("language", say.language)))
        if not admin.language_chosen and admin.language != say.language:
            admin.language = say.language
            session.add(admin)
        if len(text) > TEXT_LIMIT:
            return (
                Reply(
                    say("broadcast_too_long", which=language, length=len(text), limit=TEXT_LIMIT)
                ),
            )
        if language == "zh":
            await state.update_data(text_zh=text)
            await state.set_state(BroadcastForm.text_en)
            return (Reply(say("broadcast_ask_en")),)
        await state.clear()
        by = f"admin:{state.key.user_id}"
        try:
            broadcast, audience = await self.draft(
                session, str(data.get("segment", "")), str(data.get("text_zh", "")), text, by
            )
        except BroadcastRefused as refused:
            return (Reply(say(refused.key, **refused.values)),)
        assert broadcast.id is not None
        samples = tuple(
            Reply(sample, self.stop_button(broadcast.id, language))
            for language, sample in (("zh", broadcast.text_zh), ("en", broadcast.text_en))
        )
        buttons = InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=say("broadcast_button_send"),
                        callback_data=BroadcastCallback(action="send", id=broadcast.id).pack(),
                    ),
                    InlineKeyboardButton(
                        text=say("broadcast_button_cancel"),
                        callback_data=BroadcastCallback(action="cancel", id=broadcast.id).pack(),
                    ),
                ]
            ]
        )
        return (
            Reply(say("broadcast_samples")),
            *samples,
            Reply(self.preview_text(say, broadcast, audience), buttons),
        )

    async def press(
        self, session: AsyncSession, action: str, broadcast_id: int, by: str, say: Say
    ) -> Pressed:
        """Send or Cancel under a preview; a second press is told what the first did."""
        try:
            if action == "send":
                broadcast = await self.send(session, broadcast_id, by)
                text = say("broadcast_on_its_way", number=broadcast.id, count=broadcast.recipients)
            else:
                await self.cancel(session, broadcast_id, by)
                text = say("broadcast_discarded", number=broadcast_id)
        except BroadcastRefused as refused:
            return Pressed(note=say(refused.key, **refused.values), alert=True)
        return Pressed(note=text, clear_buttons=True, replies=(Reply(text),))

    # The customer's side

    def stop_button(self, broadcast_id: int, language: str) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=self.texts("broadcast_button_stop", language),
                        callback_data=BroadcastStopCallback(id=broadcast_id).pack(),
                    )
                ]
            ]
        )

    async def stop_news(self, session: AsyncSession, customer: Customer, language: str) -> Reply:
        customer.broadcasts_opt_out = True
        session.add(customer)
        log.info("customer=%s stopped broadcasts", customer.id)
        return Reply(self.texts("news_stopped", language))

    async def start_news(self, session: AsyncSession, customer: Customer, language: str) -> Reply:
        customer.broadcasts_opt_out = False
        session.add(customer)
        log.info("customer=%s takes broadcasts again", customer.id)
        return Reply(self.texts("news_started", language))

    async def stop_pressed(
        self, session: AsyncSession, customer: Customer, language: str
    ) -> Pressed:
        reply = await self.stop_news(session, customer, language)
        return Pressed(clear_buttons=True, replies=(reply,))

    # Sending (the Composer of the schedule's broadcast messages)

    async def compose(self, session: AsyncSession, message: ScheduledMessage) -> Outgoing | str:
        """Decided when it goes out: the broadcast may have been cancelled, the customer may
        have opted out, blocked the bot or been banned since Send."""
        broadcast = (
            await session.get(Broadcast, message.broadcast_id) if message.broadcast_id else None
        )
        if broadcast is None or broadcast.status != BroadcastStatus.SENDING:
            return CANCELLED_NOTE
        customer = await session.get(Customer, message.customer_id)
        if customer is None or customer.erased_at is not None:
            return "customer erased"
        if customer.unreachable_at is not None:
            return BLOCKED_NOTE
        if customer.broadcasts_opt_out:
            return "customer opted out"
        if await session.get(CustomerBan, customer.id) is not None:
            return "customer banned"
        language = customer.language or self.config.bot.default_language
        text = broadcast.text_zh if language == "zh" else broadcast.text_en
        assert broadcast.id is not None
        return Outgoing(
            int(customer.external_id),
            text,
            self.stop_button(broadcast.id, language),
            channel=customer.channel,
        )

    async def after_sent(self, session: AsyncSession, message: ScheduledMessage) -> None:
        return None
