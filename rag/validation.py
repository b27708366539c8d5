"""One schema for the JSON a user hands in: a drafting request, a plan (`rag plan --json`, maybe
edited) and a saved draft result (`rag draft --resume`). Pydantic models check types and ranges;
every problem becomes one Chinese message that names the field (RequestError), never a
traceback and never a value such as None written into a draft.

A plan or a saved result belongs to one request: both carry the request's fingerprint
(DraftRequest.fingerprint), and `belongs_to_request` refuses a file made for another request.
"""
from __future__ import annotations

import json
import re
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError
from pydantic import field_validator, model_validator
from pydantic_core import PydanticCustomError

from rag.errors import RequestError

# Years a request may name. A report looks back, so the window ends next year (a summary drafted
# ahead of the year's end); a 工作计划 may look five years ahead (a 五年规划). 1949 is the first
# year of the health administration these reports come from.
FIRST_YEAR = 1949
YEARS_AHEAD = 1
YEARS_AHEAD_BY_GENRE = {"工作计划": 5}
# length_chars: shorter is not a report section; longer is not a report (real ones stay under
# 20,000 characters) and would only make the drafter ask for absurd budgets.
LENGTH_RANGE = (50, 50_000)
PLAN_LAYOUTS = ("salutation", "opening", "items", "paragraph", "closing")
BLOCK_KINDS = ("title", "salutation", "opening", "part", "item", "paragraph", "closing")

# How a field is called in a message (the JSON name is always shown too).
FIELD_NAMES = {
    "genre": "文种", "section": "章节", "unit": "单位", "year": "年份", "facts": "事实",
    "length_chars": "字数范围", "key_figures": "关键数字", "confirmed_facts": "确认属于本单位的事实", "notes": "补充要求", "topic": "主题",
    "id": "编号", "adversarial": "测试类型", "plan": "提纲", "parts": "部分", "items": "小标题",
    "heading": "小标题", "fact_ids": "事实编号", "budget": "字数", "key": "部分代号", "layout": "版式",
    "title": "标题", "number": "序号", "per_fact": "每条事实字数", "heading_source": "小标题来源",
    "request_fingerprint": "请求指纹", "blocks": "已写好的段落", "kind": "段落类型", "marker": "编号",
    "sentences": "句子", "text": "文字", "origin": "来源", "draft": "草稿", "partial": "是否未完成",
    "error": "出错信息", "notices": "提示",
}
_TYPE_MESSAGES = {
    "int_type": "应为整数", "int_parsing": "应为整数", "int_from_float": "应为整数",
    "string_type": "应为文字（字符串）", "list_type": "应为列表 [...]", "tuple_type": "应为列表 [...]",
    "dict_type": "应为对象 {...}", "model_type": "应为对象 {...}", "model_attributes_type": "应为对象 {...}",
    "bool_type": "应为 true 或 false", "bool_parsing": "应为 true 或 false",
    "too_short": "项数太少", "too_long": "项数太多", "literal_error": "不是可用的值",
}
MAX_MESSAGES = 3


def _where(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    names = [FIELD_NAMES[p] for p in loc if isinstance(p, str) and p in FIELD_NAMES]
    return f"{path}（{names[-1]}）" if names else path


def _shown(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


def chinese_errors(error: ValidationError, what: str, data: Any = None,
                   overrides: dict[str, str] | None = None) -> str:
    """A pydantic error as one Chinese message: each problem names its field; `overrides` gives
    the message for a type problem anywhere inside a top-level field of `data` (the product's
    long-standing wording), followed by that field's value."""
    lines: list[str] = []
    for e in error.errors(include_url=False):
        loc, kind = tuple(e["loc"]), e["type"]
        top = loc[0] if loc and isinstance(loc[0], str) else ""
        if kind in _TYPE_MESSAGES or kind == "missing":
            if overrides and top in overrides and (kind != "missing" or len(loc) > 1):
                line = overrides[top] + (f"（现在是 {_shown(data[top])}）" if isinstance(data, dict) and top in data else "")
            elif kind == "missing":
                line = f"缺少字段 {_where(loc)}"
            else:
                line = f"字段 {_where(loc)}{_TYPE_MESSAGES[kind]}"
                if kind == "literal_error":
                    line += "，可选：" + "、".join(re.findall(r"'([^']*)'", str((e.get("ctx") or {}).get("expected", ""))))
                line += f"（现在是 {_shown(e.get('input'))}）"
        elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
            bound = next(iter((e.get("ctx") or {}).values()), "")
            word = {"greater_than_equal": "不能小于", "less_than_equal": "不能大于",
                    "greater_than": "应大于", "less_than": "应小于"}[kind]
            line = f"字段 {_where(loc)}{word} {bound}（现在是 {_shown(e.get('input'))}）"
        else:   # our own checks (PydanticCustomError): a Chinese predicate, or a sentence when unplaced
            line = e["msg"] if not loc else f"字段 {_where(loc)}{e['msg']}"
        if line not in lines:
            lines.append(line)
    more = f"等 {len(lines)} 处" if len(lines) > MAX_MESSAGES else ""
    return f"{what}有误{more}：" + "；".join(lines[:MAX_MESSAGES]) + "。"


def _custom(message: str) -> PydanticCustomError:
    return PydanticCustomError("product_rule", message)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# --- the request ---------------------------------------------------------------------------------

def year_window(genre: str, today: date | None = None) -> tuple[int, int]:
    """First and last year a request of this genre may name."""
    this_year = (today or date.today()).year
    return FIRST_YEAR, this_year + YEARS_AHEAD_BY_GENRE.get(genre, YEARS_AHEAD)


class RequestFields(_Model):
    """The fields of a request after normalisation (rag.normalize), as DraftRequest takes them."""
    genre: StrictStr
    section: StrictStr
    unit: StrictStr
    year: StrictInt
    facts: list[StrictStr]
    length_chars: tuple[StrictInt, StrictInt] = (600, 1000)
    key_figures: list[StrictStr] = Field(default_factory=list)
    notes: StrictStr = ""
    id: StrictStr = ""
    topic: StrictStr = ""
    adversarial: StrictStr | None = None
    # facts the clerk confirmed as the unit's own though they name another place
    confirmed_facts: list[StrictStr] = Field(default_factory=list)

    @field_validator("year", mode="before")
    @classmethod
    def _year_as_int(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value

    @field_validator("key_figures", "confirmed_facts", "notes", "id", "topic", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any, info) -> Any:
        if value is None:
            return [] if info.field_name in ("key_figures", "confirmed_facts") else ""
        return value

    @field_validator("section", "unit")
    @classmethod
    def _not_blank(cls, value: str, info) -> str:
        if not value.strip():
            raise _custom("不能为空")
        return value

    @field_validator("length_chars")
    @classmethod
    def _length_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        lo, hi = LENGTH_RANGE
        if not all(lo <= x <= hi for x in value) or value[0] > value[1]:
            raise _custom(f"必须是两个整数 [最少字数, 最多字数]，每个在 {lo}–{hi} 之间，"
                          f"且最少不大于最多（现在是 {_shown(list(value))}）")
        return value

    @model_validator(mode="after")
    def _year_in_window(self) -> "RequestFields":
        first, last = year_window(self.genre)
        if not first <= self.year <= last:
            raise _custom(f"年份 {self.year} 超出范围：{self.genre}的年份应在 {first}–{last} 之间，请检查 year")
        return self


REQUEST_TYPE_MESSAGES = {
    "facts": "facts 必须是字符串列表，每条一个事实",
    "key_figures": "key_figures 必须是字符串列表",
    "confirmed_facts": "confirmed_facts 必须是字符串列表（确认属于本单位的事实）",
    "length_chars": f"length_chars（字数范围）必须是两个整数 [最少字数, 最多字数]，每个在 {LENGTH_RANGE[0]}–{LENGTH_RANGE[1]} 之间",
}


def validate_request_fields(data: dict[str, Any]) -> RequestFields:
    try:
        return RequestFields.model_validate(data)
    except ValidationError as e:
        year = [x for x in e.errors() if x["loc"] == ("year",) and x["type"] != "product_rule"]
        if year:
            raise RequestError(f"年份“{data.get('year')}”不是整数。") from None
        raise RequestError(chinese_errors(e, "请求", data, REQUEST_TYPE_MESSAGES)) from None


# --- the plan --------------------------------------------------------------------------------------

class PlanItemFields(_Model):
    heading: StrictStr
    fact_ids: list[StrictInt] = Field(default_factory=list)
    budget: StrictInt = Field(0, ge=0, le=LENGTH_RANGE[1])
    heading_source: StrictStr = "user"

    @field_validator("heading")
    @classmethod
    def _heading_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise _custom("不能为空")
        return value


class PlanPartFields(_Model):
    key: StrictStr = Field(min_length=1)
    title: StrictStr = ""
    layout: Literal[PLAN_LAYOUTS]   # type: ignore[valid-type]
    number: StrictInt = Field(0, ge=0, le=99)
    budget: StrictInt = Field(0, ge=0, le=LENGTH_RANGE[1])
    fact_ids: list[StrictInt] = Field(default_factory=list)
    items: list[PlanItemFields] = Field(default_factory=list)


class PlanFields(_Model):
    genre: StrictStr
    section: StrictStr
    title: StrictStr = ""
    parts: list[PlanPartFields]
    per_fact: StrictInt = Field(0, ge=0, le=LENGTH_RANGE[1])
    request_fingerprint: StrictStr = ""


def validate_plan_fields(data: Any) -> PlanFields:
    if not isinstance(data, dict) or "parts" not in data:
        raise RequestError("提纲格式不对：应为 rag plan 输出的 JSON 对象（含 parts）。")
    try:
        return PlanFields.model_validate(data)
    except ValidationError as e:
        raise RequestError(chinese_errors(e, "提纲")) from None


# --- a saved draft result (what --resume reads) ------------------------------------------------------

class SentenceFields(_Model):
    text: StrictStr
    origin: StrictStr
    fact_ids: list[StrictInt] = Field(default_factory=list)
    confirmed: StrictBool = False


class BlockFields(_Model):
    key: StrictStr
    kind: Literal[BLOCK_KINDS]   # type: ignore[valid-type]
    heading: StrictStr = ""
    marker: StrictStr = ""
    sentences: list[SentenceFields] = Field(default_factory=list)


class DraftResultFields(_Model):
    draft: StrictStr = ""
    notices: list[StrictStr] = Field(default_factory=list)
    plan: PlanFields | None = None
    blocks: list[BlockFields] = Field(default_factory=list)
    partial: StrictBool = False
    error: StrictStr = ""
    request_fingerprint: StrictStr = ""


def validate_result_fields(data: Any) -> DraftResultFields:
    if not isinstance(data, dict):
        raise RequestError("未完成草稿的格式不对：应为 rag draft --json 输出的 JSON 对象。")
    try:
        return DraftResultFields.model_validate(data)
    except ValidationError as e:
        raise RequestError(chinese_errors(e, "未完成草稿")) from None


# --- which request a file belongs to -------------------------------------------------------------------

def belongs_to_request(what: str, genre: str, section: str, fingerprints: list[str],
                       request_genre: str, request_section: str, request_fingerprint: str,
                       again: str) -> None:
    """Refuse a plan or saved draft made for another request (RequestError). A file without a
    fingerprint (printed before fingerprints existed) is refused too: nothing else can tell
    whether its fact ids mean the same facts. `again` says how to make a fitting one."""
    if (genre, section) != (request_genre, request_section):
        raise RequestError(f"{what}是为“{genre}·{section}”拟的，与请求的“{request_genre}·{request_section}”不符，"
                           f"不能混用。{again}")
    stored = [f for f in fingerprints if f]
    if not stored:
        raise RequestError(f"{what}里没有请求指纹（request_fingerprint），可能是旧版本生成的，无法确认它属于这份请求。{again}")
    if any(f != request_fingerprint for f in stored):
        raise RequestError(f"{what}不是按这份请求生成的（单位、年份、事实或字数不同，请求指纹不符），不能混用。{again}")
