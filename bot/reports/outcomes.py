"""The report's part on how tickets ended: tickets and complaints by category, by cause and by
remedy over the period, in the reader's language."""

from __future__ import annotations

from bot.texts import Texts
from bot.tickets.outcomes import outcome_label
from storage.figures import Counts, OutcomeFigures


def _most_first(counts: dict[str | None, int]) -> list[str | None]:
    """The most frequent first; "not given" last."""
    return sorted(counts, key=lambda key: (key is None, -counts[key], key or ""))


def outcome_lines(figures: OutcomeFigures, texts: Texts, language: str) -> list[str]:
    def say(key: str, **values: object) -> str:
        return texts(key, language, **values)

    def counted(part: str, counts: Counts) -> str:
        items = []
        for key in _most_first({key: tickets for key, (tickets, _) in counts.items()}):
            name = (
                say("report_not_given")
                if key is None
                else outcome_label(texts, part, key, language)
            )
            tickets, complaints = counts[key]
            items.append(
                say("report_count_complaints", name=name, count=tickets, complaints=complaints)
            )
        return ", ".join(items) or say("report_nothing")

    categories = ", ".join(
        say("report_count", name=say(f"category_{key}"), count=figures.by_category[key])
        for key in _most_first(dict(figures.by_category.items()))
        if key is not None
    )
    return [
        say("report_outcomes_title"),
        say("report_by_category", counts=categories or say("report_nothing")),
        say("report_by_cause", counts=counted("cause", figures.by_cause)),
        say("report_by_remedy", counts=counted("remedy", figures.by_remedy)),
    ]
