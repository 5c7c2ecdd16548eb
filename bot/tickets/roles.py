"""Who is an agent, a supervisor or an admin: the config's lists, changed by admins' commands
(kept in the database, so that a change survives a restart)."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.config import RolesConfig
from storage.models import StaffRole

ROLES = ("agent", "supervisor", "admin")  # each includes what the ones before it may do


class RoleBook:
    """Read from memory on every check; loaded at start and refreshed from the database every
    few seconds (see bot.schedule.jobs), so that a change made through another replica holds
    here too within that time."""

    def __init__(self, configured: RolesConfig, clock: Clock) -> None:
        self.clock = clock
        self._configured: dict[int, str] = {}
        for role, members in (
            ("agent", configured.agents),
            ("supervisor", configured.supervisors),
            ("admin", configured.admins),
        ):
            for user_id in members:
                self._configured[user_id] = role
        self._roles = dict(self._configured)

    async def load(self, session: AsyncSession) -> None:
        """The config's roles with the database's changes on top, read afresh."""
        changes = (await session.exec(select(StaffRole))).all()
        self._roles = dict(self._configured)
        for change in changes:
            self._apply(change.telegram_id, change.role)

    def _apply(self, user_id: int, role: str) -> None:
        if role == "none":
            self._roles.pop(user_id, None)
        else:
            self._roles[user_id] = role

    async def current(self, session: AsyncSession, user_id: int) -> str | None:
        """The role as the database holds it now, for a check that must not lag behind a change
        made through another process (the console's, at every request)."""
        change = await session.get(StaffRole, user_id)
        if change is None:
            return self._configured.get(user_id)
        self._apply(user_id, change.role)
        return None if change.role == "none" else change.role

    def role_of(self, user_id: int) -> str | None:
        return self._roles.get(user_id)

    def is_staff(self, user_id: int) -> bool:
        return user_id in self._roles

    def is_admin(self, user_id: int) -> bool:
        return self._roles.get(user_id) == "admin"

    def with_role(self, role: str) -> list[int]:
        return sorted(user_id for user_id, held in self._roles.items() if held == role)

    async def change(self, session: AsyncSession, user_id: int, role: str, by: int) -> None:
        if role not in (*ROLES, "none"):
            raise ValueError(f"unknown role {role!r} (agent, supervisor, admin or none)")
        found = await session.get(StaffRole, user_id)
        change = found or StaffRole(
            telegram_id=user_id, role=role, changed_by=by, changed_at=self.clock.now()
        )
        change.role, change.changed_by, change.changed_at = role, by, self.clock.now()
        session.add(change)
        await session.flush()
        self._apply(user_id, role)
