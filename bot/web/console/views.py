"""The console's routes on the one web application: each page reads the request, checks who is
asking (a live session, a console role read afresh, admin for what only admins may do, the CSRF
token on every POST), calls one function of bot/web/console and renders its template."""

from __future__ import annotations

import io
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from multidict import MultiDictProxy
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.incidents.broadcasts import TEXT_LIMIT, BroadcastRefused
from bot.incidents.notices import IncidentRefused, describe
from bot.knowledge_admin.editing import EditError
from bot.knowledge_admin.publishing import version_summary
from bot.texts import Say
from bot.tickets.labels import category_label, priority_label, status_label
from bot.web.console.access import LANGUAGES, SIGN_IN_PATH, ConsoleAccess, Staff
from bot.web.console.agents import agents_page, agents_table, figure
from bot.web.console.broadcasts import broadcast_row, broadcast_rows
from bot.web.console.incidents import incidents_page, start_from_form
from bot.web.console.knowledge import decided_text, gaps_page, knowledge_page
from bot.web.console.reports import (
    Period,
    PeriodError,
    Table,
    overview,
    period_from,
    report_tables,
    team_label,
)
from bot.web.console.tickets import TicketPages, ticket_filter, ticket_list
from storage.customers import language_of
from storage.models import QA_CRITERIA, TicketCategory, TicketPriority, TicketStatus

if TYPE_CHECKING:
    from bot.app import Services

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
COOKIE = "kefu_console"
GAP_DAYS = (1, 7, 30, 90)
BROADCAST_COUNTS = ("recipients", "delivered", "failed", "unreachable", "waiting", "cancelled")
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={**HEADERS, "Location": location})


@dataclass
class Visit:
    """One request of a signed-in person."""

    staff: Staff
    session: AsyncSession
    say: Say
    csrf: str
    form: MultiDictProxy[Any] | None = None


Page = Callable[[web.Request, Visit], Awaitable[web.StreamResponse]]


class ConsoleRoutes:
    def __init__(
        self, services: Services, access: ConsoleAccess, telegram: Bot | None = None
    ) -> None:
        """`telegram` fetches the photos sent on tickets; without it (`kefu web`) a photo is
        shown as its caption."""
        self.services = services
        self.access = access
        self.telegram = telegram
        self.zone = services.config.hours.business_hours().zone
        self.tickets = TicketPages(services.config, services.clock, services.order_status)
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def register(self, app: web.Application) -> None:
        add_get, add_post = app.router.add_get, app.router.add_post
        add_get("/console", self.page(self.overview_page))
        add_get(SIGN_IN_PATH, self.sign_in_page)
        add_post(SIGN_IN_PATH, self.sign_in)
        add_post("/console/sign-out", self.page(self.sign_out))
        add_post("/console/language", self.page(self.choose_language))
        add_get("/console/reports", self.page(self.reports_page))
        add_get("/console/reports.csv", self.page(self.report_csv))
        add_get("/console/agents", self.page(self.agents))
        add_get("/console/agents.csv", self.page(self.agents_csv))
        add_get("/console/tickets", self.page(self.tickets_page))
        add_get("/console/tickets/{number}", self.page(self.ticket_page))
        add_get("/console/tickets/{number}/photo", self.page(self.ticket_photo))
        add_get("/console/incidents", self.page(self.incidents))
        add_post("/console/incidents/start", self.page(self.start_incident, admin=True))
        add_post("/console/incidents/end", self.page(self.end_incident, admin=True))
        add_get("/console/broadcasts", self.page(self.broadcasts, admin=True))
        add_get("/console/broadcasts/{id}", self.page(self.broadcast, admin=True))
        add_post("/console/broadcasts/draft", self.page(self.draft_broadcast, admin=True))
        add_post("/console/broadcasts/{id}/send", self.page(self.send_broadcast, admin=True))
        add_post("/console/broadcasts/{id}/cancel", self.page(self.cancel_broadcast, admin=True))
        add_get("/console/knowledge", self.page(self.knowledge))
        add_post("/console/knowledge/rollback", self.page(self.roll_back, admin=True))
        add_get("/console/gaps", self.page(self.gaps))
        add_post("/console/gaps/learned", self.page(self.decide_learned, admin=True))
        app.router.add_static("/console/static", HERE / "static", append_version=False)

    # who is asking

    def page(self, handler: Page, *, admin: bool = False) -> Callable[..., Any]:
        async def serve(request: web.Request) -> web.StreamResponse:
            cookie = request.cookies.get(COOKIE)
            async with self.services.session_factory() as session:
                staff = await self.access.staff(session, cookie)
                if staff is None:
                    return self.signed_out(request)
                visit = Visit(staff, session, Say(self.services.texts, staff.language), "")
                visit.csrf = self.access.csrf(cookie)
                if request.method == "POST":
                    visit.form = await request.post()
                    given = visit.form.get("csrf") or request.headers.get("X-CSRF-Token")
                    if not self.access.csrf_holds(cookie, str(given or "")):
                        log.warning(
                            "console: a POST without its CSRF token from user=%s",
                            staff.telegram_id,
                        )
                        return self.refused(request, visit, "console_csrf_refused")
                if admin and not staff.is_admin:
                    log.warning(
                        "console: user=%s (%s) refused %s",
                        staff.telegram_id,
                        staff.role,
                        request.path,
                    )
                    return self.refused(request, visit, "console_admins_only")
                return await handler(request, visit)

        return serve

    def render(
        self,
        name: str,
        request: web.Request,
        visit: Visit | None,
        say: Say,
        status: int = 200,
        **context: Any,
    ) -> web.Response:
        template = self.templates.get_template(name)
        body = template.render(
            t=say,
            language=say.language,
            languages=LANGUAGES,
            staff=visit.staff if visit else None,
            csrf=visit.csrf if visit else "",
            here=request.path_qs,
            path=request.path,
            when=lambda moment: (
                say("transcript_time", at=moment.astimezone(self.zone)) if moment else ""
            ),
            category=lambda value: category_label(say, value),
            priority=lambda value: priority_label(say, value),
            status=lambda value: status_label(say, value),
            team=lambda value: team_label(say, self.services.config.teams, value),
            summary=lambda value: version_summary(value, say),
            **context,
        )
        return web.Response(
            text=body, status=status, content_type="text/html", charset="utf-8", headers=HEADERS
        )

    def signed_out(self, request: web.Request) -> web.Response:
        """Anyone not signed in (or no longer allowed): how to get a link, in both languages,
        since who is reading is not known."""
        say = Say(self.services.texts, self.services.config.agents.language)
        other = Say(self.services.texts, "en" if say.language == "zh" else "zh")
        return self.render("signed_out.html", request, None, say, status=401, other=other)

    def refused(self, request: web.Request, visit: Visit, key: str) -> web.Response:
        return self.render("refused.html", request, visit, visit.say, status=403, why=key)

    # signing in and out

    async def sign_in_page(self, request: web.Request) -> web.Response:
        """The link from /console opens this page, whose button spends it: a preview of the
        link (Telegram's, a mail scanner's) reads the page without signing anyone in."""
        token = request.query.get("token", "")
        async with self.services.session_factory() as session:
            owner = await self.access.link_owner(session, token) if token else None
            language = None
            if owner is not None:
                language = await language_of(session, "telegram", str(owner))
        say = Say(self.services.texts, language or self.services.config.agents.language)
        if owner is None:
            return self.render("link_refused.html", request, None, say, status=403)
        return self.render("sign_in.html", request, None, say, token=token)

    async def sign_in(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        token = str(form.get("token", ""))
        async with self.services.session_factory() as session:
            cookie = await self.access.sign_in(session, token) if token else None
            await session.commit()
        if cookie is None:
            say = Say(self.services.texts, self.services.config.agents.language)
            return self.render("link_refused.html", request, None, say, status=403)
        response = see_other("/console")
        response.set_cookie(
            COOKIE,
            cookie,
            max_age=self.services.config.console.session_hours * 3600,
            path="/console",
            httponly=True,
            samesite="Lax",
            secure=request.secure or request.headers.get("X-Forwarded-Proto") == "https",
        )
        return response

    async def sign_out(self, request: web.Request, visit: Visit) -> web.StreamResponse:
        await self.access.sign_out(visit.session, request.cookies.get(COOKIE))
        await visit.session.commit()
        log.info("console: user=%s signed out", visit.staff.telegram_id)
        response = see_other("/console")
        response.del_cookie(COOKIE, path="/console")
        return response

    async def choose_language(self, request: web.Request, visit: Visit) -> web.StreamResponse:
        assert visit.form is not None
        await self.access.choose_language(visit.session, visit.staff, str(visit.form.get("to")))
        await visit.session.commit()
        back = str(visit.form.get("next") or "/console")
        if not back.startswith("/console") or back.startswith("//"):
            back = "/console"
        return see_other(back)

    # pages

    def _period(self, request: web.Request, visit: Visit) -> tuple[Period, str | None]:
        """The period asked for, or the usual one with why the one asked for was not taken."""
        try:
            query = dict(request.query)
            return period_from(query, self.services.config, self.services.clock.now()), None
        except PeriodError as error:
            return period_from({}, self.services.config, self.services.clock.now()), error.key

    async def overview_page(self, request: web.Request, visit: Visit) -> web.Response:
        period, problem = self._period(request, visit)
        found = await overview(
            visit.session, self.services.config, period, self.services.clock.now(), visit.say
        )
        return self.render("overview.html", request, visit, visit.say, view=found, problem=problem)

    async def reports_page(self, request: web.Request, visit: Visit) -> web.Response:
        period, problem = self._period(request, visit)
        tables = await report_tables(visit.session, period, visit.say, self.services.config.teams)
        query = f"since={period.first_day}&until={period.last_day}"
        return self.render(
            "reports.html",
            request,
            visit,
            visit.say,
            period=period,
            tables=tables,
            query=query,
            problem=problem,
        )

    async def report_csv(self, request: web.Request, visit: Visit) -> web.Response:
        period, problem = self._period(request, visit)
        if problem:
            return self.render("refused.html", request, visit, visit.say, status=400, why=problem)
        name = request.query.get("table", "")
        teams = self.services.config.teams
        found = await report_tables(visit.session, period, visit.say, teams)
        tables = {t.name: t for t in found}
        if name not in tables:
            return self.render(
                "refused.html", request, visit, visit.say, status=404, why="console_no_table"
            )
        return self.csv_file(tables[name], period)

    def csv_file(self, table: Table, period: Period) -> web.Response:
        file_name = f"kefu-{table.name}-{period.first_day}-{period.last_day}.csv"
        return web.Response(
            body="\ufeff".encode() + table.csv().encode(),  # a BOM: Excel reads UTF-8
            content_type="text/csv",
            charset="utf-8",
            headers={
                **HEADERS,
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(file_name)}",
            },
        )

    async def agents(self, request: web.Request, visit: Visit) -> web.Response:
        period, problem = self._period(request, visit)
        found = await agents_page(visit.session, self.services.config.report.scorecard, period)
        return self.render(
            "agents.html",
            request,
            visit,
            visit.say,
            view=found,
            period=period,
            problem=problem,
            query=f"since={period.first_day}&until={period.last_day}",
            figure=figure,
            criteria=QA_CRITERIA,
        )

    async def agents_csv(self, request: web.Request, visit: Visit) -> web.Response:
        period, problem = self._period(request, visit)
        if problem:
            return self.render("refused.html", request, visit, visit.say, status=400, why=problem)
        found = await agents_page(visit.session, self.services.config.report.scorecard, period)
        return self.csv_file(agents_table(found, visit.say), period)

    async def tickets_page(self, request: web.Request, visit: Visit) -> web.Response:
        teams = self.services.config.teams.ids
        wanted = ticket_filter(dict(request.query), self.zone, teams)
        found = await ticket_list(
            visit.session, wanted, visit.staff, self.services.config, visit.say
        )
        return self.render(
            "tickets.html",
            request,
            visit,
            visit.say,
            view=found,
            query=dict(request.query),
            statuses=list(TicketStatus),
            priorities=list(TicketPriority),
            categories=list(TicketCategory),
            teams=teams,
        )

    async def ticket_page(self, request: web.Request, visit: Visit) -> web.Response:
        story = await self.tickets.story(
            visit.session, request.match_info["number"], visit.staff, visit.say
        )
        if story is None:
            return self.render(
                "refused.html", request, visit, visit.say, status=404, why="console_no_ticket"
            )
        return self.render(
            "ticket.html", request, visit, visit.say, story=story, photos=self.telegram is not None
        )

    async def ticket_photo(self, request: web.Request, visit: Visit) -> web.StreamResponse:
        """A photo of a ticket's conversation, fetched from Telegram (which keeps the file)."""
        number, file_id = request.match_info["number"], request.query.get("file", "")
        if self.telegram is None or not await self.tickets.holds_photo(
            visit.session, number, file_id
        ):
            return web.Response(status=404, headers=HEADERS)
        try:
            photo = await self.telegram.download(file_id, destination=io.BytesIO())
        except (TelegramAPIError, OSError) as error:
            log.warning("console: a ticket's photo could not be fetched: %s", type(error).__name__)
            return web.Response(status=502, headers=HEADERS)
        assert photo is not None  # the destination given
        return web.Response(
            body=photo.read(),
            content_type="image/jpeg",  # what Telegram makes of every photo
            headers={**HEADERS, "Cache-Control": "private, max-age=3600"},
        )

    async def incidents(
        self,
        request: web.Request,
        visit: Visit,
        *,
        told: str = "",
        refused: bool = False,
        status: int = 200,
    ) -> web.Response:
        services = self.services
        found = await incidents_page(
            visit.session,
            services.clock.now(),
            services.faq.knowledge_base.entries.keys(),
            visit.say,
            services.config.hours.business_hours().local,
        )
        started = request.query.get("started", "")
        if not told and started.isdigit():  # back from the form that started it
            local = services.config.hours.business_hours().local
            for notice in found.notices:
                if str(notice.incident.id) == started:
                    told = visit.say(
                        "incident_started", **describe(notice.incident, visit.say, local)
                    )
        ended = request.query.get("ended", "")
        if not told and ended.isdigit():
            told = visit.say("incident_ended", numbers=f"#{ended}")
        form = visit.form if refused and visit.form is not None else {}
        return self.render(
            "incidents.html",
            request,
            visit,
            visit.say,
            status=status,
            view=found,
            told=told,
            refused=refused,
            form=form,
            chosen=visit.form.getall("entries", []) if refused and visit.form else [],
        )

    async def start_incident(self, request: web.Request, visit: Visit) -> web.StreamResponse:
        """Started, then back to the page (a reload does not start it again)."""
        assert visit.form is not None
        form, say = visit.form, visit.say
        try:
            incident = await start_from_form(
                self.services.incidents,
                visit.session,
                zh=str(form.get("zh", "")),
                en=str(form.get("en", "")),
                hours=str(form.get("hours", ""))[:20],
                entries=[str(entry) for entry in form.getall("entries", [])],
                by=visit.staff.actor,
            )
        except IncidentRefused as refusal:
            key = "console_incident_needs_both" if refusal.key == "incident_needs_both" else None
            told = say(key) if key else say(refusal.key, **refusal.values)
            return await self.incidents(request, visit, told=told, refused=True, status=400)
        await visit.session.commit()
        return see_other(f"/console/incidents?started={incident.id}")

    async def end_incident(self, request: web.Request, visit: Visit) -> web.StreamResponse:
        assert visit.form is not None
        raw = str(visit.form.get("id", ""))
        if not raw.isdigit() or len(raw) > 9:
            return self.render(
                "refused.html", request, visit, visit.say, status=400, why="console_bad_form"
            )
        ended = await self.services.incidents.end(visit.session, visit.staff.actor, int(raw))
        await visit.session.commit()
        if not ended:  # ended already, by someone else or by its hours
            return await self.incidents(request, visit, told=visit.say("incident_none_in_force"))
        return see_other(f"/console/incidents?ended={ended[0]}")

    async def broadcasts(self, request: web.Request, visit: Visit) -> web.Response:
        rows = await broadcast_rows(visit.session, self.services.broadcasts, visit.say)
        return self.render(
            "broadcasts.html",
            request,
            visit,
            visit.say,
            rows=rows,
            counts=BROADCAST_COUNTS,
            told="",
            form={},
            limit=TEXT_LIMIT,
        )

    async def broadcast(self, request: web.Request, visit: Visit, told: str = "") -> web.Response:
        raw = request.match_info["id"]
        row = None
        if raw.isdigit() and len(raw) < 10:
            row = await broadcast_row(visit.session, self.services.broadcasts, int(raw), visit.say)
        if row is None:
            return self.render(
                "refused.html", request, visit, visit.say, status=404, why="console_no_broadcast"
            )
        preview = ""
        if row.status == "draft":  # how many it would reach if sent now
            service = self.services.broadcasts
            audience = await service.audience(visit.session, row.broadcast.segment)
            preview = service.preview_text(visit.say, row.broadcast, audience)
        return self.render(
            "broadcast.html",
            request,
            visit,
            visit.say,
            row=row,
            counts=BROADCAST_COUNTS,
            told=told,
            preview=preview,
        )

    async def draft_broadcast(self, request: web.Request, visit: Visit) -> web.StreamResponse:
        """The form's segment and texts as a draft (as /broadcast makes one), then its page:
        the preview with the count, and Send."""
        assert visit.form is not None
        form = visit.form
        try:
            draft, _ = await self.services.broadcasts.draft(
                visit.session,
                str(form.get("segment", ""))[:500],
                str(form.get("zh", "")),
                str(form.get("en", "")),
                visit.staff.actor,
            )
        except BroadcastRefused as refused:
            await visit.session.rollback()
            rows = await broadcast_rows(visit.session, self.services.broadcasts, visit.say)
            return self.render(
                "broadcasts.html",
                request,
                visit,
                visit.say,
                status=400,
                rows=rows,
                counts=BROADCAST_COUNTS,
                told=visit.say(refused.key, **refused.values),
                form=form,
                limit=TEXT_LIMIT,
            )
        await visit.session.commit()
        return see_other(f"/console/broadcasts/{draft.id}")

    async def send_broadcast(self, request: web.Request, visit: Visit) -> web.Response:
        """Send, once: a second press (or another replica's) finds it sent and is told so."""
        raw = request.match_info["id"]
        if not raw.isdigit() or len(raw) >= 10:
            return self.render(
                "refused.html", request, visit, visit.say, status=404, why="console_no_broadcast"
            )
        number = int(raw)
        try:
            sent = await self.services.broadcasts.send(visit.session, number, visit.staff.actor)
        except BroadcastRefused as refused:
            return await self.broadcast(
                request, visit, told=visit.say(refused.key, **refused.values)
            )
        await visit.session.commit()
        told = visit.say("console_broadcast_on_its_way", number=number, count=sent.recipients)
        return await self.broadcast(request, visit, told=told)

    async def cancel_broadcast(self, request: web.Request, visit: Visit) -> web.Response:
        raw = request.match_info["id"]
        if not raw.isdigit() or len(raw) >= 10:
            return self.render(
                "refused.html", request, visit, visit.say, status=404, why="console_no_broadcast"
            )
        number = int(raw)
        row = await broadcast_row(visit.session, self.services.broadcasts, number, visit.say)
        if row is not None and not row.cancellable:  # all sent, or cancelled already
            told = visit.say("console_broadcast_not_in_progress", number=number)
            return await self.broadcast(request, visit, told=told)
        try:
            await self.services.broadcasts.cancel(visit.session, number, visit.staff.actor)
        except BroadcastRefused as refused:
            await visit.session.rollback()
            return await self.broadcast(
                request, visit, told=visit.say(refused.key, **refused.values)
            )
        await visit.session.commit()
        told = visit.say("console_broadcast_cancelled_now", number=number)
        return await self.broadcast(request, visit, told=told)

    async def knowledge(self, request: web.Request, visit: Visit) -> web.Response:
        version = request.query.get("version", "")
        found = await knowledge_page(
            visit.session,
            self.services.faq,
            self.services.editor,
            request.query.get("q", ""),
            int(version) if version.isdigit() and len(version) < 10 else None,
        )
        notice = request.query.get("done", "")
        return self.render("knowledge.html", request, visit, visit.say, view=found, notice=notice)

    async def roll_back(self, request: web.Request, visit: Visit) -> web.StreamResponse:
        say = visit.say
        try:
            version, result = await self.services.editor.rollback(
                visit.session, visit.staff.telegram_id
            )
        except EditError as error:
            return self.render("knowledge_done.html", request, visit, say, text=error.told(say))
        if result.ok:
            text = say("kb_rolled_back", id=version.id, summary=result.change.told(say))
        else:
            text = say("kb_failed", errors="\n".join(result.errors))
        log.info("console: user=%s rolled the knowledge base back", visit.staff.telegram_id)
        return self.render("knowledge_done.html", request, visit, say, text=text)

    async def gaps(self, request: web.Request, visit: Visit) -> web.Response:
        days_text = request.query.get("days", "7")
        days = int(days_text) if days_text.isdigit() and int(days_text) in GAP_DAYS else 7
        found = await gaps_page(
            visit.session, self.services.learning, self.services.clock.now(), days
        )
        return self.render("gaps.html", request, visit, visit.say, view=found, choices=GAP_DAYS)

    async def decide_learned(self, request: web.Request, visit: Visit) -> web.StreamResponse:
        assert visit.form is not None
        raw, decision = str(visit.form.get("id", "")), str(visit.form.get("decision", ""))
        if not raw.isdigit() or len(raw) > 9 or decision not in ("approve", "reject"):
            return self.render(
                "refused.html", request, visit, visit.say, status=400, why="console_bad_form"
            )
        question_id, approve = int(raw), decision == "approve"
        decided = await self.services.learning.decide(
            visit.session,
            approve=[question_id] if approve else [],
            reject=[] if approve else [question_id],
            by=f"console:{visit.staff.telegram_id}",
        )
        await visit.session.commit()
        refusals = [why.told(visit.say) for _, why in decided.refused]
        if decided.result is not None and not decided.result.ok:
            refusals.append("\n".join(decided.result.errors))
        text = decided_text(visit.say, question_id, approve, refusals)
        return self.render(
            "knowledge_done.html", request, visit, visit.say, text=text, back="/console/gaps"
        )
