"""Customers' VIP tiers ("A", "B"...): set by an admin's `/vip`, by `kefu customers import`, or
by the shop (an order's `vip_tier`, from the CSV import or the HTTP orders API) when the
customer's orders are read. A VIP's ticket starts one priority higher, and `[sla.tiers]` gives
a tier its own targets where they are stricter; an open ticket follows a change at once."""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.config import SlaConfig
from bot.orders.providers import OrderView
from bot.texts import Say
from bot.tickets.labels import customer_label
from bot.tickets.lifecycle import TicketService
from storage.customers import find_customer
from storage.models import Customer

log = logging.getLogger(__name__)

TIER = re.compile(r"^[A-Za-z0-9_]{1,16}$")
CLEAR = ("-", "")
CUSTOMER_COLUMNS = ("telegram_id", "channel", "external_id", "vip_tier", "name")
CHANNELS = ("telegram", "web", "terminal")


class CustomerImportError(Exception):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class CustomerRow:
    line: int
    channel: str
    external_id: str
    tier: str | None
    name: str | None


@dataclass
class CustomerImport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.added)} customers added, {len(self.changed)} changed, "
            f"{len(self.unchanged)} unchanged"
        )


class VipTiers:
    def __init__(self, sla: SlaConfig, tickets: TicketService, clock: Clock) -> None:
        self.sla = sla
        self.tickets = tickets
        self.clock = clock

    def known(self, tier: str) -> bool:
        """A tier of [sla.tiers], or with none configured any short name."""
        if not TIER.match(tier):
            return False
        return not self.sla.tiers or tier in self.sla.tiers

    def tiers_shown(self) -> str:
        return ", ".join(self.sla.tiers) or "A, B, ..."

    async def set_tier(
        self, session: AsyncSession, customer: Customer, tier: str | None, actor: str
    ) -> bool:
        """False when the customer already had that tier."""
        if customer.vip_tier == tier:
            return False
        customer.vip_tier = tier
        session.add(customer)
        await self.tickets.tier_changed(session, customer, actor)
        log.info("customer=%s has VIP tier %s (%s)", customer.id, tier or "-", actor)
        return True

    async def command(
        self, session: AsyncSession, admin_id: int, arguments: str | None, say: Say
    ) -> str:
        """`/vip USER_ID TIER` or `/vip USER_ID -` (USER_ID: the Telegram id, or #N)."""
        parts = (arguments or "").split()
        if len(parts) != 2 or not re.fullmatch(r"#?\d{1,15}", parts[0]):
            return say("vip_usage", tiers=self.tiers_shown())
        target, tier = parts
        if target.startswith("#"):
            number = int(target[1:])
            customer = await session.get(Customer, number) if number < 2**31 else None
        else:
            customer = await find_customer(session, "telegram", target)
        if customer is None:
            return say("vip_no_customer", target=target)
        if tier in CLEAR:
            new = None
        elif self.known(tier):
            new = tier
        else:
            return say("vip_unknown_tier", tier=tier[:16], tiers=self.tiers_shown())
        await self.set_tier(session, customer, new, f"agent:{admin_id}")
        await session.commit()
        who = customer_label(say, customer)
        return say("vip_set", who=who, tier=new) if new else say("vip_cleared", who=who)

    async def from_shop(self, session: AsyncSession, customer_id: int, tier: str | None) -> None:
        """An order read for the customer carries their tier as the shop knows it."""
        if not tier:
            return
        if not self.known(tier):
            log.warning("customer=%s: the shop's VIP tier is not in [sla.tiers]", customer_id)
            return
        customer = await session.get(Customer, customer_id)
        if customer is not None and customer.erased_at is None:
            await self.set_tier(session, customer, tier, "system")

    async def from_orders(self, session: AsyncSession, orders: list[OrderView]) -> int:
        """Orders imported with a tier: set on their customers already known (the others get it
        when their orders are first read). Returns how many customers changed."""
        changed = 0
        for order in orders:
            if not order.vip_tier or order.telegram_id is None or not self.known(order.vip_tier):
                continue
            customer = await find_customer(session, "telegram", str(order.telegram_id))
            if customer is not None and customer.erased_at is None:
                changed += await self.set_tier(session, customer, order.vip_tier, "system")
        return changed

    def read_csv(self, path: str | Path) -> list[CustomerRow]:
        """Every row checked first: an error names the file, the line and the column."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as error:
            raise CustomerImportError([f"{path}:0: cannot read: {error.strerror}"]) from None
        except UnicodeDecodeError:
            raise CustomerImportError([f"{path}:0: not UTF-8 text"]) from None
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = reader.fieldnames or []
        problems = [
            f"{path}:1: {name}: unknown column" for name in header if name not in CUSTOMER_COLUMNS
        ]
        if "vip_tier" not in header:
            problems.append(f"{path}:1: vip_tier: required column is missing")
        if "telegram_id" not in header and not {"channel", "external_id"} <= set(header):
            problems.append(f"{path}:1: telegram_id: needed (or channel and external_id)")
        if problems:
            raise CustomerImportError(problems)
        rows: list[CustomerRow] = []
        seen: dict[tuple[str, str], int] = {}
        try:
            for raw in reader:
                line = reader.line_num
                values = {k: (v or "").strip() for k, v in raw.items() if k is not None}
                row, row_problems = self._row(str(path), line, values)
                problems += row_problems
                if row is None:
                    continue
                key = (row.channel, row.external_id)
                if key in seen:
                    problems.append(
                        f"{path}:{line}: telegram_id: the customer is already on line {seen[key]}"
                    )
                    continue
                seen[key] = line
                rows.append(row)
        except csv.Error as error:
            problems.append(f"{path}:{reader.line_num + 1}: cannot be read: {error}")
        if problems:
            raise CustomerImportError(problems)
        return rows

    def _row(
        self, file: str, line: int, values: dict[str, str]
    ) -> tuple[CustomerRow | None, list[str]]:
        problems = []
        telegram = values.get("telegram_id", "")
        channel, external = values.get("channel", ""), values.get("external_id", "")
        if telegram:
            if not telegram.isdigit() or not 0 < int(telegram) < 2**52:
                problems.append(f"{file}:{line}: telegram_id: {telegram[:32]!r} is no Telegram id")
            channel, external = "telegram", telegram
        elif not channel or not external:
            problems.append(f"{file}:{line}: telegram_id: empty (and no channel and external_id)")
        elif channel not in CHANNELS:
            problems.append(
                f"{file}:{line}: channel: {channel[:32]!r} is not one of " + ", ".join(CHANNELS)
            )
        elif len(external) > 64:
            problems.append(f"{file}:{line}: external_id: longer than 64 characters")
        tier = values.get("vip_tier", "")
        if tier not in CLEAR and not self.known(tier):
            problems.append(
                f"{file}:{line}: vip_tier: {tier[:32]!r} is not a tier ({self.tiers_shown()})"
            )
        name = values.get("name") or None
        if name is not None and len(name) > 128:
            problems.append(f"{file}:{line}: name: longer than 128 characters")
        if problems:
            return None, problems
        return CustomerRow(line, channel, external, None if tier in CLEAR else tier, name), []

    async def import_rows(self, session: AsyncSession, rows: list[CustomerRow]) -> CustomerImport:
        """Customers added or their tier changed, in the caller's transaction."""
        result = CustomerImport()
        now = self.clock.now()
        for row in rows:
            label = f"{row.channel}:{row.external_id}"
            customer = await find_customer(session, row.channel, row.external_id)
            if customer is None:
                customer = Customer(
                    channel=row.channel,
                    external_id=row.external_id,
                    first_name=row.name,
                    vip_tier=row.tier,
                    first_seen=now,
                    last_seen=now,
                )
                session.add(customer)
                await session.flush()
                result.added.append(label)
            elif await self.set_tier(session, customer, row.tier, "cli"):
                result.changed.append(label)
            else:
                result.unchanged.append(label)
        await session.flush()
        return result
