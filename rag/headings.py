"""Heading markers: the one place that knows 一、（一）1.（1）① and their common variants.

Ranks and canonical forms follow GB/T 9704-2012 §7.3.3 (一、 → （一） → 1. → （1））.
Variants seen in the seeds and in model output (`(一)`, `1、`, `第一、`, `一.`, `01.`) are
recognised with their rank so the cleaner and post-processor can rewrite them and the
evaluator can flag them (STR-03).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from rag.textnorm import chinese_numeral, parse_chinese_numeral

CN_NUM = "一二三四五六七八九十"
# “一是……二是……”: the items of an enumeration inside a paragraph.
ENUM_ITEM_RE = re.compile(rf"(?:^|(?<=[。；：，\s]))([{CN_NUM}]+)是(?!否)", re.M)

# (rank, canonical, pattern) in match order; group 1 is the ordinal. "0\d." is tried before the
# canonical "\d{1,2}." so that "01." is reported as a variant.
_FORMS: tuple[tuple[int, bool, re.Pattern[str]], ...] = tuple(
    (rank, canonical, re.compile(p)) for rank, canonical, p in (
        (1, True, rf"([{CN_NUM}]+)、"),
        (1, False, rf"第([{CN_NUM}]+)、"),
        (1, False, rf"([{CN_NUM}]+)[.．](?![\d０-９])"),
        (2, True, rf"（([{CN_NUM}]+)）"),
        (2, False, rf"\(([{CN_NUM}]+)\)"),
        (3, False, r"(0\d)[.．](?![\d０-９])"),
        (3, True, r"(\d{1,2})[.．](?![\d０-９])"),
        (3, False, r"(\d{1,2})、"),
        (4, True, r"（(\d{1,2})）"),
        (4, False, r"\((\d{1,2})\)"),
        (5, True, r"([①-⑩])"),
    )
)


@dataclass(frozen=True)
class HeadingMarker:
    rank: int          # 1 一、 · 2 （一） · 3 1. · 4 （1） · 5 ①
    canonical: bool
    ordinal: int       # 0 when the numeral cannot be read (e.g. "十十、")
    indent: int        # leading whitespace before the marker
    end: int           # offset after the marker, from the start of the line
    rest: str          # the line after the marker, stripped


def _ordinal(numeral: str) -> int:
    if "①" <= numeral <= "⑩":
        return ord(numeral) - ord("①") + 1
    if numeral.isdigit():
        return int(numeral)
    return parse_chinese_numeral(numeral) or 0


def parse_heading(line: str) -> HeadingMarker | None:
    """The heading marker that starts `line` (after leading whitespace), or None."""
    body = line.lstrip()
    indent = len(line) - len(body)
    for rank, canonical, pattern in _FORMS:
        m = pattern.match(body)
        if m:
            return HeadingMarker(rank, canonical, _ordinal(m.group(1)), indent, indent + m.end(),
                                 body[m.end():].strip())
    return None


def canonical_marker(rank: int, n: int) -> str:
    """The GB/T 9704 marker for the n-th heading of a rank: 一、 （一） 1. （1）."""
    return {1: f"{chinese_numeral(n)}、", 2: f"（{chinese_numeral(n)}）", 3: f"{n}.",
            4: f"（{n}）"}[rank]
