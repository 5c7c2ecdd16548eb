"""Single-query match latency (p50, p99) on the sample knowledge base and on a generated one.

    .venv/bin/python -m benchmarks.match_latency [--entries 10000] [--queries 2000]

Each knowledge base is measured next to a baseline in the same run: rapidfuzz's
`process.extractOne(query, variants, scorer=fuzz.WRatio)` over every variant, the brute-force way.
Figures go into the README.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

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


def resident_memory() -> int:
    """This process's resident memory in bytes (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


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


def report(name: str, knowledge_base: KnowledgeBase, queries: list[tuple[str, str]]) -> None:
    memory_before = resident_memory()
    start = time.perf_counter()
    matcher = Matcher(knowledge_base)
    build = time.perf_counter() - start
    index_memory = resident_memory() - memory_before
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
        f"| {name} | {len(knowledge_base)} | {len(texts)} | {build:.2f} s | "
        f"{index_memory / 2**20:.0f} MB | {ours[0]:.2f} / {ours[1]:.2f} ms | {ours[2]:.1%} | "
        f"{brute[0]:.2f} / {brute[1]:.2f} ms | {brute[2]:.1%} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--variants", type=int, default=5)
    parser.add_argument("--queries", type=int, default=2000)
    args = parser.parse_args()
    print(
        "| knowledge base | entries | variants | index build | index memory (RSS) "
        "| kefu p50 / p99 | kefu top-1 | brute-force WRatio p50 / p99 | brute-force top-1 |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    sample = load_knowledge_base(ROOT / "knowledge" / "sample", PLACEHOLDERS)
    report("sample shop", sample, queries_for(sample, args.queries))
    generated = generated_knowledge_base(args.entries, args.variants)
    report(
        f"generated {args.entries}x{args.variants}",
        generated,
        queries_for(generated, args.queries),
    )


if __name__ == "__main__":
    main()
