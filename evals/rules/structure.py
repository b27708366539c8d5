"""STR-01..05: sections, heading hierarchy and numbering, enumerations, duplicates."""
from __future__ import annotations

import re
from collections.abc import Iterator

from rag.prompting import requested_parts
from rag.schema import GENRES, WHOLE_REPORT
from rag.headings import ENUM_ITEM_RE
from rag.textnorm import chinese_numeral, parse_chinese_numeral

from evals.context import CheckContext
from evals.document import Heading, nonspace_len
from evals.registry import GBT_9704, PRACTICE, REGULATIONS, Finding, rule

PROBLEMS_RE = re.compile(r"存在(的)?(主要)?问题|问题(和|与|及)(不足|困难)|困难和问题|不足|短板|差距")
NEXT_RE = re.compile(r"下一步|打算|思路|计划|谋划|安排|努力方向")
HEADING_PROBE_CHARS = 20
OPENING_MIN_CHARS = 40
REPORT_AS_FOLLOWS_RE = re.compile(r"(汇报|报告)如下")
DEBRIEF_AS_FOLLOWS_RE = re.compile(r"(述职|报告|汇报)如下")
SALUTATION_RE = re.compile(r"^(各位领导|尊敬的|同志们)")
SHORTCOMING_RE = re.compile(r"不足|差距|问题")
FUTURE_RE = re.compile(r"今后|下一步|打算")
# A 工作计划 may put its opening under a first heading such as 一、总体要求.
OPENING_HEADING_RE = re.compile(r"总体要求|指导思想|总体目标|工作目标|目标任务|总体思路")
_PUNCT_OR_SPACE = re.compile(r"[\s\W_]+")
DUPLICATE_PROBE_CHARS = 15


def _probe(h: Heading) -> str:
    return h.text[:HEADING_PROBE_CHARS]


def top_headings(ctx: CheckContext) -> list[Heading]:
    hs = ctx.draft.headings
    if not hs:
        return []
    top = min(h.rank for h in hs)
    return [h for h in hs if h.rank == top]


def _opening_finding(ctx: CheckContext) -> Finding | None:
    """The first body paragraph must come before the headings (or under 总体要求) and be ≥ 40 chars."""
    d = ctx.draft
    first_heading = d.headings[0].line.index if d.headings else None
    opening = None
    for ln in d.body_lines:
        if first_heading is None or ln.index < first_heading:
            opening = ln
            break
        h0 = d.headings[0]
        if OPENING_HEADING_RE.search(_probe(h0)) and (len(d.headings) < 2
                                                      or ln.index < d.headings[1].line.index):
            opening = ln
        break
    if opening is None:
        return _missing("开头段（正文之前的总体情况或总体要求）")
    if nonspace_len(opening.text) < OPENING_MIN_CHARS:
        return Finding(opening.start, opening.end, opening.stripped,
                       detail=f"开头段过短（少于{OPENING_MIN_CHARS}字）")
    return None


def _missing(what: str) -> Finding:
    return Finding(0, 0, what, detail=f"缺少{what}")


def section_keys(ctx: CheckContext) -> tuple[str, ...]:
    """The parts (prompts/genres.toml) a section request asks for: work, problems, next,
    safeguards, basics …; an unknown section is the genre's body part, as the drafter writes it."""
    if ctx.genre in GENRES:
        return tuple(p.key for p in requested_parts(ctx.genre, ctx.section))
    # not a genre the drafter knows: read the section's own name
    return tuple(k for k, rx in (("problems", PROBLEMS_RE), ("next", NEXT_RE)) if rx.search(ctx.section)) or ("work",)


def _sub_item_count(ctx: CheckContext) -> int:
    sub_headings = sum(1 for h in ctx.draft.headings if h.rank >= 2)
    return max(sub_headings, len(ENUM_ITEM_RE.findall(ctx.draft.text)))


@rule("STR-01", "major", "缺少文种或本节要求的部分，或写了未要求的部分", source=f"{REGULATIONS}；{PRACTICE}")
def required_sections(ctx: CheckContext) -> Iterator[Finding]:
    genre, section, d = ctx.genre, ctx.section, ctx.draft
    tops = top_headings(ctx)
    p_heads = [h for h in tops if PROBLEMS_RE.search(_probe(h))]
    n_heads = [h for h in tops if NEXT_RE.search(_probe(h))]
    if section == WHOLE_REPORT:
        if genre == "工作总结":
            if (f := _opening_finding(ctx)):
                yield f
            if not p_heads:
                yield _missing("“存在问题”部分的标题")
            if not n_heads:
                yield _missing("“下一步打算”部分的标题")
            pn = [h for h in tops if h in p_heads or h in n_heads]
            if pn and pn[0] is tops[0]:
                yield Finding(pn[0].line.start, pn[0].line.end, pn[0].line.stripped,
                              detail="主要工作部分应写在存在问题和下一步打算之前")
        elif genre == "工作计划":
            if (f := _opening_finding(ctx)):
                yield f
            if sum(1 for h in d.headings if h.rank <= 2) < 3:
                yield _missing("至少3项任务标题（一、或（一）级）")
        elif genre == "工作汇报":
            if not REPORT_AS_FOLLOWS_RE.search(ctx.draft.compare.text):
                yield _missing("“现将……汇报如下”的引出句")
            if not p_heads:
                yield _missing("“存在问题”部分的标题")
            if not n_heads:
                yield _missing("“下一步打算”部分的标题")
        elif genre == "述职报告":
            if not any(SALUTATION_RE.match(ln.stripped) for ln in d.nonempty_lines[:3]):
                yield _missing("称谓（如“各位领导、同志们：”）")
            text = ctx.draft.compare.text
            if not DEBRIEF_AS_FOLLOWS_RE.search(text):
                yield _missing("“现将……述职如下”的引出句")
            if not SHORTCOMING_RE.search(text):
                yield _missing("不足或差距的内容")
            if not FUTURE_RE.search(text):
                yield _missing("今后打算的内容")
        elif genre == "经验交流材料":
            practices = [h for h in d.headings if h.rank <= 2
                         and not PROBLEMS_RE.search(_probe(h)) and not NEXT_RE.search(_probe(h))]
            if len(practices) < 3:
                yield _missing("至少3个做法小标题（一、或（一）级）")
        return
    keys = section_keys(ctx)
    wants_p, wants_n = "problems" in keys, "next" in keys
    if wants_p or wants_n:
        if wants_p and not p_heads:
            yield _missing("“存在问题”部分的标题")
        if wants_n and not n_heads:
            yield _missing("“下一步打算”部分的标题")
        return
    if "basics" in keys:
        if nonspace_len("".join(ln.stripped for ln in d.body_lines)) < OPENING_MIN_CHARS:
            yield _missing(f"基本情况的概述（至少{OPENING_MIN_CHARS}字）")
    elif _sub_item_count(ctx) < 2:
        yield _missing("至少2个分项（（一）级标题或“一是……二是……”）")
    if genre != "工作计划":
        for h in p_heads + n_heads:
            yield Finding(h.line.start, h.line.end, h.line.stripped,
                          detail=f"本次只要求“{ctx.request.section}”，不应写存在问题或下一步打算")


@rule("STR-02", "major", "标题层级或序号有误（应为一、→（一）→1.→（1），序号连续）", source=f"{GBT_9704} §7.3.3")
def heading_hierarchy(ctx: CheckContext) -> Iterator[Finding]:
    hs = ctx.draft.headings
    if not hs:
        return
    section_draft = ctx.section != WHOLE_REPORT
    top_rank = hs[0].rank

    class Node:
        def __init__(self, rank: int):
            self.rank = rank
            self.last: dict[int, int] = {}   # child rank → last ordinal seen
            self.deepest = 0                 # deepest child rank used so far

    root = Node(0)
    stack: list[Node] = [root]

    def f(h: Heading, detail: str) -> Finding:
        return Finding(h.marker_start, h.marker_end, h.line.stripped[:30], detail=detail)

    for h in hs:
        if h.rank < top_rank:
            yield f(h, f"“{h.marker}”的层级高于前面最高一级标题“{hs[0].marker}”")
            top_rank = h.rank
        while stack[-1].rank >= h.rank:
            stack.pop()
        parent = stack[-1]
        if parent.deepest > h.rank:
            yield f(h, f"“{h.marker}”出现在同一上级下更低一级的标题之后（层级倒置）")
        prev = parent.last.get(h.rank)
        if prev is not None:
            if h.ordinal != prev + 1:
                yield f(h, f"序号“{h.marker}”应接续上一个同级序号{prev}，应为{prev + 1}")
        elif h.ordinal != 1 and not (parent is root and section_draft):
            yield f(h, f"“{h.marker}”是该级第一个标题，序号应从1开始")
        parent.last[h.rank] = h.ordinal
        parent.deepest = max(parent.deepest, h.rank)
        stack.append(Node(h.rank))


@rule("STR-03", "minor", "标题序号写法不规范（应为一、（一）1.（1），括号用全角）", source=f"{GBT_9704} §7.3.3")
def canonical_markers(ctx: CheckContext) -> Iterator[Finding]:
    for h in ctx.draft.headings:
        if not h.canonical:
            yield Finding(h.marker_start, h.marker_end, h.line.stripped[:30], detail=f"“{h.marker}”")


def _blocks(ctx: CheckContext) -> list[tuple[int, int]]:
    """Draft spans between headings (a heading line starts a block)."""
    starts = [0] + [h.line.start for h in ctx.draft.headings] + [len(ctx.draft.text)]
    return [(a, b) for a, b in zip(starts, starts[1:]) if b > a]


@rule("STR-04", "minor", "“一是……二是……”序列不完整（含只有“一是”）或有重字", source=PRACTICE)
def inline_enumerations(ctx: CheckContext) -> Iterator[Finding]:
    text = ctx.draft.text

    def lone_first(m: re.Match[str]) -> Finding:
        return Finding(m.start(), m.end(), ctx.excerpt(m.start(), m.end()), detail="有“一是”而没有“二是”")

    for a, b in _blocks(ctx):
        expected = 1
        lone = None             # a 一是 not yet followed by 二是
        for m in ENUM_ITEM_RE.finditer(text, a, b):
            n = parse_chinese_numeral(m.group(1)) or 0
            if text.startswith("是", m.end()):
                yield Finding(m.start(), m.end() + 1, ctx.excerpt(m.start(), m.end() + 1),
                              detail=f"“{m.group(0)}是”重复了“是”")
            if n == 1:          # a new enumeration starts
                if lone:
                    yield lone_first(lone)
                lone, expected = m, 2
                continue
            lone = None
            if n != expected:
                yield Finding(m.start(1), m.end(), ctx.excerpt(m.start(), m.end()),
                              detail=f"“{m.group(0)}”之前应为“{_cn(expected)}是”")
            expected = n + 1
        if lone:
            yield lone_first(lone)


def _cn(n: int) -> str:
    return chinese_numeral(n) if 0 < n < 100 else str(n)


@rule("STR-05", "minor", "标题重复", source=PRACTICE)
def duplicate_headings(ctx: CheckContext) -> Iterator[Finding]:
    seen: dict[str, Heading] = {}
    for h in ctx.draft.headings:
        key = _PUNCT_OR_SPACE.sub("", h.title)[:DUPLICATE_PROBE_CHARS]
        if not key:
            continue
        if key in seen:
            yield Finding(h.line.start, h.line.end, h.line.stripped[:30],
                          detail=f"与“{seen[key].line.stripped[:20]}”重复")
        else:
            seen[key] = h
