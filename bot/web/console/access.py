"""Who may use the console, and how they sign in: a one-time link (from /console in Telegram or
`kefu console link`) opens a session kept in the database and named by a signed cookie; every
form carries a token tied to that session (CSRF). Roles are read afresh at each request."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.config import Config
from bot.tickets.roles import RoleBook
from storage.console_access import (
    add_link,
    add_session,
    end_session,
    forget_sign_ins,
    live_session,
    token_hash,
    use_link,
)
from storage.customers import language_of
from storage.database import SessionFactory
from storage.models import ConsoleLink, ConsoleSession

log = logging.getLogger(__name__)

CONSOLE_ROLES = ("supervisor", "admin")
LANGUAGES = ("zh", "en")
SIGN_IN_PATH = "/console/sign-in"
FORGET_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class Staff:
    """The person behind a request, as the database has them now."""

    telegram_id: int
    role: str
    language: str
    session: ConsoleSession

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def actor(self) -> str:
        """As the audit log and the knowledge base's history name people."""
        return f"{self.role}:{self.telegram_id}"


class ConsoleAccess:
    def __init__(self, config: Config, roles: RoleBook, clock: Clock, secret: str) -> None:
        self.config = config
        self.roles = roles
        self.clock = clock
        self.key = secret.encode()

    def served(self) -> bool:
        """Whether the console is on and kefu serves the web application it is part of."""
        web_on = self.config.web.enabled or self.config.telegram.mode == "webhook"
        return self.config.console.enabled and web_on

    async def may_sign_in(self, session: AsyncSession, telegram_id: int) -> bool:
        return await self.roles.current(session, telegram_id) in CONSOLE_ROLES

    async def new_link(self, session: AsyncSession, telegram_id: int) -> str | None:
        """A sign-in link for an admin or a supervisor; None for anyone else."""
        if not self.served() or not await self.may_sign_in(session, telegram_id):
            return None
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        expires = now + timedelta(minutes=self.config.console.link_minutes)
        await add_link(session, token, telegram_id, now, expires)
        log.info("console: a sign-in link for user=%s", telegram_id)
        return f"{self.config.web.base_url()}{SIGN_IN_PATH}?token={token}"

    async def link_owner(self, session: AsyncSession, token: str) -> int | None:
        """Whose link this is while it still opens a session (used for nothing else: the page
        that asks to sign in speaks their language)."""
        link = await session.get(ConsoleLink, token_hash(token))
        if link is None or link.used_at is not None or link.expires_at <= self.clock.now():
            return None
        return link.telegram_id

    async def sign_in(self, session: AsyncSession, token: str) -> str | None:
        """Spends a link: the new session's cookie value, or None when the link is unknown,
        used, expired, or its owner is no longer an admin or a supervisor."""
        now = self.clock.now()
        telegram_id = await use_link(session, token, now)
        if telegram_id is None:
            log.warning("console: a sign-in link was refused (unknown, used or expired)")
            return None
        if not await self.may_sign_in(session, telegram_id):
            log.warning("console: user=%s holds no console role any more", telegram_id)
            return None
        session_token = secrets.token_urlsafe(32)
        hours = timedelta(hours=self.config.console.session_hours)
        await add_session(session, session_token, telegram_id, now, now + hours)
        log.info("console: user=%s signed in", telegram_id)
        return f"{session_token}.{self._sign('session', session_token)}"

    async def staff(self, session: AsyncSession, cookie: str | None) -> Staff | None:
        """The person a cookie names, when its session is live and they still hold a console
        role."""
        token = self._token(cookie)
        if token is None:
            return None
        row = await live_session(session, token, self.clock.now())
        if row is None:
            return None
        role = await self.roles.current(session, row.telegram_id)
        if role not in CONSOLE_ROLES:
            return None
        language = row.language or await language_of(session, "telegram", str(row.telegram_id))
        if language not in LANGUAGES:
            language = self.config.agents.language
        return Staff(row.telegram_id, role or "", language, row)

    async def sign_out(self, session: AsyncSession, cookie: str | None) -> None:
        token = self._token(cookie)
        if token is not None:
            await end_session(session, token, self.clock.now())

    async def choose_language(self, session: AsyncSession, staff: Staff, language: str) -> None:
        if language in LANGUAGES:
            staff.session.language = language
            session.add(staff.session)
            await session.flush()

    def csrf(self, cookie: str | None) -> str:
        """The token every form of this session carries."""
        token = self._token(cookie)
        return self._sign("csrf", token) if token else ""

    def csrf_holds(self, cookie: str | None, given: str | None) -> bool:
        expected = self.csrf(cookie)
        return bool(expected and given) and hmac.compare_digest(expected, given or "")

    def _token(self, cookie: str | None) -> str | None:
        if not cookie or cookie.count(".") != 1:
            return None
        token, signature = cookie.split(".")
        if not hmac.compare_digest(signature, self._sign("session", token)):
            return None
        return token

    def _sign(self, purpose: str, value: str) -> str:
        return hmac.new(self.key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()[:32]


async def forget_old_sign_ins(session_factory: SessionFactory, clock: Clock) -> int:
    """The timed job: links and sessions ended a day ago or more are deleted."""
    async with session_factory() as session:
        count = await forget_sign_ins(session, clock.now() - FORGET_AFTER)
        await session.commit()
    return count
