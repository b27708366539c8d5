"""Time to check a draft as it grows: seconds per size, to see whether the checker is linear.

    .venv/bin/python bench/bench_evals_size.py [--sizes 20000,50000,100000,200000] [--no-copy]
    .venv/bin/python bench/bench_evals_size.py --profile 1000000   # cProfile, top 25

The draft is the labelled good drafts (evals/cases) joined and repeated to the size (characters,
blanks included), checked against the first one's request with the copy index, as `python -m
evals check` does. Sizes above `evals.check.MAX_DRAFT_CHARS` are refused by `evaluate`, so they are
timed through the rules directly (`check_unbounded`). Figures depend on machine load.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evals.check import MAX_DRAFT_CHARS, check_unbounded  # noqa: E402
from evals.copy_index import CopyIndex, committed_corpus_docs  # noqa: E402
from evals.labelled import load_labelled  # noqa: E402


def draft_of(size: int) -> tuple[str, object]:
    goods = [d for d in load_labelled() if d.kind == "good"]
    text = "\n".join(d.text for d in goods)
    return (text * (size // len(text) + 1))[:size], goods[0].request


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="20000,50000,100000,200000")
    ap.add_argument("--no-copy", action="store_true")
    ap.add_argument("--profile", type=int, help="profile one check of a draft of this size")
    args = ap.parse_args()
    index = None if args.no_copy else CopyIndex.build(committed_corpus_docs())
    small, request = draft_of(2000)
    check_unbounded(small, request, index)  # warm caches (OpenCC, regexes)
    if args.profile:
        draft, _ = draft_of(args.profile)
        profiler = cProfile.Profile()
        profiler.runcall(check_unbounded, draft, request, index)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        return
    print(f"limit (evals.check.MAX_DRAFT_CHARS): {MAX_DRAFT_CHARS} characters; "
          f"copy index {'off' if index is None else 'on'}; load average {os.getloadavg()[0]:.1f}")
    previous = None
    for size in (int(s) for s in args.sizes.split(",")):
        draft, _ = draft_of(size)
        started = time.perf_counter()
        check_unbounded(draft, request, index)
        seconds = time.perf_counter() - started
        growth = f"  ×{seconds / previous[1]:.1f} time for ×{size / previous[0]:.1f} size" if previous else ""
        print(f"{size:>9} chars: {seconds:8.3f} s  ({seconds / size * 1e6:6.2f} µs/char){growth}")
        previous = (size, seconds)


if __name__ == "__main__":
    main()
