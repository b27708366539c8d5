"""CLAIM-01, HOLLOW-01, REPEAT-01, and the plan-voice cues YEAR-02 applies (evals/rules/scope.py).

CLAIM-01 (major): a claim no fact supports. The triggers (events, honours, scope words,
organisations, quoted project names, 《titles》) and the reason for each are data in
prompts/claim_words.toml. A claim is *grounded* when one fact holds its head word verbatim and
at least GROUND_SHARE of the character pairs of its nearest modifier (see `_core_mod`), after
normalization (S() of eval-rules.md §0, then only Han, digits and Latin). Numbers are not claims
here: FACT-03 covers them.

`unsupported_claims(sentence, facts)` is the one test: the drafting guards call it on every
sentence the model writes and CLAIM-01 calls it on every sentence of a finished draft, so what
one keeps the other passes. It is pure (no CheckContext) and cheap: patterns compile once and a
fact list is normalized once per distinct list. Callers pass the request's unit as one more fact
("the facts and the unit may be named").

HOLLOW-01 (minor): stacked hollow praise, two of the listed phrases in one sentence or three in
one paragraph.

REPEAT-01 (major): the same sentence twice in a draft, the same clause (≥ REPEAT_MIN_CHARS)
three times, or the same lead sentence opening two paragraphs in a row. Sentences are compared
on their Han/digit/Latin characters; a near duplicate shares ≥ REPEAT_OVERLAP (0.9) of the
shorter sentence's character pairs with an earlier one, is at least REPEAT_LENGTH_RATIO (0.6) of
its length, and carries the same numbers and quoted names (sentences that differ in a number
state different facts). On the seed articles the closest pair of different sentences shares
0.83 and differs in its numbers; one substituted character in a 26-character sentence keeps 0.92.

YEAR-02's cues (`done_cues`): completion (已完成、取得了…成效、verb + 了) versus future
(将、要、力争、确保、计划、拟); `plan_spans` finds the plan parts of a draft from its headings.
"""
from __future__ import annotations

import math
import re
import tomllib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from rag.config import PROJECT_ROOT
from rag.schema import WHOLE_REPORT, DraftRequest
from rag.textnorm import HAN

from evals.context import CheckContext
from evals.document import TITLE_MAX_CHARS, Draft, nonspace_len
from rag.text import REMINDER_RE
from evals.registry import PRACTICE, REGULATIONS, Finding, rule
from evals.rules.structure import NEXT_RE, PROBLEMS_RE
from rag.textnorm import compare_form

CLAIM_WORDS_FILE = PROJECT_ROOT / "prompts" / "claim_words.toml"

# A claim's modifier is grounded when this share of its character pairs is in the fact that holds
# its head: “召开全县卫生健康工作会议” grounds “召开卫生健康工作会议” but not “召开安全生产会议”.
GROUND_SHARE = 0.5
# A quoted phrase this short after a launch verb is a common policy word (“一站式”“两癌”), not a name.
SHORT_QUOTE_CHARS = 4
HOLLOW_PER_SENTENCE = 2
HOLLOW_PER_PARAGRAPH = 3
REPEAT_OVERLAP = 0.9
REPEAT_LENGTH_RATIO = 0.6
REPEAT_MIN_CHARS = 10      # shorter sentences (“特此报告”) may recur
LEAD_MIN_CHARS = 4
CLAUSE_REPEAT_TIMES = 3

KIND_LABELS = {"event": "活动或会议", "outcome": "可核查的结果", "date": "时限", "honour": "荣誉或评价", "scope": "范围或排名", "organisation": "机构",
               "name": "名称", "title": "文件名", "done": "完成的口吻"}

_KEEP = re.compile(f"[^{HAN}0-9A-Za-z]+")
_SENTENCE = re.compile(r"[^。！？；!?;\n]+[。！？；!?;]?")
_LEAD = re.compile(r"[^。！？：:\n]+")
_CLAUSE = re.compile(r"[^，,；;：:。！？!?\n]+")
# “…” and the single quotes ‘…’ a model uses inside or instead of them.
_QUOTE = re.compile(r"[“‘]([^“”‘’\n]{2,30})[”’]")
_TITLE = re.compile(r"《([^《》\n]{2,60})》")
_SLOGAN_PUNCT = re.compile(r"[、，,；;！!？?]")
_QUANTIFIER = re.compile(r"[一二三四五六七八九十两多数几首\d]+[次场期届个项批轮家名]|了|系列")
_INNER_EVENT_VERB = re.compile(r"开展|举办|召开|组织|参加|承办|主办|成立|组建")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_YEAR = re.compile(r"((?:19|20)\d\d)年")


def _key(text: str) -> str:
    """Only Han, digits and Latin: punctuation and spacing never decide a comparison."""
    return _KEEP.sub("", text)


def _pairs(key: str) -> frozenset[str]:
    return frozenset(key[i:i + 2] for i in range(len(key) - 1))


@dataclass(frozen=True)
class Trigger:
    kind: str
    pattern: re.Pattern[str]
    reason: str
    unless: re.Pattern[str] | None = None


@dataclass(frozen=True)
class ClaimWords:
    claims: tuple[Trigger, ...]
    name_suffix: re.Pattern[str]
    launch_verb: re.Pattern[str]
    contrast: re.Pattern[str]
    slogan: re.Pattern[str]
    hollow: tuple[Trigger, ...]
    done: tuple[Trigger, ...]
    future: re.Pattern[str]
    past: re.Pattern[str]


def _triggers(entries: list[dict], kind: str = "") -> tuple[Trigger, ...]:
    out = []
    for e in entries:
        if not e.get("reason"):
            raise ValueError(f"{CLAIM_WORDS_FILE.name}: entry {e.get('pattern', '')[:30]} has no reason")
        out.append(Trigger(e.get("kind", kind), re.compile(e["pattern"]), e["reason"],
                           re.compile(e["unless"]) if e.get("unless") else None))
    return tuple(out)


def _alternation(entries: list[dict]) -> re.Pattern[str]:
    _triggers(entries)          # every entry must give its reason
    return re.compile("|".join(f"(?:{e['pattern']})" for e in entries))


@lru_cache(maxsize=1)
def claim_words() -> ClaimWords:
    """prompts/claim_words.toml, compiled once."""
    with open(CLAIM_WORDS_FILE, "rb") as f:
        data = tomllib.load(f)
    q = data["quoted"]
    for name in ("name_suffix", "launch_verb", "contrast", "slogan"):
        if not q.get(f"{name}_reason"):
            raise ValueError(f"{CLAIM_WORDS_FILE.name}: [quoted] {name} has no reason")
    return ClaimWords(
        claims=_triggers(data["claim"]),
        name_suffix=re.compile(f"(?:{q['name_suffix']})$"),
        launch_verb=re.compile(f"(?:{q['launch_verb']})了?$"),
        contrast=re.compile(f"^(?:{q['contrast']})$"),
        slogan=re.compile(q["slogan"]),
        hollow=_triggers(data["hollow"], "hollow"),
        done=_triggers(data["done"], "done"),
        future=_alternation(data["future"]),
        past=_alternation(data["past"]),
    )


@dataclass(frozen=True)
class Claim:
    """A claim found in a sentence; span is into the sentence as given (not normalized)."""
    kind: str               # event | honour | scope | organisation | name | title | done
    span: tuple[int, int]
    text: str
    key: str = ""           # what had to be found in a fact (normalized)
    reason: str = ""

    @property
    def label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)


@dataclass(frozen=True)
class _Fact:
    key: str
    pairs: frozenset[str]


@lru_cache(maxsize=64)
def _fact_index(facts: tuple[str, ...]) -> tuple[_Fact, ...]:
    out = []
    for f in facts:
        k = _key(compare_form(f).text)
        if k:
            out.append(_Fact(k, _pairs(k)))
    return tuple(out)


def _core_mod(mod: str) -> str:
    """The modifier nearest the head: quantifiers dropped (一次、首届、了), and only what follows
    an inner event verb (组织专家开展义诊活动 → 义诊) or the last 的 (由局长任组长的双拥工作 → 双拥工作)."""
    mod = _QUANTIFIER.sub("", mod)
    inner = list(_INNER_EVENT_VERB.finditer(mod))
    if inner:
        mod = mod[inner[-1].end():]
    return _key(mod.rpartition("的")[2])


def grounded(head: str, mod: str, facts: Iterable[str]) -> bool:
    """Some fact holds the head verbatim and ≥ GROUND_SHARE of the core modifier's pairs."""
    head_key, core = _key(head), _core_mod(mod)
    mod_pairs = _pairs(core) if len(core) >= 2 else frozenset()
    for f in _fact_index(tuple(facts)):
        if head_key not in f.key:
            continue
        if not mod_pairs or len(mod_pairs & f.pairs) >= GROUND_SHARE * len(mod_pairs):
            return True
    return False


def _in_facts(text: str, facts: tuple[_Fact, ...]) -> bool:
    k = _key(text)
    return bool(k) and any(k in f.key for f in facts)


def _group(m: re.Match[str], name: str) -> str:
    return (m.group(name) or "") if name in m.re.groupindex else ""


def _is_name(s: str, m: re.Match[str], words: ClaimWords) -> bool:
    """A quoted phrase that names an undertaking, as opposed to a figure of speech or a slogan."""
    content = m.group(1)
    if _SLOGAN_PUNCT.search(content) or words.slogan.search(content):
        return False            # “小病在基层、大病不出县”: a slogan, not a name
    before = s[:m.start()]
    after = s[m.end():]
    prev_close = max(before.rfind("”"), before.rfind("’"))
    if prev_close >= 0 and words.contrast.match(before[prev_close + 1:]):
        return False            # the second half of “要我干”变“我要干”
    opens = [i for i in (after.find("“"), after.find("‘")) if i >= 0]
    if opens and words.contrast.match(after[:min(opens)]):
        return False            # the first half of such a pair
    if words.name_suffix.search(content):
        return True
    return len(_key(content)) > SHORT_QUOTE_CHARS and bool(words.launch_verb.search(before[-4:]))


def find_claims(sentence: str) -> list[Claim]:
    """Every claim trigger in the sentence, grounded or not (for unsupported_claims and reports)."""
    return [c for c, _head, _mod in _candidates(sentence)]


def _candidates(sentence: str) -> Iterator[tuple[Claim, str, str]]:
    words = claim_words()
    mapped = compare_form(sentence)
    s = mapped.text

    def claim(kind: str, a: int, b: int, key: str, reason: str) -> Claim:
        sa, sb = mapped.source_span(a, b)
        return Claim(kind, (sa, sb), sentence[sa:sb], key, reason)

    for t in words.claims:
        for m in t.pattern.finditer(s):
            if t.unless and t.unless.match(s, m.start()):
                continue
            head, mod = _group(m, "head"), _group(m, "mod")
            if head:
                yield claim(t.kind, m.start(), m.end(), _key(mod + head), t.reason), head, mod
    for m in _QUOTE.finditer(s):
        if _is_name(s, m, words):
            yield claim("name", m.start(), m.end(), _key(m.group(1)), "引号里的项目或品牌名称"), m.group(1), ""
    for m in _TITLE.finditer(s):
        yield claim("title", m.start(), m.end(), _key(m.group(1)), "书名号里的文件名"), m.group(1), ""


def unsupported_claims(sentence: str, facts: list[str]) -> list[Claim]:
    """The claims of one sentence that no fact supports (CLAIM-01; the drafting guards' test).

    facts: the request's facts (raw text; normalized here), plus its unit and any other text the
    sentence may name. An event, honour, scope word, organisation, quoted project name or
    《title》 is unsupported when no single fact holds its head word and most of its modifier.
    Overlapping claims are reported once, the first found.
    """
    out: list[Claim] = []
    index = tuple(facts)
    for c, head, mod in _candidates(sentence):
        if any(c.span[0] < o.span[1] and o.span[0] < c.span[1] for o in out):
            continue
        if c.kind in ("name", "title"):
            if _in_facts(head, _fact_index(index)):
                continue
        elif grounded(head, mod, index):
            continue
        out.append(c)
    return sorted(out, key=lambda c: c.span)


def _longest_first(matches: Iterable[tuple[re.Match[str], Trigger]]) -> list[tuple[re.Match[str], Trigger]]:
    """Non-overlapping matches, the longer one winning (“取得了显著成效” over “显著成效”)."""
    kept: list[tuple[re.Match[str], Trigger]] = []
    for m, t in sorted(matches, key=lambda mt: (mt[0].start() - mt[0].end(), mt[0].start())):
        if not any(m.start() < k.end() and k.start() < m.end() for k, _ in kept):
            kept.append((m, t))
    return sorted(kept, key=lambda mt: mt[0].start())


def hollow_phrases(text: str) -> list[Claim]:
    """HOLLOW-01 phrases in a text, non-overlapping, in order."""
    mapped = compare_form(text)
    found = []
    for m, t in _longest_first((m, t) for t in claim_words().hollow for m in t.pattern.finditer(mapped.text)):
        a, b = mapped.source_span(m.start(), m.end())
        found.append(Claim("hollow", (a, b), text[a:b], m.group(0), t.reason))
    return found


def done_cues(sentence: str, report_year: int | None = None, facts: Iterable[str] = ()) -> list[Claim]:
    """Completion cues in a sentence of a plan part (YEAR-02; the drafter's voice check).

    A cue is not counted when a future cue (将、要、力争…) comes before it in its clause or in a
    short leading adverbial (“力争到年底，”), when
    the sentence states a baseline or looks back (目前、截至、去年、以来, or a year before
    report_year), or when the cue and the words after it come from a fact (“已完成改造”).
    """
    words = claim_words()
    mapped = compare_form(sentence)
    s = mapped.text
    if words.past.search(s):
        return []
    if report_year and any(int(y) < report_year for y in _YEAR.findall(s)):
        return []
    index = _fact_index(tuple(facts))
    out = []
    for m, t in _longest_first((m, t) for t in words.done for m in t.pattern.finditer(s)):
        if _future_before(s, m.start(), words) or _in_facts(s[m.start():m.end() + 4], index):
            continue
        a, b = mapped.source_span(m.start(), m.end())
        out.append(Claim("done", (a, b), sentence[a:b], m.group(0), t.reason))
    return out


_CLAUSE_BREAK = re.compile(r"[，；：,;:]")
# A leading clause this short is an adverbial that sets the whole sentence in the future
# (“力争到年底，……”); a longer one is a statement of its own (“我将推动……，进一步加强了……”).
LEADING_ADVERBIAL_CHARS = 8


def _future_before(s: str, at: int, words: ClaimWords) -> bool:
    breaks = [m.end() for m in _CLAUSE_BREAK.finditer(s, 0, at)]
    if words.future.search(s, breaks[-1] if breaks else 0, at):
        return True
    if breaks:
        lead = s[:breaks[0] - 1]
        return len(_key(lead)) <= LEADING_ADVERBIAL_CHARS and bool(words.future.search(lead))
    return False


# --- draft views shared by the rules ----------------------------------------------------------

@dataclass(frozen=True)
class Sentence:
    start: int          # offsets into the draft
    end: int
    text: str

    @property
    def key(self) -> str:
        return _key(self.text)


def paragraph_spans(d: Draft) -> list[tuple[int, int]]:
    """Body text per non-empty line but the title: a heading line contributes what follows its
    own title (“（一）加强监管。全年……”)."""
    out = []
    title = d.title_line.index if d.title_line else -1
    for ln in d.nonempty_lines:
        if ln.index == title:
            continue
        h = d.heading_by_line.get(ln.index)
        if h is None:
            body, start = ln.body
            out.append((start, start + len(body)))
            continue
        rest = h.text[len(h.title):].lstrip("。；！？ \t")
        if rest:
            e = ln.start + len(ln.text.rstrip())
            out.append((e - len(rest), e))
    return out


def sentences_in(text: str, start: int, end: int) -> list[Sentence]:
    return [Sentence(m.start(), m.end(), m.group(0))
            for m in _SENTENCE.finditer(text, start, end) if m.group(0).strip()]


def plan_spans(d: Draft, genre: str, section: str) -> list[tuple[int, int]]:
    """Draft spans that plan rather than report: the whole of a 工作计划 (less any part headed as
    a review of last year), a section asked for as a plan, the block under a top-rank 下一步/打算/
    计划/思路 heading in any other genre (from its first future sentence when the heading joins
    问题 and 打算), and body paragraphs that open with 下一步/今后/接下来/明年/新的一年."""
    text = d.text
    hs = d.headings
    if genre == "工作计划":
        spans, cut = [(0, len(text))], []
        if hs:
            top = min(h.rank for h in hs)
            tops = [h for h in hs if h.rank == top]
            for h, nxt in zip(tops, tops[1:] + [None]):
                if _REVIEW_HEADING.search(h.title[:20]):
                    cut.append((h.line.start, nxt.line.start if nxt else len(text)))
        return _subtract(spans, cut)
    if section != WHOLE_REPORT and NEXT_RE.search(section) and not PROBLEMS_RE.search(section):
        return [(0, len(text))]
    spans = []
    if hs:
        top = min(h.rank for h in hs)
        tops = [h for h in hs if h.rank == top]
        for h, nxt in zip(tops, tops[1:] + [None]):
            probe = h.text[:20]
            if not NEXT_RE.search(probe):
                continue
            a, b = h.line.start, nxt.line.start if nxt else len(text)
            if PROBLEMS_RE.search(probe):
                m = _PLAN_START.search(text, h.line.end, b)
                if not m:
                    continue
                a = m.start()
            spans.append((a, b))
    for ln in d.body_lines:
        if _PLAN_START_PARAGRAPH.match(ln.stripped) and not any(a <= ln.start < b for a, b in spans):
            spans.append((ln.start, ln.end))
    return sorted(spans)


_REVIEW_HEADING = re.compile(r"回顾|完成情况|工作总结|主要成效|取得的成绩|基本情况|工作成效|上年|去年")
_PLAN_START = re.compile(r"下一步|今后|接下来|明年|下半年|新的一年|来年|(?<![主重需纪])将")
_PLAN_START_PARAGRAPH = re.compile(r"(?:下一步|今后|接下来|明年|新的一年|来年)[，,]")


def _subtract(spans: list[tuple[int, int]], cut: list[tuple[int, int]]) -> list[tuple[int, int]]:
    for ca, cb in cut:
        spans = [p for a, b in spans for p in ((a, min(b, ca)), (max(a, cb), b)) if p[1] > p[0]]
    return spans


# --- rules ------------------------------------------------------------------------------------

def claim_facts(request: DraftRequest) -> list[str]:
    """What a draft may name: the request's facts, key figures and unit."""
    return list(request.facts) + list(request.key_figures) + [request.unit]


@rule("CLAIM-01", "major", "稿中有事实没有提供的活动、荣誉、范围、机构、名称或可核查的结果", source=f"{REGULATIONS}（内容真实准确）")
def claims_supported(ctx: CheckContext) -> Iterator[Finding]:
    facts = claim_facts(ctx.request)
    text = ctx.draft.text
    for ln in ctx.draft.nonempty_lines:
        for s in sentences_in(text, ln.start, ln.end):
            for c in unsupported_claims(s.text, facts):
                a, b = s.start + c.span[0], s.start + c.span[1]
                yield Finding(a, b, ctx.excerpt(a, b), detail=f"{c.label}“{c.text}”在事实中找不到依据")


@rule("HOLLOW-01", "minor", "空泛的拔高词堆砌（显著成效、高度评价、重要贡献……），应以事实说明", source=PRACTICE)
def hollow_praise(ctx: CheckContext) -> Iterator[Finding]:
    text = ctx.draft.text
    for a, b in paragraph_spans(ctx.draft):
        found = hollow_phrases(text[a:b])
        reported = False
        for s in sentences_in(text, a, b):
            inside = [c for c in found if s.start <= a + c.span[0] < s.end]
            if len(inside) >= HOLLOW_PER_SENTENCE:
                reported = True
                yield Finding(s.start, s.end, s.text.strip()[:60],
                              detail=f"一句中有{'、'.join(c.text for c in inside)}")
        if not reported and len(found) >= HOLLOW_PER_PARAGRAPH:
            yield Finding(a + found[0].span[0], a + found[-1].span[1], text[a:b].strip()[:60],
                          detail=f"一段中有{'、'.join(c.text for c in found)}")


def _numbers_and_names(s: str) -> tuple[frozenset[str], frozenset[str]]:
    return frozenset(_NUMBER.findall(s)), frozenset(_QUOTE.findall(s)) | frozenset(_TITLE.findall(s))


def near_duplicate(a: str, b: str) -> bool:
    """REPEAT-01's test: the same words, or ≥ REPEAT_OVERLAP of the shorter one's character pairs
    with comparable length and the same numbers and quoted names."""
    return _key(a) == _key(b) or first_near_duplicates([a, b])[1] == 0


def first_near_duplicates(texts: list[str]) -> list[int | None]:
    """For each text, the index of the first earlier text it near-duplicates (`near_duplicate`),
    None if there is none or the text is under REPEAT_MIN_CHARS (such a text matches only one
    with the same words, which REPEAT-01 lets recur). Near-linear in the number of texts.

    Prefix filtering: pairs are ranked rarest first across all the texts; a text holding ≥ n of
    a shorter text's m pairs holds one of that text's first m − n + 1 ranked pairs. So only an
    earlier text that shares such a prefix pair with this one, in either direction (either may
    be the shorter), with the same numbers and quoted names, or that has the very same words,
    is a candidate; the candidates are then tested together on pair bitsets.
    """
    keys = [_key(t) for t in texts]
    rows = [j for j, k in enumerate(keys) if len(k) >= REPEAT_MIN_CHARS]
    pairs = [_pairs(keys[j]) for j in rows]
    frequency = Counter(p for ps in pairs for p in ps)
    rank = {p: n for n, p in enumerate(sorted(frequency, key=lambda p: (frequency[p], p)))}
    word_ids: dict[str, int] = {}
    mark_ids: dict[tuple, int] = {}
    words = np.array([word_ids.setdefault(keys[j], len(word_ids)) for j in rows], dtype=np.int64)
    marks = np.array([mark_ids.setdefault(_numbers_and_names(texts[j]), len(mark_ids)) for j in rows],
                     dtype=np.int64)
    length = np.array([len(keys[j]) for j in rows], dtype=np.int64)
    needed = np.array([math.ceil(REPEAT_OVERLAP * len(ps)) for ps in pairs], dtype=np.int64)
    ranked = [sorted(rank[p] for p in ps) for ps in pairs]
    prefixes = [rs[:len(rs) - int(n) + 1] for rs, n in zip(ranked, needed)]
    at_row = np.repeat(np.arange(len(rows)), [len(rs) for rs in ranked])
    at_bit = np.fromiter((n for rs in ranked for n in rs), dtype=np.int64, count=len(at_row))
    bits = np.zeros((len(rows), max(1, -(-len(rank) // 64))), dtype=np.uint64)
    np.bitwise_or.at(bits, (at_row, at_bit // 64), np.left_shift(np.uint64(1), (at_bit % 64).astype(np.uint64)))
    first_with_words: dict[int, int] = {}
    holding: dict[tuple[int, int], list[int]] = defaultdict(list)   # (marks, pair) → rows with it
    leading: dict[tuple[int, int], list[int]] = defaultdict(list)   # (marks, pair) → rows it leads
    found: list[int | None] = [None] * len(texts)
    for r, own in enumerate(ranked):
        m = int(marks[r])
        candidates: list[int] = []          # rows, some more than once
        if int(words[r]) in first_with_words:
            candidates.append(first_with_words[int(words[r])])
        for n in own:                       # an earlier shorter text's prefix pair in this one
            candidates += leading.get((m, n), ())
        for n in prefixes[r]:               # this text's prefix pair in an earlier longer one
            candidates += holding.get((m, n), ())
        if candidates:
            c = np.array(candidates, dtype=np.int64)
            short = np.minimum(length[c], length[r])
            overlap = np.bitwise_count(bits[c] & bits[r]).sum(axis=1)
            ok = (words[c] == words[r]) | (
                (short >= REPEAT_LENGTH_RATIO * np.maximum(length[c], length[r]))
                & (marks[c] == m)
                & (overlap >= np.where(length[c] <= length[r], needed[c], needed[r])))
            if ok.any():
                found[rows[r]] = rows[int(c[ok].min())]
        first_with_words.setdefault(int(words[r]), r)
        for n in own:
            holding[(m, n)].append(r)
        for n in prefixes[r]:
            leading[(m, n)].append(r)
    return found


def _title_like(line: str) -> bool:
    return nonspace_len(line) <= TITLE_MAX_CHARS and not re.search(r"[。！？；!?;：:]\s*$", line)


@rule("REPEAT-01", "major", "同一句话在稿中重复出现", source=PRACTICE)
def no_repeats(ctx: CheckContext) -> Iterator[Finding]:
    text = ctx.draft.text
    # A line without a sentence end (a title, a label) is not a sentence that can be said twice.
    paragraphs = [(a, b) for a, b in paragraph_spans(ctx.draft) if not _title_like(text[a:b])]
    # the assistant's own reminders (【待补充：…】 under every thin sub-heading) are meant to repeat
    sentences = [s for a, b in paragraphs for s in sentences_in(text, a, b)
                 if not REMINDER_RE.fullmatch(s.text.strip())]
    reported: set[int] = set()
    for s, first in zip(sentences, first_near_duplicates([s.text for s in sentences])):
        if first is not None:
            reported.add(s.start)
            yield Finding(s.start, s.end, s.text.strip()[:60],
                          detail=f"与前文“{sentences[first].text.strip()[:30]}”重复")
    # The same clause said a third time is a repeat even inside different sentences (“……，增强了居民
    #对家庭医生的信任和支持。” under three sub-headings); twice is common in human reports.
    seen: dict[str, int] = {}
    for s in sentences:
        if s.start in reported:
            continue
        for m in _CLAUSE.finditer(s.text):
            k = _key(m.group(0))
            if len(k) < REPEAT_MIN_CHARS:
                continue
            seen[k] = seen.get(k, 0) + 1
            if seen[k] == CLAUSE_REPEAT_TIMES:
                yield Finding(s.start + m.start(), s.start + m.end(), m.group(0).strip()[:60],
                              detail=f"同一分句出现了{CLAUSE_REPEAT_TIMES}次")
    leads = []
    for a, b in paragraphs:
        m = _LEAD.match(text, a, b)
        leads.append((m.start(), m.end(), _key(m.group(0))) if m else None)
    for prev, cur in zip(leads, leads[1:]):
        if prev and cur and cur[0] not in reported and len(cur[2]) >= LEAD_MIN_CHARS and cur[2] == prev[2]:
            yield Finding(cur[0], cur[1], text[cur[0]:cur[1]].strip()[:60], detail="相邻两段以同一句开头")
