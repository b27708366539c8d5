"""What the page reads from a version's blocks (rag.compose.Block, saved in its `detail`): the
places that ask the clerk for material (【待补充】), the elaboration still to confirm (扩写（请核实）)
and where it stands in the text, the record a new version stores, the last check before a
model-made version is saved (no part or sub-heading twice), and what a revision changed.

No Streamlit here: the panels of ui/chat.py and ui/plan.py draw what these functions find.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from rag.compose import Block, render_blocks
from rag.document import drop_elaboration
from rag.draft import DraftResult, find_block, version_blocks
from rag.errors import RequestError
from rag.headings import parse_heading
from rag.plan import ReportPlan
from rag.repair import span_offsets
from rag.sessions import DraftVersion
from rag.text import SUPPLY_MARK, han_count

BODY_KINDS = ("item", "paragraph", "opening")
SUPPLY_MARKS = re.compile(r"【待补充[^】]*】")
# a clause of a fact this long, said word for word in an elaboration span, is the fact's own words
CARRIED_CLAUSE_HAN = 6
# columns of their own in the store: not repeated in the version's detail
_OWN_COLUMNS = ("draft", "sources", "evaluation", "notices")


def blocks_of(v: DraftVersion) -> list[Block]:
    """The version's blocks: its saved ones while they render its text, else its text read again
    against them (a version saved before blocks were recorded reads as model text)."""
    saved = [Block.from_dict(b) for b in v.detail.get("blocks") or []]
    return version_blocks(v.text, saved or None)


def plan_of(v: DraftVersion) -> ReportPlan | None:
    data = v.detail.get("plan")
    if not data:
        return None
    try:
        return ReportPlan.from_dict(data)
    except RequestError:   # a plan saved by an older version of the program
        return None


def record_of(result: DraftResult) -> dict[str, Any]:
    """What a version keeps of a drafting result beside its text, sources, notices and
    evaluation: plan, facts, edits, sentences, blocks, elaboration, usage, request."""
    detail = result.to_json()
    for key in _OWN_COLUMNS:
        detail.pop(key, None)
    return detail


def version_facts(v: DraftVersion) -> list[str]:
    """The facts of a version, as typed and as the drafter read them."""
    read = [f["text"] for f in (v.detail.get("facts") or {}).get("facts", [])]
    return list(dict.fromkeys([f for f in v.request.get("facts", []) if f.strip()] + read))


def carried_fact(text: str, facts: list[str]) -> str:
    """The fact an elaboration span says word for word, whole or one of its clauses (“乡镇学校直饮水
    设施维护全覆盖” of a longer fact), if any: such a span is not only elaboration, and deleting it
    would delete the fact or part of it (the clerk's answer to 【待补充】 among them)."""
    def says(f: str) -> bool:
        whole = f.strip("。；，")
        return bool(whole) and (whole in text or any(
            han_count(c) >= CARRIED_CLAUSE_HAN and c in text for c in re.split(r"[，；。：]", whole)))
    return next((f for f in facts if says(f)), "")


def droppable(blocks: list[Block], facts: list[str]) -> list[str]:
    """Unconfirmed elaboration that can go without taking a fact with it."""
    return [s.text for b in blocks for s in b.sentences
            if s.origin == "elaboration" and not s.confirmed and not carried_fact(s.text, facts)]


def text_without_elaboration(blocks: list[Block], facts: list[str]) -> str:
    """The text an export gives when unconfirmed elaboration is left out (the blocks unchanged)."""
    copy = [Block.from_dict(b.to_dict()) for b in blocks]
    drop_elaboration(copy, droppable(blocks, facts))
    return render_blocks(copy)


# --- 补充材料 -----------------------------------------------------------------------------------
@dataclass
class Place:
    """A paragraph that asks the clerk for material."""
    key: str                 # the block's key
    label: str               # “（二）着力加强……” (with its part when the draft has several)
    asks: list[str]          # the 【待补充：…】 marks it carries
    at: str                  # what rag.draft.fill_paragraph finds it by


def _part_of(blocks: list[Block], b: Block) -> Block | None:
    before = blocks[:blocks.index(b)]
    return next((x for x in reversed(before) if x.kind == "part"), None)


def fill_anchor(blocks: list[Block], b: Block) -> str | None:
    """The words `find_block` points at this very block with (markers repeat from part to part,
    so a marker alone may name another paragraph); None when no words do."""
    part = _part_of(blocks, b)
    candidates = [b.heading, b.marker] if b.kind == "item" else []
    if part is not None:
        candidates += [f"{part.marker}{part.heading}", part.heading]
    candidates.append("")       # the first paragraph asking for material
    return next((c for c in candidates if c is not None and find_block(blocks, c) is b), None)


def supply_places(blocks: list[Block]) -> list[Place]:
    several_parts = sum(b.kind == "part" for b in blocks) > 1
    places = []
    for b in blocks:
        if b.kind not in BODY_KINDS or SUPPLY_MARK not in b.body():
            continue
        at = fill_anchor(blocks, b)
        if at is None:
            continue
        part = _part_of(blocks, b)
        own = f"{b.marker}{b.heading}" if b.kind == "item" else ""
        where = f"{part.marker}{part.heading}" if part is not None else "开头"
        label = (f"{where} · {own}" if several_parts and own else own or where)
        places.append(Place(b.key, label, SUPPLY_MARKS.findall(b.body()), at))
    return places


# --- 扩写（请核实） ------------------------------------------------------------------------------
@dataclass
class ElaborationMark:
    n: int                   # 1, 2, … in the order of the text
    start: int
    end: int
    text: str
    fact_ids: list[int] = field(default_factory=list)
    fact: str = ""           # a fact it says word for word (it cannot be deleted as elaboration)


def elaboration_marks(text: str, blocks: list[Block], facts: list[str] = ()) -> list[ElaborationMark]:
    """Unconfirmed elaboration spans and where they stand in `text` (the version's text, which
    its blocks render)."""
    lead = len(text) - len(text.lstrip())
    if render_blocks(blocks) == text.strip():
        located = [(lead + a, lead + b, s) for a, b, _blk, s in span_offsets(blocks) if s is not None]
    else:   # blocks read from an older text: found in order
        located, pos = [], 0
        for s in (s for b in blocks for s in b.sentences if s.text):
            at = text.find(s.text, pos)
            if at >= 0:
                located.append((at, at + len(s.text), s))
                pos = at + len(s.text)
    marks: list[ElaborationMark] = []
    for a, b, s in located:
        if s.origin == "elaboration" and not s.confirmed:
            marks.append(ElaborationMark(len(marks) + 1, a, b, s.text, list(s.fact_ids),
                                         carried_fact(s.text, list(facts))))
    return marks


# --- the last check before a model-made version is saved --------------------------------------------
def duplicated_headings(blocks: list[Block]) -> list[str]:
    """Part headings, or sub-headings of one part, that occur twice (by marker or by words): a
    version holding them is corrupt, whatever made it."""
    twice: list[str] = []
    parts: set[str] = set()
    items: set[str] = set()
    for b in blocks:
        if b.kind not in ("part", "item"):
            continue
        if b.kind == "part":
            items = set()
        seen = parts if b.kind == "part" else items
        keys = {k for k in (b.marker, b.heading.rstrip("。")) if k}
        if keys & seen:
            twice.append(f"{b.marker}{b.heading}")
        seen |= keys
    return twice


# --- what a revision changed ----------------------------------------------------------------------
def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n") if line.strip()]


def _line_name(line: str, lines: list[str]) -> str:
    """A paragraph named by its heading (“（二）加强监测”), or, under a part without sub-headings,
    by the part's (“二、存在问题”)."""
    if parse_heading(line):
        return line.split("。", 1)[0][:24]
    part = next((x for x in reversed(lines[:lines.index(line)]) if (h := parse_heading(x)) and h.rank == 1), "")
    return part[:24] or line[:24]


def changed_note(before: str, after: str, what: str) -> str:
    """“按修改意见只改了“（二）……”，其余部分一字未动。” when every other paragraph is there word
    for word and in order; else what was rewritten."""
    old, new = _lines(before), _lines(after)
    rewritten = [line for line in new if line not in old]
    gone = [line for line in old if line not in new]
    if not rewritten and not gone:
        return ""
    if len(gone) == len(old):
        return f"按{what}改写了全文。"
    where = rewritten or gone
    names = "”“".join(dict.fromkeys(_line_name(line, new if rewritten else old) for line in where))
    kept_in_order = [line for line in old if line in new] == [line for line in new if line in old]
    rest = "其余部分一字未动" if kept_in_order else "其余部分的顺序有变化，请核对"
    return f"按{what}只改了“{names}”{'这一部分' if len(where) == 1 else ''}，{rest}。"
