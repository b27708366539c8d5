"""Time to check a 2,000-character draft once the copy index is loaded.

    .venv/bin/python bench/bench_evals.py [--runs 300]

The draft is the HC13 and HC22 good drafts joined and cut to 2,000 non-blank characters,
checked against the HC13 request (so FACT, COPY, STR and the rest all do real work).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evals.check import evaluate  # noqa: E402
from evals.copy_index import CopyIndex, committed_corpus_docs  # noqa: E402
from evals.document import nonspace_len  # noqa: E402
from evals.labelled import load_labelled  # noqa: E402

TARGET_CHARS = 2000


def two_thousand_chars() -> tuple[str, object]:
    goods = {d.name: d for d in load_labelled() if d.kind == "good"}
    text = goods["HC13.good.md"].text + "\n" + goods["HC22.good.md"].text
    out, n = [], 0
    for ch in text:
        if n == TARGET_CHARS:
            break
        out.append(ch)
        n += not ch.isspace()
    return "".join(out), goods["HC13.good.md"].request


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=300)
    args = ap.parse_args()
    t0 = time.perf_counter()
    index = CopyIndex.build(committed_corpus_docs())
    build_s = time.perf_counter() - t0
    draft, request = two_thousand_chars()
    evaluate(draft, request, index)  # warm caches (OpenCC, regexes)
    times, cpu = [], []
    for _ in range(args.runs):
        t, c = time.perf_counter(), time.thread_time()
        evaluate(draft, request, index)
        times.append((time.perf_counter() - t) * 1000)
        cpu.append((time.thread_time() - c) * 1000)
    times.sort()
    p95 = times[int(0.95 * (len(times) - 1))]
    print(f"copy index: {len(index)} documents, {len(index.grams)} grams, built in {build_s * 1000:.0f} ms")
    print(f"draft: {nonspace_len(draft)} non-blank chars, {args.runs} runs")
    print(f"evaluate: p50 {statistics.median(times):.2f} ms  p95 {p95:.2f} ms  "
          f"min {times[0]:.2f} ms  max {times[-1]:.2f} ms")
    # CPU time of this thread: what a check costs when the machine is not shared.
    print(f"cpu time: p50 {statistics.median(cpu):.2f} ms  p95 {sorted(cpu)[int(0.95 * (len(cpu) - 1))]:.2f} ms"
          f"  (load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
