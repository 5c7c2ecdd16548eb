"""The data carried by inline buttons."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData


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
    entry_id: str


class SuggestionCallback(CallbackData, prefix="sug"):
    """A "did you mean" suggestion: the entry, and the customer's message it was offered for."""

    message_id: int
    entry_id: str


class VoteCallback(CallbackData, prefix="vote"):
    message_id: int
    helpful: bool


class LanguageCallback(CallbackData, prefix="lang"):
    language: str


class HumanCallback(CallbackData, prefix="human"):
    pass


class KnowledgeUploadCallback(CallbackData, prefix="kbup"):
    token: str
    apply: bool


class LearnCallback(CallbackData, prefix="learn"):
    """An admin's Approve or Reject on a learned question."""

    id: int
    approve: bool


class TicketCallback(CallbackData, prefix="tk"):
    action: TicketAction
    ticket_id: int


class CategoryCallback(CallbackData, prefix="cat"):
    category: str


class SkipCallback(CallbackData, prefix="skip"):
    pass


class SolvedCallback(CallbackData, prefix="solved"):
    ticket_id: int


class TransferCallback(CallbackData, prefix="tr"):
    ticket_id: int
    agent_id: int


class OrderHelpCallback(CallbackData, prefix="ordh"):
    number: str


class ReturnCallback(CallbackData, prefix="ret"):
    number: str


class ReturnItemCallback(CallbackData, prefix="reti"):
    number: str
    index: int  # -1: all items


class ReturnReasonCallback(CallbackData, prefix="retr"):
    reason: str


class ReturnDoneCallback(CallbackData, prefix="retd"):
    pass


class SurveyCallback(CallbackData, prefix="csat"):
    id: int  # the scheduled survey
    score: int


class SurveySkipCallback(CallbackData, prefix="csatskip"):
    pass


class RevisitCallback(CallbackData, prefix="revisit"):
    id: int
    solved: bool


class NpsCallback(CallbackData, prefix="nps"):
    id: int
    score: int


class EraseCallback(CallbackData, prefix="erase"):
    confirm: bool
