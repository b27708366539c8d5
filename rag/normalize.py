"""Requests as people type them, normalised once where they enter: the CLI (`rag draft`), the
checker (`evals check`), the Python API (parse_request) and the app.

Traditional script becomes simplified; pasted numbering (1. 1、 ① （1） 一、 • -) and Excel
header rows and serial columns go; tab-separated cells become one sentence (rows under a header
row, “名称：项目数值”); full-width digits and ASCII punctuation are normalised; empty and repeated
facts are dropped; a pasted paragraph is split into facts at 。；. Nothing the user typed is lost
silently: every change is named in a Chinese notice, and a fact too long to use as is (a pasted
台账) gets a warning.

Fact analysis (rag.factsheet) then reads each fact with split_fact and strip_fact_label: a record
becomes one fact per sentence or run of clauses, each keeping its month or place, and labels and
numbering are removed from the text that is drafted.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.facts import OVERLONG_FACT_CHARS, cue_re
from rag.text import extract_numbers, is_year_token
from rag.errors import RequestError
from rag.headings import parse_heading
from rag.postprocess import normalize_characters
from rag.prompting import (canonical_genre, fact_labels, genre_sections, section_name,
                           section_part_keys)
from rag.schema import GENRES, DraftRequest
from rag.textnorm import HAN, normalize_for_compare, to_simplified

REQUEST_TRADITIONAL_NOTICE = "请求为繁体字，已转换为简体起草。"
FACTS_TRADITIONAL_NOTICE = "事实为繁体字，已转换为简体。"

# Full-width letters, digits and the signs inside numbers (．％＋－／); full-width Chinese
# punctuation (，。：；（）) stays.
_HALF_WIDTH = str.maketrans(
    "０１２３４５６７８９ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ"
    "ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ．％＋－／",
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.%+-/")

# List markers that are not heading markers (rag.headings knows those): bullets, 1) 1）,
# ⑴ ⒈ ❶ ㈠ ⑪, and 第一，.
_BULLET = re.compile(r"^(?:[•·●○■□◆◇▪▫►▶✓✔√*>–—]+|[-+](?!\d))\s*")
_LIST_MARK = re.compile(r"^(?:\d{1,2}[)）]|[⑴-⒇⒈-⒛❶-❿➀-➉㈠-㈩⑪-⑳]|第[一二三四五六七八九十]{1,3}[，,：:])\s*")
_CN_NUMERAL = "一二三四五六七八九十"
_YEAR_START = re.compile(r"(?:19|20)\d\d年")
_TRAILING_SEPARATORS = "；;，,、 \u3000"

# Column words of a spreadsheet's header row (序号，工作内容，完成情况，备注).
_HEADER_CELL = re.compile(
    r"^(?:序号|编号|序|备注|说明|类别|类型|名称|单位|数量|数值|金额|日期|时间|时限|年份|地点|事项"
    r"|(?:工作|项目|任务|指标|考核|具体|主要)?(?:内容|任务|事项|名称|措施|指标|项目)"
    r"|(?:完成|进展|落实|工作|实施|推进|开展|整改|办理)(?:情况|进度|时限|时间|率|值)"
    r"|(?:目标|计划|实际|完成|上年|本年|同比)(?:值|数|数值|任务)?"
    r"|(?:责任|牵头|配合|主管)(?:单位|部门|科室|人)|责任人|负责人|成效|取得成效|存在问题|完成率|增幅)$")
_HEADER_SPLIT = re.compile(r"[\t,，、;；|]")
_SERIAL_CELL = re.compile(r"^(?:\d{1,3}|[（(]\d{1,3}[)）]|\d{1,3}[.．、])$")
# Sentence ends for splitting a pasted paragraph; none inside quotes or brackets.
_SENTENCE_END = "。；;！？!?"
_OPENERS, _CLOSERS = "“《（(「『【", "”》）)」』】"


@dataclass(frozen=True)
class NormalizedFact:
    """One fact as typed and as it will be drafted, with what was changed (Chinese)."""
    line: int                      # 1-based position in what the user gave
    original: str
    text: str
    changes: tuple[str, ...] = ()


@dataclass(frozen=True)
class OverlongFact:
    """A fact longer than OVERLONG_FACT_CHARS: a pasted record, drafted as the facts it holds."""
    line: int
    chars: int
    text: str

    @property
    def message(self) -> str:
        return f"第{self.line}条事实有{self.chars:,}字，是一份台账或成段材料，起草时按句拆成多条事实（各自保留所在的月份、地点）。"


@dataclass
class NormalizedFacts:
    facts: list[NormalizedFact] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)        # overlong warnings included
    overlong: list[OverlongFact] = field(default_factory=list)

    @property
    def texts(self) -> list[str]:
        return [f.text for f in self.facts]


@dataclass
class NormalizedRequest:
    """A request ready to draft, with the notices to show the user (overlong warnings included)."""
    request: DraftRequest
    notices: list[str] = field(default_factory=list)
    facts: list[NormalizedFact] = field(default_factory=list)
    overlong: list[OverlongFact] = field(default_factory=list)


# --- one fact -------------------------------------------------------------------------------------

def is_header_row(line: str) -> bool:
    """A spreadsheet header row: two or more cells, every one a generic column word."""
    cells = [c.strip() for c in _HEADER_SPLIT.split(to_simplified(line)) if c.strip()]
    return len(cells) >= 2 and all(_HEADER_CELL.match(c) for c in cells)


def strip_list_marker(text: str) -> tuple[str, str]:
    """(text without its leading numbering or bullet, the marker removed or "").

    A number that starts the fact itself stays: “12家医院”, “2024年”, “1.5万人”, and “1、2号楼”
    or “一、二级医院”, where the 、 joins two numbers."""
    body = text.lstrip(" \u3000")
    m = _BULLET.match(body) or _LIST_MARK.match(body)
    if m and body[m.end():].strip():
        return body[m.end():].lstrip(" \u3000"), m.group(0).strip()
    h = parse_heading(body)
    if h is None or not h.rest:
        return text, ""
    marker = body[:h.end - h.indent].strip()
    joins_numbers = marker.endswith("、") and (
        (marker[0].isdigit() and h.rest[0].isdigit() and not _YEAR_START.match(h.rest))
        or (marker[0] in _CN_NUMERAL and h.rest[0] in _CN_NUMERAL))
    return (text, "") if joins_numbers else (h.rest, marker)


@dataclass(frozen=True)
class _Cleaned:
    text: str
    changes: tuple[str, ...]
    header: bool = False
    traditional: bool = False


def _clean_line(raw: str) -> _Cleaned:
    changes: list[str] = []
    text = to_simplified(raw)
    traditional = text != raw
    if traditional:
        changes.append("繁体改为简体")
    half = text.translate(_HALF_WIDTH)
    if half != text:
        changes.append("全角数字、字母改为半角")
        text = half
    if "\n" in text and "\t" in text:
        text, tabled = _read_table(text)
        if tabled:
            changes.append("表格各行按表头写成“名称：项目数值”")
    first, nl, rest = text.partition("\n")
    if is_header_row(first) and not rest.strip():
        return _Cleaned("", tuple(changes), header=True, traditional=traditional)
    if "\t" in first:
        cells = [c.strip(" \u3000" + _TRAILING_SEPARATORS + "。") for c in first.split("\t")]
        cells = [c for c in cells if c]
        if len(cells) > 1 and _SERIAL_CELL.match(cells[0]):
            cells = cells[1:]
            changes.append("去掉序号列")
        if len(cells) > 1:
            changes.append("表格各列用“，”合并为一句")
        first = "，".join(cells)
        text = first + nl + rest
    for _ in range(2):      # “• 1. …”: a bullet before a number
        stripped, marker = strip_list_marker(text)
        if not marker:
            break
        changes.append(f"去掉编号“{marker}”")
        text = stripped
    tidy = normalize_characters(text).strip().rstrip(_TRAILING_SEPARATORS)
    if tidy != text.strip():
        changes.append("标点、空格改为中文公文写法")
    return _Cleaned(tidy, tuple(changes), traditional=traditional)


# --- a list of facts ------------------------------------------------------------------------------

def _has_content(text: str) -> bool:
    """Something to draft from: a lone “1.” or “•” left over from a list is not."""
    return bool(re.search(r"[\u4e00-\u9fffA-Za-z]", text)) or len(text) > 4


def _numbers(lines: list[int], noun: str) -> str:
    shown = "、".join(str(n) for n in lines[:8])
    return f"第{shown}{noun}" + ("等" if len(lines) > 8 else "")


def split_outside_brackets(text: str, ends: str) -> list[str]:
    """Pieces of `text`, each ending with one of `ends` (kept) that is outside quotes and
    brackets; the last piece may have no end."""
    pieces, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in _OPENERS:
            depth += 1
        elif ch in _CLOSERS:
            depth = max(0, depth - 1)
        elif ch in ends and depth == 0:
            pieces.append(text[start:i + 1])
            start = i + 1
    pieces.append(text[start:])
    return [p for p in pieces if p.strip()]


def _split_sentences(text: str) -> list[str]:
    """Sentences of a paragraph, ended by 。；！？ outside quotes and brackets, without their ends."""
    stripped = (p.strip(" \u3000" + _SENTENCE_END) for p in split_outside_brackets(text, _SENTENCE_END))
    return [p for p in stripped if p]


def split_pasted_facts(text: str) -> list[str]:
    """Pasted text → one fact per line, a line of several sentences split at 。；. A labelled
    line (“存在问题：…。…”, “2月：…。…”, “白沙镇：…。…”) stays one fact with its pieces joined by ；,
    so that fact analysis (split_fact) gives every piece its label; a line over
    OVERLONG_FACT_CHARS is a pasted record and stays whole."""
    facts: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        simple = to_simplified(line).strip()
        label = fact_label(simple)
        body = simple[label.end:] if label else simple
        pieces = _split_sentences(body) if len(simple) <= OVERLONG_FACT_CHARS and "\t" not in line else []
        if len(pieces) < 2:
            facts.append(line)
        elif label:
            facts.append(simple[:label.end] + "；".join(pieces))
        else:
            facts.extend(pieces)
    return facts


def normalize_facts(lines: str | Iterable[str]) -> NormalizedFacts:
    """Clean the facts one by one (see the module doc). A string is pasted text: one fact per
    line, a paragraph split into its sentences; a list is one fact per item."""
    pasted = isinstance(lines, str)
    noun = "行" if pasted else "条"
    raw_lines = lines.replace("\r\n", "\n").replace("\r", "\n").split("\n") if pasted else list(lines)
    out = NormalizedFacts()
    by_change: dict[str, list[int]] = {}
    empty: list[int] = []
    seen: dict[str, int] = {}
    traditional = False
    for n, raw in enumerate(raw_lines, 1):
        pieces = split_pasted_facts(raw) if pasted else [raw]
        if len(pieces) > 1:
            out.notices.append(f"第{n}{noun}有{len(pieces)}句，已拆成{len(pieces)}条事实。")
        for piece in pieces:
            c = _clean_line(piece)
            traditional |= c.traditional
            if c.header:
                out.notices.append(f"第{n}{noun}是表头（{'、'.join(_HEADER_SPLIT.split(to_simplified(piece).strip()))}），已忽略。")
                continue
            if not _has_content(c.text):
                if piece.strip() or not pasted:
                    empty.append(n)
                continue
            key = normalize_for_compare(c.text).rstrip("。")
            if key in seen:
                out.notices.append(f"第{n}{noun}与第{seen[key]}{noun}相同，已去掉重复的一条。")
                continue
            seen[key] = n
            for ch in c.changes:
                if ch != "繁体改为简体":
                    by_change.setdefault("去掉编号" if ch.startswith("去掉编号") else ch, []).append(n)
            out.facts.append(NormalizedFact(n, piece, c.text, c.changes))
            if len(c.text) > OVERLONG_FACT_CHARS:
                out.overlong.append(OverlongFact(n, len(c.text), c.text))
    if traditional:
        out.notices.insert(0, FACTS_TRADITIONAL_NOTICE)
    for change, where in by_change.items():
        example = next((ch for f in out.facts if f.line == where[0] for ch in f.changes
                        if ch.startswith(change)), change)
        out.notices.append(f"{_numbers(where, noun)}：{example}" + ("等" if len(where) > 1 and example != change else "") + "。")
    if empty:
        out.notices.append(f"{_numbers(empty, noun)}没有内容（空白或只有编号），已忽略。")
    out.notices += [o.message for o in out.overlong]
    return out


# --- the request ------------------------------------------------------------------------------------

def normalize_request(data: dict[str, Any] | DraftRequest, *,
                      allow_custom_section: bool = False) -> NormalizedRequest:
    """Normalise a request's fields and facts, then validate it (RequestError in Chinese).

    An unknown section is an error listing the genre's sections, unless allow_custom_section
    (the API and saved sessions): then it is drafted as the body part under its own name."""
    if isinstance(data, DraftRequest):
        data = data.to_dict()
    if not isinstance(data, dict):
        raise RequestError("请求必须是一个 JSON 对象。")
    data_in, data = data, dict(data)
    notices: list[str] = []
    traditional = False
    for name in ("genre", "section", "unit", "topic", "notes"):
        if isinstance(data.get(name), str):
            data[name] = to_simplified(data[name])
            traditional |= data[name] != data_in[name]
    if isinstance(data.get("unit"), str):
        data["unit"] = re.sub(r"\s+", "", data["unit"])
    if isinstance(data.get("genre"), str):
        typed = data["genre"].strip()
        genre = canonical_genre(typed)
        if genre is None:
            raise RequestError(f"未知文种“{typed}”，可选：{'、'.join(GENRES)}。")
        if genre != re.sub(r"\s+", "", typed):
            notices.append(f"文种“{typed}”按“{genre}”起草。")
        data["genre"] = genre
    if isinstance(data.get("section"), str) and data["section"].strip():
        typed = data["section"].strip()
        data["section"] = section_name(typed)
        if data["section"] != re.sub(r"\s+", "", typed):
            notices.append(f"起草部分“{typed}”按“{data['section']}”处理。")
    year = data.get("year")
    if isinstance(year, str):
        cleaned = re.sub(r"\s+|年度?$", "", year.translate(_HALF_WIDTH))
        if cleaned.isdigit():
            data["year"] = int(cleaned)
            if cleaned != year.strip():
                notices.append(f"年份“{year}”按{cleaned}年处理。")
    facts = data.get("facts")
    normalized = NormalizedFacts()
    if isinstance(facts, str) or (isinstance(facts, list) and all(isinstance(f, str) for f in facts)):
        # anything else is left for DraftRequest.validated to refuse
        normalized = normalize_facts(facts)
        data["facts"] = normalized.texts
        if isinstance(facts, str):
            notices.append(f"事实是一段文字，已按行和句号、分号拆成{len(normalized.facts)}条。")
    kf = data.get("key_figures")
    if isinstance(kf, list) and all(isinstance(x, str) for x in kf):
        simple = [to_simplified(x).translate(_HALF_WIDTH).strip() for x in kf]
        traditional |= any(to_simplified(x) != x for x in kf)
        data["key_figures"] = [x for x in simple if x]
    confirmed = data.get("confirmed_facts")
    if isinstance(confirmed, list) and all(isinstance(x, str) for x in confirmed):
        data["confirmed_facts"] = [t for t in (normalize_characters(to_simplified(x)).strip() for x in confirmed) if t]
    if FACTS_TRADITIONAL_NOTICE in normalized.notices:
        normalized.notices.remove(FACTS_TRADITIONAL_NOTICE)
        traditional = True
    if traditional:
        notices.insert(0, REQUEST_TRADITIONAL_NOTICE)
    request = DraftRequest.validated(data)
    if section_part_keys(request.genre, request.section) is None:
        valid = "、".join(genre_sections(request.genre))
        if not allow_custom_section:
            raise RequestError(f"{request.genre}没有“{request.section}”这一部分，可选：{valid}。")
        notices.append(f"“{request.section}”不是{request.genre}的固定部分（{valid}），"
                       f"将按正文写法起草，标题为“{request.section}”。")
    return NormalizedRequest(request, notices + normalized.notices, normalized.facts, normalized.overlong)


def parse_request(data: dict[str, Any]) -> DraftRequest:
    """A request from its fields as typed (the Python API, the app): normalised (traditional
    script, pasted numbering, header rows …), RequestError in Chinese on bad input. A section the
    genre does not define is drafted as its body part under that name."""
    return normalize_request(data, allow_custom_section=True).request


def load_request(path: str | Path) -> NormalizedRequest:
    """A request JSON file, normalised and validated (unknown sections are an error)."""
    return normalize_request(DraftRequest.read_json(path))


# --- labels and records: one fact per piece -------------------------------------------------------

# A piece of a split record: under INPUT-03's 50-character run even with its context in front, so
# a piece written as it is never reads as the pasted record.
PIECE_CHARS = 45
# A label before a fact's first “：” (“存在问题：”, “2月：”, “白沙镇：”, “检查方式：”).
_LABEL = re.compile(r"^([^：:，,。；;！？!?\n“”《》（）()]{1,12})(?:：|:(?!\d))")   # not a time, 8:30
_LEADING_CLAUSE = re.compile(r"^([^，,：:。；]{1,12})[，,]")
_CLAUSE_ENDS = "，,"
_BRACKETED = re.compile(r"[（(]([^（）()]*)[）)]")


@dataclass(frozen=True)
class FactLabel:
    """What a fact's leading label is: `problems` / `next` (it decides the fact's kind and part and
    is never written), `note` (a note on the data, not a fact), `period` (a month or year every
    piece keeps as “2月，…”), `place` (a place or an institution every piece keeps: “白沙镇：…”) or
    `topic` (“检查方式：”: it stays where it was typed, on the first piece only)."""
    text: str
    kind: str
    end: int


def fact_label(text: str) -> FactLabel | None:
    """The label a fact starts with, if any (after its numbering)."""
    problems, nxt = fact_labels()
    for kind, rx in (("problems", problems), ("next", nxt)):
        m = rx.match(text)
        if m:
            return FactLabel(text[:m.end()].rstrip("：:"), kind, m.end())
    m = _LABEL.match(text)
    if not m or not re.search(f"[{HAN}]", m.group(1)):
        return None
    label = m.group(1).strip()
    if cue_re("period").fullmatch(label):
        return FactLabel(label, "period", m.end())
    if re.search(r"\d", label):
        return None
    kind = "note" if cue_re("note_label").match(label) else "place" if cue_re("place_label").search(label) else "topic"
    return FactLabel(label, kind, m.end())


def _total_label(label: str) -> bool:
    """“全年合计”, “汇总”: a label made only of total words."""
    return bool(re.fullmatch(f"(?:{cue_re('total').pattern})+", label))


def strip_fact_label(text: str) -> str:
    """A fact without the label debris that must never reach a draft: its numbering (“1.”,
    “（一）”), a series marker (“一是”) and a routing label (“存在问题：”, “今后：”, “2025年打算：”).
    The label has done its work by then: it decided the fact's kind and part."""
    while True:
        body = strip_list_marker(text)[0]
        m = cue_re("series_marker").match(body)
        if m and body[m.end():].strip():
            body = body[m.end():]
        label = fact_label(body)
        if label and label.kind in ("problems", "next") and body[label.end:].strip():
            body = body[label.end:]
        body = body.strip(" \u3000")
        if body == text:
            return text
        text = body


@dataclass(frozen=True)
class FactPiece:
    """One fact of a split fact: `text` is the piece with the context it keeps in front (“2月，…”,
    “白沙镇：…”, a routing label), `original` the piece as it stands in what was typed."""
    text: str
    original: str
    context: str = ""


@dataclass
class SplitFact:
    pieces: list[FactPiece] = field(default_factory=list)
    set_aside: list[str] = field(default_factory=list)   # a record's title line, notes on its data


def is_record(fact: str) -> bool:
    """A pasted record (台账, a paragraph, a run of table rows): longer than a fact, or several lines."""
    lines = [ln for ln in fact.split("\n") if _has_content(ln)]
    return len(fact) > OVERLONG_FACT_CHARS or len(lines) > 1


def _leading_period(sentence: str) -> FactLabel | None:
    """“2月，…”: the period a sentence opens with, which its later clauses keep."""
    m = _LEADING_CLAUSE.match(sentence)
    if m and cue_re("period").fullmatch(m.group(1)):
        return FactLabel(m.group(1), "period", m.end())
    return None


def _with_context(piece: str, label: FactLabel | None) -> str:
    if label is None or normalize_for_compare(piece).startswith(normalize_for_compare(label.text)):
        return piece
    return f"{label.text}，{piece}" if label.kind == "period" else f"{label.text}：{piece}"


def _clause_pieces(sentence: str, limit: int) -> list[str]:
    """A long sentence in runs of whole clauses of up to `limit` characters; a bracket too long to
    ride along with its clause (“…时限（已整改的356处中一般隐患349处…；剩余8处中…）”) becomes pieces
    of its own, split at its ；."""
    clauses: list[str] = []
    for clause in (c.strip(_CLAUSE_ENDS + " ") for c in split_outside_brackets(sentence, _CLAUSE_ENDS)):
        inner = _BRACKETED.search(clause)
        if len(clause) > limit and inner and any(ch.isdigit() for ch in inner.group(1)):
            clauses.append((clause[:inner.start()] + clause[inner.end():]).strip(_CLAUSE_ENDS))
            clauses += [p.strip() for p in re.split(r"[；;]", inner.group(1)) if p.strip()]
        elif clause:
            clauses.append(clause)
    runs: list[list[str]] = []
    for clause in clauses:
        if runs and len("，".join(runs[-1] + [clause])) <= limit:
            runs[-1].append(clause)
        else:
            runs.append([clause])
    return ["，".join(run) for run in runs]


def _table_line(cells: list[str], header: list[str]) -> str:
    """A table row under its header as one fact: “白沙镇：行政村数14个，常住人口2.3万人”; a unit the
    header gives in brackets (“常住人口（万人）”) follows the value."""
    said = []
    for head, value in zip(header[1:], cells[1:]):
        if not value:
            continue
        m = re.match(r"^(.*?)[（(]([^（）()]{1,6})[）)]$", head)
        said.append(f"{m.group(1)}{value}{m.group(2)}" if m and re.fullmatch(r"[\d.]+", value) else f"{head}{value}")
    return f"{cells[0]}：" + "，".join(said)


def _read_table(text: str) -> tuple[str, bool]:
    """(text, whether it changed): tab-separated rows under a header row of words (no figures)
    become one line each, “first cell：header value，…”; a serial column is dropped and the header
    row is used up. Other lines stay as they are."""
    out, header, changed = [], None, False
    for raw in text.split("\n"):
        cells = [c.strip() for c in raw.split("\t")]
        body = cells[1:] if len(cells) > 2 and (_SERIAL_CELL.match(cells[0]) or _HEADER_CELL.match(cells[0])) else cells
        if len(body) > 1 and not any(ch.isdigit() for c in body for ch in c):
            header, changed = body, True
        elif header and len(body) == len(header) > 1:
            out.append(_table_line(body, header))
            changed = True
        else:
            out.append(raw)
    return "\n".join(out), changed


def _record_lines(fact: str) -> tuple[list[str], list[str]]:
    """(cleaned lines, set aside) of a record: table rows read under their header row, a title
    line and header rows set aside, numbering and bullets removed."""
    lines, aside = [], []
    for raw in _read_table(to_simplified(fact))[0].split("\n"):
        cleaned = _clean_line(raw)
        if cleaned.header:
            aside.append(raw.strip())
        elif _has_content(cleaned.text):
            lines.append(cleaned.text)
    if len(lines) > 1 and _is_title(lines[0]):
        aside.insert(0, lines.pop(0))
    return lines, aside


def _is_title(line: str) -> bool:
    """A record's first line that names it: no clause of its own, no figure but a year."""
    outside = _BRACKETED.sub("", line)
    figures = [t for t in extract_numbers(line) if not is_year_token(t, line)]
    return (not figures and not any(ch in outside for ch in "。；，,;")
            and bool(cue_re("title_line").search(outside)))


def split_fact(fact: str) -> SplitFact:
    """A fact as the facts it holds. A record (is_record) gives one fact per sentence, a long
    sentence one per run of clauses (PIECE_CHARS), each piece keeping its month, place or subject
    label in front (“2月：…；…” → “2月，…”, “2月，…”; “白沙镇：…”); a subject label (“检查方式：”)
    stays on the first piece, where it was typed. Its title line, header row and notes are set
    aside. A labelled fact of several sentences (“存在问题：一是…；二是…”, “白沙镇：…。…”) gives one
    fact per sentence the same way. Any other fact is one piece, as it is."""
    text = fact.strip()
    record = is_record(text)
    lines, aside = _record_lines(text) if record else ([text], [])
    out = SplitFact(set_aside=aside)
    for line in lines:
        label = fact_label(line)
        if label and label.kind == "note" and record:
            out.set_aside.append(line)
            continue
        body = line[label.end:].strip() if label else line
        sentences = _split_sentences(body)
        if not record and (label is None or len(sentences) < 2):
            out.pieces.append(FactPiece(line, line))
            continue
        for n, sentence in enumerate(sentences):
            sentence = strip_fact_label(sentence)
            context = label if label and label.kind != "topic" else _leading_period(sentence)
            # “全年合计：” heads a record's totals line: said as prose, or not at all when the line
            # says it itself (“全年合计：全年督查…”)
            if n == 0 and label and label.kind == "topic" and not _total_label(label.text):
                sentence = line[:label.end] + sentence
            elif n == 0 and label and label.kind == "topic" and not cue_re("total").match(sentence):
                sentence = label.text + sentence    # “全年合计检查…”: still a total, said as prose
            for piece in _clause_pieces(sentence, PIECE_CHARS) if record else [sentence]:
                text = _with_context(piece, context)
                if _has_content(piece) and all(p.text != text for p in out.pieces):   # a record repeats itself
                    out.pieces.append(FactPiece(text, piece, context.text if context else ""))
    return out


# --- chat ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DraftIntent:
    """A chat message asking for a draft from the form: what it names, if anything."""
    genre: str | None = None        # “起草工作总结” → 工作总结
    section: str | None = None      # “起草全文” → 全文, “起草存在问题” → 存在问题


_POLITE = re.compile(r"^(?:请你?|麻烦你?|请帮我|帮我|请帮忙|帮忙|给我|替我|我要|我想)+")
_DRAFT_VERB = re.compile(r"^(?:开始|重新|马上|现在)?(?:起草|撰写|草拟|拟写|生成|写)")
_FILLER = re.compile(r"^(?:一下|一份|一篇|一个|个|份|篇)+|(?:吧|一下|呢|啊)+$")
_WHOLE = re.compile(r"(?:全文|初稿|草稿|稿子|文稿)$")
_REVISION = re.compile(r"第[一二三四五六七八九十\d]+(?:部分|段|节|条|章)|精炼|简洁|修改|改为|改成|润色|扩写|缩写"
                       r"|压缩|删|补充|调整|加上|换成|得")


def draft_intent(message: str) -> DraftIntent | None:
    """“起草”, “请起草工作总结”, “起草全文”, “帮我写一份青山县卫生健康局2024年工作总结” (also in
    traditional script) ask for a draft from the form; “第二部分再精炼一些” is a revision and
    gives None."""
    text = re.sub(r"\s+", "", to_simplified(message)).rstrip("。.！!～~…")
    if _REVISION.search(text):
        return None
    m = _DRAFT_VERB.match(_POLITE.sub("", text))
    if not m:
        return None
    rest = _FILLER.sub("", _POLITE.sub("", text)[m.end():])
    whole = _WHOLE.search(rest)
    rest = rest[:whole.start()] if whole else rest
    section = "全文" if whole and whole.group(0) == "全文" else None
    if not rest:
        return DraftIntent(section=section)
    for i in range(len(rest) - 1):          # longest suffix first: …2024年工作总结
        genre = canonical_genre(rest[i:])
        if genre:
            return DraftIntent(genre=genre, section=section)
    name = section_name(rest.removesuffix("部分"))
    if any(name in genre_sections(g) for g in GENRES):
        return DraftIntent(section=name)
    return None
