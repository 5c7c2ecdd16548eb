"""One handling of an update, as the channel that received it sees it: whether its work is
committed (it may be forgotten by Telegram), whether it said something (it is done), and
whether it failed with the database away and is to be handled again (held).

Long polling (bot/channels/polling.py) holds such an update by not confirming it and handling
it again once the database answers; the webhook (bot/web/app.py) by answering Telegram 503, so
that Telegram posts it again later. Either way what a customer writes during an outage is
neither lost nor answered with a shrug."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class UpdateRun:
    """One handling of an update."""

    committed: Callable[[], None]
    told: set[int]  # the chats told of the outage, until the database answers again
    said: bool = False  # something about it went to Telegram: it is done
    held: bool = False  # it failed with the database away and is to be handled again
    last: bool = False  # no run after this one


_RUN: ContextVar[UpdateRun | None] = ContextVar("update_run", default=None)


@contextmanager
def handling_update(
    told: set[int], committed: Callable[[], None] = lambda: None, *, last: bool = False
) -> Iterator[UpdateRun]:
    """The update handled in this block (in this task) is this run."""
    run = UpdateRun(committed, told, last=last)
    token = _RUN.set(run)
    try:
        yield run
    finally:
        _RUN.reset(token)


def update_committed() -> None:
    """The update being handled (if any, in this task) has its work committed: Telegram may
    forget it."""
    run = _RUN.get()
    if run is not None:
        run.said = True
        if not run.held:
            run.committed()


@dataclass(frozen=True)
class Held:
    """An update held until the database answers again."""

    first_in_chat: bool  # its chat has not been told of this outage yet


def hold_until_database_returns(chat_id: int | None) -> Held | None:
    """The update being handled failed because the database is away: held when it will be
    handled again once the database answers (it has said nothing yet, and its channel can
    receive it again); None when it cannot be, and the failure is to be answered now."""
    run = _RUN.get()
    if run is None or run.said or run.last:
        return None
    run.held = True
    first = chat_id is not None and chat_id not in run.told
    if chat_id is not None:
        run.told.add(chat_id)
    return Held(first_in_chat=first)
