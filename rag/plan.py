"""The plan of a draft, made before anything is written and shown to the user: parts →
sub-headings → the facts under each, with a character budget per part, per sub-heading and per
fact. The user may move facts and reword headings; `draft_report(..., plan=...)` writes the plan
it is given.

Facts are grouped by meaning (embeddings of the facts, or character pairs when no embedder is
at hand); headings are written by the model from their own facts and validated, with a
deterministic heading from the genre's patterns when the model's is unusable.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from string import Template
from typing import Any

import numpy as np

from rag.text import NUMBER_RE, char_pairs, sentence_key
from rag.errors import RequestError
from rag.factsheet import FactSheet
from rag.prompting import GenreGuide, PartSpec, mask_exemplar  # noqa: F401  (mask used by callers)
from rag.schema import DraftRequest
from rag.textnorm import HAN, normalize_for_compare

HEADING_CHARS = (4, 24)
OPENING_CHARS = 110      # the phrase-bank opening and its lead-in
Embed = Callable[[Sequence[str]], np.ndarray]


@dataclass
class PlanItem:
    heading: str
    fact_ids: list[int]
    budget: int = 0                 # characters of the paragraph under this heading
    heading_source: str = ""        # "model" | "pattern" | "user"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PlanItem":
        return cls(heading=str(d["heading"]), fact_ids=[int(i) for i in d.get("fact_ids", [])],
                   budget=int(d.get("budget", 0)), heading_source=str(d.get("heading_source", "user")))


@dataclass
class PlanPart:
    key: str
    title: str              # numbered heading (“存在问题”), "" for the opening/salutation/closing
    layout: str             # salutation | opening | items | paragraph | closing
    number: int = 0         # 一、二、… in the genre's numbering; 0 = not numbered
    budget: int = 0
    fact_ids: list[int] = field(default_factory=list)
    items: list[PlanItem] = field(default_factory=list)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PlanPart":
        return cls(key=d["key"], title=d.get("title", ""), layout=d["layout"], number=int(d.get("number", 0)),
                   budget=int(d.get("budget", 0)), fact_ids=[int(i) for i in d.get("fact_ids", [])],
                   items=[PlanItem.from_dict(i) for i in d.get("items", [])])


@dataclass
class ReportPlan:
    genre: str
    section: str
    title: str              # "" for a section draft
    parts: list[PlanPart] = field(default_factory=list)
    per_fact: int = 0       # characters a fact is worth in an items part

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ReportPlan":
        if not isinstance(d, dict) or "parts" not in d:
            raise RequestError("提纲格式不对：应为 rag plan 输出的 JSON 对象。")
        return cls(genre=d["genre"], section=d["section"], title=d.get("title", ""),
                   parts=[PlanPart.from_dict(p) for p in d["parts"]], per_fact=int(d.get("per_fact", 0)))

    def dumps(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    def fact_home(self) -> dict[int, tuple[str, str]]:
        """fact id → (part key, sub-heading or "")."""
        home: dict[int, tuple[str, str]] = {}
        for p in self.parts:
            for i in p.fact_ids:
                home[i] = (p.key, "")
            for it in p.items:
                for i in it.fact_ids:
                    home[i] = (p.key, it.heading)
        return home

    def describe(self) -> str:
        """The plan as a clerk reads it (CLI, app)."""
        lines = [self.title] if self.title else []
        for p in self.parts:
            if p.title:
                lines.append(f"{_numeral(p.number)}、{p.title}（约{p.budget}字）")
            elif p.layout == "opening":
                lines.append(f"开头（约{p.budget}字）")
            for n, it in enumerate(p.items, 1):
                lines.append(f"  （{_numeral(n)}）{it.heading}（约{it.budget}字）：事实 "
                             + "、".join(str(i) for i in it.fact_ids))
            if p.fact_ids:
                lines.append("  事实 " + "、".join(str(i) for i in p.fact_ids))
        return "\n".join(lines)


def _numeral(n: int) -> str:
    from rag.textnorm import chinese_numeral
    return chinese_numeral(n)


def validate_plan(plan: ReportPlan, sheet: FactSheet) -> list[str]:
    """Problems of a (user-edited) plan, in Chinese; empty when it can be written."""
    problems = []
    seen: dict[int, str] = {}
    known = {f.id for f in sheet.facts}
    for p in plan.parts:
        for it in p.items:
            if not it.heading.strip():
                problems.append(f"“{p.title or p.key}”下有一个小标题为空。")
            elif re.search(r"\d", it.heading):
                problems.append(f"小标题“{it.heading}”含有数字，数字请写在事实里。")
        for i in p.fact_ids + [i for it in p.items for i in it.fact_ids]:
            if i not in known:
                problems.append(f"提纲引用了不存在的事实 {i}。")
            elif i in seen:
                problems.append(f"事实 {i} 被安排了两次（{seen[i]}、{p.title or p.key}）。")
            seen[i] = p.title or p.key
    missing = sorted(known - set(seen))
    if missing:
        problems.append("事实 " + "、".join(map(str, missing)) + " 没有安排到任何部分。")
    return problems


# --- grouping by meaning ---------------------------------------------------------------------------

def _pair_vectors(texts: Sequence[str]) -> np.ndarray:
    """Bag of character pairs, normalised: a meaning proxy that needs no model."""
    keys = [char_pairs(sentence_key(normalize_for_compare(t))) for t in texts]
    vocab = {g: i for i, g in enumerate(sorted(set().union(*keys)))} if keys else {}
    m = np.zeros((len(texts), max(1, len(vocab))), dtype=np.float32)
    for r, k in enumerate(keys):
        for g in k:
            m[r, vocab[g]] = 1.0
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms == 0, 1.0, norms)


def group_by_meaning(texts: Sequence[str], k: int, embed: Embed | None = None) -> list[list[int]]:
    """Indexes of `texts` in `k` groups of similar meaning (average-link agglomeration on cosine
    similarity), each group in fact order and the groups ordered by their first fact, so the
    draft follows the order the user gave."""
    n = len(texts)
    if n == 0:
        return []
    k = max(1, min(k, n))
    vecs = np.asarray(embed(texts), dtype=np.float32) if embed else _pair_vectors(texts)
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    vecs = vecs / np.where(norms == 0, 1.0, norms)
    # Similarity sums between groups, updated as groups merge: a split record gives 60+ facts,
    # and recomputing every pair's mean each round grew with the cube of that.
    sums = (vecs @ vecs.T).astype(np.float64)
    sizes = np.ones(n)
    groups = [[i] for i in range(n)]
    while len(groups) > k:
        m = len(groups)
        # keep groups small enough to write one paragraph about
        score = sums / np.outer(sizes, sizes) - 0.02 * (sizes[:, None] + sizes[None, :])
        score[np.tril_indices(m)] = -np.inf
        best = int(np.argmax(score))
        a, b = divmod(best, m) if score.flat[best] > -2.0 else (0, 1)
        groups[a] = sorted(groups[a] + groups[b])
        groups.pop(b)
        sums[a, :] += sums[b, :]
        sums[:, a] += sums[:, b]
        sums = np.delete(np.delete(sums, b, axis=0), b, axis=1)
        sizes[a] += sizes[b]
        sizes = np.delete(sizes, b)
    return sorted(groups, key=lambda g: g[0])


def item_count(n_facts: int, part: PartSpec) -> int:
    """Two or three facts a sub-heading reads best; within the genre's bounds."""
    lo = min(part.min_items, n_facts)
    return max(lo, min(part.max_items, round(n_facts / 2.5) or 1, n_facts))


# --- headings ------------------------------------------------------------------------------------

# Runs that two facts share without being what they are about: scope, time, quantity and verbs.
_STOP_RUNS = re.compile("全(?:县|市|区|州|旗|省|镇|院)|我(?:局|委|院|中心)|开展|工作|进一步|完成|实现|推进|加强|达到|提高|同比"
                        "|其中|累计|不少于|不低于|以上|以下|上半年|下半年|全年|年底|年内|今年|比上年|个百分点")


def heading_keyword(facts: Sequence[str]) -> str:
    """The longest run of Han characters (3–8) that at least two of the facts share: the words a
    deterministic heading is built around ("" when they share none; the topic is used then)."""
    texts = [NUMBER_RE.sub("，", normalize_for_compare(f)) for f in facts]   # a figure and its unit
    if len(texts) >= 2:
        for size in range(8, 2, -1):
            counts: dict[str, int] = {}
            for t in texts:
                runs = {r[i:i + size] for r in re.findall(f"[{HAN}]+", t) for i in range(len(r) - size + 1)}
                for r in runs:
                    counts[r] = counts.get(r, 0) + 1
            shared = [r for r, c in counts.items() if c >= 2 and not _STOP_RUNS.search(r)]
            if shared:
                return max(shared, key=lambda r: (counts[r], -texts[0].find(r) if r in texts[0] else -99))
    return ""


# A shared run of characters can stop inside a word (“二级以上” → “二级以”): these never end a name.
_RUN_TAIL = re.compile("[以上下的和及与等或、在对为]+$")
# Words a heading's object can end on; any other object reads better as “…工作” (“持续深化应急工作”).
_OBJECT_END = re.compile("(?:工作|建设|管理|服务|体系|机制|能力|水平|改革|项目|行动|防控|防治|监管|保障|治理|发展)$")


def pattern_heading(guide: GenreGuide, n: int, keyword: str, topic: str) -> str:
    """A heading from the genre's patterns (genres.toml fallback_headings), filled with the
    group's own words, or the topic when they share none that can stand as a name."""
    template = guide.fallback_headings[n % len(guide.fallback_headings)]
    word = _RUN_TAIL.sub("", keyword)
    word = word if len(word) >= 3 else (topic or "重点")
    if not _OBJECT_END.search(word):
        word += "工作"
    return Template(template).safe_substitute(topic=word).replace("工作工作", "工作")


def heading_problem(heading: str, facts: Sequence[str], guide: GenreGuide) -> str:
    """Why a model heading cannot be used ("" when it can): length, digits, copied style
    example, or words that none of its facts share."""
    h = heading.strip()
    if not HEADING_CHARS[0] <= len(h) <= HEADING_CHARS[1] or not re.search(f"[{HAN}]", h):
        return "长度不合适"
    if re.search(r"[\d〔〕<>{}\[\]#*]", h):
        return "含有数字或符号"
    if h in guide.heading_style:
        return "照抄了写法示例"
    if not char_pairs(sentence_key(h)) & char_pairs(sentence_key("".join(normalize_for_compare(f) for f in facts))):
        return "与所辖事实无关"
    return ""


def clean_heading(text: str) -> str:
    text = re.sub(r"^[（(]?[一二三四五六七八九十\d]+[）)、.．]\s*", "", str(text).strip())
    # single quotes are the model's stand-in for Chinese ones (CLEAN-03 reads them as garbage)
    text = re.sub(r"[‘']([^‘’']+)[’']", r"“\1”", text)
    if text.startswith("“") and text.endswith("”") and text.count("“") == 1:
        text = text[1:-1]   # a heading quoted whole; a quoted name inside one stays quoted
    return text.strip("\"'《》 ").rstrip("。；;，,")


# --- budgets and the plan ------------------------------------------------------------------------

def make_plan(request: DraftRequest, sheet: FactSheet, parts: list[PartSpec], guide: GenreGuide,
              title: str, embed: Embed | None = None) -> ReportPlan:
    """Parts, groups and budgets; headings are patterns until `set_headings` gives the model's."""
    lo, hi = request.length_chars
    target = (lo + hi) // 2
    plan = ReportPlan(genre=request.genre, section=request.section, title=title)
    numbered = [p.key for p in guide.parts if p.title]
    for spec in parts:
        ids = [f.id for f in sheet.facts if f.part == spec.key]
        number = numbered.index(spec.key) + 1 if spec.key in numbered else 0
        part = PlanPart(key=spec.key, title=spec.title, layout=spec.layout, number=number)
        if spec.layout == "items":
            texts = sheet.texts(ids)
            groups = group_by_meaning(texts, item_count(len(ids), spec), embed) if ids else []
            part.items = [PlanItem(heading="", fact_ids=[ids[i] for i in g]) for g in groups]
            for n, it in enumerate(part.items):
                it.heading = pattern_heading(guide, n, heading_keyword(sheet.texts(it.fact_ids)), request.topic)
                it.heading_source = "pattern"
        else:
            part.fact_ids = ids
        plan.parts.append(part)
    _set_budgets(plan, sheet, target)
    return plan


def _set_budgets(plan: ReportPlan, sheet: FactSheet, target: int) -> None:
    """Fixed parts cost what they are; paragraph parts what their facts are; the items parts
    share the rest by facts."""
    fixed = len(plan.title)
    for p in plan.parts:
        if p.layout == "opening":
            p.budget = OPENING_CHARS
        elif p.layout == "paragraph":
            p.budget = 40 + sum(len(sheet.by_id(i).text) + 4 for i in p.fact_ids)
        elif p.layout in ("salutation", "closing"):
            p.budget = 10
        fixed += p.budget + (len(p.title) + 2 if p.title else 0)
    items = [it for p in plan.parts for it in p.items]
    n_facts = sum(len(it.fact_ids) for it in items)
    rest = max(0, target - fixed - sum(len(it.heading) + 4 for it in items))
    plan.per_fact = rest // n_facts if n_facts else 0
    for p in plan.parts:
        for it in p.items:
            it.budget = plan.per_fact * len(it.fact_ids)
        if p.items:
            p.budget = sum(it.budget for it in p.items)
