"""Concurrent drafting sessions against the scripted OpenAI-protocol server: overhead figures.

    OMP_WAIT_POLICY=passive .venv/bin/python bench/bench_concurrency.py [--sessions 20]

Drafts one 工作总结 per session (its own unit and facts) with `rag.draft.draft_report`, no
exemplars, the model being tests/openai_stub.py answering at once (streamed in 3-character pieces
2 ms apart). So the time measured is the drafting overhead (prompting, HTTP, streaming, checking,
repair, the SQLite call log) without any model time. Runs: one session alone (a few times), then
N sessions as threads in one process, then N sessions as separate processes: the processes are
started and warmed up first (imports, tokenizer), and their start-up is reported apart from the
drafting. Every run is checked for errors and cross-talk (a session's draft carrying another
session's facts). Figures depend on machine load.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from openai_stub import ScriptedOpenAIServer  # noqa: E402
from test_concurrency import (SessionResult, check_sessions, draft_session,  # noqa: E402
                              run_sessions, streaming_writer)


def warm_up(barrier) -> None:
    """Pool initializer: what a first draft would load lazily, then wait for the other workers."""
    import evals.check  # noqa: F401
    import rag.draft  # noqa: F401
    import rag.llm  # noqa: F401  (the openai package alone takes seconds to import)
    from rag.tokens import count_tokens
    count_tokens("预热")
    barrier.wait()


def in_warm_processes(sessions: int, base_url: str, data_dir: Path) -> tuple[float, float, list[SessionResult]]:
    """(start-up seconds, drafting wall seconds, results) for N sessions in N processes."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(sessions + 1)
    started = time.perf_counter()
    with ctx.Pool(sessions, initializer=warm_up, initargs=(barrier,)) as pool:
        barrier.wait()
        ready = time.perf_counter()
        results = pool.starmap(draft_session, [(i, base_url, str(data_dir)) for i in range(sessions)],
                               chunksize=1)
        return ready - started, time.perf_counter() - ready, results


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--alone", type=int, default=3, help="single-session runs for the baseline")
    args = ap.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp, \
            ScriptedOpenAIServer([streaming_writer()], repeat_last=True) as stub:
        data_dir = Path(tmp) / "data"
        draft_session(0, stub.base_url, str(data_dir))  # warm-up: imports, tokenizer, SQLite
        before = len(stub.chat_requests)
        alone = [draft_session(0, stub.base_url, str(data_dir)) for _ in range(args.alone)]
        calls = (len(stub.chat_requests) - before) // args.alone
        base = statistics.mean(r.seconds for r in alone)
        print(f"one session alone:   {base:6.2f} s per draft ({calls} LLM calls, "
              f"{base / calls * 1000:.0f} ms per call incl. drafting work)")
        for kind in ("threads", "processes"):
            if kind == "threads":
                started = time.perf_counter()
                results = run_sessions(args.sessions, stub.base_url, data_dir, processes=False)
                wall = time.perf_counter() - started
            else:
                startup, wall, results = in_warm_processes(args.sessions, stub.base_url, data_dir)
                print(f"{args.sessions} processes started and warm in {startup:6.2f} s")
            problems = check_sessions(results)
            seconds = [r.seconds for r in results]
            print(f"{args.sessions} sessions as {kind:9s}: wall {wall:6.2f} s, "
                  f"{args.sessions / wall:5.2f} drafts/s; per session p50 {pct(seconds, 0.5):6.2f} s, "
                  f"p95 {pct(seconds, 0.95):6.2f} s, max {max(seconds):6.2f} s; "
                  f"wall / (N × alone) = {wall / (args.sessions * base):4.2f}; "
                  f"errors+cross-talk {len(problems)}")
            for p in problems:
                print("   ", p)


if __name__ == "__main__":
    main()
