"""Single-query match latency (p50, p99) on the sample knowledge base and on a generated one.

    .venv/bin/python -m benchmarks.match_latency [--entries 5000] [--variants 20] [--queries 2000]

Each knowledge base is measured next to a baseline in the same run: rapidfuzz's
`process.extractOne(query, variants, scorer=fuzz.WRatio)` over every variant, the brute-force way.
Figures go into the README.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import yaml
from rapidfuzz import fuzz, process

from knowledge import Entry, KnowledgeBase, Matcher, load_knowledge_base
from knowledge.normalize import normalize

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDERS = dict.fromkeys(
    ["shop_name", "business_hours", "phone", "email", "address", "website"], "x"
)
WORDS = [
    "order",
    "parcel",
    "refund",
    "return",
    "exchange",
    "invoice",
    "coupon",
    "points",
    "account",
    "password",
    "delivery",
    "shipping",
    "payment",
    "card",
    "warranty",
    "repair",
    "size",
    "colour",
    "store",
    "hours",
    "address",
    "phone",
    "email",
    "member",
    "discount",
    "price",
    "gift",
    "wrap",
    "cancel",
    "change",
    "track",
    "late",
    "damaged",
    "missing",
    "wrong",
    "item",
    "product",
    "stock",
]
HANZI = (
    "订单快递退款退货换货发票优惠券积分账户密码配送运费付款保修维修尺码颜色"
    "门店地址电话会员折扣价格礼品取消修改物流延迟损坏缺少错误商品库存"
)


def generated_knowledge_base(entries: int, variants: int, seed: int = 7) -> KnowledgeBase:
    rng = random.Random(seed)
    made: dict[str, Entry] = {}
    for number in range(entries):
        english = tuple(
            " ".join(rng.choices(WORDS, k=rng.randint(3, 7))) + f" {number}-{v}"
            for v in range(variants // 2 + 1)
        )
        chinese = tuple(
            "".join(rng.choices(HANZI, k=rng.randint(4, 10))) + f"{number}号{v}"
            for v in range(variants - len(english))
        )
        made[f"e{number}"] = Entry(
            id=f"e{number}",
            category="generated",
            questions={"en": english, "zh": chinese},
            answer={"en": "a", "zh": "答"},
        )
    return KnowledgeBase(entries=made)


def queries_for(
    knowledge_base: KnowledgeBase, count: int, seed: int = 11
) -> list[tuple[str, str]]:
    """Variants with a typo (one character dropped), each with the entry it should find."""
    rng = random.Random(seed)
    variants = [(q, e.id) for e in knowledge_base.entries.values() for _, q in e.variants()]
    queries = []
    for text, entry_id in (rng.choice(variants) for _ in range(count)):
        position = rng.randrange(len(text))
        queries.append((text[:position] + text[position + 1 :], entry_id))
    return queries


def percentiles(timings: list[float]) -> tuple[float, float]:
    ordered = sorted(timings)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return p50 * 1000, p99 * 1000


def measure(
    run: Callable[[str], str | None], queries: list[tuple[str, str]]
) -> tuple[float, float, float]:
    """p50 and p99 in milliseconds, and the share of queries whose best entry is the expected."""
    timings = []
    correct = 0
    for query, expected in queries:
        start = time.perf_counter()
        found = run(query)
        timings.append(time.perf_counter() - start)
        correct += found == expected
    p50, p99 = percentiles(timings)
    return p50, p99, correct / len(queries)


def index_memory(knowledge_base: KnowledgeBase) -> tuple[float, float]:
    """Memory the matcher keeps (its index), and the most it used while building, in MB
    (tracemalloc, which sees Python's and numpy's allocations; a build of its own, as tracing
    slows it)."""
    tracemalloc.start()
    matcher = Matcher(knowledge_base)
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del matcher
    return kept / 2**20, peak / 2**20


def report(
    name: str, knowledge_base: KnowledgeBase, queries: list[tuple[str, str]], load_seconds: float
) -> None:
    start = time.perf_counter()
    matcher = Matcher(knowledge_base)
    build = time.perf_counter() - start
    kept, peak = index_memory(knowledge_base)
    texts, owners = [], []
    for entry in knowledge_base.entries.values():
        for _, question in entry.variants():
            texts.append(normalize(question))
            owners.append(entry.id)

    def brute_force(query: str) -> str | None:
        best = process.extractOne(normalize(query), texts, scorer=fuzz.WRatio)
        return owners[best[2]] if best else None

    ours = measure(lambda q: matcher.match(q).entry_id, queries)
    brute = measure(brute_force, queries[: max(50, len(queries) // 10)])
    print(
        f"| {name} | {len(knowledge_base)} | {len(texts)} | {load_seconds:.2f} s | {build:.2f} s "
        f"| {kept:.0f} MB ({peak:.0f} MB) | {ours[0]:.2f} / {ours[1]:.2f} ms | {ours[2]:.1%} "
        f"| {brute[0]:.2f} / {brute[1]:.2f} ms | {brute[2]:.1%} | {brute[1] / ours[1]:.0f}x |",
        flush=True,
    )


def write_yaml(knowledge_base: KnowledgeBase, folder: Path) -> None:
    entries = [
        {
            "id": entry.id,
            "category": entry.category,
            "questions": dict(entry.questions),
            "answer": dict(entry.answer),
        }
        for entry in knowledge_base.entries.values()
    ]
    with (folder / "generated.yaml").open("w", encoding="utf-8") as file:
        yaml.safe_dump({"entries": entries}, file, allow_unicode=True, sort_keys=False)


def timed_load(folder: Path, placeholders: dict[str, str] | None) -> tuple[KnowledgeBase, float]:
    start = time.perf_counter()
    knowledge_base = load_knowledge_base(folder, placeholders)
    return knowledge_base, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=5_000)
    parser.add_argument("--variants", type=int, default=20)
    parser.add_argument("--queries", type=int, default=2000)
    args = parser.parse_args()
    print(
        "| knowledge base | entries | variants | load YAML | index build "
        "| index memory (peak) | kefu p50 / p99 | kefu top-1 | brute-force WRatio p50 / p99 "
        "| brute-force top-1 | p99 speed-up |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    sample, seconds = timed_load(ROOT / "knowledge" / "sample", PLACEHOLDERS)
    report("sample shop", sample, queries_for(sample, args.queries), seconds)
    with tempfile.TemporaryDirectory() as work:
        write_yaml(generated_knowledge_base(args.entries, args.variants), Path(work))
        generated, seconds = timed_load(Path(work), None)
    report(
        f"generated {args.entries}x{args.variants}",
        generated,
        queries_for(generated, args.queries),
        seconds,
    )


if __name__ == "__main__":
    main()
