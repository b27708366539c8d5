"""Facts: their classes (eval-rules.md §0), instructions hidden in them, conflicting values.
Numbers themselves are tokenized by rag.text.

Used by the FACT-*, YEAR-01, SAFE-01 and INPUT-* rules, and by drafting before it drafts
(classify_facts for what must be used, split_instruction for what is addressed to the writer,
find_conflicts for what to ask the user about).
"""
from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from rag.config import PROJECT_ROOT
from rag.schema import DraftRequest
from rag.text import KeyedToken, han_count, keyed_tokens
from rag.textnorm import HAN, MappedText, simplified_aligned

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

    @property
    def empty(self) -> bool:
        """INPUT-01: nothing usable to write from."""
        return not (self.mandatory or self.overlong)


def classify_facts(request: DraftRequest) -> FactClasses:
    """Split facts into mandatory (≤300 chars), overlong (>300) and injection (SAFE-01) parts; a
    line with an instruction after a fact gives both."""
    classes = FactClasses()
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
        else:
            classes.mandatory.append(split.fact)
    return classes


@dataclass(frozen=True)
class FactConflict:
    """INPUT-02: the same metric (key and unit) given different values by different facts."""
    key: str
    unit: str
    values: tuple[str, ...]          # canonical values in fact order
    fact_indexes: tuple[int, ...]    # indexes into the list given to find_conflicts
    facts: tuple[str, ...]

    @property
    def pairs(self) -> set[tuple[str, str]]:
        return {(v, self.unit) for v in self.values}

    def message(self) -> str:
        quoted = "与".join(f"第{i + 1}条“{f}”" for i, f in zip(self.fact_indexes, self.facts))
        shown = "、".join(f"{v}{self.unit}" for v in self.values)
        return f"事实互相矛盾：{quoted}对同一指标给出不同数值（{shown}），请先确认。"


def find_conflicts(facts: list[str]) -> list[FactConflict]:
    """Tokens from different facts with the same FACT-04 key and unit but different values."""
    groups: dict[tuple[str, str], list[KeyedToken]] = {}
    for kt in keyed_tokens(facts):
        if kt.key:
            groups.setdefault((kt.key, kt.token.unit), []).append(kt)
    conflicts = []
    for (key, unit), items in groups.items():
        clashing = [a for a in items
                    if any(b.fact_index != a.fact_index and b.token.canonical != a.token.canonical
                           and a.same_metric(b) for b in items)]
        if not clashing:
            continue
        values = tuple(dict.fromkeys(kt.token.canonical for kt in clashing))
        indexes = tuple(dict.fromkeys(kt.fact_index for kt in clashing))
        conflicts.append(FactConflict(key, unit, values, indexes, tuple(facts[i] for i in indexes)))
    return conflicts
