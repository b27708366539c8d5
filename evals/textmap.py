"""Normalized views of a text that remember where each character came from.

The rules compare facts and corpus text on normalized forms (S(x) and the COPY-01 form of
rag.textnorm) but must report offsets into the raw draft, so these builders produce the
same strings as rag.textnorm together with an origin index per character.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from rag.textnorm import HAN, to_simplified

_FULLWIDTH = str.maketrans("０１２３４５６７８９．％", "0123456789.%")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_COPY_KEEP_RUN = re.compile(f"[{HAN}0-9A-Za-z]+")


@dataclass(frozen=True)
class MappedText:
    """`text` derived from a source string; `origin[i]` is the source index of `text[i]`."""
    text: str
    origin: tuple[int, ...]
    source_len: int

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a half-open span of `text` to the source."""
        if start >= len(self.text):
            return self.source_len, self.source_len
        if end <= start:
            return self.origin[start], self.origin[start]
        return self.origin[start], self.origin[end - 1] + 1


def simplified_aligned(text: str) -> str:
    """t2s with one output character per input character.

    OpenCC phrase conversions almost never change length; when they do, fall back to
    converting character by character so positions stay aligned.
    """
    converted = to_simplified(text)
    if len(converted) == len(text):
        return converted
    out = []
    for ch in text:
        c = to_simplified(ch)
        out.append(c if len(c) == 1 else ch)
    return "".join(out)


def compare_form(text: str, simplified: str | None = None) -> MappedText:
    """S(x) of eval-rules.md §0 with offsets (same string as rag.textnorm.normalize_for_compare)."""
    s = (simplified if simplified is not None else simplified_aligned(text)).translate(_FULLWIDTH)
    drop = {m.start() for m in _THOUSANDS.finditer(s)}
    if not drop:
        return MappedText(s, tuple(range(len(s))), len(text))
    keep = [i for i in range(len(s)) if i not in drop]
    return MappedText("".join(s[i] for i in keep), tuple(keep), len(text))


def copy_form(text: str, simplified: str | None = None) -> MappedText:
    """COPY-01 form (only Han, digits, Latin) with offsets; equals rag.textnorm.normalize_for_copy."""
    s = (simplified if simplified is not None else simplified_aligned(text)).translate(_FULLWIDTH)
    runs = [m.span() for m in _COPY_KEEP_RUN.finditer(s)]
    origin = tuple(i for a, b in runs for i in range(a, b))
    return MappedText("".join(s[a:b] for a, b in runs), origin, len(text))

