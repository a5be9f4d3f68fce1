"""Latency of the ``search`` tool's local backend: one query end to end, and building the index.

- *query*: ``engine.search(query, k=3).text``, what the tool does per call (tokenising, BM25 scoring,
  ranking, snippets, formatting), over questions a model asks: capitals and currencies of every
  country, flag descriptions, every product SKU and name, and queries that match nothing;
- *BM25 only*: ``index.top(query, 3)`` on the same queries;
- *build*: parsing the shipped JSONL into a :class:`KnowledgeBase`, and indexing it (:class:`LocalSearch`);
- *cold start*: the first search in a fresh interpreter (import, load, index, search), which every
  worker process of a vector env pays once.

All figures on one core. Target: query p50 <= 2 ms.

    python benchmarks/bench_search.py [--rounds 5] [--write]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from importlib.resources import files

import numpy as np

from vista_envs.knowledge_base import KNOWLEDGE_BASE_FILE, KnowledgeBase, load_knowledge_base
from vista_envs.tools.search import LocalSearch

COLD_START = (
    "import time; start = time.perf_counter(); "
    "from vista_envs.tools.search import search; search('capital of France'); "
    "print(time.perf_counter() - start)"
)


def benchmark_queries(kb: KnowledgeBase) -> list[str]:
    """Questions a model would ask of the knowledge base, hits and misses."""
    queries = []
    for country in kb.countries():
        queries += [f"What is the capital of {country.name}?", f"currency of {country.name}"]
        if country.flag is not None:
            queries.append(f"flag {country.flag.layout.replace('_', ' ')} {' '.join(country.flag.color_names)}")
    for product in kb.products():
        queries += [product.sku, f"price of {product.name}"]
    queries += ["zzzz qqqq", "首都", "the of is what"] * 20
    return queries


def latencies_ms(call: Callable[[str], object], queries: list[str], rounds: int) -> np.ndarray:
    timings = []
    for _ in range(rounds):
        for query in queries:
            start = time.perf_counter_ns()
            call(query)
            timings.append(time.perf_counter_ns() - start)
    return np.array(timings) / 1e6


def median_ms(call: Callable[[], object], repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        call()
        timings.append(time.perf_counter_ns() - start)
    return float(np.median(timings)) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="passes over the query set")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    jsonl = files("vista_envs.assets").joinpath(KNOWLEDGE_BASE_FILE).read_text(encoding="utf-8")
    kb = load_knowledge_base()
    load = median_ms(lambda: KnowledgeBase.from_jsonl(jsonl), repeats=20)
    build = median_ms(lambda: LocalSearch(kb), repeats=20)
    cold = [
        float(subprocess.run([sys.executable, "-c", COLD_START], capture_output=True, text=True, check=True).stdout)
        * 1e3
        for _ in range(5)
    ]

    engine = LocalSearch(kb)
    queries = benchmark_queries(kb)
    for query in queries:  # warm-up
        engine.search(query, k=3)
    full = latencies_ms(lambda q: engine.search(q, k=3).text, queries, args.rounds)
    bm25 = latencies_ms(lambda q: engine.index.top(q, 3), queries, args.rounds)

    rows = [
        f"{len(kb)} entries ({len(kb.countries())} countries, {len(kb.products())} products); "
        f"{len(queries)} queries x {args.rounds} rounds; one core.",
        "",
        "| measurement | p50 | p99 | mean |",
        "|---|---:|---:|---:|",
        f"| query: `search(q, k=3).text` | {np.percentile(full, 50):.3f} ms | {np.percentile(full, 99):.3f} ms | "
        f"{full.mean():.3f} ms |",
        f"| BM25 scoring + ranking only | {np.percentile(bm25, 50):.3f} ms | {np.percentile(bm25, 99):.3f} ms | "
        f"{bm25.mean():.3f} ms |",
        "",
        "| one-off cost | median |",
        "|---|---:|",
        f"| parse the JSONL into a KnowledgeBase | {load:.1f} ms |",
        f"| build the BM25 index (LocalSearch) | {build:.1f} ms |",
        f"| cold start: import + load + index + first search, fresh interpreter | {np.median(cold):.0f} ms |",
    ]
    body = "\n".join(rows)
    print(body)
    if args.write:
        sys.path.insert(0, os.path.dirname(__file__))
        from results_file import update_section

        update_section(
            "Search latency",
            body + "\n\nTarget: query p50 <= 2 ms.",
            f"python benchmarks/bench_search.py --rounds {args.rounds} --write",
        )


if __name__ == "__main__":
    main()
