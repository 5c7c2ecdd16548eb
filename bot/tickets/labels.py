"""How staff read a ticket and its customer, in the reader's language: the words for its
category, priority and status, and a customer named as an agent can find them (Telegram name,
@username, id), never by our internal number."""

from __future__ import annotations

from bot.texts import Say
from storage.models import Customer, Ticket


def category_label(say: Say, category: str) -> str:
    return say(f"category_{category}")


def priority_label(say: Say, priority: str) -> str:
    return say(f"priority_{priority}")


def status_label(say: Say, status: str) -> str:
    return say(f"ticket_status_{status}")


def customer_label(say: Say, customer: Customer) -> str:
    """'Mei (@mei_li, ID 7)' / 'Mei（@mei_li，ID 7）'; for other channels their id there."""
    handle = say("card_handle", username=customer.username) if customer.username else ""
    return say("card_who", name=customer.first_name or "-", handle=handle, id=customer.external_id)


def ticket_state(say: Say, ticket: Ticket) -> str:
    return say(
        "ticket_state",
        number=ticket.number,
        status=status_label(say, ticket.status),
        priority=priority_label(say, ticket.priority),
    )
