"""Fact analysis: every line of the request becomes a typed `Fact` with its numbers, quoted
names, kind and the part of the report it belongs to.

Kinds come from cues that hold for any topic (a label such as “存在问题：”, a year after the
report year, modal words, problem words) — never from lists of topics — so a request on
托育 or 精神卫生 is read the same way as one on 家庭医生. The cue lists live in
prompts/fact_cues.toml with a reason for each entry.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from evals.facts import OVERLONG_FACT_CHARS, FactConflict, find_conflicts, split_instruction
from rag.text import extract_numbers, quoted_names
from rag.config import PROJECT_ROOT
from rag.normalize import condense_fact
from rag.prompting import PartSpec, fact_labels
from rag.schema import DraftRequest
from rag.textnorm import normalize_for_compare

ACHIEVEMENT, PROBLEM, PLAN, SAFEGUARD = "achievement", "problem", "plan", "safeguard"
INSTRUCTION, CONFLICTING, OVERLONG = "instruction", "conflicting", "overlong"
VERIFY_MARK = "【待核实】"


@lru_cache(maxsize=1)
def _cues() -> dict[str, Any]:
    with open(PROJECT_ROOT / "prompts" / "fact_cues.toml", "rb") as f:
        return tomllib.load(f)


@lru_cache(maxsize=None)
def _cue_re(name: str) -> re.Pattern:
    return re.compile("|".join(e["pattern"] for e in _cues()[name]))


@dataclass
class Fact:
    """One usable fact. `text` is what the draft is written from (label removed, conflicting
    values replaced by 【待核实】, an overlong fact condensed); `original` is what the user typed."""
    id: int
    text: str
    original: str
    kind: str
    part: str = ""                                   # key of the part it is written in
    numbers: list[str] = field(default_factory=list)   # “632个”, “78.4%”
    names: list[str] = field(default_factory=list)     # “一码通用”, 《…办法》
    why: str = ""                                    # the cue that decided its kind

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Fact":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class FactSheet:
    facts: list[Fact] = field(default_factory=list)
    ignored: list[Fact] = field(default_factory=list)   # instruction-like lines, never written
    conflicts: list[FactConflict] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    def by_id(self, fact_id: int) -> Fact:
        return next(f for f in self.facts if f.id == fact_id)

    def texts(self, ids: list[int] | None = None) -> list[str]:
        return [f.text for f in self.facts if ids is None or f.id in ids]

    def to_dict(self) -> dict[str, Any]:
        return {"facts": [f.to_dict() for f in self.facts], "ignored": [f.to_dict() for f in self.ignored],
                "notices": self.notices}


def fact_kind(text: str, year: int, safeguards: bool = False) -> tuple[str, str]:
    """(kind, cue) of one fact from generic cues: a label, a later year, modal or problem words.
    With `safeguards` (a plan that has a 保障措施 part) money and organisation cues come first:
    in a plan every fact is future, and “安排预算…” belongs to the safeguards."""
    problems_label, next_label = fact_labels()
    stripped = text.strip()
    if problems_label.match(stripped):
        return PROBLEM, "label"
    if next_label.match(stripped):
        return PLAN, "label"
    norm = normalize_for_compare(stripped)
    if safeguards:
        m = _cue_re("safeguard").search(norm)
        if m:
            return SAFEGUARD, m.group(0)
    later = [int(y) for y in re.findall(r"(20\d\d)年", norm) if int(y) > year]
    if later and re.search(r"(20\d\d)年", norm).group(1) == str(later[0]):
        return PLAN, f"{later[0]}年"
    m = _cue_re("plan").search(norm)
    if m:
        return PLAN, m.group(0)
    m = _cue_re("problem").search(norm)
    if m:
        return PROBLEM, m.group(0)
    return ACHIEVEMENT, ""


def split_labelled(fact: str) -> tuple[str, list[str]]:
    """('problems'|'next'|'', pieces): a labelled fact (“存在问题：一是…；二是…”) loses its label
    and is split on ；."""
    problems, nxt = fact_labels()
    for kind, rx in (("problems", problems), ("next", nxt)):
        m = rx.match(fact.strip())
        if m:
            body = fact.strip()[m.end():].strip()
            return kind, [p.strip() for p in re.split(r"[；;]", body) if p.strip()]
    return "", [fact.strip()]


def _without_conflicting_values(text: str, conflicts: list[FactConflict]) -> str:
    bad = {pair for c in conflicts for pair in c.pairs}
    norm = normalize_for_compare(text)
    drop = [t for t in extract_numbers(norm) if t.pair in bad]
    for t in sorted(drop, key=lambda t: t.start, reverse=True):
        norm = norm[:t.start] + VERIFY_MARK + norm[t.end:]
    return norm if drop else text


def part_for(kind: str, parts: list[PartSpec]) -> str:
    """The part a fact of this kind is written in, among the parts being drafted; the body part
    takes whatever has no home, so no fact is ever lost."""
    keys = {p.key for p in parts}
    takers = [p for p in parts if p.layout in ("items", "paragraph")]
    body = next((p.key for p in parts if p.layout == "items"), takers[0].key if takers else "")
    wanted = {PROBLEM: "problems", PLAN: "next", SAFEGUARD: "safeguards"}.get(kind)
    if wanted in keys:
        return wanted
    if kind == PLAN and "tasks" in keys:
        return "tasks"
    return body


def analyse_facts(request: DraftRequest, parts: list[PartSpec]) -> FactSheet:
    """Type every fact of the request and give it a part. What a line addresses to the writer is
    set aside with a notice quoting it, the rest of the line kept as the fact; values two facts
    give differently for one metric are withheld (【待核实】)."""
    sheet = FactSheet()
    lines = [f for f in request.facts if f.strip()]
    usable: list[tuple[int, str]] = []
    for i, line in enumerate(lines, 1):
        split = split_instruction(line)
        if split.pieces:
            sheet.ignored.append(Fact(i, split.instruction, line, INSTRUCTION, why="像是给助手的指令"))
            rest = "，其余部分照常作为事实" if split.fact else ""
            sheet.notices.append(f"第{i}条事实中有像是给助手的指令，已忽略，不作为起草内容{rest}：“{split.instruction[:60]}”")
        if split.fact:
            usable.append((i, split.fact))
    # a labelled line (“存在问题：一是…；二是…”) holds several facts
    pieces: list[tuple[int, str, str, str]] = []
    for i, line in usable:
        kind, why = fact_kind(line, request.year, safeguards=any(p.key == "safeguards" for p in parts))
        pieces += [(i, p, kind, why) for p in split_labelled(line)[1]]
    sheet.conflicts = find_conflicts([p[1] for p in pieces])
    for c in sheet.conflicts:
        sheet.notices.append(c.message() + f"草稿中两个数值都没有使用，已在该处写“{VERIFY_MARK}”，请核实后填写。")
    for n, (i, text, kind, why) in enumerate(pieces, 1):
        original = text
        if len(text) > OVERLONG_FACT_CHARS:
            text = condense_fact(text, must=request.key_figures)
            sheet.notices.append(f"第{i}条事实有{len(original)}字，起草时只用了其中带数字和名称的句子（{len(text)}字），请核对。")
        if sheet.conflicts:
            text = _without_conflicting_values(text, sheet.conflicts)
        norm = normalize_for_compare(text)
        fact = Fact(id=n, text=text, original=original, kind=kind, part=part_for(kind, parts),
                    numbers=[norm[t.start:t.end] for t in extract_numbers(norm)],
                    names=quoted_names(text), why=why)
        sheet.facts.append(fact)
    return sheet
