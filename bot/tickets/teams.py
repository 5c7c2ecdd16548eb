"""Teams and their queues: [teams] gives each ticket category to a team; which agents are in a
team is kept in the database, changed by admins (`/team` in a private chat, `kefu team` on the
server). Round robin and the open-ticket limit work within the ticket's team."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.config import TeamsConfig
from bot.texts import Say
from bot.tickets.roles import RoleBook
from storage.models import AgentDuty, Customer, TeamMember

log = logging.getLogger(__name__)

# "123456789" (a Telegram user id) or "@name" (a Telegram @username the bot has seen)
USER = re.compile(r"^(?:(\d{1,15})|@([A-Za-z0-9_]{3,64}))$")


@dataclass(frozen=True)
class TeamChange:
    """What `/team` or `kefu team` did, as a catalogue key and its values."""

    key: str
    values: dict[str, object]

    def told(self, say: Say) -> str:
        return say(self.key, **self.values)


class Teams:
    def __init__(self, settings: TeamsConfig, roles: RoleBook, clock: Clock) -> None:
        self.settings = settings
        self.roles = roles
        self.clock = clock

    @property
    def ids(self) -> list[str]:
        return self.settings.ids

    def name(self, team: str | None, language: str) -> str:
        return self.settings.name(team, language) if team else "-"

    async def members(self, session: AsyncSession, team: str) -> list[int]:
        statement = (
            select(TeamMember.telegram_id)
            .where(TeamMember.team == team)
            .order_by(col(TeamMember.telegram_id))
        )
        return list((await session.exec(statement)).all())

    async def supervisors_for(self, session: AsyncSession, team: str | None) -> list[int]:
        """The supervisors in the ticket's team; when it has none (or no team), all of them."""
        everyone = self.roles.with_role("supervisor")
        if team is None:
            return everyone
        in_team = [user for user in await self.members(session, team) if user in everyone]
        return in_team or everyone

    async def find_user(self, session: AsyncSession, target: str) -> int | None:
        """A Telegram user id, or the id behind an @username an agent (or customer) used."""
        found = USER.match(target.strip())
        if found is None:
            return None
        if found.group(1):
            return int(found.group(1))
        username = found.group(2).lower()
        duty = (
            await session.exec(
                select(AgentDuty.telegram_id).where(func.lower(AgentDuty.username) == username)
            )
        ).first()
        if duty is not None:
            return duty
        customer = (
            await session.exec(
                select(Customer.external_id).where(
                    Customer.channel == "telegram", func.lower(Customer.username) == username
                )
            )
        ).first()
        return int(customer) if customer is not None else None

    async def add(self, session: AsyncSession, team: str, user_id: int, by: int) -> bool:
        """False when they were already in the team."""
        if await session.get(TeamMember, (team, user_id)) is not None:
            return False
        session.add(
            TeamMember(team=team, telegram_id=user_id, added_by=by, added_at=self.clock.now())
        )
        await session.flush()
        return True

    async def remove(self, session: AsyncSession, team: str, user_id: int) -> bool:
        member = await session.get(TeamMember, (team, user_id))
        if member is None:
            return False
        await session.delete(member)
        await session.flush()
        return True

    async def names_of(self, session: AsyncSession, user_ids: list[int]) -> dict[int, str]:
        """How staff are shown: the name they had when they last said /duty, else their id."""
        if not user_ids:
            return {}
        statement = select(AgentDuty).where(col(AgentDuty.telegram_id).in_(user_ids))
        named = {d.telegram_id: d.name for d in (await session.exec(statement)).all() if d.name}
        return {user: named.get(user, str(user)) for user in user_ids}

    async def listing(self, session: AsyncSession, language: str) -> list[tuple[str, str, str]]:
        """Each team: its id, its name in `language`, its members ("Alice (501), 502")."""
        rows = []
        for team in self.ids:
            members = await self.members(session, team)
            names = await self.names_of(session, members)
            shown = ", ".join(
                f"{names[user]} ({user})" if names[user] != str(user) else str(user)
                for user in members
            )
            rows.append((team, self.settings.name(team, language), shown or "-"))
        return rows

    async def command(
        self, session: AsyncSession, admin_id: int, arguments: str | None, language: str
    ) -> TeamChange | None:
        """`add TEAM USER` or `remove TEAM USER` (USER: an id or @username); None for the
        listing (no arguments)."""
        parts = (arguments or "").split()
        if not parts or parts == ["list"]:
            return None
        if len(parts) != 3 or parts[0].lower() not in ("add", "remove"):
            return TeamChange("team_usage", {"teams": ", ".join(self.ids) or "-"})
        action, team, target = parts[0].lower(), parts[1].lower(), parts[2]
        if team not in self.ids:
            return TeamChange(
                "team_unknown", {"team": team[:32], "teams": ", ".join(self.ids) or "-"}
            )
        user_id = await self.find_user(session, target)
        if user_id is None:
            return TeamChange("team_user_unknown", {"user": target[:64]})
        name = self.settings.name(team, language)
        if action == "add":
            if not self.roles.is_staff(user_id):
                return TeamChange("team_not_staff", {"user": user_id})
            changed = await self.add(session, team, user_id, admin_id)
            key = "team_added" if changed else "team_already_in"
        else:
            changed = await self.remove(session, team, user_id)
            key = "team_removed" if changed else "team_not_in"
        if changed:
            log.info("admin=%s: %s user=%s team=%s", admin_id, action, user_id, team)
        return TeamChange(key, {"user": user_id, "team": name})
