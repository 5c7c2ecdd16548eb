from __future__ import annotations

import re
import string
from pathlib import Path

from bot.callbacks import TicketAction
from bot.channels.commands import ADMIN_COMMANDS, AGENT_COMMANDS, CUSTOMER_COMMANDS
from bot.orders.returns import RETURN_REASONS
from bot.reports.period_report import COMPARED
from bot.schedule.business_hours import WEEKDAYS
from bot.texts import Texts
from bot.tickets.roles import ROLES
from knowledge.schema import LANGUAGES
from storage.models import (
    QA_CRITERIA,
    ScheduledKind,
    ScheduledStatus,
    TicketCategory,
    TicketPriority,
    TicketStatus,
)


def test_both_languages_have_every_text_with_the_same_placeholders() -> None:
    texts = Texts.load()
    assert texts.keys("zh") == texts.keys("en")
    for key in texts.keys("en"):
        fields = {
            language: {
                name
                for _, name, _, _ in string.Formatter().parse(texts._catalogues[language][key])
                if name
            }
            for language in ("zh", "en")
        }
        assert fields["zh"] == fields["en"], key


def test_placeholders_come_from_the_business_config() -> None:
    texts = Texts.load({"phone": "400-9", "email": "a@b", "business_hours": "9-18"})
    assert (
        texts("offer_human", "en")
        == "You can reach a person here: phone 400-9, e-mail a@b (9-18)."
    )


ROOT = Path(__file__).resolve().parent.parent
# A catalogue key written out where a text is asked for: say("key"), texts("key", ...),
# handoff.say_group("key", ...)
KEY_USE = re.compile(r"""\b(?:say|say_group|texts)\(\s*"([a-z][a-z0-9_]*)"\s*[,)]""")


def test_every_text_the_code_asks_for_exists_in_both_languages() -> None:
    """Customer- and staff-facing alike: a key missing from a catalogue would fail only when
    that text is first shown, in front of the person reading it."""
    texts = Texts.load()
    sources = [*(ROOT / "bot").rglob("*.py"), *(ROOT / "handlers").rglob("*.py")]
    used = {key for path in sources for key in KEY_USE.findall(path.read_text("utf-8"))}
    assert len(used) > 100  # the scan finds the texts
    families = {
        "category": TicketCategory,
        "priority": TicketPriority,
        "ticket_status": TicketStatus,
        "button": TicketAction,
        "role": (*ROLES, "none"),
        "command": (*CUSTOMER_COMMANDS, *AGENT_COMMANDS, *ADMIN_COMMANDS),
        "weekday": WEEKDAYS,
        "export_planned": (*ScheduledKind, *ScheduledStatus),
        "language_name": LANGUAGES,
        "sla": ("first_response", "resolution"),
        "duty": ("on", "off"),
        "report_name": ("first_contact", "first_response", "resolution", "satisfaction"),
        "kb_change": ("added", "changed", "removed", "none"),
        "return_reason": RETURN_REASONS,
        "qa_criterion": QA_CRITERIA,
        "qa_hint": QA_CRITERIA,
        "report_figure": COMPARED,
        "report_bucket": ("waiting",),
        "report_delivered": ("weekly", "monthly"),
        "learn_why": (
            "no_candidate",
            "already_approved",
            "taken",
            "scrubbed",
            "gone",
            "owned",
            "one_file",
        ),
    }
    used |= {f"{prefix}_{member}" for prefix, members in families.items() for member in members}
    for language in ("zh", "en"):
        assert sorted(used - texts.keys(language)) == [], language


def test_chinese_staff_texts_have_no_english_words() -> None:
    """What the agents' group and admins read in Chinese, checked for English left behind
    (commands, their arguments and placeholders aside)."""
    texts = Texts.load()
    staff = [
        key
        for key in texts.keys("zh")
        if key.split("_")[0]
        in (
            "card",
            "button",
            "ticket",
            "staff",
            "duty",
            "transfer",
            "alert",
            "report",
            "roles",
            "team",
            "vip",
            "scorecard",
            "qa",
        )
        or key.startswith(("priority_", "role_", "reload_", "kb_change_", "command_"))
    ]
    assert len(staff) > 60
    # typed by staff (commands' arguments; /team's and config's words)
    arguments = {"ID", "on", "off", "agent", "supervisor", "admin", "none", "add", "remove"}
    arguments |= {"teams", "categories", "Telegram"}
    for key in staff:
        text = re.sub(r"\{[a-z_]+\}|/[a-z_]+", "", texts._catalogues["zh"][key])
        words = re.findall(r"[A-Za-z]{2,}", text)
        assert [w for w in words if w not in arguments] == [], key
