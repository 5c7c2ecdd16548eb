"""The command line: `kefu run | web | chat | ask | kb ... | orders | schedule | report |
customers | tickets | incident | broadcast | console | audit | db ...`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.channels.redaction import redact_logs
from bot.clock import SystemClock
from bot.config import Config, ConfigError, load_config
from bot.knowledge_admin import tools as knowledge_admin
from bot.middlewares.log_context import JsonLines, UpdateOnRecord
from bot.texts import Say, Texts
from knowledge import KnowledgeBaseError
from storage.database import DatabaseUnreachable, SchemaNotCurrent, migrated_session

if TYPE_CHECKING:
    from bot.tickets.vip import VipTiers

log = logging.getLogger("bot")

TELEGRAM_HINT = """\
No Telegram token is set, so kefu is chatting with you here in the terminal.
To serve customers on Telegram: create a bot with @BotFather, then put its token in config.toml
([telegram] token = "...") or in the environment variable KEFU_TELEGRAM_TOKEN, and run again.
"""


def _days(text: str) -> int:
    from bot.reports.service_report import MAX_DAYS, report_days

    days = report_days(text)
    if days is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days from 1 to {MAX_DAYS}")
    return days


def _day(text: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kefu", description="A customer-service bot.")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $KEFU_CONFIG, else config.toml, else config.example.toml)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run_command = commands.add_parser(
        "run", help="serve Telegram (or the terminal when no token is set)"
    )
    run_command.add_argument(
        "--webhook",
        action="store_true",
        help='receive updates by webhook for this run ([telegram] mode = "webhook")',
    )
    commands.add_parser(
        "web", help="serve the web chat (/chat, /widget.js) and /healthz, without Telegram"
    )
    chat = commands.add_parser("chat", help="talk to the bot in this terminal")
    chat.add_argument("--language", choices=["zh", "en"], help="the language of your app")
    ask = commands.add_parser("ask", help="show how the bot would answer one question")
    ask.add_argument("text")
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    kb = commands.add_parser("kb", help="knowledge base tools")
    kb_commands = kb.add_subparsers(dest="kb_command", required=True)
    check = kb_commands.add_parser("check", help="validate a knowledge base")
    check.add_argument("path", nargs="?", help="folder or file (default: the configured one)")
    check.add_argument(
        "--conflict-score",
        type=float,
        default=knowledge_admin.DEFAULT_CONFLICT_SCORE,
        help="warn when questions of two entries are this alike, 0-100 (default: %(default)s)",
    )
    test = kb_commands.add_parser("test", help="the top 5 candidates for a question")
    test.add_argument("text")
    test.add_argument("--json", action="store_true", help="print one JSON object")
    evaluation = kb_commands.add_parser("eval", help="measure a knowledge base on test cases")
    evaluation.add_argument("--kb", metavar="PATH", help="knowledge base (default: configured)")
    evaluation.add_argument("--cases", metavar="PATH", required=True, help="YAML or .jsonl")
    evaluation.add_argument("--json", action="store_true", help="print one JSON object")
    evaluation.add_argument(
        "--min-top1", type=float, metavar="X", help="exit non-zero when top1 is below X"
    )
    evaluation.add_argument(
        "--keep",
        action="store_true",
        help="keep the figures in the database, for the console (the configured knowledge base)",
    )
    gaps = kb_commands.add_parser("gaps", help="what customers asked that got no good answer")
    gaps.add_argument("--since", default="7d", help="how far back: 24h, 7d, 2w (default: 7d)")
    gaps.add_argument("--limit", type=int, default=20, help="how many groups (default: 20)")
    gaps.add_argument("--yaml", action="store_true", help="print new entries to fill in")
    learn = kb_commands.add_parser(
        "learn", help="questions learned from customers: list, approve, reject"
    )
    learn.add_argument("--approve", type=int, nargs="+", default=[], metavar="ID")
    learn.add_argument("--reject", type=int, nargs="+", default=[], metavar="ID")
    learn.add_argument("--yaml", action="store_true", help="print a review file to edit")
    learn.add_argument("--review", metavar="FILE", help="apply the decisions of a review file")
    learn.add_argument("--limit", type=int, default=200, help="how many to list (default: 200)")
    orders = commands.add_parser("orders", help="the built-in orders provider")
    orders_commands = orders.add_subparsers(dest="orders_command", required=True)
    load = orders_commands.add_parser("import", help="add or update orders from a CSV file")
    load.add_argument("file", help="CSV with the columns described in the README")
    scheduled = commands.add_parser("schedule", help="messages the bot will send on its own")
    schedule_commands = scheduled.add_subparsers(dest="schedule_command", required=True)
    listing = schedule_commands.add_parser("list", help="what is pending, for whom, when")
    listing.add_argument("--all", action="store_true", help="sent, cancelled and failed too")
    listing.add_argument("--limit", type=int, default=50)
    cancel = schedule_commands.add_parser("cancel", help="cancel a pending message")
    cancel.add_argument("id", type=int)
    report = commands.add_parser(
        "report", help="the service figures against their targets, or the agents' scorecards"
    )
    report.add_argument(
        "what",
        nargs="?",
        choices=["service", "agents"],
        default="service",
        help="service: the service report (default); agents: the agents' scorecards",
    )
    report.add_argument(
        "--days", type=_days, metavar="N", help="1 to 366 (default: [report] days)"
    )
    report.add_argument("--since", type=_date, metavar="DATE", help="first day, YYYY-MM-DD")
    report.add_argument(
        "--until", type=_date, metavar="DATE", help="last day (included; default: today)"
    )
    shape = report.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="print one JSON document")
    shape.add_argument("--csv", action="store_true", help="print CSV")
    customers = commands.add_parser("customers", help="a customer's data, on their request")
    customers_commands = customers.add_subparsers(dest="customers_command", required=True)
    export = customers_commands.add_parser(
        "export", help="everything kept about a customer (HTML; recorded in the audit log)"
    )
    export.add_argument("id", type=int, help="the customer number (#N on the ticket card)")
    export.add_argument("--out", metavar="FILE", help="write to FILE (default: print it)")
    export.add_argument("--json", action="store_true", help="JSON instead of HTML")
    export.add_argument("--language", choices=["zh", "en"], help="default: the customer's")
    erase = customers_commands.add_parser(
        "erase", help="erase a customer's personal data (recorded in the audit log)"
    )
    erase.add_argument("id", type=int, help="the customer number (#N on the ticket card)")
    customers_import = customers_commands.add_parser(
        "import", help="set customers' VIP tiers from a CSV file (telegram_id, vip_tier, name)"
    )
    customers_import.add_argument(
        "file",
        help="columns: telegram_id (or channel and "
        "external_id), vip_tier (empty or - clears it), name",
    )
    team = commands.add_parser("team", help="teams of [teams] and their agents")
    team_commands = team.add_subparsers(dest="team_command", required=True)
    team_commands.add_parser("list", help="each team and its members")
    for action in ("add", "remove"):
        change = team_commands.add_parser(action, help=f"{action} an agent (a Telegram user id)")
        change.add_argument("team", help="a team's id in [teams]")
        change.add_argument("user", help="a Telegram user id, or @username of an agent")
    tickets = commands.add_parser("tickets", help="tickets on record, for review and archives")
    tickets_commands = tickets.add_subparsers(dest="tickets_command", required=True)
    show = tickets_commands.add_parser(
        "show", help="a ticket's whole conversation (recorded in the audit log)"
    )
    show.add_argument("number", help="the ticket's number, e.g. T-000123")
    show.add_argument("--language", choices=["zh", "en"], help="default: [bot] default_language")
    archive = tickets_commands.add_parser(
        "export", help="tickets opened in a period, with their records (recorded in the audit log)"
    )
    archive.add_argument(
        "--since", default="30d", help="how far back: 24h, 30d, 4w (default: 30d)"
    )
    archive.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    archive.add_argument("--out", metavar="FILE", help="write to FILE (default: print it)")
    audit = commands.add_parser("audit", help="who at the shop saw which customer's data")
    audit.add_argument("--since", type=_day, required=True, metavar="YYYY-MM-DD")
    audit.add_argument("--customer", type=int, metavar="ID", help="only this customer")
    incident = commands.add_parser(
        "incident", help="notices shown to customers while something goes wrong"
    )
    incident_commands = incident.add_subparsers(dest="incident_command", required=True)
    start = incident_commands.add_parser("start", help="publish a notice (zh and en)")
    start.add_argument("--zh", required=True, help="the notice in Chinese")
    start.add_argument("--en", required=True, help="the notice in English")
    start.add_argument("--hours", type=float, default=24.0, help="how long (default: 24)")
    start.add_argument(
        "--entries", default="", metavar="ID,ID", help="only before these entries' answers"
    )
    end = incident_commands.add_parser("end", help="end a notice, or all of them")
    end.add_argument("id", type=int, nargs="?", help="the notice's number (default: all)")
    incident_commands.add_parser("list", help="the notices in force and those ended lately")
    broadcast = commands.add_parser(
        "broadcast", help="one message (zh and en) to a segment of customers"
    )
    broadcast_commands = broadcast.add_subparsers(dest="broadcast_command", required=True)
    preview = broadcast_commands.add_parser("preview", help="how many a segment reaches now")
    send = broadcast_commands.add_parser("send", help="send to a segment, at Telegram's pace")
    for chosen in (preview, send):
        chosen.add_argument("--status", metavar="S,S", help="orders in these states")
        chosen.add_argument("--carrier", help="orders with this carrier")
        chosen.add_argument("--region", help="orders whose address contains this")
        chosen.add_argument("--from", dest="ordered_from", metavar="YYYY-MM-DD")
        chosen.add_argument("--to", dest="ordered_to", metavar="YYYY-MM-DD", help="included")
        chosen.add_argument("--contacted", metavar="DAYS", help="wrote in the last DAYS days")
        chosen.add_argument("--open-tickets", action="store_true", help="with an open ticket")
        chosen.add_argument("--everyone", action="store_true", help="every customer")
        chosen.add_argument("--zh", required=chosen is send, help="the text in Chinese")
        chosen.add_argument("--en", required=chosen is send, help="the text in English")
    for name, about in (("status", "how one went"), ("cancel", "stop one being sent")):
        broadcast_commands.add_parser(name, help=about).add_argument("id", type=int)
    broadcast_commands.add_parser("list", help="the latest broadcasts")
    console = commands.add_parser("console", help="the managers' web console")
    console_commands = console.add_subparsers(dest="console_command", required=True)
    link = console_commands.add_parser(
        "link", help="print a one-time sign-in link for an admin or a supervisor"
    )
    link.add_argument("telegram_id", type=int, metavar="TELEGRAM_USER_ID")
    database = commands.add_parser("db", help="the database's schema")
    database_commands = database.add_subparsers(dest="db_command", required=True)
    database_commands.add_parser("upgrade", help="migrate the database to the newest schema")
    database_commands.add_parser(
        "current", help="the schema's revision (exits 1 when an upgrade is due)"
    )
    return parser


# Loggers that print what customers wrote at DEBUG: the database drivers' statements with their
# values and the rows they read (aiosqlite logs every call with its arguments). They are held at
# INFO or above.
DRIVER_LOGGERS = ("sqlalchemy.engine", "sqlalchemy.pool", "aiosqlite", "asyncpg")


def configure_logging(level: int | str, form: str = "text") -> None:
    """Logs carry ids, never customers' words, phones or addresses, at every level; each line
    names the update it was written for (in JSON, or as `update=N` in text)."""
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s%(update)s"
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(UpdateOnRecord())
        handler.addFilter(_update_in_text)
        if form == "json":
            handler.setFormatter(JsonLines())
    for name in DRIVER_LOGGERS:
        # only ever raised: SQLAlchemy holds its own loggers at WARNING, and INFO would print
        # every statement
        driver = logging.getLogger(name)
        driver.setLevel(max(driver.getEffectiveLevel(), logging.INFO))
    # APScheduler logs every run of every job at INFO (the file watch's every 2 s); a failing
    # or missed run is still logged, as an error or a warning.
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)


def _update_in_text(record: logging.LogRecord) -> bool:
    update = getattr(record, "update_id", None)
    record.update = f" update={update}" if update is not None else ""
    return True


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings: dict[tuple[str, ...], Any] = {}
    if getattr(args, "webhook", False):
        settings[("telegram", "mode")] = "webhook"
    try:
        config = load_config(args.config, settings=settings)
    except ConfigError as error:
        print(f"kefu: {error}", file=sys.stderr)
        return 2
    serving = args.command == "web" or (args.command == "run" and config.telegram.enabled)
    quiet = not serving
    configure_logging(logging.WARNING if quiet else config.logging.level, config.logging.format)
    redact_logs(secret.get_secret_value() for secret in config.secrets())
    try:
        if args.command == "db":
            return asyncio.run(database_command(config, args.db_command))
        if args.command == "kb":
            return run_kb_command(config, args)
        if args.command == "schedule":
            return asyncio.run(schedule_command(config, args))
        if args.command == "report":
            return asyncio.run(print_report(config, args))
        if args.command == "customers" and args.customers_command == "import":
            return asyncio.run(import_customers_file(config, args.file))
        if args.command == "customers":
            return asyncio.run(customers_command(config, args))
        if args.command == "team":
            return asyncio.run(team_command(config, args))
        if args.command == "incident":
            return asyncio.run(incident_command(config, args))
        if args.command == "broadcast":
            return asyncio.run(broadcast_command(config, args))
        if args.command == "tickets":
            return asyncio.run(tickets_command(config, args))
        if args.command == "console":
            return asyncio.run(console_link(config, args.telegram_id))
        if args.command == "audit":
            return asyncio.run(print_audit(config, args.since, args.customer))
        if args.command == "orders":
            return asyncio.run(import_orders_file(config, args.file))
        if args.command == "ask":
            return knowledge_admin.test_question(config, args.text, as_json=args.json)
        if args.command == "chat":
            return asyncio.run(chat(config, language=args.language))
        if args.command == "web":
            return asyncio.run(web(config))
        return asyncio.run(run(config))
    except KnowledgeBaseError as error:
        print(f"kefu: the knowledge base has errors, not starting:\n{error}", file=sys.stderr)
        return 1
    except DatabaseUnreachable as error:
        print(f"kefu: cannot open the database of [database] url: {error}", file=sys.stderr)
        return 2
    except SchemaNotCurrent as error:
        print(
            f"kefu: the database schema is at {error.current or 'no revision'} and this kefu "
            f"reads {error.head}: run `kefu db upgrade`",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        return 130


def run_kb_command(config: Config, args: argparse.Namespace) -> int:
    if args.kb_command == "check":
        return knowledge_admin.check(config, args.path, args.conflict_score)
    if args.kb_command == "test":
        return knowledge_admin.test_question(config, args.text, as_json=args.json)
    if args.kb_command == "eval":
        return knowledge_admin.run_evaluation(
            config,
            args.kb,
            args.cases,
            as_json=args.json,
            min_top1=args.min_top1,
            keep=args.keep,
            clock=SystemClock(),
        )
    if args.kb_command == "learn":
        return learn(config, args)
    try:
        since = knowledge_admin.parse_period(args.since)
    except ValueError as error:
        print(f"kefu: --since: {error}", file=sys.stderr)
        return 2
    return asyncio.run(
        knowledge_admin.show_gaps(
            config, SystemClock(), since=since, as_yaml=args.yaml, limit=args.limit
        )
    )


def learn(config: Config, args: argparse.Namespace) -> int:
    approve: list[int] = list(args.approve)
    reject: list[int] = list(args.reject)
    edits: dict[int, str] = {}
    if args.review:
        try:
            approve, reject, edits = knowledge_admin.read_review(args.review)
        except (OSError, ValueError, KeyError, TypeError) as error:
            print(f"kefu: --review: {error}", file=sys.stderr)
            return 2
    if not (approve or reject):
        if args.review:
            print("Nothing to decide in that file.")
            return 0
        return asyncio.run(
            knowledge_admin.list_learned(config, as_yaml=args.yaml, limit=args.limit)
        )
    return asyncio.run(
        knowledge_admin.decide_learned(
            config, SystemClock(), approve=approve, reject=reject, edits=edits
        )
    )


async def import_orders_file(config: Config, file: str) -> int:
    from bot.orders.csv_import import OrderImportError, import_orders, read_orders_csv

    try:
        rows = read_orders_csv(file)
    except OrderImportError as error:
        print(f"{error}\n{len(error.problems)} error(s): nothing was imported", file=sys.stderr)
        return 1
    async with migrated_session(config.database.url) as session:
        result = await import_orders(session, rows)
        await _vip_tiers(config).from_orders(session, rows)
        await session.commit()
    print(f"{file}: {result.summary()}")
    return 0


def _vip_tiers(config: Config) -> VipTiers:
    from bot.tickets.lifecycle import TicketService
    from bot.tickets.vip import VipTiers

    clock = SystemClock()
    tickets = TicketService(clock, config.hours.business_hours(), config.sla, teams=config.teams)
    return VipTiers(config.sla, tickets, clock)


async def import_customers_file(config: Config, file: str) -> int:
    """`kefu customers import FILE.csv`: the whole file checked first, nothing changed if any
    line is wrong; customers not seen yet are added with their tier."""
    from bot.tickets.vip import CustomerImportError

    vip = _vip_tiers(config)
    try:
        rows = vip.read_csv(file)
    except CustomerImportError as error:
        print(f"{error}\n{len(error.problems)} error(s): nothing was imported", file=sys.stderr)
        return 1
    async with migrated_session(config.database.url) as session:
        result = await vip.import_rows(session, rows)
        await session.commit()
    print(f"{file}: {result.summary()}")
    return 0


async def team_command(config: Config, args: argparse.Namespace) -> int:
    """`kefu team list|add|remove`: as /team, done by "cli" (0 as the admin's id)."""
    from bot.tickets.roles import RoleBook
    from bot.tickets.teams import Teams

    clock = SystemClock()
    roles = RoleBook(config.roles, clock)
    teams = Teams(config.teams, roles, clock)
    say = operator(config)
    async with migrated_session(config.database.url) as session:
        await roles.load(session)
        if args.team_command == "list":
            rows = await teams.listing(session, say.language)
            for team, name, members in rows:
                print(say("team_line", team=team, name=name, members=members))
            if not rows:
                print(say("team_none"))
            return 0
        arguments = f"{args.team_command} {args.team} {args.user}"
        change = await teams.command(session, 0, arguments, say.language)
        assert change is not None
        await session.commit()
    if change.key in ("team_unknown", "team_user_unknown", "team_not_staff", "team_usage"):
        print(f"kefu: {change.told(say)}", file=sys.stderr)
        return 1
    print(change.told(say))
    return 0


def operator(config: Config) -> Say:
    """The command line speaks English, as all of its other output does."""
    return Say(Texts.load(config.placeholders()), "en")


async def schedule_command(config: Config, args: argparse.Namespace) -> int:
    from bot.schedule.delivery import PENDING_ONLY, STATUSES, Schedule, schedule_report
    from storage.database import reading

    schedule = Schedule(config.schedule, SystemClock(), config.hours.business_hours().zone, "cli")
    if args.schedule_command == "list":
        statuses = STATUSES if args.all else PENDING_ONLY
        async with reading(config.database.url) as sessions, sessions() as session:
            print(await schedule_report(session, schedule, operator(config), statuses, args.limit))
        return 0
    async with migrated_session(config.database.url) as session:
        if await schedule.cancel(session, args.id, "cancelled by an admin"):
            print(f"#{args.id} cancelled")
            return 0
        print(f"kefu: #{args.id} is not a pending scheduled message", file=sys.stderr)
        return 1


def _period(config: Config, args: argparse.Namespace) -> tuple[datetime, datetime] | None:
    """--days N, or --since DATE [--until DATE] (until today), in the shop's time zone."""
    from bot.reports.service_report import MAX_DAYS, last_days, whole_days

    zone = config.hours.business_hours().zone
    now = SystemClock().now()
    if args.since is None:
        if args.until is not None:
            return None
        return last_days(now, zone, args.days or config.report.days)
    until = args.until or now.astimezone(zone).date()
    if args.days is not None or not 0 <= (until - args.since).days < MAX_DAYS:
        return None
    return whole_days(args.since, until, zone)


async def print_report(config: Config, args: argparse.Namespace) -> int:
    from bot.reports.period_report import (
        build_report,
        render_period_report,
        report_csv,
        report_json,
    )
    from bot.reports.scorecards import scorecard_report, scorecard_rows
    from storage.database import reading

    period = _period(config, args)
    if period is None:
        print(
            "kefu: give --days N, or --since DATE with an --until DATE after it, "
            "at most 366 days apart",
            file=sys.stderr,
        )
        return 2
    since, until = period
    async with reading(config.database.url) as sessions, sessions() as session:
        if args.what == "agents":
            if args.json or args.csv:
                rows = await scorecard_rows(session, config, since, until)
                sys.stdout.write(_as_json(rows) if args.json else _as_csv(rows))
            else:
                print(await scorecard_report(session, config, since, until, operator(config)))
            return 0
        report = await build_report(session, since, until, config.hours.business_hours().zone)
    if args.json:
        sys.stdout.write(report_json(report))
    elif args.csv:
        sys.stdout.write(report_csv(report))
    else:
        print(render_period_report(report, config, operator(config)))
    return 0


def _as_json(rows: Any) -> str:
    import json

    return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"


def _as_csv(rows: list[dict[str, Any]]) -> str:
    import csv
    import io

    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue()


async def customers_command(config: Config, args: argparse.Namespace) -> int:
    """`kefu customers export|erase ID`, for a customer who asked the shop rather than the bot;
    each is written to the audit log as done by "cli"."""
    from bot.app import create_orders_provider
    from bot.orders.lookup import OrderStatusService
    from bot.privacy.customer_data import CustomerData
    from bot.schedule.delivery import Schedule
    from bot.tickets.lifecycle import TicketService
    from storage.database import create_session_factory, migrate, open_engine
    from storage.models import Customer

    clock = SystemClock()
    hours = config.hours.business_hours()
    texts = Texts.load(config.placeholders())
    async with open_engine(config.database.url) as engine:
        await migrate(engine)
        sessions = create_session_factory(engine)
        provider = create_orders_provider(config, sessions, clock)
        customer_data = CustomerData(
            OrderStatusService(provider, config.orders, clock, texts, hours),
            TicketService(clock, hours, config.sla),
            Schedule(config.schedule, clock, hours.zone, "cli"),
            texts,
            clock,
        )
        try:
            async with sessions() as session:
                customer = await session.get(Customer, args.id)
                if customer is None:
                    print(f"kefu: there is no customer {args.id}", file=sys.stderr)
                    return 1
                if args.customers_command == "erase":
                    erasure = await customer_data.erase(session, customer, by="cli")
                    await session.commit()
                    print(
                        f"customer {args.id}: personal data erased ({erasure.messages} "
                        f"messages, {erasure.tickets} ticket descriptions, {erasure.comments} "
                        f"survey comments, {erasure.order_links} order links)"
                    )
                    return 0
                language = args.language or customer.language or config.bot.default_language
                export = await customer_data.export(session, args.id, language, by="cli")
                assert export is not None
                await session.commit()
        finally:
            await provider.close()
    content = export.json() if args.json else export.page
    if args.out:
        Path(args.out).write_text(content, encoding="utf-8")
        print(f"customer {args.id}: written to {args.out}")
    else:
        print(content)
    return 0


async def incident_command(config: Config, args: argparse.Namespace) -> int:
    """`kefu incident start|end|list`: the same notices as /incident, done by "cli"; a running
    kefu shows a change within seconds."""
    from datetime import timedelta

    from bot.faq.answers import load_knowledge
    from bot.incidents.notices import IncidentBoard, IncidentRefused, describe
    from bot.texts import Say, Texts
    from storage import incidents

    clock = SystemClock()
    say = Say(Texts.load(config.business.placeholders()), "en")
    local = config.hours.business_hours().local
    entries = [e for e in getattr(args, "entries", "").split(",") if e.strip()]
    board = IncidentBoard(clock, lambda: load_knowledge(config).entries.keys() if entries else ())
    async with migrated_session(config.database.url) as session:
        if args.incident_command == "start":
            try:
                incident = await board.start(
                    session,
                    zh=args.zh,
                    en=args.en,
                    hours=args.hours,
                    entries=entries,
                    by="cli",
                )
            except IncidentRefused as refused:
                print(f"kefu: {say(refused.key, **refused.values)}", file=sys.stderr)
                return 2
            await session.commit()
            print(say("incident_started", **describe(incident, say, local)))
            return 0
        if args.incident_command == "end":
            ended = await board.end(session, "cli", args.id)
            await session.commit()
            if not ended:
                print(f"kefu: {say('incident_none_in_force')}", file=sys.stderr)
                return 1
            print(say("incident_ended", numbers=", ".join(f"#{n}" for n in ended)))
            return 0
        listed = await incidents.recent(session, clock.now() - timedelta(days=30))
    if not listed:
        print("No notice in force or ended in the last 30 days.")
    for incident in listed:
        state = (
            f"ended {local(incident.ended_at):%Y-%m-%d %H:%M} by {incident.ended_by}"
            if incident.ended_at is not None
            else "expired"
            if incident.expires_at <= clock.now()
            else "in force"
        )
        figures = describe(incident, say, local)
        print(
            f"#{incident.id} {state}; until {figures['until']}, {figures['scope']}; "
            f"started by {incident.started_by}"
        )
        print(f"    zh: {incident.text_zh}\n    en: {incident.text_en}")
    return 0


def segment_of(args: argparse.Namespace) -> str:
    """`kefu broadcast` options as the segment /broadcast reads."""
    import shlex

    words = ["everyone"] if args.everyone else []
    words += ["open_tickets"] if args.open_tickets else []
    for name, value in (
        ("status", args.status),
        ("carrier", args.carrier),
        ("region", args.region),
        ("from", args.ordered_from),
        ("to", args.ordered_to),
        ("contacted", args.contacted),
    ):
        if value is not None:
            words.append(shlex.quote(f"{name}={value}"))
    return " ".join(words)


async def broadcast_command(config: Config, args: argparse.Namespace) -> int:
    """`kefu broadcast preview|send|status|cancel|list`: the broadcasts of /broadcast, done by
    "cli"; a running kefu sends what this schedules."""
    from bot.incidents.broadcasts import BroadcastRefused, Broadcasts, check_texts
    from bot.schedule.delivery import Schedule
    from bot.texts import Say, Texts

    clock = SystemClock()
    texts = Texts.load(config.business.placeholders())
    say = Say(texts, "en")
    zone = config.hours.business_hours().zone
    broadcasts = Broadcasts(config, Schedule(config.schedule, clock, zone, "cli"), clock, texts)
    command = args.broadcast_command
    async with migrated_session(config.database.url) as session:
        try:
            if command == "preview":
                if args.zh is not None or args.en is not None:
                    check_texts(args.zh or "", args.en or "")
                segment = segment_of(args)
                audience = await broadcasts.audience(session, segment)
                print(
                    say(
                        "broadcast_cli_preview",
                        segment=segment,
                        count=f"{audience.reachable:,}",
                        zh=f"{audience.zh:,}",
                        en=f"{audience.en:,}",
                        opted_out=audience.opted_out,
                        unreachable=audience.unreachable,
                        banned=audience.banned,
                    )
                )
                return 0
            if command == "send":
                draft, _ = await broadcasts.draft(
                    session, segment_of(args), args.zh, args.en, "cli"
                )
                assert draft.id is not None
                sent = await broadcasts.send(session, draft.id, "cli")
                await session.commit()
                print(say("broadcast_on_its_way", number=sent.id, count=sent.recipients))
                return 0
            if command == "cancel":
                await broadcasts.cancel(session, args.id, "cli")
                await session.commit()
            if command in ("status", "cancel"):
                print(broadcasts.report_text(say, *await broadcasts.report(session, args.id)))
                return 0
            print(broadcasts.list_text(say, await broadcasts.recent(session, 30)))
            return 0
        except BroadcastRefused as refused:
            print(f"kefu: {say(refused.key, **refused.values)}", file=sys.stderr)
            return 2


async def tickets_command(config: Config, args: argparse.Namespace) -> int:
    """`kefu tickets show NUMBER` and `kefu tickets export`; each look at a conversation is
    written to the audit log as done by "cli"."""
    from bot.texts import Texts
    from bot.tickets.archive import export_tickets
    from bot.tickets.transcript import Transcripts
    from storage.models import Ticket, find_ticket_id
    from storage.privacy import record_access

    now = SystemClock().now()
    since = None
    if args.tickets_command == "export":
        try:
            since = now - knowledge_admin.parse_period(args.since)
        except ValueError as error:
            print(f"kefu: --since: {error}", file=sys.stderr)
            return 2
    async with migrated_session(config.database.url) as session:
        if since is not None:
            content, count = await export_tickets(
                session, since, args.format, actor="cli", now=now
            )
            await session.commit()
            if args.out:
                Path(args.out).write_text(content, encoding="utf-8")
                print(f"{count} tickets written to {args.out}")
            else:
                sys.stdout.write(content)
            return 0
        ticket_id = find_ticket_id(args.number)
        ticket = await session.get(Ticket, ticket_id) if ticket_id and ticket_id < 2**31 else None
        if ticket is None:
            print(f"kefu: there is no ticket {args.number}", file=sys.stderr)
            return 1
        zone = config.hours.business_hours().zone
        transcripts = Transcripts(Texts.load(config.business.placeholders()), zone)
        language = args.language or config.bot.default_language
        text = await transcripts.render(session, ticket, language)
        await record_access(
            session,
            actor="cli",
            customer_id=ticket.customer_id,
            kind="transcript",
            detail=ticket.number,
            now=now,
        )
        await session.commit()
    sys.stdout.write(text)
    return 0


async def console_link(config: Config, telegram_id: int) -> int:
    """`kefu console link ID`: a sign-in link as /console gives one, for the first admin or a
    shop without Telegram yet."""
    from bot.app import web_secret_of
    from bot.tickets.roles import RoleBook
    from bot.web.console.access import ConsoleAccess

    clock = SystemClock()
    roles = RoleBook(config.roles, clock)
    access = ConsoleAccess(config, roles, clock, web_secret_of(config))
    if not access.served():
        print(
            "kefu: the console is turned off ([console] enabled = false, or [web] enabled = "
            "false)",
            file=sys.stderr,
        )
        return 1
    async with migrated_session(config.database.url) as session:
        url = await access.new_link(session, telegram_id)
        await session.commit()
    if url is None:
        print(
            f"kefu: {telegram_id} is neither an admin nor a supervisor (add them to [roles] "
            "admins or supervisors, or give the role with /role)",
            file=sys.stderr,
        )
        return 1
    print(url)
    print(f"It works once, within {config.console.link_minutes} minutes.", file=sys.stderr)
    return 0


async def print_audit(config: Config, since: datetime, customer_id: int | None) -> int:
    from bot.privacy.audit import audit_report
    from storage.database import reading

    async with reading(config.database.url) as sessions, sessions() as session:
        print(await audit_report(session, since, customer_id))
    return 0


async def database_command(config: Config, command: str) -> int:
    """`kefu db upgrade` migrates, for deployments that migrate before they start the bot;
    `kefu db current` only reads."""
    from alembic.util import CommandError

    from storage.database import (
        current_revision,
        database_revision,
        head_revision,
        migrate,
        open_engine,
    )

    if command == "current":
        head = head_revision()
        current = await database_revision(config.database.url)
        if current == head:
            print(f"database at revision {current} (head)")
            return 0
        where = f"at revision {current}" if current else "has no schema yet"
        print(f"database {where}, head is {head}: run `kefu db upgrade`")
        return 1
    async with open_engine(config.database.url) as engine:
        before = await current_revision(engine)
        try:
            await migrate(engine)
        except CommandError as error:  # a revision this kefu does not know: a newer kefu's
            print(f"kefu: {error}", file=sys.stderr)
            return 2
        after = await current_revision(engine)
    change = "" if before == after else f", upgraded from {before or 'an empty database'}"
    print(f"database at revision {after} (head){change}")
    return 0


async def chat(config: Config, language: str | None = None) -> int:
    from bot.app import create_dispatcher, create_services
    from bot.channels.terminal import TerminalChat
    from bot.knowledge_admin.publishing import PublishResult
    from bot.schedule.jobs import running_jobs

    async def notify(result: PublishResult) -> None:
        print(f"[kefu] {result.message()}", file=sys.stderr)

    services = await create_services(config)
    try:
        terminal = TerminalChat(
            create_dispatcher(services, channel="terminal"),
            language_code=language,
            now=services.clock.now,
        )
        # No bot: of the jobs, only the knowledge-base watch (the others write to Telegram).
        async with running_jobs(services, notify):
            await terminal.run()
    finally:
        await services.close()
    return 0


async def web(config: Config) -> int:
    from bot.app import create_services, run_web

    if config.agents.group_id:
        # no Telegram here: tickets opened on the web are kept, and get their topic in the
        # agents' group when `kefu run` next handles them
        log.warning(
            "kefu web serves no Telegram: tickets opened in the web chat are kept, but the "
            "agents' group is not told of them"
        )
        config = config.model_copy(
            update={"agents": config.agents.model_copy(update={"group_id": 0})}
        )
    services = await create_services(config)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await run_web(services)
    except OSError as error:
        print(
            f"kefu: cannot listen on {config.web.host}:{config.web.port} ([web] host and "
            f"port): {error.strerror}",
            file=sys.stderr,
        )
        return 2
    finally:
        await services.close()
    return 0


async def run(config: Config) -> int:
    from bot.app import create_services, run_telegram
    from bot.channels.telegram import TelegramUnreachable

    if not config.telegram.enabled:
        print(TELEGRAM_HINT, file=sys.stderr)
        return await chat(config)
    services = await create_services(config)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await run_telegram(services)
    except TelegramUnreachable as error:
        print(f"kefu: {error}", file=sys.stderr)
        return 2
    finally:
        await services.close()
    return 0
