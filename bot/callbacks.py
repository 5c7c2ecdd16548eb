"""The data carried by inline buttons.

A button's data comes back from the client as the client sends it: forged, stale or out of
range data must not parse. Ids are held to what the database keeps (a row id is a 32-bit
integer on PostgreSQL, a Telegram user id fits in 52 bits), scores to their scale, choices to
their names; data that does not parse is answered by the catch-all (handlers/errors.py). What
parses is still checked against the database where it is used (who may press, whose it is)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from aiogram.filters.callback_data import CallbackData
from pydantic import Field

from storage.models import TicketCategory

RowId = Annotated[int, Field(ge=0, lt=2**31)]
UserId = Annotated[int, Field(gt=0, lt=2**52)]
ShortText = Annotated[str, Field(max_length=64)]


class TicketAction(StrEnum):
    """The buttons on a ticket's card in the agents' group."""

    TAKE = "take"
    WAIT = "wait"
    RESOLVE = "resolve"
    CLOSE = "close"
    RAISE = "raise"
    LOWER = "lower"
    TRANSFER = "transfer"


class EntryCallback(CallbackData, prefix="faq"):
    entry_id: ShortText


class SuggestionCallback(CallbackData, prefix="sug"):
    """A "did you mean" suggestion: the entry, and the customer's message it was offered for."""

    message_id: int
    entry_id: str


class VoteCallback(CallbackData, prefix="vote"):
    message_id: RowId
    helpful: bool


class LanguageCallback(CallbackData, prefix="lang"):
    language: Literal["zh", "en"]


class HumanCallback(CallbackData, prefix="human"):
    pass


class KnowledgeUploadCallback(CallbackData, prefix="kbup"):
    token: ShortText
    apply: bool


class LearnCallback(CallbackData, prefix="learn"):
    """An admin's Approve or Reject on a learned question."""

    id: int
    approve: bool


class TicketCallback(CallbackData, prefix="tk"):
    action: TicketAction
    ticket_id: RowId


class CategoryCallback(CallbackData, prefix="cat"):
    category: TicketCategory


class SkipCallback(CallbackData, prefix="skip"):
    pass


class SolvedCallback(CallbackData, prefix="solved"):
    ticket_id: RowId


class SupervisorCallback(CallbackData, prefix="sup"):
    """A customer asks for a supervisor on their ticket."""

    ticket_id: RowId


class TransferCallback(CallbackData, prefix="tr"):
    ticket_id: RowId
    agent_id: UserId


class TeamTransferCallback(CallbackData, prefix="trt"):
    """Transfer to a team of [teams]: its id, checked against the config where it is used."""

    ticket_id: RowId
    team: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,32}$")]


class OutcomeCallback(CallbackData, prefix="out"):
    """The cause of a resolved ticket's problem, or the remedy given: an id of [tickets]
    causes or remedies, checked against the config where it is used."""

    ticket_id: RowId
    part: Literal["cause", "remedy"]
    value: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,32}$")]


class OrderHelpCallback(CallbackData, prefix="ordh"):
    number: ShortText


class ReturnCallback(CallbackData, prefix="ret"):
    number: ShortText


class ReturnItemCallback(CallbackData, prefix="reti"):
    number: ShortText
    index: Annotated[int, Field(ge=-1, lt=1000)]  # -1: all items


class ReturnReasonCallback(CallbackData, prefix="retr"):
    reason: ShortText


class ReturnDoneCallback(CallbackData, prefix="retd"):
    pass


class SurveyCallback(CallbackData, prefix="csat"):
    id: RowId  # the scheduled survey
    score: Annotated[int, Field(ge=1, le=5)]


class SurveySkipCallback(CallbackData, prefix="csatskip"):
    pass


class RevisitCallback(CallbackData, prefix="revisit"):
    id: RowId
    solved: bool


class NpsCallback(CallbackData, prefix="nps"):
    id: RowId
    score: Annotated[int, Field(ge=0, le=10)]


class EraseCallback(CallbackData, prefix="erase"):
    confirm: bool


class BroadcastCallback(CallbackData, prefix="bcast"):
    """Send or Cancel under a broadcast's preview: the draft it was shown for."""

    action: Literal["send", "cancel"]
    id: RowId


class BroadcastStopCallback(CallbackData, prefix="bcstop"):
    """ "Stop these messages" under a broadcast."""

    id: RowId


class QaCallback(CallbackData, prefix="qa"):
    """A quality inspection's rubric: a score (1-5) for one criterion (0-4, in QA_CRITERIA's
    order), the comment skipped, or a pending inspection opened again from /qa."""

    review_id: RowId
    action: Literal["score", "skip", "open"]
    criterion: Annotated[int, Field(ge=0, le=4)] = 0
    score: Annotated[int, Field(ge=0, le=5)] = 0
