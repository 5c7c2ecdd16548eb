"""Admins ban and unban customers: the bot stays silent to a banned one (nothing they send is
answered, stored or relayed), and the agents see the ban on the customer's tickets."""

from __future__ import annotations

import logging
import re

from aiogram import Bot
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.texts import Say
from bot.tickets.handoff import Handoff
from bot.tickets.labels import customer_label
from bot.tickets.lifecycle import OPEN_STATUSES, TicketService
from bot.tickets.roles import RoleBook
from storage import bans
from storage.customers import find_customer
from storage.models import Customer

log = logging.getLogger(__name__)

# "123456789": a Telegram user id; "#12": a customer's number as the ticket card shows it
TARGET = re.compile(r"^(#?)(\d{1,15})$")


class BanList:
    """The banned customers' ids, held in memory so that the check every update makes costs no
    statement: loaded at start, changed at once by this process's /ban and /unban, and re-read
    every few seconds (see bot.schedule.jobs) for the bans made through another replica."""

    def __init__(self) -> None:
        self._ids: frozenset[int] = frozenset()

    async def load(self, session: AsyncSession) -> None:
        self._ids = frozenset(await bans.banned_ids(session))

    def holds(self, customer_id: int) -> bool:
        return customer_id in self._ids

    def add(self, customer_id: int) -> None:
        self._ids = self._ids | {customer_id}

    def remove(self, customer_id: int) -> None:
        self._ids = self._ids - {customer_id}


class Bans:
    def __init__(
        self,
        clock: Clock,
        roles: RoleBook,
        tickets: TicketService,
        handoff: Handoff,
        ban_list: BanList,
    ) -> None:
        self.clock = clock
        self.roles = roles
        self.tickets = tickets
        self.handoff = handoff
        self.ban_list = ban_list

    async def _customer(self, session: AsyncSession, target: str | None) -> Customer | None:
        found = TARGET.match((target or "").strip())
        if found is None:
            return None
        number = int(found.group(2))
        if found.group(1):
            return await session.get(Customer, number) if number < 2**31 else None
        return await find_customer(session, "telegram", str(number))

    async def ban(
        self, session: AsyncSession, bot: Bot, admin_id: int, target: str | None, say: Say
    ) -> str:
        if not TARGET.match((target or "").strip()):
            return say("ban_usage")
        customer = await self._customer(session, target)
        if customer is None or customer.id is None:
            return say("ban_no_customer", target=(target or "").strip())
        if customer.channel == "telegram" and self.roles.is_staff(int(customer.external_id)):
            return say("ban_staff")
        if not await bans.ban(session, customer.id, admin_id, self.clock.now()):
            return say("ban_already", who=customer_label(say, customer))
        await session.commit()
        self.ban_list.add(customer.id)
        log.info("admin=%s banned customer=%s", admin_id, customer.id)
        for ticket in await self.tickets.tickets_of(session, customer):
            if ticket.status in OPEN_STATUSES:
                await self.handoff.alert(
                    bot,
                    ticket,
                    self.handoff.say_group(
                        "alert_banned",
                        number=ticket.number,
                        who=customer_label(self.handoff.say_group, customer),
                    ),
                    mention=False,
                )
        return say("ban_done", who=customer_label(say, customer))

    async def unban(
        self, session: AsyncSession, admin_id: int, target: str | None, say: Say
    ) -> str:
        if not TARGET.match((target or "").strip()):
            return say("unban_usage")
        customer = await self._customer(session, target)
        if customer is None or customer.id is None:
            return say("ban_no_customer", target=(target or "").strip())
        if not await bans.unban(session, customer.id):
            return say("unban_not_banned", who=customer_label(say, customer))
        await session.commit()
        self.ban_list.remove(customer.id)
        log.info("admin=%s lifted the ban of customer=%s", admin_id, customer.id)
        return say("unban_done", who=customer_label(say, customer))
