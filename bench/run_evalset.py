"""Draft the 14 evalset requests with the configured LLM and print one line per case.

    .venv/bin/python bench/run_evalset.py [--cases evals/cases/cases.jsonl] [--only HC07,HC13]
                                          [--out data/bench/evalset.jsonl]

Per case: evaluator pass/fail, facts covered (fact numbers present / total), numbers in the
draft that are in no fact, seconds. With the embedded model expect 20–60 s per section.
Each result (draft, evaluation, notices) is appended to --out as JSON for later reading.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from evals.facts import extract_numbers, is_year_token
from rag.config import PROJECT_ROOT, get_settings
from rag.draft import draft_report
from rag.errors import UserFacingError
from rag.schema import DraftRequest
from rag.textnorm import normalize_for_compare

DEFAULT_CASES = [PROJECT_ROOT / "evals" / "cases" / "cases.jsonl",
                 Path("/work/shared/evalset/cases.jsonl")]


def fact_coverage(draft: str, facts: list[str]) -> tuple[int, int, list[str]]:
    """(fact numbers present, fact numbers total, draft numbers that are in no fact)."""
    d = normalize_for_compare(draft)
    draft_tokens = [t for t in extract_numbers(d) if not is_year_token(t, d)]
    pairs = {t.pair for t in draft_tokens}
    values = {t.canonical for t in draft_tokens}
    fact_tokens = []
    for f in facts:
        s = normalize_for_compare(f)
        fact_tokens += [t for t in extract_numbers(s) if not is_year_token(t, s)]
    present = sum((t.pair in pairs) if t.unit else (t.canonical in values) for t in fact_tokens)
    fact_values = {t.canonical for t in fact_tokens}
    invented = [t.text for t in draft_tokens if t.canonical not in fact_values]
    return present, len(fact_tokens), invented


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default=next((str(p) for p in DEFAULT_CASES if p.exists()), ""))
    ap.add_argument("--only", default="", help="comma-separated case ids")
    ap.add_argument("--out", default=str(get_settings().path("bench", "evalset.jsonl")))
    args = ap.parse_args()
    settings = get_settings()
    cases = [json.loads(l) for l in Path(args.cases).read_text(encoding="utf-8").splitlines() if l.strip()]
    if args.only:
        wanted = set(args.only.split(","))
        cases = [c for c in cases if c["id"] in wanted]
    print(f"{'case':5} {'genre':6} {'section':10} {'eval':5} {'score':>6} {'facts':>7} "
          f"{'chars':>5} {'secs':>6}  invented / failing rules", flush=True)
    with open(args.out, "a", encoding="utf-8") as out:
        for case in cases:
            request = DraftRequest.from_dict(case)
            t0 = time.monotonic()
            try:
                result = draft_report(request, settings,
                                      progress=lambda m: print(f"    {m}", file=sys.stderr, flush=True))
            except UserFacingError as e:
                secs = time.monotonic() - t0
                print(f"{case['id']:5} {request.genre:6} {request.section:10} ERROR {'':>6} {'':>7} "
                      f"{'':>5} {secs:6.0f}  {e}", flush=True)
                continue
            secs = time.monotonic() - t0
            present, total, invented = fact_coverage(result.draft, request.facts)
            ev = result.evaluation
            verdict = "-" if ev is None else ("pass" if ev.passed else "FAIL")
            score = f"{ev.score:6.2f}" if ev else "     -"
            failing = sorted({v.rule for v in ev.violations if v.severity in ("blocker", "major")}) if ev else []
            chars = len("".join(result.draft.split()))
            print(f"{case['id']:5} {request.genre:6} {request.section:10} {verdict:5} {score} "
                  f"{present:>3}/{total:<3} {chars:5} {secs:6.0f}  "
                  f"{','.join(invented) or '-'} / {','.join(failing) or '-'}", flush=True)
            out.write(json.dumps({"id": case["id"], "seconds": round(secs, 1), **result.to_json()},
                                 ensure_ascii=False) + "\n")
            out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
