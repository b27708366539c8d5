"""Typed records passed between pipeline stages.

Every stage reads and writes these dataclasses, so each one can be saved to JSON,
reloaded and run on its own from the CLI or a test.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from rag.errors import RequestError
from rag.textio import read_text_file
from rag.validation import validate_request_fields

GENRES: tuple[str, ...] = ("工作总结", "工作计划", "工作汇报", "述职报告", "经验交流材料")

# Section roles a chunk can play inside its article.
ROLES: tuple[str, ...] = (
    "开头", "主要工作及成效", "做法", "存在问题", "下一步打算", "目标任务", "保障措施", "结尾",
)

# Requested sections (the `section` field of a request). "全文" means the whole report.
WHOLE_REPORT = "全文"


def _from_dict(cls, data: dict[str, Any]):
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class AuditEntry:
    """One thing the cleaner removed or changed, so a person can review it."""
    source: str          # file name under corpus/raw (or the user's file)
    action: str          # drop_line | cut_footer | replace | mask | drop_article | flag
    rule: str            # noise id from seeds-analysis.md (N01…N29) or DEDUP/SPUN/OFFDOMAIN
    line: int | None     # 1-based line in the source file, when there is one
    before: str
    after: str = ""
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AuditEntry":
        return _from_dict(cls, data)


@dataclass
class Article:
    """One cleaned report; a compilation file yields several."""
    id: str              # stable: "<source stem>#<n>"
    source: str
    title: str
    text: str            # cleaned, simplified, full-width punctuation, headings normalized
    genre: str           # one of GENRES, from the content
    topic: str
    level: str           # 市 / 县 / 区 / 其他
    year: int | None
    year_evidence: str = ""
    part: str = ""       # "总结" / "谋划" when a 总结+谋划 article was split, else ""
    flags: list[str] = field(default_factory=list)  # e.g. numbers_unreliable, has_placeholder
    content_hash: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Article":
        return _from_dict(cls, data)


@dataclass
class Chunk:
    """A retrievable passage with everything retrieval filters and shows."""
    id: str
    article_id: str
    text: str            # the passage itself (numbers masked as 〔数〕 where unreliable)
    title: str
    section: str         # heading path, e.g. "一、主要工作/（二）公共卫生"
    role: str            # one of ROLES
    genre: str
    topic: str
    level: str
    year: int | None
    source: str
    content_hash: str = ""
    flags: list[str] = field(default_factory=list)

    @property
    def embed_text(self) -> str:
        # Title and heading prefix measured +0.3 precision on the seeds (offline-parts.md).
        return f"{self.title}｜{self.section}｜{self.text}" if self.section else f"{self.title}｜{self.text}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Chunk":
        return _from_dict(cls, data)


@dataclass
class Exemplar:
    """A retrieved passage with its fused score."""
    text: str
    genre: str
    role: str
    title: str
    section: str
    source: str
    score: float
    chunk_id: str = ""
    article_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Exemplar":
        return _from_dict(cls, data)


@dataclass
class DraftRequest:
    """What the user asks for; the fields of shared/evalset/cases.jsonl."""
    genre: str
    section: str
    unit: str
    year: int
    facts: list[str]
    length_chars: tuple[int, int] = (600, 1000)
    key_figures: list[str] = field(default_factory=list)
    notes: str = ""
    id: str = ""
    topic: str = ""
    adversarial: str | None = None
    # Facts the clerk confirmed as the unit's own although they name another county or city
    # (their texts as analysed); without it such a fact is held back from the draft.
    confirmed_facts: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["length_chars"] = list(self.length_chars)
        return d

    @classmethod
    def validated(cls, data: dict[str, Any]) -> "DraftRequest":
        """Build a request from normalised fields, checking them against the request schema
        (rag.validation: types, the year window, the length range); RequestError in Chinese."""
        if not isinstance(data, dict):
            raise RequestError("请求必须是一个 JSON 对象。")
        missing = [k for k in ("genre", "section", "unit", "year", "facts") if k not in data]
        if missing:
            raise RequestError(f"请求缺少字段：{'、'.join(missing)}。")
        if data["genre"] not in GENRES:
            raise RequestError(f"未知文种“{data['genre']}”，可选：{'、'.join(GENRES)}。")
        fields_ = validate_request_fields(data)
        return cls(**{**fields_.model_dump(), "facts": list(fields_.facts),
                      "key_figures": list(fields_.key_figures), "confirmed_facts": list(fields_.confirmed_facts)})

    def fingerprint(self) -> str:
        """What a plan or a saved draft records of the request it was made for: a hash of the
        fields that decide facts, parts and budgets (genre, section, unit, year, facts, length)."""
        key = json.dumps([self.genre, self.section, self.unit, self.year, list(self.facts),
                          list(self.length_chars), list(self.confirmed_facts)], ensure_ascii=False)
        return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]

    @staticmethod
    def read_json(path: str | Path) -> Any:
        """The JSON of a request file as it is, before normalisation."""
        text = read_text_file(path)
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise RequestError(f"请求文件 {path} 不是合法的 JSON（第 {e.lineno} 行第 {e.colno} 列）。") from None
