"""Which part of a draft a revision instruction is about.

“第二部分再精炼一些” on a section draft (one 一、 with （一）（二）（三）) means （二）, not the whole
section; “（二）再具体些” means the heading （二）; “存在问题写实一些” means the part whose heading
says 存在问题; “最后一段删掉空话” means the last paragraph. Revising only that range keeps every
other part of the draft word for word.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from rag.export import looks_like_title
from rag.headings import CN_NUM, parse_heading
from rag.textnorm import HAN, parse_chinese_numeral

_NUM = rf"[{CN_NUM}]+|\d{{1,2}}"
# An explicit marker quoted in the instruction: （二） (二) 二、 1. （1）
_MARKERS: tuple[tuple[int, re.Pattern[str]], ...] = (
    (2, re.compile(rf"[（(]([{CN_NUM}]+)[）)]")),
    (4, re.compile(r"[（(](\d{1,2})[）)]")),
    (1, re.compile(rf"(?<![第{CN_NUM}])([{CN_NUM}]+)、")),
    (3, re.compile(r"(?<![\d.．])(\d{1,2})[.．](?!\d)")),
)
_ORDINAL_PART = re.compile(rf"第({_NUM})(?:个)?(?:部分|大部分|节|章|方面|点|条|项|块|个标题|小标题)")
_ORDINAL_PARAGRAPH = re.compile(rf"第({_NUM})(?:个)?(?:段|自然段)")
_LAST_PARAGRAPH = re.compile(r"最后一段|末段|最后一个自然段|结尾段|结尾一段|结束语")
_LAST_PART = re.compile(r"最后一(?:个)?(?:部分|节|方面|点|条|项)")
_FIRST_PARAGRAPH = re.compile(r"开头段|开头一段|开头部分|开头|首段|导语")
_SENTENCE_END = re.compile(r"[。；：！？]")
NAME_MIN_CHARS = 2   # a heading named in full (“存在问题”) or 4+ characters of a longer one


@dataclass(frozen=True)
class _Heading:
    line: int
    rank: int
    ordinal: int
    title: str        # heading text up to its first sentence end, without the marker


def _number(raw: str) -> int:
    return int(raw) if raw.isdigit() else (parse_chinese_numeral(raw) or 0)


def _headings(lines: list[str]) -> list[_Heading]:
    out = []
    for i, line in enumerate(lines):
        h = parse_heading(line)
        if h and h.rank <= 4:
            out.append(_Heading(i, h.rank, h.ordinal, _SENTENCE_END.split(h.rest, 1)[0].strip()))
    return out


def _block_end(lines: list[str], heads: list[_Heading], head: _Heading) -> int:
    """The line after a heading's block: the next heading of the same or a higher rank."""
    return next((h.line for h in heads if h.line > head.line and h.rank <= head.rank), len(lines))


def _within(heads: list[_Heading], start: int, end: int) -> list[_Heading]:
    return [h for h in heads if start <= h.line < end]


def _paragraphs(lines: list[str]) -> list[int]:
    """Indices of the non-empty lines that are body text (not the title)."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    if len(filled) > 1 and looks_like_title(lines[filled[0]].strip()):
        filled = filled[1:]
    return filled


def _parts(lines: list[str], heads: list[_Heading]) -> list[_Heading]:
    """The parts “第N部分” counts: the top rank, or the rank below it when the top has only
    one heading (a section draft: 一、主要工作及成效 with （一）（二）（三））."""
    scope_start, scope_end = 0, len(lines)
    level = _within(heads, scope_start, scope_end)
    while level:
        top = min(h.rank for h in level)
        tops = [h for h in level if h.rank == top]
        if len(tops) > 1:
            return tops
        inner = _within(heads, tops[0].line + 1, _block_end(lines, heads, tops[0]))
        if not inner:
            return tops
        level = inner
    return []


def _longest_common(a: str, b: str) -> int:
    best = 0
    for i in range(len(a)):
        for j in range(i + best + 1, len(a) + 1):
            if a[i:j] in b:
                best = j - i
            else:
                break
    return best


def revision_target(draft: str, instruction: str) -> tuple[int, int]:
    """(first line, line after the last) of `draft.split("\\n")` that `instruction` is about;
    (0, number of lines) when it names no part."""
    lines = draft.split("\n")
    whole = (0, len(lines))
    heads = _headings(lines)

    # 1. A marker quoted as written: （二）, 二、, 1., （1）
    for rank, pattern in _MARKERS:
        for m in pattern.finditer(instruction):
            n = _number(m.group(1))
            found = [h for h in heads if h.rank == rank and h.ordinal == n]
            if not found:
                continue
            if len(found) > 1:  # “第一部分的（二）”: the （二） inside the part named first
                outer = _ORDINAL_PART.search(instruction[:m.start()])
                parts = _parts(lines, heads)
                if outer and 1 <= _number(outer.group(1)) <= len(parts):
                    part = parts[_number(outer.group(1)) - 1]
                    inside = _within(found, part.line, _block_end(lines, heads, part))
                    found = inside or found
            return found[0].line, _block_end(lines, heads, found[0])

    # 2. 第N部分 / 第N点 …, counted over the parts of the draft
    m = _ORDINAL_PART.search(instruction)
    parts = _parts(lines, heads)
    if m and parts:
        n = _number(m.group(1))
        if 1 <= n <= len(parts):
            return parts[n - 1].line, _block_end(lines, heads, parts[n - 1])
    if _LAST_PART.search(instruction) and parts:
        return parts[-1].line, _block_end(lines, heads, parts[-1])

    # 3. paragraphs: 第N段, 最后一段, 开头
    paragraphs = _paragraphs(lines)
    m = _ORDINAL_PARAGRAPH.search(instruction)
    if m and paragraphs:
        n = _number(m.group(1))
        if 1 <= n <= len(paragraphs):
            return paragraphs[n - 1], paragraphs[n - 1] + 1
    if _LAST_PARAGRAPH.search(instruction) and paragraphs:
        return paragraphs[-1], paragraphs[-1] + 1
    if _FIRST_PARAGRAPH.search(instruction) and paragraphs:
        first = paragraphs[0]
        if not parse_heading(lines[first]):
            return first, first + 1

    # 4. a heading named by its words: “存在问题”, “免疫规划那部分”
    asked = "".join(re.findall(f"[{HAN}]+", instruction)).replace("的", "")
    best: tuple[int, int, _Heading] | None = None
    for h in heads:
        title = "".join(re.findall(f"[{HAN}]+", h.title)).replace("的", "")
        if not title:
            continue
        common = _longest_common(title, asked)
        if common >= min(4, len(title)) and common >= NAME_MIN_CHARS:
            key = (common, -h.rank)   # the longest match; a top heading over a sub-heading
            if best is None or key > best[:2]:
                best = (common, -h.rank, h)
    if best:
        return best[2].line, _block_end(lines, heads, best[2])
    return whole


def keep_other_parts(old: str, new: str, start: int, end: int) -> str:
    """`new` with every line outside old lines [start, end) put back as it was in `old`.

    The revision pipeline checks and repairs the whole draft after revising the part named, and a
    weaker target finder may send more than that part; a clerk who asked to change （二） expects
    （一） and （三） word for word. Lines are aligned with difflib: changes inside the range are
    kept, changes outside it are undone; a change that spans the edge is split line for line when
    it has as many lines on both sides, else keeps all its new lines in place of the range.
    """
    import difflib

    old_lines, new_lines = old.split("\n"), new.split("\n")
    if (start, end) == (0, len(old_lines)):
        return new
    target: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old_lines, new_lines,
                                                      autojunk=False).get_opcodes():
        lo, hi = max(i1, start), min(i2, end)
        if op == "equal":
            target += old_lines[lo:hi] if lo < hi else []
        elif op == "replace" and lo < hi and i2 - i1 == j2 - j1:  # line for line: pair them
            target += new_lines[j1 + lo - i1:j1 + hi - i1]
        elif lo < hi or (op == "insert" and start <= i1 <= end):
            target += new_lines[j1:j2]
    return "\n".join(old_lines[:start] + target + old_lines[end:])
