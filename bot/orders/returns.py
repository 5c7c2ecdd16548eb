"""Whether an order, or some of its items, can be returned: the shop's rules from config, and
the reason in words the customer understands when not."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.config import ReturnsConfig
from bot.orders.providers import OrderItem, OrderView

# The reasons a customer picks from, as the agents' ticket card names them.
RETURN_REASONS = {
    "wrong_size": "wrong size",
    "damaged": "damaged",
    "not_as_described": "not as described",
    "changed_mind": "changed my mind",
    "other": "other",
}


@dataclass(frozen=True)
class Refusal:
    """Why a return is refused: a text key and its placeholders."""

    key: str
    details: dict[str, str] = field(default_factory=dict)


def order_refusal(order: OrderView, now: datetime, rules: ReturnsConfig) -> Refusal | None:
    if order.status not in rules.allowed_statuses:
        return Refusal("return_refused_status", {"status": order.status})
    if order.delivered_at is not None:
        last_day = order.delivered_at + timedelta(days=rules.window_days)
        if now > last_day:
            return Refusal("return_refused_window", {"days": str(rules.window_days)})
    return None


def items_refusal(items: list[OrderItem], rules: ReturnsConfig) -> Refusal | None:
    excluded = [item.name for item in items if item.category in rules.non_returnable_categories]
    if excluded:
        return Refusal("return_refused_category", {"items": ", ".join(excluded)})
    return None


def return_description(items: list[OrderItem], reason: str, comment: str | None) -> str:
    """What the agents read on the ticket: the items, the reason and the customer's words."""
    listed = ", ".join(f"{item.name} × {item.quantity}" for item in items)
    lines = [f"Return of {listed}", f"Reason: {RETURN_REASONS[reason]}"]
    if comment:
        lines.append(f"Customer says: {comment}")
    return "\n".join(lines)
