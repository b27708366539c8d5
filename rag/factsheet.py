"""Fact analysis: every line of the request becomes one or more typed `Fact`s (a pasted record
becomes the facts it holds) with its numbers, quoted names, kind and the part of the report it
belongs to; a fact telling another county's or city's figures is held for the clerk to confirm,
and two facts giving one figure different values are withheld (【待核实】).

Kinds come from cues that hold for any topic (a label such as “存在问题：”, a year after the
report year, modal words, problem words) — never from lists of topics — so a request on
托育 or 精神卫生 is read the same way as one on 家庭医生. The cue lists live in
prompts/fact_cues.toml with a reason for each entry.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from evals.facts import FactConflict, cue_re, find_conflicts, foreign_places, split_instruction
from rag.normalize import is_record, split_fact, strip_fact_label
from rag.prompting import PartSpec, fact_labels
from rag.schema import DraftRequest
from rag.text import QUOTED_NAME_RE, extract_numbers, pair_key, quoted_names
from rag.textnorm import normalize_for_compare

ACHIEVEMENT, PROBLEM, PLAN, SAFEGUARD = "achievement", "problem", "plan", "safeguard"
INSTRUCTION, CONFLICTING, OVERLONG = "instruction", "conflicting", "overlong"
FOREIGN_SCOPE = "foreign_scope"     # names another county or city: held until the clerk confirms it
SPARE = "spare"                     # a record's piece left out for length: listed, not drafted
# A record (台账) whose pieces are longer than this share of the asked length is written from a
# selection of them: the rest of the draft is the 做法 and 成效 around them, and a report that
# writes every row is the pasted record again.
RECORD_FACT_SHARE = 0.5
# Two pieces whose character pairs, figures and months aside, overlap this much are the same work
# in another month (“5月，开展食品安全抽检9批次” / “6月，开展食品安全抽检7批次”): one stands for both.
RECORD_ALIKE = 0.6
VERIFY_MARK = "【待核实】"


@dataclass
class Fact:
    """One usable fact. `text` is what the draft is written from (labels and numbering removed,
    conflicting values replaced by 【待核实】; a piece of a split record with its month or place in
    front); `original` is what the user typed (the piece as it stands in the record)."""
    id: int
    text: str
    original: str
    kind: str
    part: str = ""                                   # key of the part it is written in
    numbers: list[str] = field(default_factory=list)   # “632个”, “78.4%”
    names: list[str] = field(default_factory=list)     # “一码通用”, 《…办法》
    why: str = ""                                    # the cue that decided its kind
    source: int = 0                                  # the request fact it comes from (1-based; 0: a key figure)
    flag: str = ""                                   # FOREIGN_SCOPE when held back
    place: str = ""                                  # the other county or city it names

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Fact":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class FactSheet:
    facts: list[Fact] = field(default_factory=list)
    ignored: list[Fact] = field(default_factory=list)   # instruction-like lines, never written
    held: list[Fact] = field(default_factory=list)      # another unit's facts until confirmed
    spare: list[Fact] = field(default_factory=list)     # a long record's pieces left out for length
    conflicts: list[FactConflict] = field(default_factory=list)   # fact_indexes index `facts`
    notices: list[str] = field(default_factory=list)

    def by_id(self, fact_id: int) -> Fact:
        return next(f for f in self.facts if f.id == fact_id)

    def texts(self, ids: list[int] | None = None) -> list[str]:
        return [f.text for f in self.facts if ids is None or f.id in ids]

    def conflict_facts(self, conflict: FactConflict) -> list[Fact]:
        return [self.facts[i] for i in conflict.fact_indexes]

    def to_dict(self) -> dict[str, Any]:
        return {"facts": [f.to_dict() for f in self.facts], "ignored": [f.to_dict() for f in self.ignored],
                "held": [f.to_dict() for f in self.held], "spare": [f.to_dict() for f in self.spare],
                "conflicts": [{"fact_ids": [f.id for f in self.conflict_facts(c)], "values": list(c.values),
                               "unit": c.unit} for c in self.conflicts],
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
        m = cue_re("safeguard").search(norm)
        if m:
            return SAFEGUARD, m.group(0)
    # years inside a 《title》 or “name” date the document, and a period that holds the report year
    # (“2023—2027年”) is not a later year
    dated = QUOTED_NAME_RE.sub("", norm)
    dated = re.sub(r"(20\d\d)\s*[—–\-~～至]\s*(20\d\d)年",
                   lambda m: "" if int(m.group(1)) <= year <= int(m.group(2)) else m.group(0), dated)
    later = [int(y) for y in re.findall(r"(20\d\d)年", dated) if int(y) > year]
    if later and re.search(r"(20\d\d)年", dated).group(1) == str(later[0]):
        return PLAN, f"{later[0]}年"
    m = cue_re("plan").search(norm)
    if m and not (cue_re("done").search(norm) and not cue_re("ahead").search(norm)):
        return PLAN, m.group(0)
    m = cue_re("problem").search(norm)
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


def _without_conflicting_values(text: str, spans: list[tuple[int, int]]) -> str:
    """S(text) with each conflicting value (its offsets in S(text)) replaced by VERIFY_MARK."""
    if not spans:
        return text
    norm = normalize_for_compare(text)
    for start, end in sorted(set(spans), reverse=True):
        norm = norm[:start] + VERIFY_MARK + norm[end:]
    return norm


@dataclass(frozen=True)
class _Piece:
    source: int        # the request fact (1-based), 0 for a key figure no fact holds
    line: str          # that request fact as given
    text: str          # label debris removed
    original: str
    kind: str
    why: str
    context: str = ""   # the month or place of a record's row the piece comes from (“3月”)


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
    set aside with a notice quoting it, the rest of the line kept as the fact; a record (台账)
    becomes the facts it holds (rag.normalize.split_fact), and the key figures are always among the
    facts; a fact telling another county's or city's figures is held until the clerk confirms it
    (request.confirmed_facts); values two facts give for the same measure, place, period and kind
    are withheld (【待核实】) with a notice naming both facts."""
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
    safeguards = any(p.key == "safeguards" for p in parts)
    pieces: list[_Piece] = []
    for i, line in usable:
        split = split_fact(line)
        if is_record(line.strip()):
            sheet.notices.append(f"第{i}条拆成了{len(split.pieces)}条事实，请在“查看识别结果”中核对。")
        for aside in split.set_aside:
            sheet.notices.append(f"第{i}条中的“{aside[:40]}”是标题、表头或说明，未作为事实。")
        for piece in split.pieces:
            kind, why = fact_kind(piece.text, request.year, safeguards)
            pieces.append(_Piece(i, line, strip_fact_label(piece.text), piece.original, kind, why, piece.context))
    pieces += _key_figure_pieces(request, pieces, safeguards, sheet.notices)
    pieces, spare = _select_record_pieces(request, pieces)
    if spare:
        sheet.notices.append(f"台账内容较多，按要求的字数（{request.length_chars[0]}—{request.length_chars[1]}字）"
                             f"选用了其中的关键数字、全年合计和各项工作的代表性内容，另有{len(spare)}条未写入草稿，"
                             "可在“查看识别结果”中查看，需要时作为事实补充。")
    kept, held = _hold_foreign(request, pieces)
    sheet.conflicts = find_conflicts([p.text for p in kept], unit=request.unit, year=request.year,
                                     kinds=[p.kind for p in kept])
    for c in sheet.conflicts:
        sheet.notices.append(c.message([kept[i].source for i in c.fact_indexes])
                             + f"草稿中{'两个' if len(c.values) == 2 else '这些'}数值都没有使用，"
                             f"已在该处写“{VERIFY_MARK}”，请核实后填写。")
    for n, p in enumerate(kept, 1):
        spans = [(s, e) for c in sheet.conflicts for i, s, e in c.spans if i == n - 1]
        sheet.facts.append(_fact(n, p, _without_conflicting_values(p.text, spans), parts))
    for n, (p, place) in enumerate(held, len(kept) + 1):
        sheet.held.append(replace(_fact(n, p, p.text, parts), flag=FOREIGN_SCOPE, place=place))
        sheet.notices.append(f"第{p.source}条写的是{place}的情况，是否属于本单位？确认前不写入草稿：“{p.text[:40]}”")
    for n, p in enumerate(spare, len(kept) + len(held) + 1):
        sheet.spare.append(replace(_fact(n, p, p.text, parts), flag=SPARE))
    return sheet


def _select_record_pieces(request: DraftRequest, pieces: list[_Piece]) -> tuple[list[_Piece], list[_Piece]]:
    """(written, spare): when a record's pieces would fill more than RECORD_FACT_SHARE of the
    asked length, the facts typed as such, the pieces holding a key figure and the record's totals
    are written, then the first piece of each row (the work that month or place did; the row's
    later pieces are its figures and details), then its other pieces in order while they fit —
    one per work done month after month, never two that stand side by side in the record; the
    rest are spare. Every piece is written when they fit."""
    records = {p.source for p in pieces if p.source and is_record(p.line.strip())}
    budget = int(request.length_chars[1] * RECORD_FACT_SHARE)
    if not records or sum(len(p.text) for p in pieces) <= budget:
        return pieces, []
    keys = [normalize_for_compare(k) for k in request.key_figures if k.strip()]

    def must(p: _Piece) -> bool:
        return p.source not in records or any(k in normalize_for_compare(p.text) for k in keys)

    def shape(text: str) -> set[str]:
        return pair_key(re.sub(r"\d+(?:\.\d+)?", "", text))

    chosen = [p for p in pieces if must(p)]
    used = sum(len(p.text) for p in chosen)
    place = {id(p): n for n, p in enumerate(pieces)}
    leads = {id(p) for n, p in enumerate(pieces)
             if p.context and not (n and (pieces[n - 1].source, pieces[n - 1].context) == (p.source, p.context))}
    # “共计41人” inside a month's row is that month's figure, not the record's total
    rest = sorted((p for p in pieces if not must(p)),
                  key=lambda p: (bool(p.context) or not cue_re("total").search(p.text), id(p) not in leads))

    def next_to_chosen(p: _Piece) -> bool:
        # two neighbours of one row written side by side are the record pasted again (each row's
        # pieces carry their month in front, so rows side by side are not)
        return any(c.source == p.source and c.context == p.context and abs(place[id(c)] - place[id(p)]) == 1
                   for c in chosen)

    for p in rest:
        mine = shape(p.text)
        alike = any(len(mine & shape(c.text)) >= RECORD_ALIKE * min(len(mine), len(shape(c.text)) or 1)
                    for c in chosen)
        if used + len(p.text) <= budget and not alike and not next_to_chosen(p):
            chosen.append(p)
            used += len(p.text)
    written = [p for p in pieces if any(p is c for c in chosen)]
    return written, [p for p in pieces if not any(p is c for c in chosen)]


def _fact(n: int, p: _Piece, text: str, parts: list[PartSpec]) -> Fact:
    norm = normalize_for_compare(text)
    return Fact(id=n, text=text, original=p.original, kind=p.kind, part=part_for(p.kind, parts),
                numbers=[norm[t.start:t.end] for t in extract_numbers(norm)], names=quoted_names(text),
                why=p.why, source=p.source)


def _key_figure_pieces(request: DraftRequest, pieces: list[_Piece], safeguards: bool,
                       notices: list[str]) -> list[_Piece]:
    """The request's key figures that no fact holds, each as a fact of its own: a key figure is
    always among the facts, whatever a record's splitting did."""
    have = [normalize_for_compare(p.text) for p in pieces]
    extra = []
    for figure in (k.strip() for k in request.key_figures):
        if figure and not any(normalize_for_compare(figure) in h for h in have):
            kind, why = fact_kind(figure, request.year, safeguards)
            extra.append(_Piece(0, figure, strip_fact_label(figure), figure, kind, why))
            notices.append(f"关键数字“{figure}”不在任何一条事实中，已作为一条事实写入。")
    return extra


def _hold_foreign(request: DraftRequest, pieces: list[_Piece]) -> tuple[list[_Piece], list[tuple[_Piece, str]]]:
    """(kept, held with the place it names): a piece telling another county's or city's figures is
    held back unless the clerk confirmed it (request.confirmed_facts: the piece or its whole fact)."""
    confirmed = {normalize_for_compare(t).strip() for t in request.confirmed_facts}
    kept, held = [], []
    for p in pieces:
        places = foreign_places(normalize_for_compare(p.text), request.unit)
        said = {normalize_for_compare(t).strip() for t in (p.text, p.original, p.line)}
        if places and not said & confirmed:
            held.append((p, places[0].name))
        else:
            kept.append(p)
    return kept, held
