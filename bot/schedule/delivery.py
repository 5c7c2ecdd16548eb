"""Messages the bot sends later on its own, kept in the database so that restarts, downtime and
several running instances neither lose nor repeat them.

A message goes pending -> claimed -> sending -> sent. Claiming is one conditional UPDATE that
only one instance can win; `sending` is recorded (and committed) just before the request leaves,
and `sent` right after it. An instance that stops after claiming but before sending leaves the
message `claimed`: it was never sent, so once the claim is older than `claim_timeout_minutes` it
is pending again. One that stops between sending and recording leaves it in `sending`: Telegram
cannot tell us whether it arrived, so it is marked `uncertain` and reported, never sent a second
time (a customer asked twice is worse than one survey missing); so is a send whose answer was
lost. Everything else (due while the service was down, failed sends, quiet hours) ends in sent,
expired or failed, each with a log line."""

from __future__ import annotations

import asyncio
import logging
import time as monotonic_time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from aiogram.types import InlineKeyboardMarkup
from sqlalchemy import case, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.channels.retries import DeliveryFailed, DeliveryUncertain
from bot.clock import Clock
from bot.config import ScheduleConfig
from bot.texts import Say
from bot.tickets.labels import customer_label
from storage.database import SessionFactory
from storage.models import Customer, ScheduledKind, ScheduledMessage, ScheduledStatus

log = logging.getLogger(__name__)

STATUSES = tuple(ScheduledStatus)
PENDING_ONLY = (ScheduledStatus.PENDING,)
RETRY_AFTER_FAILURE = timedelta(minutes=5)
BATCH = 200
# the note on a message to a customer who blocked the bot (counted as unreachable)
BLOCKED_NOTE = "customer blocked the bot"


def out_of_quiet_hours(
    moment: datetime, quiet: tuple[time, time] | None, zone: ZoneInfo
) -> datetime:
    """`moment`, or the end of the quiet hours it falls in (quiet may run past midnight)."""
    if quiet is None:
        return moment
    start, end = quiet
    local = moment.astimezone(zone)
    clock_time = local.time()
    if start <= end:
        inside = start <= clock_time < end
        end_day = local.date()
    else:
        inside = clock_time >= start or clock_time < end
        end_day = local.date() + timedelta(days=1) if clock_time >= start else local.date()
    if not inside:
        return moment
    return datetime.combine(end_day, end, tzinfo=zone)


class Schedule:
    """The stored schedule: adding, claiming, finishing and listing messages."""

    def __init__(self, settings: ScheduleConfig, clock: Clock, zone: ZoneInfo, instance: str):
        self.settings = settings
        self.clock = clock
        self.zone = zone
        self.instance = instance

    def when(self, due: datetime) -> datetime:
        return out_of_quiet_hours(due, self.settings.quiet, self.zone)

    async def add(
        self,
        session: AsyncSession,
        *,
        key: str,
        kind: ScheduledKind,
        customer_id: int,
        due_at: datetime,
        lifetime: timedelta,
        ticket_id: int | None = None,
    ) -> ScheduledMessage | None:
        """Schedule a message, moved out of quiet hours; None when `key` is already scheduled
        (by this instance or another), so that scheduling twice schedules once."""
        due = self.when(due_at)
        message = ScheduledMessage(
            key=key,
            kind=kind,
            customer_id=customer_id,
            ticket_id=ticket_id,
            due_at=due,
            expires_at=due + lifetime,
            created_at=self.clock.now(),
        )
        try:
            async with session.begin_nested():
                session.add(message)
        except IntegrityError:
            return None
        return message

    async def due(self, session: AsyncSession, limit: int = BATCH) -> list[ScheduledMessage]:
        """What is due, a broadcast's messages last: a survey due now does not wait behind the
        hour it takes to send an announcement to 100,000 customers."""
        broadcast_last = case((col(ScheduledMessage.kind) == ScheduledKind.BROADCAST, 1), else_=0)
        statement = (
            select(ScheduledMessage)
            .where(ScheduledMessage.status == ScheduledStatus.PENDING)
            .where(col(ScheduledMessage.due_at) <= self.clock.now())
            .order_by(broadcast_last, col(ScheduledMessage.due_at), col(ScheduledMessage.id))
            .limit(limit)
        )
        return list((await session.exec(statement)).all())

    async def claim(self, session: AsyncSession, message_id: int) -> bool:
        """Take the message for this instance; False when another instance already has."""
        result = await session.exec(
            update(ScheduledMessage)
            .where(col(ScheduledMessage.id) == message_id)
            .where(col(ScheduledMessage.status) == ScheduledStatus.PENDING)
            .values(
                status=ScheduledStatus.CLAIMED,
                claimed_by=self.instance,
                claimed_at=self.clock.now(),
            )
        )
        await session.commit()
        return bool(result.rowcount == 1)

    async def start_sending(self, session: AsyncSession, message_id: int) -> None:
        """Recorded just before the request leaves: from here on, a stop makes it uncertain."""
        await session.exec(
            update(ScheduledMessage)
            .where(col(ScheduledMessage.id) == message_id)
            .where(col(ScheduledMessage.status) == ScheduledStatus.CLAIMED)
            .values(status=ScheduledStatus.SENDING, claimed_at=self.clock.now())
        )
        await session.commit()

    async def finish(
        self,
        session: AsyncSession,
        message_id: int,
        status: ScheduledStatus,
        note: str | None = None,
    ) -> None:
        values: dict[str, object] = {"status": status, "note": note}
        if status == ScheduledStatus.SENT:
            values["sent_at"] = self.clock.now()
        await session.exec(
            update(ScheduledMessage).where(col(ScheduledMessage.id) == message_id).values(**values)
        )
        await session.commit()

    async def postpone(self, session: AsyncSession, message_id: int, due_at: datetime) -> None:
        await session.exec(
            update(ScheduledMessage)
            .where(col(ScheduledMessage.id) == message_id)
            .values(
                status=ScheduledStatus.PENDING, due_at=due_at, claimed_by=None, claimed_at=None
            )
        )
        await session.commit()

    async def wait_out_quiet_hours(
        self, session: AsyncSession, loud_kinds: frozenset[ScheduledKind] = frozenset()
    ) -> int:
        """In quiet hours, what is due (and not too late to send) moves to their end in one
        statement, instead of a claim and a postponement each: a broadcast to 100,000
        customers still going out at 21:00 would otherwise take 200,000 statements."""
        now = self.clock.now()
        morning = self.when(now)
        if morning <= now:
            return 0
        grace = timedelta(hours=self.settings.misfire_grace_hours)
        statement = (
            update(ScheduledMessage)
            .where(col(ScheduledMessage.status) == ScheduledStatus.PENDING)
            .where(col(ScheduledMessage.due_at) <= now)
            .where(col(ScheduledMessage.due_at) >= now - grace)  # the rest expire as before
            .values(due_at=morning)
        )
        if loud_kinds:
            statement = statement.where(col(ScheduledMessage.kind).not_in(loud_kinds))
        result = await session.exec(statement)
        await session.commit()
        return int(result.rowcount)

    async def cancel(self, session: AsyncSession, message_id: int, note: str) -> bool:
        result = await session.exec(
            update(ScheduledMessage)
            .where(col(ScheduledMessage.id) == message_id)
            .where(col(ScheduledMessage.status) == ScheduledStatus.PENDING)
            .values(status=ScheduledStatus.CANCELLED, note=note)
        )
        await session.commit()
        return bool(result.rowcount == 1)

    async def cancel_for_customer(self, session: AsyncSession, customer_id: int, note: str) -> int:
        result = await session.exec(
            update(ScheduledMessage)
            .where(col(ScheduledMessage.customer_id) == customer_id)
            .where(col(ScheduledMessage.status) == ScheduledStatus.PENDING)
            .values(status=ScheduledStatus.CANCELLED, note=note)
        )
        return int(result.rowcount)

    async def settle_abandoned_claims(self, session: AsyncSession) -> int:
        """Claims whose instance stopped: pending again when the request never left, else
        uncertain, reported, never sent again. Returns how many became uncertain."""
        timeout = timedelta(minutes=self.settings.claim_timeout_minutes)
        released = await session.exec(
            update(ScheduledMessage)
            .where(col(ScheduledMessage.status) == ScheduledStatus.CLAIMED)
            .where(col(ScheduledMessage.claimed_at) < self.clock.now() - timeout)
            .values(status=ScheduledStatus.PENDING, claimed_by=None, claimed_at=None)
        )
        if released.rowcount:
            log.warning("%s claimed messages never sent: pending again", released.rowcount)
        abandoned = (
            await session.exec(
                select(ScheduledMessage)
                .where(ScheduledMessage.status == ScheduledStatus.SENDING)
                .where(col(ScheduledMessage.claimed_at) < self.clock.now() - timeout)
            )
        ).all()
        for message in abandoned:
            log.error(
                "scheduled=%s (%s): %s stopped while sending it; not sent again",
                message.id,
                message.kind,
                message.claimed_by,
            )
            message.status = ScheduledStatus.UNCERTAIN
            message.note = f"{message.claimed_by} stopped while sending"
            session.add(message)
        await session.commit()
        return len(abandoned)

    async def listing(
        self,
        session: AsyncSession,
        statuses: tuple[ScheduledStatus, ...] = PENDING_ONLY,
        limit: int = 50,
    ) -> list[ScheduledMessage]:
        statement = (
            select(ScheduledMessage)
            .where(col(ScheduledMessage.status).in_(statuses))
            .order_by(col(ScheduledMessage.due_at), col(ScheduledMessage.id))
            .limit(limit)
        )
        return list((await session.exec(statement)).all())


class RateLimiter:
    """Telegram's limits for messages the bot starts: about 30 a second in all, and one a
    second per chat."""

    def __init__(
        self,
        per_second: int,
        seconds_per_chat: float,
        now: Callable[[], float] = monotonic_time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.per_second = per_second
        self.seconds_per_chat = seconds_per_chat
        self.now = now
        self.sleep = sleep
        self.recent: deque[float] = deque(maxlen=per_second)
        self.last_in_chat: dict[int, float] = {}

    async def wait(self, chat_id: int) -> None:
        now = self.now()
        ready = now
        if len(self.recent) == self.per_second:
            ready = max(ready, self.recent[0] + 1.0)
        if chat_id in self.last_in_chat:
            ready = max(ready, self.last_in_chat[chat_id] + self.seconds_per_chat)
        if ready > now:
            await self.sleep(ready - now)
        sent_at = max(self.now(), ready)
        self.recent.append(sent_at)
        self.last_in_chat[chat_id] = sent_at
        if len(self.last_in_chat) > 10_000:
            horizon = sent_at - self.seconds_per_chat
            self.last_in_chat = {c: t for c, t in self.last_in_chat.items() if t > horizon}


@dataclass(frozen=True)
class Outgoing:
    chat_id: int
    text: str
    reply_markup: InlineKeyboardMarkup | None = None
    channel: str = "telegram"  # the customer's: sent through that channel's bot


class Composer(Protocol):
    """What a scheduled message says, decided when it is sent (the customer may have opted out
    or answered since): an Outgoing, or the reason it is no longer sent."""

    async def compose(
        self, session: AsyncSession, message: ScheduledMessage
    ) -> Outgoing | str: ...

    async def after_sent(self, session: AsyncSession, message: ScheduledMessage) -> None: ...


class ComposerByKind:
    """The Composer of each kind of message, and one for the others."""

    def __init__(self, others: Composer, by_kind: Mapping[ScheduledKind, Composer]) -> None:
        self.others = others
        self.by_kind = dict(by_kind)

    def _of(self, message: ScheduledMessage) -> Composer:
        return self.by_kind.get(message.kind, self.others)

    async def compose(self, session: AsyncSession, message: ScheduledMessage) -> Outgoing | str:
        return await self._of(message).compose(session, message)

    async def after_sent(self, session: AsyncSession, message: ScheduledMessage) -> None:
        await self._of(message).after_sent(session, message)


class Delivery:
    """Sends what is due, for one running instance. `channel_bots` are the bots of kefu's own
    channels (the web chat), for messages to their customers; `loud_kinds` are sent in quiet
    hours too."""

    def __init__(
        self,
        schedule: Schedule,
        session_factory: SessionFactory,
        composer: Composer,
        limiter: RateLimiter,
        channel_bots: Mapping[str, Bot] | None = None,
        loud_kinds: frozenset[ScheduledKind] = frozenset(),
    ) -> None:
        self.schedule = schedule
        self.session_factory = session_factory
        self.composer = composer
        self.limiter = limiter
        # the bots of kefu's own channels (the web chat), filled in when they are built: a
        # web visitor's survey goes to their page, kept for their next visit when it is closed
        self.channel_bots = channel_bots if channel_bots is not None else {}
        self.loud_kinds = loud_kinds
        self._running = asyncio.Lock()

    async def deliver_due(self, bot: Bot) -> int:
        """Send every message that is due now; returns how many were sent."""
        if self._running.locked():
            return 0  # the previous round is still sending
        async with self._running:
            sent = 0
            async with self.session_factory() as session:
                await self.schedule.settle_abandoned_claims(session)
            while True:
                async with self.session_factory() as session:
                    await self.schedule.wait_out_quiet_hours(session, self.loud_kinds)
                    due = await self.schedule.due(session)
                if not due:
                    return sent
                for message in due:
                    sent += await self._deliver_one(bot, message)
                if len(due) < BATCH:
                    return sent

    async def _deliver_one(self, bot: Bot, message: ScheduledMessage) -> int:
        schedule, now = self.schedule, self.schedule.clock.now()
        assert message.id is not None
        async with self.session_factory() as session:
            if not await schedule.claim(session, message.id):
                return 0
            grace = timedelta(hours=schedule.settings.misfire_grace_hours)
            if now > message.expires_at or now - message.due_at > grace:
                log.warning(
                    "scheduled=%s (%s) expired unsent: it was due %s",
                    message.id,
                    message.kind,
                    message.due_at.isoformat(),
                )
                await schedule.finish(session, message.id, ScheduledStatus.EXPIRED)
                return 0
            morning = now if message.kind in self.loud_kinds else schedule.when(now)
            if morning > now:
                await schedule.postpone(session, message.id, morning)
                return 0
            try:
                outgoing = await self.composer.compose(session, message)
            except Exception:  # nothing was sent: give the claim back and try again later
                log.exception("scheduled=%s could not be composed", message.id)
                await session.rollback()
                await schedule.postpone(session, message.id, now + RETRY_AFTER_FAILURE)
                return 0
            if isinstance(outgoing, str):
                await schedule.finish(session, message.id, ScheduledStatus.CANCELLED, outgoing)
                return 0
            sender = bot
            if outgoing.channel != "telegram":
                own = self.channel_bots.get(outgoing.channel)
                if own is None:
                    note = f"the {outgoing.channel} channel is not served here"
                    await schedule.finish(session, message.id, ScheduledStatus.CANCELLED, note)
                    return 0
                sender = own
            else:
                await self.limiter.wait(outgoing.chat_id)  # Telegram's limits, not the page's
            await schedule.start_sending(session, message.id)
            try:
                await sender.send_message(
                    outgoing.chat_id, outgoing.text, reply_markup=outgoing.reply_markup
                )
            except TelegramForbiddenError:
                await self._unreachable(session, message)
                return 0
            except DeliveryUncertain:
                await schedule.finish(
                    session, message.id, ScheduledStatus.UNCERTAIN, "the answer was lost"
                )
                return 0
            except (DeliveryFailed, TelegramAPIError) as error:
                log.error(
                    "scheduled=%s not sent (%s); trying again later",
                    message.id,
                    type(error).__name__,
                )
                await schedule.postpone(session, message.id, now + RETRY_AFTER_FAILURE)
                return 0
            await schedule.finish(session, message.id, ScheduledStatus.SENT)
            await self.composer.after_sent(session, message)
            await session.commit()
            return 1

    async def _unreachable(self, session: AsyncSession, message: ScheduledMessage) -> None:
        """The customer blocked the bot: nothing more is sent to them."""
        assert message.id is not None
        customer = await session.get(Customer, message.customer_id)
        if customer is not None:
            customer.unreachable_at = self.schedule.clock.now()
            session.add(customer)
        cancelled = await self.schedule.cancel_for_customer(
            session, message.customer_id, BLOCKED_NOTE
        )
        await self.schedule.finish(session, message.id, ScheduledStatus.FAILED, BLOCKED_NOTE)
        log.warning(
            "customer=%s blocked the bot; %s pending messages cancelled",
            message.customer_id,
            cancelled,
        )


async def schedule_report(
    session: AsyncSession,
    schedule: Schedule,
    say: Say,
    statuses: tuple[ScheduledStatus, ...] = PENDING_ONLY,
    limit: int = 50,
) -> str:
    """What is scheduled, for whom and when, one line each (for admins, in their language);
    the customer named as staff can find them (name, @username, Telegram id)."""
    messages = await schedule.listing(session, statuses, limit)
    if not messages:
        return say("scheduled_none")
    lines = []
    for message in messages:
        customer = await session.get(Customer, message.customer_id)
        who = customer_label(say, customer) if customer is not None else "-"
        when = message.due_at.astimezone(schedule.zone).strftime("%Y-%m-%d %H:%M")
        ticket = f" · T-{message.ticket_id:06d}" if message.ticket_id else ""
        status = (
            "" if statuses == PENDING_ONLY else f" · {say(f'export_planned_{message.status}')}"
        )
        note = f" · {message.note}" if message.note and status else ""
        lines.append(
            say(
                "scheduled_line",
                id=message.id,
                when=when,
                kind=say(f"export_planned_{message.kind}"),
                who=who,
                ticket=ticket,
                status=status,
                note=note,
            )
        )
    return "\n".join(lines)
