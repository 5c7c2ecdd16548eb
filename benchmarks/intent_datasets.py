"""Matching quality and speed on public intent datasets, beside two classic baselines measured in
the same run on the same split.

    pip install -e '.[bench]'    # scikit-learn, for baseline (b) only
    .venv/bin/python -m benchmarks.intent_datasets [--datasets ../shared/datasets] [--json]
        [--settings clinc150,clinc150-5shot,banking77,cic-zh] [--baseline-queries 500]

A setting is a dataset (clinc150, banking77, cic-zh), optionally with "-5shot" or "-10shot": only
the first 5 or 10 training questions of each intent, what a person writing an FAQ gives. kefu is
measured with its semantic side (`[matching] semantic = true`) and, for comparison, characters
only.

`--validation` measures on validation data instead of the test split, for every choice of design,
threshold or weight: CLINC150's val and oos_val; for BANKING77 and CIC (no validation split), the
last fifth of each intent's training rows, held out of the knowledge base (which takes its
questions from the rest). The test splits are for one run at the end, with the final code.

Each dataset becomes a knowledge base in the project's own YAML format (one entry per intent, its
training questions as the variants) and a case file of its test split, written to a temporary
folder (the data is never copied into the repository); `kefu kb eval`'s evaluation then runs on
them. The baselines: (a) rapidfuzz `process.extractOne` with `fuzz.WRatio` over all variants;
(b) TF-IDF over character n-grams with logistic regression. Baseline (a) is slow, so it runs on
the first `--baseline-queries` test questions (its latency and top-1 are from those).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rapidfuzz import fuzz, process

from bot.config import MatchingConfig
from knowledge import Matcher, MatchSettings, load_knowledge_base
from knowledge.evaluation import Case, evaluate
from knowledge.normalize import normalize
from knowledge.semantic import CachedEncoder, UniversalSentenceEncoder

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATASETS = ROOT.parent / "shared" / "datasets"


@dataclass
class Setting:
    name: str
    language: str
    train: dict[str, list[str]]  # intent -> training questions, in file order
    test: list[Case]  # expect None: out of scope
    answers: dict[str, str]


def read_clinc150(
    folder: Path, shots: int | None, validation: bool = False
) -> tuple[dict[str, list[str]], list[Case]]:
    data = json.loads((folder / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    train: dict[str, list[str]] = {}
    for text, intent in data["train"]:
        questions = train.setdefault(intent, [])
        if shots is None or len(questions) < shots:
            questions.append(text)
    split, oos = ("val", "oos_val") if validation else ("test", "oos_test")
    test = [Case(text, intent) for text, intent in data[split]]
    test += [Case(text, None) for text, _ in data[oos]]
    return train, test


def first(train: dict[str, list[str]], shots: int | None) -> dict[str, list[str]]:
    return train if shots is None else {i: q[:shots] for i, q in train.items()}


def held_out_of_train(train: dict[str, list[str]]) -> tuple[dict[str, list[str]], list[Case]]:
    """For a dataset with no validation split: the last fifth of each intent's training rows as
    validation cases, the rest as the training rows."""
    kept: dict[str, list[str]] = {}
    cases: list[Case] = []
    for intent, questions in train.items():
        cut = len(questions) - len(questions) // 5
        kept[intent] = questions[:cut]
        cases += [Case(text, intent) for text in questions[cut:]]
    return kept, cases


def read_banking77(folder: Path) -> tuple[dict[str, list[str]], list[Case]]:
    def rows(name: str) -> list[dict[str, str]]:
        with (folder / "banking77" / name).open(encoding="utf-8", newline="") as file:
            return list(csv.DictReader(file))

    train: dict[str, list[str]] = {}
    for row in rows("train.csv"):
        train.setdefault(row["category"], []).append(row["text"])
    return train, [Case(row["text"], row["category"]) for row in rows("test.csv")]


def read_cic(folder: Path) -> tuple[dict[str, list[str]], list[Case], dict[str, str]]:
    def rows(name: str) -> list[dict[str, Any]]:
        lines = (folder / "cic_dataclue" / name).read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    train: dict[str, list[str]] = {}
    answers: dict[str, str] = {}
    for row in rows("train.json"):
        intent = f"intent_{row['label']}"
        train.setdefault(intent, []).append(row["sentence"])
        answers[intent] = row["label_des"]
    test = [Case(row["sentence"], f"intent_{row['label']}") for row in rows("test_public.json")]
    return train, test, answers


def settings(folder: Path, names: list[str], validation: bool = False) -> list[Setting]:
    found = []
    for name in names:
        base, _, shot = name.partition("-")
        if base == "cic" and shot == "zh" or shot.startswith("zh-"):
            base, shot = "cic-zh", shot[3:]
        shots = int(shot.removesuffix("shot")) if shot.endswith("shot") else None
        if shot and shots is None:
            raise SystemExit(f"unknown setting {name!r}")
        if base == "clinc150":
            train, test = read_clinc150(folder, shots, validation)
            found.append(Setting(name, "en", train, test, {i: i for i in train}))
        elif base == "banking77":
            train, test = read_banking77(folder)
            if validation:
                train, test = held_out_of_train(train)
            found.append(Setting(name, "en", first(train, shots), test, {i: i for i in train}))
        elif base == "cic-zh":
            train, test, answers = read_cic(folder)
            if validation:
                train, test = held_out_of_train(train)
            found.append(Setting(name, "zh", first(train, shots), test, answers))
        else:
            raise SystemExit(f"unknown setting {name!r}")
    return found


def entry_id(intent: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", intent.lower())


def write_knowledge_base(setting: Setting, folder: Path) -> dict[str, list[str]]:
    """The setting as a knowledge-base file; returns the variants kept per intent (a question
    that normalises like one already taken is dropped, as the loader requires)."""
    taken: set[str] = set()
    kept: dict[str, list[str]] = {}
    entries = []
    for intent, questions in setting.train.items():
        unique = []
        for question in questions:
            key = normalize(question)
            if key and key not in taken:
                taken.add(key)
                unique.append(question)
        if not unique:
            continue
        kept[intent] = unique
        entries.append(
            {
                "id": entry_id(intent),
                "category": "benchmark",
                "questions": {setting.language: unique},
                "answer": {setting.language: setting.answers[intent]},
            }
        )
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "entries.yaml").open("w", encoding="utf-8") as file:
        yaml.safe_dump({"entries": entries}, file, allow_unicode=True, sort_keys=False)
    return kept


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * share), len(ordered) - 1)]


def timed(predict: Callable[[str], str | None], cases: list[Case]) -> tuple[float, float, float]:
    """top-1 over the in-scope cases, and p50 / p99 latency in ms over all cases."""
    hits, in_scope, latencies = 0, 0, []
    for case in cases:
        started = time.perf_counter()
        guess = predict(case.text)
        latencies.append((time.perf_counter() - started) * 1000)
        if case.expect is not None:
            in_scope += 1
            hits += guess == case.expect
    return hits / max(in_scope, 1), statistics.median(latencies), percentile(latencies, 0.99)


def brute_force(kept: dict[str, list[str]]) -> Callable[[str], str | None]:
    choices = [question for questions in kept.values() for question in questions]
    owners = [entry_id(intent) for intent, questions in kept.items() for _ in questions]

    def predict(text: str) -> str | None:
        found = process.extractOne(text, choices, scorer=fuzz.WRatio)
        return owners[found[2]] if found else None

    return predict


def tfidf_logistic(kept: dict[str, list[str]]) -> Callable[[str], str | None]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts = [question for questions in kept.values() for question in questions]
    labels = [entry_id(intent) for intent, questions in kept.items() for _ in questions]
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True)
    classifier = LogisticRegression(max_iter=2000, C=10.0)
    classifier.fit(vectorizer.fit_transform(texts), labels)

    def predict(text: str) -> str | None:
        return str(classifier.predict(vectorizer.transform([text]))[0])

    return predict


KEFU_FIGURES = (
    "top1",
    "answered_correct",
    "answered_wrong",
    "suggested_contains",
    "oos_fallback",
    "latency_p50_ms",
    "latency_p99_ms",
)


def measure(
    setting: Setting, work: Path, baseline_queries: int, encoder: CachedEncoder
) -> dict[str, Any]:
    folder = work / setting.name
    kept = write_knowledge_base(setting, folder)
    cases = [Case(c.text, entry_id(c.expect) if c.expect else None) for c in setting.test]
    knowledge_base = load_knowledge_base(folder)
    defaults = MatchingConfig()  # the shipped thresholds; nothing tuned on these test splits
    # measured as a thin knowledge base would be run: semantic side and calibrated threshold on
    # (`[matching] semantic`, `calibrate_answers`); full ones get no semantic side either way
    match_settings = MatchSettings(
        answer_threshold=defaults.answer_threshold,
        suggest_threshold=defaults.suggest_threshold,
        answer_margin=defaults.answer_margin,
        calibrate=True,
    )
    characters = Matcher(knowledge_base, match_settings)
    characters_only = evaluate(characters, cases).as_dict()
    memory_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    matcher = Matcher(knowledge_base, match_settings, encoder=encoder)
    build_seconds = time.perf_counter() - started  # question vectors included (no cache)
    ours = evaluate(matcher, cases).as_dict()
    in_scope = [c for c in cases if c.expect is not None]
    sample = in_scope[:baseline_queries]
    a_top1, a_p50, a_p99 = timed(brute_force(kept), sample)
    b_top1, b_p50, b_p99 = timed(tfidf_logistic(kept), in_scope)
    return {
        "setting": setting.name,
        "intents": len(kept),
        "variants": sum(len(q) for q in kept.values()),
        "test_in_scope": len(in_scope),
        "test_out_of_scope": len(cases) - len(in_scope),
        "index_seconds": round(build_seconds, 2),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "max_rss_growth_mb": round(
            (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - memory_before) / 1024
        ),
        "semantic": matcher.semantic,
        "answer_threshold": matcher.answer_threshold,
        "kefu": {key: ours[key] for key in KEFU_FIGURES},
        "kefu_characters_only": {key: characters_only[key] for key in KEFU_FIGURES},
        "brute_force_wratio": {
            "top1": round(a_top1, 4),
            "queries": len(sample),
            "latency_p50_ms": round(a_p50, 3),
            "latency_p99_ms": round(a_p99, 3),
        },
        "tfidf_logistic": {
            "top1": round(b_top1, 4),
            "latency_p50_ms": round(b_p50, 3),
            "latency_p99_ms": round(b_p99, 3),
        },
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| setting | intents / variants | semantic | kefu top1 (characters only) "
        "| answered right / wrong | suggested right | answer from | oos fallback "
        "| kefu p50 / p99 | build, max RSS | (a) WRatio top1 | (a) p50 / p99 "
        "| (b) TF-IDF+LR top1 | (b) p50 / p99 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ours, a, b = row["kefu"], row["brute_force_wratio"], row["tfidf_logistic"]
        oos = f"{ours['oos_fallback']:.1%}" if row["test_out_of_scope"] else "-"
        lines.append(
            f"| {row['setting']} | {row['intents']} / {row['variants']} "
            f"| {'yes' if row['semantic'] else 'no'} "
            f"| {ours['top1']:.3f} ({row['kefu_characters_only']['top1']:.3f}) "
            f"| {ours['answered_correct']:.1%} / {ours['answered_wrong']:.1%} "
            f"| {ours['suggested_contains']:.1%} | {row['answer_threshold']:.0f} | {oos} "
            f"| {ours['latency_p50_ms']:.2f} / {ours['latency_p99_ms']:.2f} ms "
            f"| {row['index_seconds']:.1f} s, {row['max_rss_mb']} MB "
            f"| {a['top1']:.3f} | {a['latency_p50_ms']:.1f} / {a['latency_p99_ms']:.1f} ms "
            f"| {b['top1']:.3f} | {b['latency_p50_ms']:.2f} / {b['latency_p99_ms']:.2f} ms |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument(
        "--settings",
        default="clinc150,clinc150-5shot,clinc150-10shot,banking77,banking77-5shot,"
        "banking77-10shot,cic-zh,cic-zh-5shot,cic-zh-10shot",
    )
    parser.add_argument("--baseline-queries", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--validation", action="store_true", help="measure on validation data, not the test split"
    )
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        rows = []
        # No vectors cached from an earlier run: the build times include embedding the questions.
        # One model, loaded once; a memory of recent messages afresh for each setting, so that
        # one setting's latency does not profit from another's embedded test questions.
        model = UniversalSentenceEncoder()
        found = settings(arguments.datasets, arguments.settings.split(","), arguments.validation)
        for setting in found:
            encoder = CachedEncoder(model, Path(work) / "semantic" / setting.name)
            rows.append(measure(setting, Path(work), arguments.baseline_queries, encoder))
            print(f"measured {setting.name}", file=sys.stderr, flush=True)
    print(json.dumps(rows, ensure_ascii=False, indent=2) if arguments.json else table(rows))


if __name__ == "__main__":
    main()
