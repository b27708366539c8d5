"""Articles → sections (by headings) → chunks on Chinese sentence boundaries, with a role each.

Like Langchain-Chatchat's ChineseRecursiveTextSplitter: paragraphs first, then sentences
(。！？；), then clauses (，), and only as a last resort a hard cut; chunks aim at 150–350 chars.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from rag.clean import heading_level, with_placeholder_flag
from rag.headings import parse_heading
from rag.schema import Article, Chunk

CHUNK_MAX = 350
CHUNK_MIN = 150
NUMBER_MASK = "〔数〕"

_CLOSING = re.compile(r"^(?:总之|综上|最后|回顾|各位领导|所有这些|下一步|今后)|取得了(?:一定|一些)的?(?:成绩|成效)[^。]{0,20}但|"
                      r"新局面|新的更大的贡献")
_PROBLEM_LIST = re.compile(r"(?:存在|不容忽视)[^。]{0,20}问题[^。]*。?[^。]*一是")
_ROLE_BY_HEADING: list[tuple[re.Pattern, str]] = [
    (re.compile(r"存在|问题|不足|差距|困难"), "存在问题"),
    (re.compile(r"保障措施|保障机制|组织保障"), "保障措施"),
    (re.compile(r"下一步|打算|思路|谋划|计划|今后|明年|下半年|要点"), "下一步打算"),
    (re.compile(r"做法|经验"), "做法"),
    (re.compile(r"基本情况"), "开头"),
]
# Result wording in a heading ("…取得新进展", "…有序开展"); verbs such as 加强 also open 做法 headings.
_RESULT_WORDS = re.compile(r"成效|进展|明显|显著|不断|日臻|取得|有序|持续")
_NEXT_STEP = re.compile(r"^(?:下一步|今后)")
_SENTENCE_END = re.compile(r"[。！？；]+[”’）」』]*\n?|\n")


@dataclass
class Section:
    path: list[str]
    lines: list[str]
    role: str = ""
    merged_siblings: bool = False

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def heading_label(line: str) -> str:
    """The heading part of a heading line: up to its first full stop, at most 40 chars."""
    head = line.split("。", 1)[0]
    return head if len(head) <= 40 else head[:40] + "…"


def _section_levels(lines: list[str]) -> set[int]:
    """一、 and （一） open sections; 1. and （1） items stay inside them, unless the article
    has no higher level (a list of numbered items is then its structure)."""
    levels = {lvl for line in lines if (lvl := heading_level(line)) and _is_heading(line)}
    return (levels & {1, 2}) or set(sorted(levels)[:1])


def _is_heading(line: str) -> bool:
    # A numbered paragraph of several sentences ("1.全面实施…，…。") is a list item, not a heading,
    # unless its first sentence is short enough to be a title.
    return heading_level(line) is not None and len(line.split("。", 1)[0]) <= 40


def split_sections(article: Article) -> list[Section]:
    lines = [x for x in article.text.split("\n") if x.strip()]
    levels = _section_levels(lines)
    sections: list[Section] = [Section([], [])]
    stack: list[tuple[int, str]] = []
    for line in lines:
        lvl = heading_level(line) if _is_heading(line) else None
        if lvl in levels:
            stack = [(l, s) for l, s in stack if l < lvl] + [(lvl, heading_label(line))]
            sections.append(Section([s for _, s in stack], [line]))
        else:
            sections[-1].lines.append(line)

    # A closing paragraph at the very end belongs to no numbered section.
    last = sections[-1]
    if len(sections) > 1 and len(last.lines) > 1 and _CLOSING.search(last.lines[-1]):
        closing = last.lines.pop()
        sections.append(Section([], [closing], role="下一步打算" if _NEXT_STEP.match(closing) else "结尾"))

    sections = [sec for sec in sections if sec.lines]
    merged: list[Section] = []
    carry: list[str] = []
    for i, sec in enumerate(sections):
        nxt = sections[i + 1] if i + 1 < len(sections) else None
        if (nxt and sec.path and len(sec.lines) == 1
                and len(nxt.path) > len(sec.path) and nxt.path[:len(sec.path)] == sec.path):
            carry.append(sec.lines[0])  # a parent heading with no text before its first child
            continue
        sec.lines = carry + sec.lines
        carry = []
        prev = merged[-1] if merged else None
        # Short sibling items ("（1）…（4）", "21.…") share one section under their parent.
        if (prev and len(sec.path) > 1 and len(prev.path) == len(sec.path)
                and prev.path[:-1] == sec.path[:-1] and not sec.role and not prev.role
                and min(len(prev.text), len(sec.text)) < CHUNK_MIN
                and len(prev.text) + len(sec.text) <= CHUNK_MAX):
            prev.lines += sec.lines
            prev.merged_siblings = True
            continue
        merged.append(sec)
    for sec in merged:
        if sec.merged_siblings:
            sec.path = sec.path[:-1]
    for i, sec in enumerate(merged):
        sec.role = sec.role or _role(sec, article.genre, first=i == 0)
        if sec.role == "结尾" and _PROBLEM_LIST.search(sec.text):
            sec.role = "存在问题"
    return merged


def _role(sec: Section, genre: str, first: bool) -> str:
    if not sec.path:
        return "开头" if first else "结尾"
    top = re.sub(r"^\S*?[、）)．.]", "", sec.path[0], count=1)
    for rx, role in _ROLE_BY_HEADING:
        if rx.search(top):
            if role == "下一步打算" and genre == "工作计划":
                return "目标任务"
            return role
    if genre == "工作计划":
        return "目标任务"
    if genre == "经验交流材料":
        return "做法"
    if genre in ("工作汇报", "述职报告") and not _RESULT_WORDS.search(sec.path[-1]):
        return "做法"
    return "主要工作及成效"


def _sentences(text: str) -> list[str]:
    out, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        out.append(text[start:m.end()])
        start = m.end()
    if start < len(text):
        out.append(text[start:])
    return [s for s in out if s.strip()]


def _pieces(sentence: str) -> list[str]:
    """A sentence longer than CHUNK_MAX, cut after commas, then hard."""
    if len(sentence) <= CHUNK_MAX:
        return [sentence]
    parts, cur = [], ""
    for clause in re.findall(r"[^，、]*[，、]?", sentence):
        if cur and len(cur) + len(clause) > CHUNK_MAX:
            parts.append(cur)
            cur = ""
        cur += clause
    if cur:
        parts.append(cur)
    return [p[i:i + CHUNK_MAX] for p in parts for i in range(0, len(p), CHUNK_MAX)]


def split_text(text: str) -> list[str]:
    chunks: list[str] = []
    cur = ""
    for sentence in _sentences(text):
        for piece in _pieces(sentence):
            if cur.strip() and len(cur.rstrip()) + len(piece.rstrip()) > CHUNK_MAX:
                chunks.append(cur.strip())
                cur = ""
            cur += piece
    if cur.strip():
        chunks.append(cur.strip())
    # A short tail goes back to its predecessor when the two still fit loosely.
    if len(chunks) > 1 and len(chunks[-1]) < CHUNK_MIN and len(chunks[-2]) + len(chunks[-1]) <= CHUNK_MAX + CHUNK_MIN:
        tail = chunks.pop()
        chunks[-1] = chunks[-1] + ("\n" if not re.search(r"[。！？；]$", chunks[-1]) else "") + tail
    return chunks


def mask_numbers(text: str) -> str:
    """Numbers of an article whose figures are unreliable → 〔数〕 (heading markers kept)."""
    out = []
    for line in text.split("\n"):
        h = parse_heading(line)
        head, rest = (line[:h.end], line[h.end:]) if h else ("", line)
        out.append(head + re.sub(r"(?<![\d.])\d+(?:\.\d+)?", NUMBER_MASK, rest))
    return "\n".join(out)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def chunk_article(article: Article) -> list[Chunk]:
    chunks: list[Chunk] = []
    unreliable = "numbers_unreliable" in article.flags
    for sec in split_sections(article):
        for piece in split_text(sec.text):
            text = mask_numbers(piece) if unreliable else piece
            flags = with_placeholder_flag(article.flags, text)
            chunks.append(Chunk(
                id=f"{article.id}/{len(chunks) + 1}", article_id=article.id, text=text,
                title=article.title, section="/".join(sec.path), role=sec.role, genre=article.genre,
                topic=article.topic, level=article.level, year=article.year, source=article.source,
                content_hash=content_hash(text), flags=flags))
    return chunks
