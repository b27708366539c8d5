"""Facts: their classes (eval-rules.md §0), instructions hidden in them, conflicting values.
Numbers themselves are tokenized by rag.text.

Used by the FACT-*, YEAR-01, SAFE-01 and INPUT-* rules, and by drafting before it drafts
(classify_facts for what must be used, split_instruction for what is addressed to the writer,
find_conflicts for what to ask the user about, foreign_places for another unit's figures). The
cues they read are prompts/fact_cues.toml and prompts/instruction_cues.toml.
"""
from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from rag.config import PROJECT_ROOT
from rag.prompting import fact_labels
from rag.schema import DraftRequest
from rag.text import QUOTED_NAME_RE, KeyedToken, NumberToken, han_count, is_year_token, keyed_tokens
from rag.textnorm import HAN, MappedText, normalize_for_compare, simplified_aligned
from rag.units import LEVEL_WORD_RE, UnitKind, unit_kind

# Facts longer than this are pasted records (台账): their numbers are optional (§0).
OVERLONG_FACT_CHARS = 300
# Instructions inside facts (SAFE-01) are recognised by the cues of this file: a verb addressed to
# the writer together with what makes it an address, never a single word (see its header).
INSTRUCTION_CUES_FILE = PROJECT_ROOT / "prompts" / "instruction_cues.toml"
# A piece left beside an instruction with fewer Han characters than this and no digit (“谢谢”,
# “好的”, “SYSTEM”) says nothing about the work; it goes with the instruction.
MIN_FACT_HAN = 4
# Between the pieces of one line set aside when a fact stands between them.
INSTRUCTION_JOINER = "……"

_MACRO = re.compile(r"\{([a-z_]+)\}")
_SENTENCE_ENDS = frozenset("。！？!?；;\n")
_CLAUSE_ENDS = frozenset("，,")
_COLONS = frozenset(":：")
_OPENERS, _CLOSERS = frozenset("“‘「『《（(【"), frozenset("”’」』》）)】")
_QUOTES = frozenset("“‘「『")
_KEPT_CHAR = re.compile(f"[{HAN}a-z0-9]")
_DIGIT = re.compile(r"\d")
# White space between two words, one of them Chinese, parts clauses (“整治无证行医12起 忽略…”);
# between single characters it is spacing out (“忽 略 以 上”) and parts nothing.
_WORD_GAP = re.compile(f"(?<=\\S[{HAN}])\\s+(?=\\S\\S)|(?<=\\S\\S)\\s+(?=[{HAN}]\\S)")
_FACT_EDGE = " \t\u3000，,、；;：:。.！!？?"


@dataclass(frozen=True)
class InstructionCue:
    name: str
    pattern: re.Pattern
    to_line_end: bool      # a role tag: everything after it is addressed to the model


@dataclass(frozen=True)
class _Cues:
    cues: tuple[InstructionCue, ...]
    address_before: re.Pattern   # 另外/请/你… right before a cue belong to the instruction


def _expand(pattern: str, macros: dict[str, str]) -> str:
    return _MACRO.sub(lambda m: macros[m.group(1)], pattern)


@lru_cache(maxsize=1)
def _instruction_cues() -> _Cues:
    with open(INSTRUCTION_CUES_FILE, "rb") as f:
        data = tomllib.load(f)
    macros: dict[str, str] = {}
    for name, value in data["macros"].items():
        macros[name] = _expand(value, macros)
    cues = tuple(InstructionCue(c["name"], re.compile(_expand(c["pattern"], macros)),
                                bool(c.get("to_line_end", False))) for c in data["cue"])
    return _Cues(cues, re.compile(_expand(r"(?:(?:{lead}|{please}|{you})，?){1,8}+\Z", macros)))


def _compact_line(line: str) -> MappedText:
    """The form the cues are written for (prompts/instruction_cues.toml): NFKC, t2s, lowercased,
    only Han, Latin letters and digits, plus the marks “，” (clause end), “。” (sentence end), “：”
    and ““” (an opening quote). A mark inside quotes or brackets ends nothing."""
    nfkc: list[str] = []
    nfkc_origin: list[int] = []
    for i, ch in enumerate(line):
        for c in unicodedata.normalize("NFKC", ch).lower():
            nfkc.append(c)
            nfkc_origin.append(i)
    simple = simplified_aligned("".join(nfkc))
    gaps = {m.start() for m in _WORD_GAP.finditer(simple)}
    out: list[str] = []
    origin: list[int] = []

    def mark(m: str, at: int) -> None:
        if m in "，。":
            if not out:
                return
            if out[-1] in "，。":       # one end mark between two clauses; a sentence end wins
                if m == "，" or out[-1] == "。":
                    return
                out.pop()
                origin.pop()
        out.append(m)
        origin.append(at)

    depth, ascii_quote = 0, False
    for k, ch in enumerate(simple):
        at = nfkc_origin[k]
        if _KEPT_CHAR.match(ch):
            out.append(ch)
            origin.append(at)
        elif ch == '"':
            ascii_quote = not ascii_quote
            depth = depth + 1 if ascii_quote else max(0, depth - 1)
            if ascii_quote:
                mark("“", at)
        elif ch in _OPENERS:
            depth += 1
            if ch in _QUOTES:
                mark("“", at)
        elif ch in _CLOSERS:
            depth = max(0, depth - 1)
        elif ch in _COLONS:
            mark("：", at)
        elif depth == 0 and (ch in _SENTENCE_ENDS
                             or ch == "." and (k + 1 == len(simple) or simple[k + 1].isspace())):
            mark("。", at)
        elif depth == 0 and (ch in _CLAUSE_ENDS or k in gaps):
            mark("，", at)
    return MappedText("".join(out), tuple(origin), len(line))


def _instruction_spans(line: str, first_only: bool = False) -> list[tuple[int, int]]:
    """Spans of `line` addressed to the writer: from each cue (with the 另外/请/你 before it) to
    the end of its sentence, or to the end of the line after a role tag or a colon (a payload)."""
    compact = _compact_line(line)
    text, cues = compact.text, _instruction_cues()
    spans: list[tuple[int, int]] = []
    pos = 0
    # each cue's next match, searched again only once the scan has passed it: linear in the text
    ahead = {cue: cue.pattern.search(text) for cue in cues.cues}
    while pos < len(text):
        for cue, m in ahead.items():
            if m is not None and m.start() < pos:
                ahead[cue] = cue.pattern.search(text, pos)
        found = [(m, cue) for cue, m in ahead.items() if m is not None]
        if not found:
            break
        m, cue = min(found, key=lambda f: f[0].start())
        back = cues.address_before.search(text, max(pos, m.start() - 30), m.start())
        start = back.start() if back else m.start()
        sentence_end = text.find("。", m.end())
        sentence_end = len(text) if sentence_end < 0 else sentence_end + 1
        payload = "：" in text[max(m.start(), m.end() - 1):sentence_end]
        end = len(text) if cue.to_line_end or payload else sentence_end
        spans.append((compact.origin[start], len(line) if end >= len(text) else compact.origin[end - 1] + 1))
        if first_only:
            break
        pos = max(end, m.end())
    return spans


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


@dataclass(frozen=True)
class SplitLine:
    """A fact line parted into what it says about the work (`fact`) and the pieces addressed to
    the writer (`pieces`), each as typed; either may be empty."""
    fact: str
    pieces: tuple[str, ...] = ()

    @property
    def instruction(self) -> str:
        return INSTRUCTION_JOINER.join(self.pieces)


def split_instruction(line: str) -> SplitLine:
    """SAFE-01 for one line: every instruction to the writer split off, even after a real fact in
    the same line; the rest is the fact. A piece left beside them that cannot be a fact on its own
    (fewer than MIN_FACT_HAN Han characters and no digit: “谢谢”, “好的”) goes with them."""
    spans = _instruction_spans(line)
    if not spans:
        return SplitLine(line)
    cuts = [0] + [x for span in spans for x in span] + [len(line)]
    kept = [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts), 2) if cuts[i + 1] > cuts[i]]
    kept = [(a, b) for a, b in kept if line[a:b].strip(_FACT_EDGE)]
    small = {(a, b) for a, b in kept if han_count(line[a:b]) < MIN_FACT_HAN
             and not _DIGIT.search(unicodedata.normalize("NFKC", line[a:b]))}
    fact = "".join(line[a:b] for a, b in kept if (a, b) not in small).strip(_FACT_EDGE)
    pieces = tuple(p for a, b in _merged(spans + sorted(small)) if (p := line[a:b].strip(_FACT_EDGE)))
    return SplitLine(fact, pieces)


def is_injection(text: str) -> bool:
    """SAFE-01: some part of the text is addressed to the writer (see split_instruction)."""
    return bool(_instruction_spans(text, first_only=True))


@dataclass
class FactClasses:
    """§0 classes of a request's facts (original text kept; compare with S())."""
    mandatory: list[str] = field(default_factory=list)
    overlong: list[str] = field(default_factory=list)
    injection: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)    # another place's figures, not confirmed: not drafted

    @property
    def empty(self) -> bool:
        """INPUT-01: nothing usable to write from."""
        return not (self.mandatory or self.overlong)


def classify_facts(request: DraftRequest) -> FactClasses:
    """Split facts into mandatory (≤300 chars), overlong (>300), injection (SAFE-01) and foreign
    facts (another county's or city's figures the clerk has not confirmed: the drafter holds them);
    a line with an instruction after a fact gives both."""
    classes = FactClasses()
    confirmed = {normalize_for_compare(t).strip() for t in request.confirmed_facts}
    for line in request.facts:
        if not line.strip():
            continue
        split = split_instruction(line)
        if split.pieces:
            classes.injection.append(split.instruction)
        if not split.fact:
            continue
        if len(split.fact) > OVERLONG_FACT_CHARS:
            classes.overlong.append(split.fact)
        elif (foreign_places(normalize_for_compare(split.fact), request.unit)
              and normalize_for_compare(split.fact).strip() not in confirmed):
            classes.foreign.append(split.fact)
        else:
            classes.mandatory.append(split.fact)
    return classes



# --- fact cues (prompts/fact_cues.toml) --------------------------------------------------------------

@lru_cache(maxsize=1)
def fact_cues() -> dict[str, Any]:
    """prompts/fact_cues.toml: how facts are said (kinds, periods, groups, places, labels)."""
    with open(PROJECT_ROOT / "prompts" / "fact_cues.toml", "rb") as f:
        return tomllib.load(f)


@lru_cache(maxsize=None)
def cue_re(name: str) -> re.Pattern[str]:
    """One regular expression for every entry of a cue table."""
    return re.compile("|".join(f"(?:{e['pattern']})" for e in fact_cues()[name]))


@lru_cache(maxsize=1)
def _default_period_re() -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{e['pattern']})" for e in fact_cues()["period"] if e.get("default")))


# --- place names ------------------------------------------------------------------------------------

# Rank of each level character: a unit questions names of its own rank or above, never those of
# the places inside it (a county bureau names its towns).
LEVEL_RANK = {"省": 4, "市": 3, "州": 3, "盟": 3, "县": 2, "区": 2, "旗": 2, "镇": 1, "乡": 1}
_CLAUSE_START = "，。；：,;:！？!?（(\n、"


@dataclass(frozen=True)
class PlaceName:
    """A place named in a text: 2–3 Han characters and a level character (石门县, 金桂湖区)."""
    name: str
    level: str
    start: int
    end: int


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def place_names(text: str) -> list[PlaceName]:
    """Place names in `text` by the generic pattern of fact_cues.toml [place] (no list of real
    places); none inside “quotes” or 《titles》, where a name is part of a slogan or title."""
    place = fact_cues()["place"]
    boundary = set(place["boundary"]) | set(LEVEL_RANK) | set("年月日")
    function = set(place["function_chars"])
    quoted = [m.span() for m in QUOTED_NAME_RE.finditer(text)]
    found: list[PlaceName] = []
    for j, ch in enumerate(text):
        if (ch not in LEVEL_RANK or any(a <= j < b for a, b in quoted)
                or (found and j < found[-1].end) or text[j + 1:j + 2] in LEVEL_RANK
                or cue_re("not_place_after").match(text[j + 1:j + 4])
                or (j and cue_re("not_place_word").fullmatch(text[j - 1:j + 1]))):
            continue
        for length in (2, 3):
            start = j - length
            body = text[max(start, 0):j]
            if start < 0 or not all(_is_han(c) for c in body) or any(c in function for c in body):
                break
            if start and _is_han(text[start - 1]) and text[start - 1] not in boundary:
                continue
            if body[0] not in boundary and not cue_re("not_place_start").match(body):
                found.append(PlaceName(body + ch, ch, start, j + 1))
            break
    return found


def _own_places(unit: str) -> tuple[UnitKind, set[str]]:
    kind = unit_kind(unit)
    return kind, {p.name for p in place_names(kind.place)} | ({kind.place} if kind.place else set())


def foreign_places(text: str, unit: str) -> list[PlaceName]:
    """Places of the unit's rank or above, other than its own, that are the subject of a clause of
    `text` (S() form): the clause tells another county's or city's figures (“石门县签约率52%”,
    “邻县石门县在全市考核中排名第一”). A name after a verb or a comparison word (“高于石门县”,
    “获评岫州市先进单位”) and a higher place framing an average or appraisal (“岫州市平均…”) are
    the unit's own facts. A unit whose name has no level judges nothing."""
    kind, own = _own_places(unit)
    if not kind.level:
        return []
    rank = LEVEL_RANK.get(kind.level, 0)
    out = []
    for p in place_names(text):
        if p.name in own or LEVEL_RANK[p.level] < rank:
            continue
        clause_start = max(text.rfind(c, 0, p.start) for c in _CLAUSE_START) + 1
        if not cue_re("subject_lead").match(text[clause_start:p.start]):
            continue
        if LEVEL_RANK[p.level] > rank and cue_re("comparison_after").match(text[p.end:p.end + 20]):
            continue
        out.append(p)
    return out


# --- conflicts (INPUT-02) ---------------------------------------------------------------------------

RESULT, TARGET, BASELINE = "result", "target", "baseline"


@dataclass(frozen=True)
class NumberContext:
    """What a figure is about besides its measure: where (places and groups), when (periods other
    than the report year) and what kind of figure (a result, a target or plan, a baseline), and for
    a change (“比上年提高3.2个百分点”) the measure it changes."""
    scope: frozenset[str] = frozenset()
    period: frozenset[str] = frozenset()
    stance: str = RESULT
    base: str = ""


def _is_period_token(tok: NumberToken, text: str) -> bool:
    """A year, month or day is when a figure was, not a figure."""
    if is_year_token(tok, text):
        return True
    return tok.unit in ("月", "日") and tok.canonical.isdigit() and int(tok.canonical) <= 31


def _periods(segment: str, year: int | None) -> tuple[bool, frozenset[str]]:
    """(any period named, the periods other than the report year) in a stretch of a fact."""
    named, periods = False, set()
    for m in cue_re("period").finditer(segment):
        named = True
        word = m.group(0).removesuffix("度")
        if _default_period_re().fullmatch(m.group(0)) or (year is not None and word == f"{year}年"):
            continue
        periods.add(word)
    return named, frozenset(periods)


def _scope(segment: str, kind: UnitKind, own: set[str]) -> frozenset[str]:
    """Places and groups a stretch of a fact names; the unit's own place and level words are its
    default scope and count as none (“全县就诊率” = “就诊率” for a county)."""
    words = {m.group(0) for m in cue_re("group").finditer(segment)}
    words |= {p.name for p in place_names(segment) if p.name not in own}
    words |= {m.group(0) for m in LEVEL_WORD_RE.finditer(segment)
              if kind.level and m.group(2) != kind.level}
    return frozenset(words)


def number_contexts(facts: Sequence[str], keyed: Sequence[KeyedToken], *, unit: str = "",
                    year: int | None = None, kinds: Sequence[str] | None = None) -> list[NumberContext | None]:
    """The context of each keyed token of `facts` (S() forms, keyed_tokens order); None for a year,
    month or day. Places, groups and periods are read from the stretch since the previous figure
    and carry on to the next figures of the same sentence until another is named. A fact of a plan
    kind (`kinds`, or a next-steps label) gives every figure the target stance."""
    kind, own = _own_places(unit)
    _, next_label = fact_labels()
    out: list[NumberContext | None] = []
    state: dict[int, tuple[int, NumberContext, str]] = {}
    for kt in keyed:
        text, tok = facts[kt.fact_index], kt.token
        if _is_period_token(tok, text):
            out.append(None)
            continue
        prev_end, prev, prev_measure = state.get(kt.fact_index, (0, NumberContext(), ""))
        segment = text[prev_end:tok.start]
        cut = max(segment.rfind(c) for c in "。；！？!?\n")
        if cut >= 0:
            segment, prev, prev_measure = segment[cut + 1:], NumberContext(), ""
        sentence_start = tok.start - len(segment) if cut >= 0 else \
            max(text.rfind(c, 0, tok.start) for c in "。；！？!?\n") + 1
        scope = _scope(segment, kind, own) or prev.scope
        named, periods = _periods(segment, year)
        plan_fact = (kinds is not None and kinds[kt.fact_index] in ("plan", "safeguard")) \
            or bool(next_label.match(text))
        if plan_fact or cue_re("target").search(text[sentence_start:tok.start]):
            stance = TARGET
        elif cue_re("baseline").search(segment.rstrip()):
            stance = BASELINE
        else:
            stance = RESULT
        clause = segment[max(segment.rfind(c) for c in "，,；;：:") + 1:]
        base = prev_measure if cue_re("change").search(clause) else ""
        ctx = NumberContext(scope, periods if named else prev.period, stance, base)
        out.append(ctx)
        state[kt.fact_index] = (tok.end, ctx, kt.long_key or kt.key or "")
    return out


@dataclass(frozen=True)
class FactConflict:
    """INPUT-02: the same measure, place or group, period and kind of figure given different
    values by different facts."""
    key: str
    unit: str
    values: tuple[str, ...]          # canonical values in fact order
    fact_indexes: tuple[int, ...]    # indexes into the list given to find_conflicts
    facts: tuple[str, ...]
    spans: tuple[tuple[int, int, int], ...] = ()   # (fact index, start, end) in S(fact) of each value

    @property
    def pairs(self) -> set[tuple[str, str]]:
        return {(v, self.unit) for v in self.values}

    def value_text(self, fact_index: int) -> str:
        """The conflicting figure as fact `fact_index` writes it (“2.86万人次”)."""
        start, end = next((s, e) for i, s, e in self.spans if i == fact_index)
        return normalize_for_compare(self.facts[self.fact_indexes.index(fact_index)])[start:end]

    def message(self, numbers: Sequence[int] | None = None) -> str:
        """The notice naming both facts; `numbers` are the fact numbers the user sees, one per
        fact index (default: index + 1)."""
        shown_numbers = numbers or [i + 1 for i in self.fact_indexes]
        quoted = "与".join(f"第{n}条“{f}”" for n, f in zip(shown_numbers, self.facts))
        shown = "、".join(f"{v}{self.unit}" for v in self.values)
        return f"事实互相矛盾：{quoted}对同一指标给出不同数值（{shown}），请先确认。"


def find_conflicts(facts: list[str], *, unit: str = "", year: int | None = None,
                   kinds: Sequence[str] | None = None) -> list[FactConflict]:
    """Figures of different facts with the same FACT-04 key and unit and the same context
    (number_contexts: place or group, period, result/target/baseline) but different values.
    `unit` and `year` say what the default scope and period are; without them every 全县/全市 is
    the default scope and every year a period of its own."""
    norm = [normalize_for_compare(f) for f in facts]
    keyed = keyed_tokens(facts)
    groups: dict[tuple, list[KeyedToken]] = {}
    for kt, ctx in zip(keyed, number_contexts(norm, keyed, unit=unit, year=year, kinds=kinds)):
        if kt.key and ctx is not None:
            groups.setdefault((kt.key, kt.token.unit, ctx), []).append(kt)
    conflicts = []
    for (key, unit_word, _ctx), items in groups.items():
        clashing = [a for a in items
                    if any(b.fact_index != a.fact_index and b.token.canonical != a.token.canonical
                           and a.same_metric(b) for b in items)]
        if not clashing:
            continue
        values = tuple(dict.fromkeys(kt.token.canonical for kt in clashing))
        indexes = tuple(dict.fromkeys(kt.fact_index for kt in clashing))
        spans = tuple((kt.fact_index, kt.token.start, kt.token.end) for kt in clashing)
        conflicts.append(FactConflict(key, unit_word, values, indexes, tuple(facts[i] for i in indexes), spans))
    return conflicts
