"""The command line: `kefu run | chat | ask | kb check`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.config import Config, ConfigError, load_config
from bot.faq import create_matcher, load_knowledge
from knowledge import KnowledgeBaseError, load_knowledge_base

log = logging.getLogger("bot")

TELEGRAM_HINT = """\
No Telegram token is set, so kefu is chatting with you here in the terminal.
To serve customers on Telegram: create a bot with @BotFather, then put its token in config.toml
([telegram] token = "...") or in the environment variable KEFU_TELEGRAM_TOKEN, and run again.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kefu", description="A customer-service bot.")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $KEFU_CONFIG, else config.toml, else config.example.toml)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="serve Telegram (or the terminal when no token is set)")
    chat = commands.add_parser("chat", help="talk to the bot in this terminal")
    chat.add_argument("--language", choices=["zh", "en"], help="the language of your app")
    ask = commands.add_parser("ask", help="show how the bot would answer one question")
    ask.add_argument("text")
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    kb = commands.add_parser("kb", help="knowledge base tools")
    kb_commands = kb.add_subparsers(dest="kb_command", required=True)
    check = kb_commands.add_parser("check", help="validate a knowledge base")
    check.add_argument("path", nargs="?", help="folder or file (default: the configured one)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"kefu: {error}", file=sys.stderr)  # noqa: T201
        return 2
    quiet = args.command != "run" or not config.telegram.enabled
    logging.basicConfig(
        level=logging.WARNING if quiet else config.logging.level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "kb":
            return check_knowledge_base(config, args.path)
        if args.command == "ask":
            return ask(config, args.text, as_json=args.json)
        if args.command == "chat":
            return asyncio.run(chat(config, language=args.language))
        return asyncio.run(run(config))
    except KnowledgeBaseError as error:
        print(f"kefu: the knowledge base has errors, not starting:\n{error}", file=sys.stderr)  # noqa: T201
        return 1
    except KeyboardInterrupt:
        return 130


def check_knowledge_base(config: Config, path: str | None) -> int:
    target = Path(path) if path else config.knowledge.path
    try:
        knowledge_base = load_knowledge_base(target, config.business.placeholders())
    except KnowledgeBaseError as error:
        print(error, file=sys.stderr)  # noqa: T201
        print(f"{len(error.problems)} error(s) in {target}", file=sys.stderr)  # noqa: T201
        return 1
    print(  # noqa: T201
        f"{target}: OK: {len(knowledge_base)} entries, {knowledge_base.variant_count()} "
        f"questions in {len(knowledge_base.files)} file(s)"
    )
    return 0


def ask(config: Config, text: str, *, as_json: bool) -> int:
    matcher = create_matcher(config, load_knowledge(config))
    match = matcher.match(text)
    candidates = matcher.rank(text, limit=5)
    if as_json:
        result = {
            "text": text,
            "decision": match.decision.value,
            "entry_id": match.entry_id,
            "score": match.score,
            "candidates": [
                {"entry_id": c.entry_id, "score": c.score, "variant": c.variant}
                for c in candidates
            ],
        }
        print(json.dumps(result, ensure_ascii=False))  # noqa: T201
        return 0
    print(f"decision: {match.decision.value}")  # noqa: T201
    print(f"entry:    {match.entry_id or '-'}")  # noqa: T201
    print(f"score:    {match.score:.1f}")  # noqa: T201
    for candidate in candidates:
        print(f"  {candidate.score:5.1f}  {candidate.entry_id}  ({candidate.variant})")  # noqa: T201
    return 0


async def chat(config: Config, language: str | None = None) -> int:
    from bot.app import create_dispatcher, create_services
    from bot.terminal import TerminalChat

    services = await create_services(config)
    try:
        terminal = TerminalChat(
            create_dispatcher(services, channel="terminal"),
            language_code=language,
            now=services.clock.now,
        )
        await terminal.run()
    finally:
        await services.close()
    return 0


async def run(config: Config) -> int:
    from bot.app import create_services, run_telegram

    if not config.telegram.enabled:
        print(TELEGRAM_HINT, file=sys.stderr)  # noqa: T201
        return await chat(config)
    services = await create_services(config)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await run_telegram(services)
    finally:
        await services.close()
    return 0
