"""A draft parsed once for all rules: lines, headings (§0 ranks), title, normalized views."""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from functools import cached_property

from rag.headings import parse_heading
from rag.text import extract_numbers_mapped, nonspace_len, NumberToken

from rag.textnorm import MappedText, compare_form, copy_form, simplified_aligned

_HEADING_TITLE_END = re.compile(r"[。；！？!?]")
TITLE_MAX_CHARS = 40


@dataclass(frozen=True)
class Line:
    index: int
    start: int      # offset of the first character in the draft
    end: int        # offset after the last character (newline and a trailing \r excluded)
    text: str

    @property
    def stripped(self) -> str:
        return self.text.strip()

    @property
    def body(self) -> tuple[str, int]:
        """The stripped line and the draft offset where it starts (for per-line regex rules)."""
        body = self.text.strip()
        return body, (self.start + self.text.index(body) if body else self.start)


@dataclass(frozen=True)
class Heading:
    line: Line
    rank: int
    canonical: bool
    ordinal: int
    marker_start: int   # draft offsets of the numbering marker
    marker_end: int
    text: str           # the line after the marker

    @property
    def title(self) -> str:
        """The heading proper: text up to the first sentence end (inline headings run on)."""
        m = _HEADING_TITLE_END.search(self.text)
        return self.text[: m.start()] if m else self.text

    @property
    def marker(self) -> str:
        return self.line.text[self.marker_start - self.line.start: self.marker_end - self.line.start]


def match_heading(line: Line) -> Heading | None:
    h = parse_heading(line.text)
    if h is None:
        return None
    return Heading(line, h.rank, h.canonical, h.ordinal, line.start + h.indent, line.start + h.end, h.rest)




class Draft:
    """The raw draft plus views computed on first use (each rule pays only for what it reads)."""

    def __init__(self, text: str):
        self.text = text

    @cached_property
    def lines(self) -> list[Line]:
        out, pos = [], 0
        for i, raw in enumerate(self.text.split("\n")):
            body = raw[:-1] if raw.endswith("\r") else raw
            out.append(Line(i, pos, pos + len(body), body))
            pos += len(raw) + 1
        return out

    @cached_property
    def nonempty_lines(self) -> list[Line]:
        return [ln for ln in self.lines if ln.stripped]

    @cached_property
    def headings(self) -> list[Heading]:
        return [h for h in (match_heading(ln) for ln in self.lines) if h]

    @cached_property
    def heading_by_line(self) -> dict[int, Heading]:
        return {h.line.index: h for h in self.headings}

    @cached_property
    def title_line(self) -> Line | None:
        """A first line of ≤ 40 chars, not a heading, not ending in 。 or a colon (a salutation)."""
        if not self.nonempty_lines:
            return None
        first = self.nonempty_lines[0]
        s = first.stripped
        if (first.index in self.heading_by_line or nonspace_len(s) > TITLE_MAX_CHARS
                or s.endswith(("。", "：", ":"))):
            return None
        return first

    @cached_property
    def body_lines(self) -> list[Line]:
        """Non-empty lines that are neither the title nor headings."""
        title = self.title_line.index if self.title_line else -1
        return [ln for ln in self.nonempty_lines
                if ln.index != title and ln.index not in self.heading_by_line]

    @cached_property
    def simplified(self) -> str:
        return simplified_aligned(self.text)

    @cached_property
    def compare(self) -> MappedText:
        """S(draft) with offsets back into the raw draft."""
        return compare_form(self.text, self.simplified)

    @cached_property
    def copy(self) -> MappedText:
        return copy_form(self.text, self.simplified)

    @cached_property
    def numbers(self) -> list[NumberToken]:
        """Number tokens of S(draft), heading markers removed (offsets into the raw draft)."""
        # markers sorted by start, looked up by bisection: linear in the draft, not quadratic
        markers = sorted((h.marker_start, h.marker_end) for h in self.headings)
        starts = [s for s, _e in markers]

        def in_marker(pos: int) -> bool:
            i = bisect.bisect_right(starts, pos) - 1
            return i >= 0 and markers[i][0] <= pos < markers[i][1]
        return [t for t in extract_numbers_mapped(self.compare, self.text) if not in_marker(t.start)]

    @cached_property
    def _line_ends(self) -> list[int]:
        return [ln.end for ln in self.lines]

    def line_at(self, offset: int) -> Line:
        i = bisect.bisect_left(self._line_ends, offset)
        return self.lines[min(i, len(self.lines) - 1)]

    def excerpt(self, start: int, end: int, context: int = 8) -> str:
        """The text at [start, end) with a little context from the same line."""
        ln = self.line_at(start)
        s = max(ln.start, start - context)
        e = min(max(ln.end, end), end + context)
        return self.text[s:e].strip()
