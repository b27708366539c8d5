"""Draft every evalset request with the configured LLM and print one line per case, then totals.

    .venv/bin/python bench/run_evalset.py [--cases A.jsonl B.jsonl] [--only HC07,MC03]
                                          [--out data/bench/evalset.jsonl]

Per case: checker verdict and failing rules, characters against the range, fact numbers kept,
numbers in no fact, claims no fact supports (CLAIM-01's test), hollow phrases, guard edits,
share of draft sentences with a known origin, model calls and seconds. Each result is appended
to --out as JSON (draft, evaluation, notices, plan, edits, sentences, usage) for later reading.
With the embedded model on 2 cores expect 1–4 minutes per case.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from evals.rules.claims import hollow_phrases, near_duplicate, unsupported_claims
from rag.headings import ENUM_ITEM_RE
from rag.text import (REMINDER_RE, SUPPLY_MARK, clauses_of, extract_numbers, han_count, is_year_token, nonspace_len, written_len,
                      sentence_key, sentences_of)
from rag.config import PROJECT_ROOT, get_settings
from rag.draft import DraftResult, draft_report
from rag.errors import UserFacingError
from rag.schema import DraftRequest
from rag.textnorm import normalize_for_compare
from rag.normalize import parse_request

CASES_DIR = PROJECT_ROOT / "evals" / "cases"
DEFAULT_CASES = [CASES_DIR / "cases.jsonl", CASES_DIR / "cases-more.jsonl"]


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


def known_share(draft: str, recorded: list[str]) -> float:
    """Share of the draft's Han characters that stand in a sentence the result says the origin
    of (heading markers aside): 1.0 when every sentence has a known origin."""
    total = len(re.findall(r"[\u4e00-\u9fff]", draft))
    rest = draft
    for text in sorted(set(recorded), key=len, reverse=True):
        if text:
            rest = rest.replace(text, "")
    left = len(re.findall(r"[\u4e00-\u9fff]", rest)) - sum(
        len(re.findall(r"[\u4e00-\u9fff]", h.group(0))) for h in re.finditer(r"^[一二三四五六七八九十]+、|（[一二三四五六七八九十]+）", rest, re.M))
    return 1 - left / total if total else 1.0


def joined_sentences(result: DraftResult) -> list[tuple[str, list[str]]]:
    """(sentence, origins of its spans) for every body sentence: spans of one sentence joined."""
    out: list[tuple[str, list[str]]] = []
    for b in result.blocks:
        text, origins = "", []
        for span in b.sentences:
            text, origins = text + span.text, origins + [span.origin]
            if text[-1:] in "。！？；":
                out.append((text, origins))
                text, origins = "", []
        if text:
            out.append((text, origins))
    return out


def repeats(sentences: list[str]) -> tuple[int, int]:
    """(sentences said twice by REPEAT-01's test, clauses of 8+ Han characters said twice)."""
    twice = sum(any(near_duplicate(s, t) for t in sentences[:i]) for i, s in enumerate(sentences)
                if not REMINDER_RE.fullmatch(s.strip()))
    clauses = [sentence_key(c) for s in sentences for c in clauses_of(REMINDER_RE.sub("", s)) if han_count(c) >= 8]
    return twice, sum(c in clauses[:i] for i, c in enumerate(clauses))


def pasted_run(draft: str, facts: list[str]) -> int:
    """The longest run of characters a fact of over 300 characters (a pasted ledger) gives the
    draft word for word."""
    best = 0
    d = sentence_key(draft)
    for f in (sentence_key(x) for x in facts if len(x) > 300):
        for i in range(len(f)):
            lo, hi = best + 1, len(f) - i
            while lo <= hi:
                mid = (lo + hi) // 2
                if f[i:i + mid] in d:
                    best, lo = mid, mid + 1
                else:
                    hi = mid - 1
    return best


# a label left after a lead-in (“以下工作：今后：…”); our own 【待补充：…】 reminder there is no label
_PART_LABEL = re.compile(r"(?:如下|以下工作|以下几个方面工作|以下保障措施|问题)：[^。；\n【]{0,12}[：:]")


def label_debris(draft: str) -> list[str]:
    """A fact label left after a part's lead-in (“…以下工作：今后：…”) and a lone 一是 in a paragraph."""
    found = [m.group(0) for m in _PART_LABEL.finditer(draft)]
    for line in draft.split("\n"):
        marks = ENUM_ITEM_RE.findall(line)
        if len(marks) == 1:
            found.append(line[:20])
    return found


def measure(result: DraftResult, request: DraftRequest) -> dict:
    present, total, invented = fact_coverage(result.draft, request.facts)
    facts = list(request.facts) + list(request.key_figures) + [request.unit]
    sentences = [s for line in result.draft.split("\n") for s in sentences_of(line) if s.strip()]
    claims = [c.text for s in sentences for c in unsupported_claims(s, tuple(facts))]
    ev = result.evaluation
    joined = joined_sentences(result)
    twice, clause_twice = repeats([t for t, _o in joined])
    elaboration = [s for s in result.sentences if s.origin == "elaboration"]
    unmarked = [t for t, o in joined if "model" in o and not any(
        s.origin == "model" and s.fact_ids for b in result.blocks for s in b.sentences if s.text in t)]
    withheld = result.draft.count("【待核实】")
    return {"elaboration_sentences": len(elaboration),
            "elaboration_chars": sum(nonspace_len(s.text) for s in elaboration),
            "unmarked_model": unmarked, "repeated_sentences": twice, "repeated_clauses": clause_twice,
            "withheld": withheld, "pasted_run": pasted_run(result.draft, list(request.facts)),
            "sub_headings": sum(b.kind == "item" for b in result.blocks),
            "label_debris": label_debris(result.draft), "in_range": None,"verdict": "-" if ev is None else ("pass" if ev.passed else "FAIL"),
            "failing": sorted({v.rule for v in ev.violations if v.severity in ("blocker", "major")}) if ev else [],
            "chars": written_len(result.draft), "present": present, "total": total, "invented": invented,
            "claims": claims, "hollow": [c.text for c in hollow_phrases(result.draft)],
            "edits": dict(Counter(e.guard for e in result.edits)),
            "known_share": known_share(result.draft, [s.text for s in result.sentences]),
            "calls": result.usage.calls, "partial": result.partial,
            "supply_marks": result.draft.count(SUPPLY_MARK)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", nargs="+", default=[str(p) for p in DEFAULT_CASES if p.exists()])
    ap.add_argument("--only", default="", help="comma-separated case ids")
    ap.add_argument("--out", default=str(get_settings().path("bench", "evalset.jsonl")))
    args = ap.parse_args()
    settings = get_settings()
    cases = [json.loads(l) for path in args.cases
             for l in Path(path).read_text(encoding="utf-8").splitlines() if l.strip()]
    if args.only:
        wanted = set(args.only.split(","))
        cases = [c for c in cases if c["id"] in wanted]
    print(f"{'case':5} {'genre':6} {'section':10} {'eval':5} {'chars':>11} {'facts':>7} {'secs':>5} {'calls':>5} "
          f"{'known':>5}  invented / claims / hollow / failing rules / edits", flush=True)
    totals: Counter = Counter()
    with open(args.out, "a", encoding="utf-8") as out:
        for case in cases:
            t0 = time.monotonic()
            try:
                request = parse_request(case)
                result = draft_report(request, settings,
                                      progress=lambda m: print(f"    {m}", file=sys.stderr, flush=True))
            except UserFacingError as e:
                print(f"{case['id']:5} ERROR {time.monotonic() - t0:5.0f}  {e}", flush=True)
                totals["errors"] += 1
                continue
            secs = time.monotonic() - t0
            m = measure(result, request)
            lo, hi = request.length_chars
            in_range = lo <= m["chars"] <= hi
            m["in_range"] = in_range
            print(f"{case['id']:5} {request.genre:6} {request.section:10} {m['verdict']:5} "
                  f"{m['chars']:>4}/{lo}-{hi} {m['present']:>3}/{m['total']:<3} {secs:5.0f} {m['calls']:5} "
                  f"{m['known_share']:5.0%}  {','.join(m['invented']) or '-'} / {'；'.join(m['claims']) or '-'} / "
                  f"{'；'.join(m['hollow']) or '-'} / {','.join(m['failing']) or '-'} / "
                  f"{' '.join(f'{k}:{v}' for k, v in m['edits'].items()) or '-'} / elaboration "
                  f"{m['elaboration_sentences']}:{m['elaboration_chars']} / repeats {m['repeated_sentences']}+"
                  f"{m['repeated_clauses']} / withheld {m['withheld']} / pasted {m['pasted_run']} / "
                  f"debris {'；'.join(m['label_debris']) or '-'}", flush=True)
            totals["cases"] += 1
            totals["drafts"] += bool(result.draft)
            totals["pass"] += m["verdict"] == "pass"
            totals["invented"] += len(m["invented"])
            totals["claims"] += len(m["claims"])
            totals["hollow"] += len(m["hollow"])
            totals["facts_present"] += m["present"]
            totals["facts_total"] += m["total"]
            totals["length_ok"] += in_range or (m["chars"] < lo and m["supply_marks"] > 0)
            totals["in_range"] += in_range
            totals["elaboration_sentences"] += m["elaboration_sentences"]
            totals["elaboration_chars"] += m["elaboration_chars"]
            totals["unmarked_model"] += len(m["unmarked_model"])
            totals["repeats"] += m["repeated_sentences"] + m["repeated_clauses"]
            totals["label_debris"] += len(m["label_debris"])
            if request.section == "全文":
                totals["whole"] += 1
                totals["whole_max_seconds"] = max(totals["whole_max_seconds"], round(secs))
            totals["seconds"] += secs
            totals["known_all"] += m["known_share"] == 1.0
            out.write(json.dumps({"id": case["id"], "seconds": round(secs, 1), "measures": m, **result.to_json()},
                                 ensure_ascii=False) + "\n")
            out.flush()
    drafts = max(1, totals["drafts"])
    print(f"\n{totals['cases']} cases, {totals['errors']} errors; checker pass {totals['pass']}/{totals['drafts']}; "
          f"numbers not in facts {totals['invented']}; claims not in facts {totals['claims']}; "
          f"hollow phrases {totals['hollow']}; fact numbers {totals['facts_present']}/{totals['facts_total']}; "
          f"length in range or 【待补充】 {totals['length_ok']}/{totals['drafts']}; "
          f"all sentences of known origin {totals['known_all']}/{totals['drafts']}; "
          f"{totals['seconds'] / drafts:.0f} s per draft\n"
          f"in range {totals['in_range']}/{totals['drafts']}; elaboration {totals['elaboration_sentences']} spans, "
          f"{totals['elaboration_chars']} chars; model sentences without a fact not marked {totals['unmarked_model']}; "
          f"repeated sentences+clauses {totals['repeats']}; label debris {totals['label_debris']}; "
          f"slowest whole report {totals['whole_max_seconds']} s ({totals['whole']} whole reports)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
