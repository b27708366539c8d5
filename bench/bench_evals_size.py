"""Time to check a draft as it grows: seconds per size, to see whether the checker is linear.

    .venv/bin/python bench/bench_evals_size.py [--sizes 20000,50000,100000,200000] [--no-copy]
    .venv/bin/python bench/bench_evals_size.py --profile 1000000   # cProfile, top 25
    .venv/bin/python bench/bench_evals_size.py --hostile [--hostile-sizes 3000,12000,199000]

The draft is the labelled good drafts (evals/cases) joined and repeated to the size (characters,
blanks included), checked against the first one's request with the copy index, as `python -m
evals check` does. Sizes above `evals.check.MAX_DRAFT_CHARS` are refused by `evaluate`, so they are
timed through the rules directly (`check_unbounded`). Figures depend on machine load.

`--hostile` times the drafts of issue #20 instead, each with its slowest rules: random
（）、一二三是，。；：“” and digits; the same without digits from eight characters (no numbers to
tell sentences apart); “卫生、” repeated, checked against a copy index that holds a junk file of
30,000 × “卫生、” beside the corpus (put there directly: ingest now refuses such a file); and one
character repeated (“一”, “【”).
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evals.check import MAX_DRAFT_CHARS, check_unbounded  # noqa: E402
from evals.context import CheckContext  # noqa: E402
from evals.registry import RULES  # noqa: E402
from evals.copy_index import CopyIndex, committed_corpus_docs  # noqa: E402
from evals.labelled import load_labelled  # noqa: E402


def draft_of(size: int) -> tuple[str, object]:
    goods = [d for d in load_labelled() if d.kind == "good"]
    text = "\n".join(d.text for d in goods)
    return (text * (size // len(text) + 1))[:size], goods[0].request


JUNK_FILE = ("junk.txt", "卫生、" * 30_000)


def hostile_drafts() -> dict[str, tuple[object, bool]]:
    """name → (draft of a given size, whether the copy index holds the junk file)."""
    def random_of(alphabet: str):
        def make(size: int) -> str:
            rng = random.Random(size)
            return "".join(rng.choice(alphabet) for _ in range(size))
        return make
    return {
        "random marks and digits": (random_of("（）、一二三是，。；：“”0123456789"), False),
        "eight characters, no digits": (random_of("一二三是五六七八，。"), False),
        "“卫生、” repeated, junk indexed": (lambda size: ("卫生、" * (size // 3 + 1))[:size], True),
        # found by timing every rule on runs of one or two characters: FACT-03b's numeral runs and
        # CLEAN-01's bracket pairs were quadratic on them
        "“一” repeated": (lambda size: "一" * size, False),
        "“【” repeated": (lambda size: "【" * size, False),
    }


def time_rules(draft: str, request, index) -> tuple[float, list[tuple[float, str]]]:
    """Seconds for the whole check, and per rule (slowest first) in a second pass."""
    started = time.perf_counter()
    check_unbounded(draft, request, index)
    total = time.perf_counter() - started
    ctx = CheckContext(draft, request, index)
    per_rule = []
    for r in RULES.values():
        if r.check:
            started = time.perf_counter()
            list(r.check(ctx))
            per_rule.append((time.perf_counter() - started, r.id))
    return total, sorted(per_rule, reverse=True)


def run_hostile(sizes: list[int], request) -> None:
    corpus = committed_corpus_docs()
    indexes = {False: CopyIndex.build(corpus), True: CopyIndex.build(corpus + [JUNK_FILE])}
    print(f"hostile drafts (issue #20); load average {os.getloadavg()[0]:.1f}")
    for name, (make, junk) in hostile_drafts().items():
        for size in sizes:
            total, per_rule = time_rules(make(size), request, indexes[junk])
            slowest = ", ".join(f"{rid} {t:.2f}" for t, rid in per_rule[:3])
            print(f"{name:<32} {size:>7} chars: {total:7.2f} s   slowest rules: {slowest}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="20000,50000,100000,200000")
    ap.add_argument("--no-copy", action="store_true")
    ap.add_argument("--profile", type=int, help="profile one check of a draft of this size")
    ap.add_argument("--hostile", action="store_true", help="time the hostile drafts instead")
    ap.add_argument("--hostile-sizes", default="3000,12000,199000")
    args = ap.parse_args()
    if args.hostile:
        small, request = draft_of(2000)
        check_unbounded(small, request, None)
        run_hostile([int(s) for s in args.hostile_sizes.split(",")], request)
        return
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
