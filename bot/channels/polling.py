"""Long polling that confirms an update to Telegram only once its work is committed.

Telegram keeps an update until a getUpdates call's offset moves past it, and then forgets it.
aiogram moves the offset past a batch as soon as it has handed the updates to their tasks, so a
process killed while handling them loses them: the customer's message is never answered and
never reaches the database. Here the offset stays at the oldest update whose work is not yet
committed: after a crash Telegram hands those out again and the new process handles them. An
update counts as done when its database work is committed before the bot first says something
about it (bot/channels/commit_first.py), or when its handling ends: handling it again after
that would repeat what the customer was already told. What is left is the moment between that
commit and the next getUpdates reaching Telegram (a few milliseconds): a process killed in it
handles the update again after the restart.

An update that fails because the database is away (storage.database.database_away, judged in
handlers/errors.py) and has said nothing yet is held (bot/channels/update_runs.py): it stays
unconfirmed and is handled again once the database answers, so what a customer writes during an
outage, a message for an agent included, is neither lost nor answered with a shrug."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from bisect import insort
from collections.abc import AsyncGenerator, Awaitable, Callable
from functools import partial
from typing import Any

from aiogram import Bot, Dispatcher, loggers
from aiogram.dispatcher.dispatcher import DEFAULT_BACKOFF_CONFIG
from aiogram.methods import GetUpdates
from aiogram.types import Update
from aiogram.utils.backoff import Backoff, BackoffConfig

from bot.channels.update_runs import handling_update

log = logging.getLogger(__name__)

# While updates are being handled and nothing new has come, how long to wait for one of them to
# finish before asking Telegram again: the most a new update can wait meanwhile.
BUSY_POLL_SECONDS = 0.5
BATCH = 100  # Telegram's most updates per getUpdates

# How often one update is handled again after the database went away, at most: a failure that
# comes back while the database answers is not an outage, and gets the usual apology.
MOST_RUNS = 5
# Between asking whether the database answers again: doubling from the first to the last.
DATABASE_PROBE_SECONDS = (0.25, 4.0)


class ConfirmingDispatcher(Dispatcher):
    """aiogram's Dispatcher, whose polling confirms only updates whose work is committed, and
    handles again those held while the database was away. `database_answers` raises while the
    database cannot be reached."""

    def __init__(
        self, *, database_answers: Callable[[], Awaitable[None]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._unfinished: set[int] = set()
        self._one_finished = asyncio.Event()
        self._probe = database_answers
        self._told: set[int] = set()
        self._held: list[int] = []  # updates waiting for the database, oldest first
        self._turns = asyncio.Condition()

    async def _process_update(
        self, bot: Bot, update: Update, call_answer: bool = True, **kwargs: Any
    ) -> bool:
        update_id = update.update_id
        done = partial(self._done, update_id)
        queued = False
        try:
            for number in range(1, MOST_RUNS + 1):
                if self._held and not queued:  # behind those waiting for the database, in order
                    insort(self._held, update_id)
                    queued = True
                if queued:
                    await self._turn(update_id)
                last = number == MOST_RUNS or self._probe is None
                with handling_update(self._told, done, last=last) as run:
                    handled = await super()._process_update(bot, update, call_answer, **kwargs)
                if not run.held:
                    return handled
                log.warning("update=%s held until the database answers", update_id)
                if not queued:
                    insort(self._held, update_id)
                    queued = True
            return False  # not reached: the last run is never held
        finally:
            if queued:
                async with self._turns:
                    self._held.remove(update_id)
                    self._turns.notify_all()
            done()

    async def _turn(self, update_id: int) -> None:
        """Once the database answers and the updates held before this one are done (an older
        update may be held after this one: their first runs overlap)."""
        assert self._probe is not None
        delay, longest = DATABASE_PROBE_SECONDS
        while True:
            async with self._turns:
                await self._turns.wait_for(lambda: self._held[0] == update_id)
            try:
                await self._probe()
            except Exception:  # noqa: BLE001 (whatever the driver raises: not yet)
                await asyncio.sleep(delay)
                delay = min(delay * 2, longest)
                continue
            if self._held[0] == update_id:
                self._told.clear()
                return

    def _done(self, update_id: int) -> None:
        if update_id in self._unfinished:
            self._unfinished.discard(update_id)
            self._one_finished.set()

    async def _listen_updates(  # type: ignore[override]
        self,
        bot: Bot,
        polling_timeout: int = 30,
        backoff_config: BackoffConfig = DEFAULT_BACKOFF_CONFIG,
        allowed_updates: list[str] | None = None,
    ) -> AsyncGenerator[Update, None]:
        """aiogram's loop (errors logged and retried with backoff), with the offset held at the
        oldest update not yet done."""
        backoff = Backoff(config=backoff_config)
        kwargs = {}
        if bot.session.timeout:
            kwargs["request_timeout"] = int(bot.session.timeout + polling_timeout)
        handed_out: int | None = None  # the offset past every update handed to a task
        failed = False
        while True:
            self._one_finished.clear()  # one finishing from here on ends the wait below
            busy = bool(self._unfinished)
            get_updates = GetUpdates(
                offset=min(self._unfinished) if busy else handed_out,
                # while some are being handled, ask and come back: confirming them when they are
                # done must not wait for a long poll to end
                timeout=0 if busy else polling_timeout,
                limit=BATCH,
                allowed_updates=allowed_updates,
            )
            try:
                updates = await bot(get_updates, **kwargs)
            except Exception as error:  # noqa: BLE001 (as aiogram: polling never stops)
                failed = True
                loggers.dispatcher.error(
                    "Failed to fetch updates - %s: %s", type(error).__name__, error
                )
                loggers.dispatcher.warning(
                    "Sleep for %f seconds and try again... (tryings = %d, bot id = %d)",
                    backoff.next_delay,
                    backoff.counter,
                    bot.id,
                )
                await backoff.asleep()
                continue
            if failed:
                loggers.dispatcher.info(
                    "Connection established (tryings = %d, bot id = %d)", backoff.counter, bot.id
                )
                backoff.reset()
                failed = False
            fresh = [u for u in updates if handed_out is None or u.update_id >= handed_out]
            if not fresh and len(updates) >= BATCH:
                # a whole batch of updates already handed out (slow ones, say waiting out a
                # 429, with many done after them): holding them would keep new ones from being
                # fetched at all, so they are confirmed as aiogram would
                self._unfinished.clear()
                continue
            if not fresh and busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._one_finished.wait(), BUSY_POLL_SECONDS)
                continue
            for update in fresh:
                self._unfinished.add(update.update_id)
                handed_out = update.update_id + 1
                yield update
