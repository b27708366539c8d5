"""A draft as blocks of spans with known origins, whatever happened to its text.

Drafting produces blocks (rag.compose). A text that comes back — a hand edit in the app, a draft
file given to repair — is read into blocks again here: every span that is word for word one of
the previous version's keeps that span's origin; text that is not is the user's own (origin
"user") when there is a previous version, and unknown model text ("model") when there is none.
Repair, revision and 补充材料 then change blocks, never raw lines, so a part can never be
duplicated or lost, and the user's words are known wherever they are.
"""
from __future__ import annotations

import re

from rag.compose import Block
from rag.guards import Sentence, drop_spans
from rag.headings import canonical_marker, parse_heading
from rag.text import nonspace_len, sentences_of

TITLE_MAX_CHARS = 40
_SENTENCE_END = re.compile(r"[。！？；]")


def parse_blocks(text: str, previous: list[Block] | None = None) -> list[Block]:
    """The blocks of a draft text: title, opening paragraphs, part headings (一、), sub-headed
    paragraphs (（一）heading。body) and paragraphs; spans aligned with `previous`."""
    lines = [l.strip() for l in text.replace("\r", "").split("\n") if l.strip()]
    old = previous or []
    blocks: list[Block] = []
    part_key, part_n, item_n, para_n = "", 0, 0, 0
    for i, line in enumerate(lines):
        h = parse_heading(line)
        if h and h.rank == 1:
            part_n += 1
            item_n = 0
            part_key = _key_like(old, "part", h.rest, f"part{part_n}")
            blocks.append(Block(part_key, "part", heading=h.rest.rstrip("。"), marker=canonical_marker(1, part_n)))
            continue
        if h and h.rank == 2:
            item_n += 1
            m = _SENTENCE_END.search(h.rest)
            heading, body = (h.rest[:m.start()], h.rest[m.end():]) if m else (h.rest, "")
            key = f"{part_key or 'body'}/{item_n}"
            blocks.append(Block(key, "item", heading=heading, marker=canonical_marker(2, item_n),
                                sentences=_aligned(body, old, key)))
            continue
        if i == 0 and not h and nonspace_len(line) <= TITLE_MAX_CHARS and not _SENTENCE_END.search(line[-1:]):
            blocks.append(Block("title", "title", sentences=[_span_like(line, old, "title") or Sentence(line, "phrase")]))
            continue
        para_n += 1
        kind = "opening" if not part_key else "paragraph"
        key = "opening" if kind == "opening" and para_n == 1 else (
            f"{part_key}/p" if part_key and not any(b.key == f"{part_key}/p" for b in blocks) else f"p{para_n}")
        blocks.append(Block(key, kind, sentences=_aligned(line, old, key)))
    return blocks


def _key_like(old: list[Block], kind: str, heading: str, default: str) -> str:
    title = heading.rstrip("。")
    return next((b.key for b in old if b.kind == kind and b.heading == title), default)


def _span_like(text: str, old: list[Block], key: str) -> Sentence | None:
    for b in old:
        for s in b.sentences:
            if s.text == text:
                return Sentence(s.text, s.origin, list(s.fact_ids), s.confirmed)
    return None


def _aligned(body: str, old: list[Block], key: str) -> list[Sentence]:
    """The spans of a body: the longest previous span that the text continues with keeps its
    origin; a stretch that matches none is new text, cut into sentences."""
    known = sorted({s.text: s for b in old for s in b.sentences if s.text}.values(), key=lambda s: -len(s.text))
    out: list[Sentence] = []
    pending = ""
    pos = 0
    while pos < len(body):
        hit = next((s for s in known if body.startswith(s.text, pos)), None)
        if hit is None:
            pending += body[pos]
            pos += 1
            continue
        out += _new_spans(pending, bool(old))
        pending = ""
        out.append(Sentence(hit.text, hit.origin, list(hit.fact_ids), hit.confirmed))
        pos += len(hit.text)
    out += _new_spans(pending, bool(old))
    return out


def _new_spans(text: str, edited: bool) -> list[Sentence]:
    """Text no previous span holds: the user's own words in an edited version, else model text of
    unknown provenance."""
    if not text:
        return []
    origin = "user" if edited else "model"
    return [Sentence(s, origin) for s in sentences_of(text) if s]


def elaboration(blocks: list[Block], *, confirmed: bool | None = None) -> list[Sentence]:
    spans = [s for b in blocks for s in b.sentences if s.origin == "elaboration"]
    return spans if confirmed is None else [s for s in spans if s.confirmed == confirmed]


def elaboration_texts(blocks: list[Block]) -> tuple[str, ...]:
    """The stretches of elaboration still to confirm, as an export highlights them."""
    return tuple(s.text for s in elaboration(blocks, confirmed=False))


def confirm_elaboration(blocks: list[Block], texts: list[str] | None = None) -> int:
    """Mark elaboration as confirmed by the user (all of it, or the stretches given); how many."""
    n = 0
    for s in elaboration(blocks, confirmed=False):
        if texts is None or s.text in texts:
            s.confirmed, n = True, n + 1
    return n


def drop_elaboration(blocks: list[Block], texts: list[str] | None = None) -> int:
    """Remove unconfirmed elaboration (all of it, or the stretches given), each sentence still
    ending on its own mark; how many went."""
    n = 0
    for b in blocks:
        before = len(b.sentences)
        b.sentences = drop_spans(b.sentences, lambda s: s.origin == "elaboration" and not s.confirmed
                                 and (texts is None or s.text in texts))
        n += before - len(b.sentences)
    return n
