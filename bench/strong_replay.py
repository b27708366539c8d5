"""What the drafting chain does with a model that writes well: every writing call of the product
is answered with the sentences of the request's hand-written good draft about the facts that
call names, and the product's draft is compared with the good draft.

    GONGWEN_DATA_DIR=/tmp/d .venv/bin/python bench/strong_replay.py [--case MC01] [--json]
        [--no-exemplars] [--ignore-max-tokens] [--calls] [--out rows.json]

Requests: every request that has a good draft — evals/cases/{cases,cases-more}.jsonl with
evals/cases/drafts/ID.good.md, and bench/heldout/requests.jsonl with bench/heldout/ID.good.md.
Each is normalised as `rag draft` does and drafted in-process by `rag.draft.draft_report` with the
product's own OpenAI client pointed at a replay server (tests/openai_stub.py's HTTP machinery,
one server per request). The client's retry delay is 0: an empty answer is retried at once.

How a call is answered (`recognise_call`, the one place that reads a task): only the text after
the last “【本次任务】” of the last user message is read, and the facts it names are the request
facts whose clauses (split at ，；：、 and brackets) make up ≥ NAMED_SHARE of the fact's characters
inside that text.
  headings  (“拟小标题”, groups “第N组：…”) → a JSON array: per group, the sub-heading of the
            good-draft paragraph holding most of the group's facts (not one an earlier group took
            when another paragraph holds any of them; "" when none does);
  reask     (“逐句改写”) → "" (a replay cannot rewrite);
  item      (“小标题“…”下的一段正文”) → the good-draft sentences anchored to the named facts, in
            draft order;
  part      (a task naming 开头 / 存在问题 / 打算 / 保障措施 / 基本情况 and no sub-heading) → the
            good draft's text of that part without its heading (an items part: its lead paragraph);
  other     (a call type this script does not know yet, e.g. a “grow” call) → the good-draft
            paragraph whose sub-heading the task quotes, else the sentences anchored to the named
            facts, else the part whose title the task quotes, else "".
An answer longer than the call's max_tokens (counted as the product counts, rag.tokens) is cut
there with finish_reason "length", as a real model would be (--ignore-max-tokens: never cut).

Good draft → sentences and facts: the draft is split into parts (一、 headings; what comes before
the first is the opening), sub-headed paragraphs (（一）heading。body) and sentences
(rag.text.sentences_of). A sentence *carries* a fact when it holds one of the fact's figures
(value and unit, years aside) or quoted names that no other fact has, or one it shares with other
facts while also holding a clause of this one, or ≥ CARRIED_SHARE of the fact's clause characters.
A sentence that carries no fact is elaboration and is *anchored* to the nearest fact sentence
before it in its paragraph (to the first one after it when none comes before); a paragraph with
no fact sentence anchors nothing (only a part call can bring it back).

Measures per request:
  chars       product draft vs good draft (non-space characters), % of good, and whether the
              product draft is inside the request's length range;
  kept        of the good draft's sentences that name nothing outside the facts (no FACT-03 or
              CLAIM-01 finding of the checker on the good draft falls inside them), the share found
              in the product draft. Matching rule: normalised to Han characters, digits, '.' and
              '%' (rag.text.sentence_key), a good sentence is found when it is contained in one
              product sentence or ≥ MATCH_SHARE of its character pairs are in one product sentence;
              it is kept when that product sentence's origin is fact, model or elaboration (a
              match with our own phrase bank is counted apart as "phrase");
  hard claims the checker's FACT-03 and CLAIM-01 findings on the product draft;
  edits       the product's guard edits, by guard id.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from openai_stub import ScriptedOpenAIServer, reply  # noqa: E402

from evals.check import evaluate  # noqa: E402
from rag.text import extract_numbers, is_year_token  # noqa: E402
from evals.rules.structure import NEXT_RE, PROBLEMS_RE, SALUTATION_RE  # noqa: E402
from rag.config import Settings, get_settings  # noqa: E402
from rag.headings import parse_heading  # noqa: E402
from rag.normalize import normalize_request  # noqa: E402
from rag.schema import DraftRequest  # noqa: E402
from rag.text import char_pairs, sentence_key, sentences_of, written_len  # noqa: E402
from rag.textnorm import normalize_for_compare  # noqa: E402
from rag.tokens import count_tokens  # noqa: E402

CASES_DIR = ROOT / "evals" / "cases"
HELDOUT_DIR = ROOT / "bench" / "heldout"
SOURCES = [(CASES_DIR / "cases.jsonl", CASES_DIR / "drafts"),
           (CASES_DIR / "cases-more.jsonl", CASES_DIR / "drafts"),
           (HELDOUT_DIR / "requests.jsonl", HELDOUT_DIR)]

TASK_MARK = "【本次任务】"
# Share of a fact's clause characters a task must hold for the task to name the fact (a label the
# product strips, “存在问题：”, or a value withheld as 【待核实】 costs a clause, not the fact).
NAMED_SHARE = 0.6
# Share of a fact's clause characters a good-draft sentence must hold to carry a fact it gives no
# figure or name of (“二级以上综合医院全部设立老年医学科”).
CARRIED_SHARE = 0.5
# A good-draft sentence is found in the product draft when this share of its character pairs is
# in one product sentence (a clause cut by a guard leaves less).
MATCH_SHARE = 0.8
HARD_CLAIM_RULES = ("FACT-03", "CLAIM-01")
# Origins of a product sentence that count as the good sentence surviving; a match with one of our
# own phrase-bank sentences (“现将……如下：”) is the same stock phrase, not the model's text kept.
KEPT_ORIGINS = ("fact", "model", "elaboration")
_CLAUSE_BREAK = re.compile(r"[，,；;：:、（）()。\s]")
_QUOTED = re.compile(r"“[^“”]{1,40}”|《[^《》]{2,60}》")
_CLOSING = re.compile(r"^以上(?:述职|报告|汇报)|请予评议|特此(?:报告|汇报)")
_TITLE_MAX = 40
_PLAN_TURN = re.compile(r"^(?:下一步|今后|明年|下半年|\d{4}年，)")


_DIGITS = re.compile(r"[\d.%]+")


def _key(text: str) -> str:
    return sentence_key(normalize_for_compare(text))


# --- facts: what a text names ------------------------------------------------------------------

@dataclass(frozen=True)
class FactMarks:
    """What identifies one request fact inside another text."""
    id: int
    text: str
    clauses: tuple[str, ...]          # keys of its clauses
    figures: frozenset[tuple[str, str]]
    names: frozenset[str]

    @classmethod
    def of(cls, fact_id: int, text: str) -> "FactMarks":
        norm = normalize_for_compare(text)
        clauses = tuple(k for k in (_key(c) for c in _CLAUSE_BREAK.split(norm)) if len(k) >= 2)
        figures = frozenset(t.pair for t in extract_numbers(norm) if not is_year_token(t, norm))
        return cls(fact_id, text, clauses, figures, frozenset(_QUOTED.findall(norm)))

    def clause_share(self, key: str) -> float:
        # figures aside: a fact whose value the product withheld as 【待核实】 is still named
        clauses = [_DIGITS.sub("", c) for c in self.clauses]
        key = _DIGITS.sub("", key)
        total = sum(len(c) for c in clauses)
        return sum(len(c) for c in clauses if c and c in key) / total if total else 0.0


def fact_marks(facts: list[str]) -> list[FactMarks]:
    return [FactMarks.of(i, f) for i, f in enumerate(facts, 1)]


def facts_named(text: str, marks: list[FactMarks]) -> list[int]:
    """Ids of the facts a task text names (most of each fact's clauses written in it)."""
    key = _key(text)
    return [m.id for m in marks if m.clause_share(key) >= NAMED_SHARE]


def facts_carried(sentence: str, marks: list[FactMarks]) -> frozenset[int]:
    """Ids of the facts whose figures, names or wording a good-draft sentence holds."""
    norm = normalize_for_compare(sentence)
    key = _key(norm)
    figures = {t.pair for t in extract_numbers(norm) if not is_year_token(t, norm)}
    names = set(_QUOTED.findall(norm))
    owners = Counter(x for m in marks for x in (*m.figures, *m.names))
    out = set()
    for m in marks:
        held = (m.figures & figures) | (m.names & names)
        share = m.clause_share(key)
        if any(owners[x] == 1 for x in held) or (held and share > 0) or share >= CARRIED_SHARE:
            out.add(m.id)
    return frozenset(out)


# --- the good draft, parsed ----------------------------------------------------------------------

@dataclass
class GoodSentence:
    text: str
    carried: frozenset[int]
    anchor: frozenset[int] = frozenset()     # its own facts, or its fact neighbour's


@dataclass
class GoodParagraph:
    heading: str                               # its sub-heading (“（一）…。”), "" for none
    sentences: list[GoodSentence] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.sentences)

    @property
    def facts(self) -> set[int]:
        return {i for s in self.sentences for i in s.carried}


@dataclass
class GoodPart:
    title: str                                 # "" for the opening
    kind: str                                  # opening | work | problems | next | problems+next | safeguards | basics | closing
    paragraphs: list[GoodParagraph] = field(default_factory=list)


def part_kind(title: str) -> str:
    if not title:
        return "opening"
    problems, nxt = bool(PROBLEMS_RE.search(title)), bool(NEXT_RE.search(title))
    if problems and nxt:
        return "problems+next"
    if problems:
        return "problems"
    if nxt:
        return "next"
    if "保障" in title:
        return "safeguards"
    if "基本情况" in title:
        return "basics"
    return "work"


@dataclass
class GoodDraft:
    text: str
    marks: list[FactMarks]
    parts: list[GoodPart] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str, facts: list[str]) -> "GoodDraft":
        draft = cls(text, fact_marks(facts))
        lines = [l.strip() for l in text.splitlines() if l.strip()]
        if lines and not parse_heading(lines[0]) and "。" not in lines[0] and len(lines[0]) <= _TITLE_MAX:
            lines = lines[1:]                                  # the title
        part = GoodPart("", "opening")
        draft.parts.append(part)
        for line in lines:
            h = parse_heading(line)
            if line.startswith("——") or SALUTATION_RE.match(line):
                continue                                       # subtitle, salutation
            if _CLOSING.search(line) and not h:
                draft.parts.append(GoodPart("", "closing", [draft._paragraph("", line)]))
                continue
            if h and h.rank == 1:
                title, _, rest = h.rest.partition("。")
                part = GoodPart(title, part_kind(title))
                draft.parts.append(part)
                if rest.strip():
                    part.paragraphs.append(draft._paragraph("", rest.strip()))
            elif h and h.rank == 2:
                heading, _, body = h.rest.partition("。")
                part.paragraphs.append(draft._paragraph(heading, body.strip()))
            else:
                part.paragraphs.append(draft._paragraph("", line))
        draft.parts = [p for p in draft.parts if p.paragraphs]
        return draft

    def _paragraph(self, heading: str, body: str) -> GoodParagraph:
        para = GoodParagraph(heading)
        para.sentences = [GoodSentence(s, facts_carried(s, self.marks))
                          for s in sentences_of(body) if s.strip()]
        anchored = [s for s in para.sentences if s.carried]
        for n, s in enumerate(para.sentences):
            if s.carried:
                s.anchor = s.carried
                continue
            before = [x for x in para.sentences[:n] if x.carried]
            after = [x for x in para.sentences[n + 1:] if x.carried]
            s.anchor = (before[-1] if before else after[0]).carried if anchored else frozenset()
        return para

    @cached_property
    def sentences(self) -> list[GoodSentence]:
        return [s for p in self.parts for para in p.paragraphs for s in para.sentences]

    def sentences_for(self, fact_ids: list[int]) -> str:
        wanted = set(fact_ids)
        return "".join(s.text for s in self.sentences if s.anchor & wanted)

    def headings_for(self, groups: list[list[int]]) -> list[str]:
        """Per group, the sub-heading of the paragraph holding most of its facts; a heading an
        earlier group took goes to the next best paragraph that holds any (a writer does not give
        two paragraphs one heading), "" when none holds any."""
        out: list[str] = []
        for ids in groups:
            held = [(len(para.facts & set(ids)), para.heading) for p in self.parts for para in p.paragraphs
                    if para.heading]
            held = sorted((h for h in held if h[0]), key=lambda h: -h[0])
            fresh = [h for h in held if h[1] not in out]
            out.append((fresh or held or [(0, "")])[0][1])
        return out

    def part_text(self, kind: str) -> str:
        """The text of the part(s) of this kind without their heading; an items part gives its
        lead paragraph; a part holding problems and plans gives the half asked for."""
        out = []
        for p in self.parts:
            if p.kind == kind:
                paras = p.paragraphs
                if any(x.heading for x in paras):
                    lead = [x for x in paras[:next(i for i, x in enumerate(paras) if x.heading)]]
                    # a part of sub-headed measures and no lead: asked as one part, it is all of them
                    paras = lead if "".join(x.text for x in lead).strip() else paras
                out += [x.text for x in paras]
            elif p.kind == "problems+next" and kind in ("problems", "next"):
                sentences = [s.text for x in p.paragraphs for s in x.sentences]
                turn = next((i for i, s in enumerate(sentences) if _PLAN_TURN.match(s)), len(sentences))
                out.append("".join(sentences[:turn] if kind == "problems" else sentences[turn:]))
        return "".join(out)

    def paragraph_headed(self, task: str) -> str:
        quoted = set(re.findall(r"“([^“”]{2,40})”", task))
        return next((para.text for p in self.parts for para in p.paragraphs
                     if para.heading and para.heading in quoted), "")

    def part_titled(self, task: str) -> str:
        quoted = set(re.findall(r"“([^“”]{2,40})”", task))
        return next((self.part_text(p.kind) for p in self.parts if p.title and p.title in quoted), "")


# --- recognising a call and answering it ---------------------------------------------------------

@dataclass
class Call:
    kind: str                     # headings | reask | item | part | other
    facts: list[int] = field(default_factory=list)
    groups: list[list[int]] = field(default_factory=list)
    part: str = ""


_PART_WORDS = (("opening", re.compile(r"开头|开篇|导语|引言")), ("safeguards", re.compile(r"保障措施")),
               ("basics", re.compile(r"基本情况")), ("problems", PROBLEMS_RE), ("next", NEXT_RE))


def task_text(body: dict[str, Any]) -> str:
    """The call's own task: what follows the last 【本次任务】 of the last user message."""
    users = [m.get("content") for m in body.get("messages") or [] if m.get("role") == "user"]
    last = users[-1] if users and isinstance(users[-1], str) else ""
    return last.rsplit(TASK_MARK, 1)[-1] if TASK_MARK in last else last


def recognise_call(task: str, marks: list[FactMarks]) -> Call:
    """The type of a writing call and the facts it names, from its task text only. The product's
    prompts change: this is the one function to adapt."""
    if "小标题" in task and re.search(r"^第\d+组[：:]", task, re.M):
        groups = [facts_named(m.group(1), marks) for m in re.finditer(r"^第\d+组[：:](.*)$", task, re.M)]
        return Call("headings", groups=groups)
    if re.search(r"逐句改写|改写后单独一行", task):
        return Call("reask")
    named = facts_named(task, marks)
    if re.search(r"小标题“.+?”下", task):     # a heading may quote a name itself
        return Call("item", facts=named)
    # the part the task names (写“存在的不足”部分) decides; its guide may quote our lead-in words
    # (“以‘回顾一年来…’开头”), which are no part of their own
    titled = re.search(r"写“([^“”]{2,30})”部分", task)
    for part, rx in _PART_WORDS:
        if rx.search(titled.group(1) if titled else task):
            return Call("part", facts=named, part=part)
    return Call("other", facts=named)


def answer(call: Call, task: str, good: GoodDraft) -> str:
    text = _answer(call, task, good)
    if text or call.kind in ("headings", "reask"):
        return text
    # a writer always says something: the sentences about the facts named, else the part quoted
    return (good.sentences_for(call.facts) if call.facts else "") or good.part_titled(task) or good.text


def _answer(call: Call, task: str, good: GoodDraft) -> str:
    if call.kind == "headings":
        return json.dumps(good.headings_for(call.groups), ensure_ascii=False)
    if call.kind == "reask":
        return ""
    if call.kind == "item":
        return good.sentences_for(call.facts)
    if call.kind == "part":
        return good.part_text(call.part)
    return (good.paragraph_headed(task) or (good.sentences_for(call.facts) if call.facts else "")
            or good.part_titled(task))


def cut_to_tokens(text: str, limit: int) -> str:
    """The longest prefix of `text` within `limit` tokens."""
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count_tokens(text[:mid]) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


class Replayer:
    """The replay server's answer function for one request; `calls` records every call."""

    def __init__(self, good: GoodDraft, *, honour_max_tokens: bool = True):
        self.good = good
        self.honour_max_tokens = honour_max_tokens
        self.calls: list[dict[str, Any]] = []

    def __call__(self, body: dict[str, Any]) -> dict[str, Any]:
        task = task_text(body)
        call = recognise_call(task, self.good.marks)
        text = answer(call, task, self.good)
        finish = "stop"
        limit = body.get("max_tokens")
        if self.honour_max_tokens and limit and count_tokens(text) > limit:
            text, finish = cut_to_tokens(text, int(limit)), "length"
        self.calls.append({"kind": call.kind, "part": call.part, "facts": call.facts or call.groups,
                           "chars": len(text), "cut": finish == "length"})
        return reply(text, finish_reason=finish, chunk_chars=64)


# --- running the product against it ---------------------------------------------------------------

@dataclass
class Case:
    id: str
    raw: dict[str, Any]
    good_path: Path


def load_cases(only: set[str] | None = None) -> list[Case]:
    cases = []
    for requests, drafts in SOURCES:
        if not requests.exists():
            continue
        for line in requests.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            raw = json.loads(line)
            good = drafts / f"{raw['id']}.good.md"
            if good.exists() and (not only or raw["id"] in only):
                cases.append(Case(raw["id"], raw, good))
    return cases


def _no_exemplars(query: str, genre: str, role: str | None, k: int) -> list:
    return []


def survival(good: GoodDraft, clean: list[GoodSentence], product: list[tuple[str, str]]) -> Counter:
    """For each clean good sentence, the origin of the product sentence it is found in ("lost")."""
    keyed = [(_key(t), origin) for t, origin in product]
    keyed = [(k, char_pairs(k), o) for k, o in keyed if k]
    found: Counter = Counter()
    for s in clean:
        k = _key(s.text)
        pairs = char_pairs(k)
        hit = next((o for pk, pp, o in keyed if k and k in pk), None)
        if hit is None and pairs:
            hit = next((o for pk, pp, o in keyed if len(pairs & pp) / len(pairs) >= MATCH_SHARE), None)
        found[hit or "lost"] += 1
    return found


def clean_sentences(good: GoodDraft, request: DraftRequest) -> list[GoodSentence]:
    """Good-draft sentences with no FACT-03 or CLAIM-01 finding of the checker inside them."""
    spans = [(v.start, v.end) for v in evaluate(good.text, request).violations if v.rule in HARD_CLAIM_RULES]
    out, pos = [], 0
    for s in good.sentences:
        start = good.text.find(s.text, pos)
        if start >= 0:
            pos = start + len(s.text)
        end = start + len(s.text)
        if start < 0 or not any(a < end and start < b for a, b in spans):
            out.append(s)
    return out


def product_sentences(blocks) -> list[tuple[str, str]]:
    """The product draft's sentences with their origin: spans (clauses of a sentence may differ in
    origin) joined back into sentences; a sentence is the model's or elaboration when any of its
    spans is, our phrase bank's only when all are."""
    out: list[tuple[str, str]] = []
    for b in blocks:
        text, origins = "", []
        for span in b.sentences:
            text += span.text
            origins.append(span.origin)
            if text[-1:] in "。！？；":
                kept = [o for o in origins if o in KEPT_ORIGINS]
                out.append((text, max(kept, key=kept.count) if kept else origins[0]))
                text, origins = "", []
        if text:
            kept = [o for o in origins if o in KEPT_ORIGINS]
            out.append((text, max(kept, key=kept.count) if kept else origins[0]))
    return out


def run_case(case: Case, base: Settings, *, exemplars: bool, honour_max_tokens: bool) -> dict[str, Any]:
    from rag.draft import draft_report
    from rag.llm import LLMClient, RemoteEndpoint

    request = normalize_request(case.raw).request
    good_text = case.good_path.read_text(encoding="utf-8")
    good = GoodDraft.parse(good_text, list(request.facts))
    replayer = Replayer(good, honour_max_tokens=honour_max_tokens)
    started = time.monotonic()
    with ScriptedOpenAIServer([replayer], repeat_last=True, models=["replay"]) as server:
        settings = base.model_copy(update={"llm_base_url": server.base_url, "llm_model": "replay"})
        llm = LLMClient(settings, RemoteEndpoint(server.base_url, "replay"), api_key=settings.llm_api_key,
                        retry_delay=0.0)
        result = draft_report(request, settings, llm=llm, retriever=None if exemplars else _no_exemplars)
    seconds = time.monotonic() - started
    draft = result.draft
    evaluation = evaluate(draft, request)
    hard = [f"{v.rule} {v.evidence}" for v in evaluation.violations if v.rule in HARD_CLAIM_RULES]
    clean = clean_sentences(good, request)
    product = product_sentences(result.blocks)
    found = survival(good, clean, product)
    lo, hi = request.length_chars
    chars, good_chars = written_len(draft), written_len(good_text)   # 【待补充】 marks are no writing
    return {
        "id": case.id, "genre": request.genre, "section": request.section,
        "range": [lo, hi], "good_chars": good_chars, "chars": chars,
        "share_of_good": round(chars / good_chars, 3) if good_chars else None,
        "in_range": lo <= chars <= hi,
        "good_sentences": len(good.sentences), "clean_sentences": len(clean),
        "kept": sum(n for o, n in found.items() if o in KEPT_ORIGINS), "kept_by_origin": dict(found),
        "no_facts": not request.facts,
        "hard_claims": hard, "edits": dict(Counter(e.guard for e in result.edits)),
        "checker_passed": evaluation.passed, "partial": result.partial, "error": result.error,
        "calls": replayer.calls, "seconds": round(seconds, 1), "draft": draft, "notices": result.notices,
        "edit_log": [e.to_dict() for e in result.edits],
        # what a reader of the draft needs to tell the facts from the elaboration to confirm
        "sentences": [{"text": x.text, "origin": x.origin, "fact_ids": x.fact_ids} for x in result.sentences],
        "sentences": [x.to_dict() for x in result.sentences],
    }


# --- output -------------------------------------------------------------------------------------

def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.0%}"


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Sums over the requests that have facts (one without is refused by design: nothing to replay)."""
    rows = [r for r in rows if not r["no_facts"]]
    edits: Counter = Counter()
    origins: Counter = Counter()
    for r in rows:
        edits.update(r["edits"])
        origins.update(r["kept_by_origin"])
    clean = sum(r["clean_sentences"] for r in rows)
    kept = sum(r["kept"] for r in rows)
    good_chars = sum(r["good_chars"] for r in rows)
    chars = sum(r["chars"] for r in rows)
    return {"requests": len(rows), "in_range": sum(r["in_range"] for r in rows),
            "reached_90pct_of_good": sum((r["share_of_good"] or 0) >= 0.9 for r in rows),
            "good_chars": good_chars, "chars": chars, "share_of_good": round(chars / good_chars, 3) if good_chars else None,
            "clean_sentences": clean, "kept": kept, "kept_share": round(kept / clean, 3) if clean else None,
            "kept_by_origin": dict(origins), "hard_claims": sum(len(r["hard_claims"]) for r in rows),
            "checker_passed": sum(r["checker_passed"] for r in rows),
            "cut_calls": sum(c["cut"] for r in rows for c in r["calls"]),
            "calls": sum(len(r["calls"]) for r in rows), "edits": dict(edits.most_common())}


def table(rows: list[dict[str, Any]], t: dict[str, Any], show_calls: bool) -> str:
    head = f"{'case':<5} {'genre/section':<18} {'range':>10} {'good':>5} {'draft':>5} {'%good':>5} {'in':>3} " \
           f"{'kept':>7} {'%kept':>5} {'hard':>4}  edits (guard: n)"
    lines = [head, "-" * len(head)]
    for r in rows:
        gs = f"{r['genre'][:4]}/{r['section'][:8]}"
        edits = ", ".join(f"{g}:{n}" for g, n in sorted(r["edits"].items(), key=lambda x: -x[1]))
        lines.append(f"{r['id']:<5} {gs:<18} {r['range'][0]:>4}–{r['range'][1]:<5} {r['good_chars']:>5} "
                     f"{r['chars']:>5} {_pct(r['share_of_good']):>5} {'yes' if r['in_range'] else 'no':>3} "
                     f"{r['kept']:>3}/{r['clean_sentences']:<3} {_pct(r['kept'] / r['clean_sentences'] if r['clean_sentences'] else None):>5} "
                     f"{len(r['hard_claims']):>4}  {edits}")
        if r["partial"]:
            lines.append(f"      partial: {r['error']}")
        if not r["draft"]:
            lines.append(f"      no draft{' (no facts: left out of the totals)' if r['no_facts'] else ''}: "
                         f"{' '.join(r['notices'])[:100]}")
        for claim in r["hard_claims"]:
            lines.append(f"      hard claim: {claim}")
        if show_calls:
            for c in r["calls"]:
                lines.append(f"      call {c['kind']:<8} {c['part']:<10} facts {c['facts']} → {c['chars']} chars"
                             + (" (cut at max_tokens)" if c["cut"] else ""))
    lines.append("-" * len(head))
    lines.append(f"total (requests with facts): {t['requests']} requests; in range {t['in_range']}/{t['requests']}; ≥90% of good "
                 f"{t['reached_90pct_of_good']}/{t['requests']}; chars {t['chars']}/{t['good_chars']} "
                 f"({_pct(t['share_of_good'])} of good); good sentences kept {t['kept']}/{t['clean_sentences']} "
                 f"({_pct(t['kept_share'])}) by origin {t['kept_by_origin']}; hard claims {t['hard_claims']}; "
                 f"checker passed {t['checker_passed']}/{t['requests']}; calls {t['calls']} "
                 f"({t['cut_calls']} cut at max_tokens)")
    lines.append("edits by guard: " + ", ".join(f"{g} {n}" for g, n in t["edits"].items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Replay hand-written good drafts through the drafting chain")
    p.add_argument("--case", action="append", default=[], help="run only this id (repeat, or comma-separate)")
    p.add_argument("--json", action="store_true", help="machine output: one object with rows and totals")
    p.add_argument("--no-exemplars", action="store_true", help="draft without retrieving exemplars")
    p.add_argument("--ignore-max-tokens", action="store_true", help="never cut an answer at max_tokens")
    p.add_argument("--calls", action="store_true", help="list every call the product made, with its answer size")
    p.add_argument("--out", type=Path, help="also write the machine output (as --json prints it) to this file")
    args = p.parse_args(argv)
    only = {c.strip() for arg in args.case for c in arg.split(",") if c.strip()} or None
    cases = load_cases(only)
    if only and len(cases) != len(only):
        missing = sorted(only - {c.id for c in cases})
        print(f"no good draft for: {', '.join(missing)}", file=sys.stderr)
        return 2
    base = get_settings()
    rows = []
    for case in cases:
        print(f"{case.id} …", file=sys.stderr, flush=True)
        rows.append(run_case(case, base, exemplars=not args.no_exemplars,
                             honour_max_tokens=not args.ignore_max_tokens))
    t = totals(rows)
    machine = json.dumps({"rows": rows, "totals": t}, ensure_ascii=False, indent=1)
    if args.out:
        args.out.write_text(machine, encoding="utf-8")
    if args.json:
        print(machine)
    else:
        print(table(rows, t, args.calls))
    return 0


if __name__ == "__main__":
    sys.exit(main())
