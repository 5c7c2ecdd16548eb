"""What the learning loop is worth: confirmed pairs of customers' words and entries replayed into
it, approved, published, and the knowledge base measured before and after.

    .venv/bin/python -m benchmarks.learning_loop [--datasets ../shared/datasets] [--replay 1,3,5]
        [--test] [--json]

The knowledge base is CLINC150 5-shot (the first 5 training questions of each of its 150
intents, as benchmarks/intent_datasets.py builds it). CLINC150's validation split has 20
questions per intent: the first `k` of each (k from --replay, at most 5) are replayed as confirmed
pairs, each as though a customer had pressed the right "did you mean" suggestion, through the
real loop (kefu's Learning service on a SQLite database: scrubbed, deduplicated, counted, then
every candidate approved and published into learned.yaml, validated whole); the other 15 of each
intent and the 100 out-of-scope validation questions are held out and measured. `--test` adds
CLINC150's test split (4,500 in scope, 1,000 out of scope), never used for any choice. Beside
kefu, in the same run: TF-IDF over character n-grams with logistic regression trained on the same
questions, before and after (`pip install -e '.[bench]'`). The data is read from
../shared/datasets and only ever written to a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.intent_datasets import (
    DEFAULT_DATASETS,
    Setting,
    entry_id,
    tfidf_logistic,
    timed,
    write_knowledge_base,
)
from bot.clock import SystemClock
from bot.config import Config, MatchingConfig, load_config
from bot.knowledge_admin.learning import Learning, publish_offline
from bot.texts import Texts
from knowledge import Matcher, MatchSettings, load_knowledge_base
from knowledge.evaluation import Case, evaluate
from knowledge.learning import read_learned
from knowledge.semantic import CachedEncoder, UniversalSentenceEncoder
from storage.database import create_engine, create_session_factory, migrate

ROOT = Path(__file__).resolve().parent.parent
SHOTS = 5
FIGURES = ("top1", "answered_correct", "answered_wrong", "suggested_contains", "oos_fallback")


@dataclass
class Split:
    name: str
    cases: list[Case]


def read_clinc150(folder: Path) -> tuple[Setting, list[tuple[str, str]], Split, Split]:
    """The 5-shot knowledge base, the validation questions in order per intent (to replay),
    the held-out rest of validation, and the test split."""
    data = json.loads((folder / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    train: dict[str, list[str]] = {}
    for text, intent in data["train"]:
        questions = train.setdefault(intent, [])
        if len(questions) < SHOTS:
            questions.append(text)
    by_intent: dict[str, list[str]] = {}
    for text, intent in data["val"]:
        by_intent.setdefault(intent, []).append(text)
    replay = [(text, intent) for intent, texts in by_intent.items() for text in texts[:SHOTS]]
    held_out = [
        Case(text, entry_id(i)) for i, texts in by_intent.items() for text in texts[SHOTS:]
    ]
    held_out += [Case(text, None) for text, _ in data["oos_val"]]
    test = [Case(text, entry_id(intent)) for text, intent in data["test"]]
    test += [Case(text, None) for text, _ in data["oos_test"]]
    setting = Setting("clinc150-5shot", "en", train, [], {i: i for i in train})
    return setting, replay, Split("validation, held out", held_out), Split("test", test)


def benchmark_config(folder: Path, database: Path) -> Config:
    config = load_config(ROOT / "config.example.toml", environ={})
    return config.model_copy(
        update={
            "knowledge": config.knowledge.model_copy(update={"path": folder}),
            "database": config.database.model_copy(
                update={"url": f"sqlite+aiosqlite:///{database}"}
            ),
        }
    )


async def replay_and_approve(config: Config, pairs: list[tuple[str, str]]) -> dict[str, int]:
    """Each pair confirmed once, as a pressed suggestion; then every candidate approved and
    published. Returns what happened to them."""
    engine = create_engine(config.database.url)
    await migrate(engine)
    clock = SystemClock()
    knowledge_base = load_knowledge_base(config.knowledge.path)
    learning = Learning(
        config,
        clock,
        lambda: knowledge_base,
        lambda session, files, author, what: publish_offline(
            session, files, author, what, config=config, clock=clock
        ),
        Texts.load(),
    )
    try:
        async with create_session_factory(engine)() as session:
            kept = 0
            for number, (text, intent) in enumerate(pairs):
                found = await learning.confirm(
                    session, entry_id(intent), text, f"message:{number}", "suggestion"
                )
                kept += found is not None
            waiting = await learning.waiting(session)
            decided = await learning.decide(
                session, approve=[q.id or 0 for q in waiting], reject=[], by="benchmark"
            )
            if decided.result is not None and not decided.result.ok:
                raise SystemExit("\n".join(decided.result.errors))
            await session.commit()
    finally:
        await engine.dispose()
    return {
        "replayed": len(pairs),
        "candidates": len(waiting),
        "not_kept": len(pairs) - kept,  # scrubbed to nothing, or already a question
        "approved": len(decided.approved),
        "refused": len(decided.refused),  # already a question of another entry
    }


def matcher_settings() -> MatchSettings:
    defaults = MatchingConfig()  # the shipped thresholds; nothing tuned here
    return MatchSettings(
        answer_threshold=defaults.answer_threshold,
        suggest_threshold=defaults.suggest_threshold,
        answer_margin=defaults.answer_margin,
        calibrate=True,
    )


def measure(folder: Path, splits: list[Split], encoder: CachedEncoder) -> dict[str, Any]:
    knowledge_base = load_knowledge_base(folder)
    matcher = Matcher(knowledge_base, matcher_settings(), encoder=encoder)
    characters = Matcher(knowledge_base, matcher_settings())
    questions: dict[str, list[str]] = {
        entry.id: [q for _, q in entry.variants()] for entry in knowledge_base.entries.values()
    }
    baseline = tfidf_logistic(questions)
    figures: dict[str, Any] = {
        "variants": knowledge_base.variant_count(),
        "semantic": matcher.semantic,
        "answer_from": matcher.answer_threshold,
    }
    for split in splits:
        ours = evaluate(matcher, split.cases).as_dict()
        alone = evaluate(characters, split.cases).as_dict()
        in_scope = [c for c in split.cases if c.expect is not None]
        b_top1, _, _ = timed(baseline, in_scope)
        figures[split.name] = {
            "kefu": {key: ours[key] for key in FIGURES},
            "kefu_characters_only": {key: alone[key] for key in FIGURES},
            "tfidf_logistic_top1": round(b_top1, 4),
        }
    return figures


def table(rows: list[dict[str, Any]], splits: list[Split]) -> str:
    lines = [
        "| measured on | learned per intent | questions | kefu top1 (characters only) "
        "| answered right / wrong | suggested right | answer from | oos fallback "
        "| TF-IDF+LR top1 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for split in splits:
        for row in rows:
            figures = row[split.name]
            ours, alone = figures["kefu"], figures["kefu_characters_only"]
            lines.append(
                f"| {split.name} | {row['replay']} | {row['variants']} "
                f"| {ours['top1']:.3f} ({alone['top1']:.3f}) "
                f"| {ours['answered_correct']:.1%} / {ours['answered_wrong']:.1%} "
                f"| {ours['suggested_contains']:.1%} | {row['answer_from']:.0f} "
                f"| {ours['oos_fallback']:.1%} | {figures['tfidf_logistic_top1']:.3f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--replay", default="1,3,5", help="questions replayed per intent")
    parser.add_argument("--test", action="store_true", help="measure the test split as well")
    parser.add_argument("--json", action="store_true")
    arguments = parser.parse_args()
    counts = [int(k) for k in arguments.replay.split(",")]
    if any(not 0 < k <= SHOTS for k in counts):
        raise SystemExit(f"--replay: each count from 1 to {SHOTS}")
    setting, replay, held_out, test = read_clinc150(arguments.datasets)
    splits = [held_out, test] if arguments.test else [held_out]
    rows = []
    with tempfile.TemporaryDirectory() as work:
        encoder = CachedEncoder(UniversalSentenceEncoder(), Path(work) / "semantic")
        before = Path(work) / "before"
        write_knowledge_base(setting, before)
        rows.append({"replay": 0} | measure(before, splits, encoder))
        print("measured before learning", file=sys.stderr, flush=True)
        for k in counts:
            folder = Path(work) / f"learned-{k}"
            write_knowledge_base(setting, folder)
            pairs = [
                (text, intent)
                for intent in setting.train
                for text in [t for t, i in replay if i == intent][:k]
            ]
            config = benchmark_config(folder, Path(work) / f"learned-{k}.db")
            outcome = asyncio.run(replay_and_approve(config, pairs))
            learned = read_learned((folder / "learned.yaml").read_text(encoding="utf-8"))
            outcome["in_learned_yaml"] = sum(
                len(q) for by in learned.values() for q in by.values()
            )
            rows.append({"replay": k, "loop": outcome} | measure(folder, splits, encoder))
            print(f"measured after learning {k} per intent: {outcome}", file=sys.stderr)
    if arguments.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        print(table(rows, splits))
        for row in rows[1:]:
            print(f"learned {row['replay']} per intent: {row['loop']}")


if __name__ == "__main__":
    main()
