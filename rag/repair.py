"""Checking and repairing a finished draft: evaluation, deterministic fixes (delete the
evidence of a violation, restore a missing fact, trim to length) and targeted model repairs of
the paragraphs that carry failing violations. Used by the 按检查结果修改 button and by revisions;
a fresh draft is written under the contract (rag.compose) and needs none of the model repairs.
"""
from __future__ import annotations

import re

from evals.check import Evaluation, evaluate
from evals.copy_index import load_copy_index
from rag.text import quoted_names, extract_numbers, han_grams, is_year_token, nonspace_len, sentences_of
from evals.registry import FAILING_SEVERITIES, RuleViolation
from rag.factsheet import VERIFY_MARK
from rag.job import DraftJob
from rag.postprocess import heading_rank
from rag.factsheet import split_labelled
from rag.postprocess import clean_draft, clean_paragraph, split_heading
from rag.prompting import fence, numbered, render
from rag.textnorm import HAN, normalize_for_compare
from rag.tokens import count_tokens
from rag.units import fix_unit_words, unit_kind

REPAIR_ROUNDS = 2
# A fact without numbers whose wording the draft keeps less of than this is written in again.
WORDING_KEPT = 0.5
# Rules whose evidence can simply be deleted from the draft (the clause that carries it).
DELETABLE_RULES = {"FACT-03", "INPUT-02", "CLEAN-01", "CLEAN-02", "CLEAN-03", "LANG-02", "LANG-03", "COPY-01",
                   "SAFE-01", "YEAR-01", "CLAIM-01", "REPEAT-01"}
# Rules about the whole draft: their span (if any) does not point at one paragraph.
DOCUMENT_RULES = {"LEN-01", "STR-01", "FACT-01", "FACT-02", "INPUT-03"}


def _rank(ev: Evaluation) -> tuple:
    blockers = sum(v.severity == "blocker" for v in ev.violations)
    majors = sum(v.severity == "major" for v in ev.violations)
    return (ev.passed, -blockers, -majors, ev.score)


def _failing(ev: Evaluation) -> list:
    return [v for v in ev.violations if v.severity in FAILING_SEVERITIES]


def _line_spans(text: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for line in text.split("\n"):
        spans.append((pos, pos + len(line)))
        pos += len(line) + 1
    return spans


def _delete_evidence(text: str, violations: list) -> str:
    """Delete the clause (or, in a heading, just the evidence) of each deletable violation."""
    cuts: list[tuple[int, int]] = []
    for v in violations:
        if v.rule not in DELETABLE_RULES or v.start is None or v.end is None or v.end <= v.start:
            continue
        line_start = text.rfind("\n", 0, v.start) + 1
        line_end = text.find("\n", v.end)
        line_end = len(text) if line_end == -1 else line_end
        head_len = len(split_heading(text[line_start:line_end])[0])
        if head_len and v.start - line_start < head_len:
            cuts.append((v.start, v.end))  # inside a heading: remove only the offending text
            continue
        left = max(text.rfind(c, line_start, v.start) for c in "，。；：")
        left = max(left + 1, line_start + head_len)
        rights = [i for i in (text.find(c, v.end, line_end) for c in "，。；") if i != -1]
        right = min(rights) + 1 if rights else line_end
        cuts.append((left, right))
    for start, end in sorted(set(cuts), reverse=True):
        text = text[:start] + text[end:]
    return clean_draft(text)


def _missing_facts(text: str, facts: list[str]) -> list[tuple[str, str]]:
    """(kind, piece) for every fact piece with a number the draft lacks; kind is the routing
    label (problems / next / '') so the piece can go back to its own part."""
    d = normalize_for_compare(text)
    draft_grams = han_grams([d], 4)
    draft_tokens = extract_numbers(d)
    pairs = {t.pair for t in draft_tokens}
    values = {t.canonical for t in draft_tokens}
    missing = []
    for fact in facts:
        kind, pieces = split_labelled(fact)
        for piece in pieces:
            s = normalize_for_compare(piece)
            tokens = [t for t in extract_numbers(s) if not is_year_token(t, s)]
            if (any((t.pair not in pairs) if t.unit else (t.canonical not in values) for t in tokens)
                    or any(mark not in d for mark in _verify_marks(s))
                    or any(name not in d for name in quoted_names(s))   # FACT-02: “一码通用”, 《…》
                    or (not tokens and _wording_kept(s, draft_grams) < WORDING_KEPT)):
                missing.append((kind, piece))
    return missing


def _wording_kept(piece: str, draft_grams: frozenset[str]) -> float:
    """Share of a fact piece's 4-character runs the draft contains: a fact with no number is
    present when most of its wording is (“本人严格遵守中央八项规定精神，无违规违纪行为”)."""
    grams = han_grams([piece], 4)
    return len(grams & draft_grams) / len(grams) if grams else 1.0


def _verify_marks(text: str) -> list[str]:
    """Each VERIFY_MARK with the four characters naming what it stands for (“就诊率达到【待核实】”)."""
    return [text[max(0, m.start() - 4):m.end()] for m in re.finditer(re.escape(VERIFY_MARK), text)]


def _bigrams(s: str) -> set[str]:
    s = re.sub(f"[^{HAN}]", "", s)
    return {s[i:i + 2] for i in range(len(s) - 1)}


_PART_HEADINGS = {"problems": re.compile(r"问题|不足|短板|差距"),
                  "next": re.compile(r"打算|计划|下一步|思路|今后|努力方向")}


def _is_body(line: str) -> bool:
    """A paragraph with sentences (a “（一）小标题。正文” line counts; a bare heading does not)."""
    head, body = split_heading(line)
    return "。" in body or (len(body) > 10 and not head)


def _insert_facts(text: str, missing: list[tuple[str, str]], homes: dict[str, str]) -> str:
    """Add each missing fact piece as a sentence of the paragraph under the sub-heading the
    outline gave it, else of the closest body paragraph of its part."""
    lines = text.split("\n")
    top_rank = min((h[0] for h in map(heading_rank, lines) if h), default=None)
    part_of_line: list[str] = []
    current = "opening"  # lines before the first top heading: title, salutation, opening
    for line in lines:
        h = heading_rank(line)
        if h and h[0] == top_rank:
            current = next((k for k, rx in _PART_HEADINGS.items() if rx.search(h[2][:20])), "")
        part_of_line.append(current)
    body = [i for i, l in enumerate(lines) if _is_body(l)]
    for kind, piece in missing:
        home = next((h for f, h in homes.items() if piece in f), None)
        candidates = ([i for i in body if home and home in lines[i]]
                      or [i for i in body if part_of_line[i] == kind]
                      or [i for i in body if part_of_line[i] != "opening"] or body)
        if not candidates:
            lines.append(piece.rstrip("。；，") + "。")
            continue
        grams = _bigrams(piece)
        best = max(candidates, key=lambda i: len(grams & _bigrams(lines[i])))
        lines[best] = lines[best].rstrip() + piece.rstrip("。；，") + "。"
    return "\n".join(lines)


def _fix_unit_names(text: str, job: DraftJob) -> str:
    """UNIT-01: the unit's own self-reference and level words (unless a fact uses the others)."""
    return fix_unit_words(text, job.voice.kind or unit_kind(job.request.unit), "".join(job.facts))


def _trim_to_length(text: str, limit: int, facts: list[str]) -> str:
    """Drop sentences that carry no fact number from the longest paragraphs until the draft
    fits; the first sentence after a heading and every fact sentence stay."""
    fact_values = {t.canonical for f in facts for t in extract_numbers(normalize_for_compare(f))}
    lines = text.split("\n")
    while nonspace_len("\n".join(lines)) > limit:
        best = None
        for i in sorted((i for i, l in enumerate(lines) if _is_body(l)), key=lambda i: -len(lines[i])):
            head, body = split_heading(lines[i])
            sentences = sentences_of(body)
            removable = [k for k, s in enumerate(sentences) if k > 0 and not any(
                t.canonical in fact_values for t in extract_numbers(normalize_for_compare(s)))]
            if removable:
                k = max(removable, key=lambda k: len(sentences[k]))
                lines[i] = head + "".join(sentences[:k] + sentences[k + 1:])
                best = i
                break
        if best is None:
            break
    return "\n".join(lines)


def _foreign_numbers(text: str, job: DraftJob) -> list[tuple[int, int]]:
    """Spans of numbers whose (value, unit) is in no fact — stricter than FACT-03, which only
    compares values, so “100万元” passes there when a fact says “100%”."""
    allowed = {t.pair for f in job.facts + job.request.key_figures
               for t in extract_numbers(normalize_for_compare(f))}
    allowed_values = {v for v, u in allowed}
    spans = []
    for line_start, line_end in _line_spans(text):
        line = text[line_start:line_end]
        h = heading_rank(line)
        skip = len(line) - len(h[2]) if h else 0          # the heading marker's own ordinal
        for t in extract_numbers(line):
            if t.start < skip or is_year_token(t, line) or t.pair in allowed:
                continue
            if t.unit or t.canonical not in allowed_values:
                spans.append((line_start + t.start, line_start + t.end))
    # the model, told what 【待核实】 means, also puts it where an exemplar had a number
    mark_contexts = {m[-len(VERIFY_MARK) - 2:] for f in job.facts for m in _verify_marks(f)}
    for m in re.finditer(re.escape(VERIFY_MARK), text):
        if text[max(0, m.start() - 2):m.end()] not in mark_contexts:
            spans.append((m.start(), m.end()))
    return spans


def _drop_foreign_numbers(text: str, job: DraftJob) -> str:
    foreign = [RuleViolation("FACT-03", "blocker", "", "", s, e) for s, e in _foreign_numbers(text, job)]
    return _delete_evidence(text, foreign) if foreign else text


def _deterministic_fixes(text: str, ev: Evaluation, job: DraftJob) -> str:
    # a 【待核实】 reminder (warn) stays; a minor COPY-01 run is still copied text and goes
    text = _drop_foreign_numbers(_delete_evidence(text, [v for v in ev.violations if v.severity != "warn"]), job)
    text = _restore_missing_facts(_fix_unit_names(text, job), job)
    high = job.request.length_chars[1]
    if nonspace_len(text) > high:
        text = _trim_to_length(text, high, job.facts)
    return clean_draft(text, job.facts)


def _restore_missing_facts(text: str, job: DraftJob) -> str:
    missing = _missing_facts(text, job.facts)
    return _insert_facts(text, missing, job.homes) if missing else text


def _llm_repair(text: str, ev: Evaluation, job: DraftJob, stream: bool) -> str:
    """Rewrite only the paragraphs that carry failing violations, quoting them."""
    lines = text.split("\n")
    spans = _line_spans(text)
    by_line: dict[int, list] = {}
    general = []
    for v in _failing(ev):
        if v.start is None or v.rule in DOCUMENT_RULES:
            general.append(v)
            continue
        for i, (s, e) in enumerate(spans):
            if s <= v.start <= e and lines[i].strip():
                by_line.setdefault(i, []).append(v)
                break
    extra = ""
    length = next((v for v in general if v.rule == "LEN-01"), None)
    n_chars = len(re.sub(r"\s", "", text))
    lo, hi = job.request.length_chars
    if length and not by_line:
        # only paragraphs under a sub-heading change length: the title, the opening's lead-in and
        # a problems part (its facts and no more) must stay as they are
        paragraphs = [i for i, l in enumerate(lines) if _is_body(l) and split_heading(l)[0]]
        if n_chars < lo:
            targets = sorted(paragraphs, key=lambda i: len(lines[i]))[:3]
            extra = render("grow", chars=(lo - n_chars) // max(1, len(targets)) + 40)
        else:
            targets = sorted(paragraphs, key=lambda i: -len(lines[i]))[:3]
            extra = render("shrink", chars=(n_chars - hi) // max(1, len(targets)) + 30)
        by_line = {i: [length] for i in targets}
    for i, violations in list(by_line.items())[:4]:
        head, body = split_heading(lines[i])
        if not body.strip():
            continue
        quoted = "\n".join(f"- [{v.rule}] {v.message}" + (f"：“{v.evidence}”" if v.evidence else "")
                           for v in violations)
        answer_tokens = job.answer_tokens(len(body) + 80)
        facts = _facts_of_paragraph(lines[i], job)
        prompt = render("repair", genre=job.request.genre, violations=quoted,
                        facts=fence(numbered(facts)) if facts else "（无）", text=fence(body), extra=extra)
        if count_tokens(prompt) + answer_tokens > job.settings.llm_context_tokens:
            continue
        fixed = job.chat(prompt, purpose=f"repair:{violations[0].rule}", max_tokens=answer_tokens,
                         stream=stream)
        heading = heading_rank(head)[2].rstrip("。") if head else ""
        fixed = clean_paragraph(fixed, heading=heading, facts=job.facts)
        if len(fixed) >= len(body) // 2:  # an answer that lost half the paragraph is not a repair
            lines[i] = head + fixed
    return "\n".join(lines)


def _facts_of_paragraph(line: str, job: DraftJob) -> list[str]:
    """The facts a repair of this paragraph may use: those the outline put under its heading
    and those it already states. Given every fact, the small model pours all of them into
    whichever paragraph it is repairing."""
    grams = han_grams([normalize_for_compare(line)], 4)
    pairs = {t.pair for t in extract_numbers(normalize_for_compare(line))}
    return [f for f in job.facts
            if (job.homes.get(f) and job.homes[f] in line)
            or any(t.pair in pairs for t in extract_numbers(normalize_for_compare(f)))
            or _wording_kept(normalize_for_compare(f), grams) >= WORDING_KEPT]


def _evaluate(text: str, job: DraftJob, copy_index) -> Evaluation:
    return evaluate(text, job.request, copy_index)


def _check_and_repair(text: str, job: DraftJob, rounds_log: list[dict], stream_repairs: bool = False
                      ) -> tuple[str, Evaluation]:
    copy_index = load_copy_index(job.settings)
    job.progress("正在检查…")
    # a fact the model left out goes back in, whether or not a rule notices its absence
    text = clean_draft(_restore_missing_facts(_drop_foreign_numbers(text, job), job), job.facts)
    ev = _evaluate(text, job, copy_index)
    rounds_log.append({"round": 0, "kind": "draft", "score": ev.score, "passed": ev.passed})
    best = (text, ev)
    for _ in range(3):  # each pass can expose the next-longest copied run, say
        text, ev = best
        if not _failing(ev):
            break
        fixed = _deterministic_fixes(text, ev, job)
        if fixed == text:
            break
        ev2 = _evaluate(fixed, job, copy_index)
        rounds_log.append({"round": 0, "kind": "deterministic", "score": ev2.score, "passed": ev2.passed})
        if _rank(ev2) < _rank(ev):
            break
        best = (fixed, ev2)
    for n in range(1, REPAIR_ROUNDS + 1):
        text, ev = best
        if not _failing(ev):
            break
        job.progress(f"正在修改第{n}轮…")
        candidate = _llm_repair(text, ev, job, stream_repairs)
        candidate = clean_draft(candidate, job.facts)
        cand_ev = _evaluate(candidate, job, copy_index)
        candidate2 = _deterministic_fixes(candidate, cand_ev, job)
        if candidate2 != candidate:
            candidate, cand_ev = candidate2, _evaluate(candidate2, job, copy_index)
        rounds_log.append({"round": n, "kind": "llm", "score": cand_ev.score, "passed": cand_ev.passed})
        if _rank(cand_ev) <= _rank(ev):
            break   # the next round would send the same paragraphs again: stop here
        best = (candidate, cand_ev)
    text, ev = best
    written, (least, _most) = nonspace_len(text), job.request.length_chars
    if written < least and any(v.rule == "LEN-01" for v in ev.violations):
        # what the model wrote beyond the facts was removed, so say what would make it longer
        job.notices.append(f"草稿{written}字，少于要求的{least}字：{len(job.facts)}条事实撑不起这个篇幅，"
                           "模型补写的无事实依据的内容已删去，没有用空话凑字数。请补充事实（具体做法、数字、"
                           "典型事例），或调低目标字数。")
    return text, ev
