"""PUNC-01..04: full-width punctuation, pairing, stray spaces, one notation."""
from __future__ import annotations

import re
from collections.abc import Iterator

from rag.textnorm import HAN

from evals.context import CheckContext
from evals.registry import GBT_PUNCT, GBT_9704, Finding, rule

HALFWIDTH_RE = re.compile(rf"(?<=[{HAN}“”、，。])[,;:!?()]|[,;:!?()](?=[{HAN}“”])")
_CN_PUNCT = "，。；：、“”（）《》！？"
STRAY_SPACE_RE = re.compile(rf"(?<=[{HAN}{_CN_PUNCT}])[ \u3000\t]+(?=[{HAN}{_CN_PUNCT}])")
TRAILING_WS_RE = re.compile(r"[ \t\u3000]+$")
DOUBLED_MARK_RE = re.compile(r"[，。；：、]{2,}")
AREA_NOTATIONS = ("㎡", "平方米", "m2", "m²")


@rule("PUNC-01", "major", "中文语句中用了半角标点，应使用全角标点", source=GBT_PUNCT)
def fullwidth_punctuation(ctx: CheckContext) -> Iterator[Finding]:
    for m in HALFWIDTH_RE.finditer(ctx.draft.text):
        yield Finding(m.start(), m.end(), ctx.excerpt(m.start(), m.end()), detail=f"半角“{m.group(0)}”")


@rule("PUNC-02", "minor", "引号、书名号或括号不成对或方向错误", source=GBT_PUNCT)
def paired_marks(ctx: CheckContext) -> Iterator[Finding]:
    for ln in ctx.draft.lines:
        text = ln.text
        depth = 0
        for i, ch in enumerate(text):
            if ch == "“":
                depth += 1
            elif ch == "”":
                depth -= 1
                if depth < 0:
                    s = ln.start + i
                    yield Finding(s, s + 1, ctx.excerpt(s, s + 1), detail="右引号出现在左引号之前")
                    break
        else:
            if depth:
                yield Finding(ln.start, ln.end, text.strip()[:30], detail="引号不成对")
        for left, right, name in (("《", "》", "书名号"), ("（", "）", "括号")):
            if text.count(left) != text.count(right):
                yield Finding(ln.start, ln.end, text.strip()[:30], detail=f"{name}不成对")
        i = text.find('"')
        if i >= 0:
            s = ln.start + i
            yield Finding(s, s + 1, ctx.excerpt(s, s + 1), detail="用了半角双引号")


@rule("PUNC-03", "minor", "多余的空格或重复的标点", source=GBT_PUNCT)
def stray_spaces(ctx: CheckContext) -> Iterator[Finding]:
    for ln in ctx.draft.lines:
        for pattern, what in ((STRAY_SPACE_RE, "多余空格"), (TRAILING_WS_RE, "行尾空白"),
                              (DOUBLED_MARK_RE, "重复标点")):
            for m in pattern.finditer(ln.text):
                s, e = ln.start + m.start(), ln.start + m.end()
                yield Finding(s, e, ctx.excerpt(s, e), detail=what)


@rule("PUNC-04", "minor", "同一符号前后写法不一致（%与％、㎡与平方米）", source=GBT_9704)
def one_notation(ctx: CheckContext) -> Iterator[Finding]:
    text = ctx.draft.text
    if "%" in text and "％" in text:
        i = max(text.find("%"), text.find("％"))
        yield Finding(i, i + 1, ctx.excerpt(i, i + 1), detail="“%”与“％”混用")
    areas = [n for n in AREA_NOTATIONS if n in text]
    if len(areas) > 1:
        i = text.find(areas[1])
        yield Finding(i, i + len(areas[1]), ctx.excerpt(i, i + len(areas[1])),
                      detail=f"面积单位混用：{'、'.join(areas)}")
