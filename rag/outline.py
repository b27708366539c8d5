"""Plan a section before writing it: fact routing to parts, and sub-headings with their facts.

The model proposes the sub-headings as JSON; validate_outline() rejects anything that drops,
repeats or invents a fact, invents a number, or has a silly number of headings, and
fallback_outline() then groups the facts by topic keywords deterministically.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from string import Template

from rag.prompting import PartSpec, fact_labels, topic_keywords
from rag.textnorm import HAN

HEADING_CHARS = (4, 30)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)
_DIGIT = re.compile(r"\d")


class OutlineError(ValueError):
    """The model's outline is unusable; the message says why (kept in notices, not shown raw)."""


@dataclass
class OutlineItem:
    heading: str
    facts: list[int]                      # indexes into the part's fact list


@dataclass
class Outline:
    items: list[OutlineItem]
    source: str                           # "llm" | "fallback"
    problem: str = ""                     # why the model's outline was rejected, if it was

    def facts_of(self, item: OutlineItem, facts: list[str]) -> list[str]:
        return [facts[i] for i in item.facts]


@dataclass
class PartFacts:
    """The facts a part will be written from (labels such as “存在问题：” removed)."""
    part: PartSpec
    facts: list[str] = field(default_factory=list)


# --- routing facts to parts ---------------------------------------------------------------------

def split_labelled(fact: str) -> tuple[str, list[str]]:
    """('problems'|'next'|'', pieces): a labelled fact loses its label and is split on ；."""
    problems, nxt = fact_labels()
    for kind, rx in (("problems", problems), ("next", nxt)):
        m = rx.match(fact.strip())
        if m:
            body = fact.strip()[m.end():].strip()
            return kind, [p.strip() for p in re.split(r"[；;]", body) if p.strip()]
    return "", [fact.strip()]


def route_facts(facts: list[str], parts: list[PartSpec]) -> list[PartFacts]:
    """Give every fact to exactly one part.

    Labelled facts (存在问题：/2025年计划：/不足：…) go to the problems / next-steps part;
    a part's own keywords (保障措施: 预算|资金…) claim matching facts; the rest go to the body
    (the first items part). A fact whose part is not being drafted goes to the first part that
    takes facts, so no fact is ever silently lost.
    """
    routed = [PartFacts(p) for p in parts]
    by_key = {pf.part.key: pf for pf in routed}
    takers = [pf for pf in routed if pf.part.layout in ("items", "paragraph")]
    body = next((pf for pf in routed if pf.part.layout == "items"), takers[0] if takers else None)
    for fact in facts:
        kind, pieces = split_labelled(fact)
        target = by_key.get(kind) if kind else None
        if target is None and not kind:
            target = next((pf for pf in takers if pf.part.keywords
                           and re.search(pf.part.keywords, fact)), None)
        if target is None:
            target = body
        if target is None:
            raise OutlineError("没有可以写入事实的部分")
        target.facts.extend(pieces if target.part.key == kind else ["；".join(pieces)])
    return routed


# --- the model's outline ------------------------------------------------------------------------

def _json_candidates(text: str) -> list[str]:
    found = [m.group(1) for m in _FENCE.finditer(text)]
    start, end = text.find("{"), text.rfind("}")
    if start != -1 and end > start:
        found.append(text[start:end + 1])
    start, end = text.find("["), text.rfind("]")
    if start != -1 and end > start:
        found.append(text[start:end + 1])
    return found


def parse_outline_json(text: str) -> list[dict]:
    """The list of {heading, facts} objects in a model answer; OutlineError if there is none."""
    for candidate in _json_candidates(text):
        try:
            data = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict):
            data = data.get("items") or data.get("outline") or data.get("小标题")
        if isinstance(data, list) and all(isinstance(x, dict) for x in data):
            return data
    raise OutlineError("模型返回的提纲不是 JSON")


def validate_outline(raw: list[dict], n_facts: int, min_items: int, max_items: int) -> Outline:
    """Check a parsed outline against the facts; 1-based fact numbers in, 0-based out."""
    items: list[OutlineItem] = []
    seen: set[int] = set()
    for entry in raw:
        heading = str(entry.get("heading") or entry.get("title") or entry.get("小标题") or "").strip()
        heading = re.sub(r"^[（(]?[一二三四五六七八九十\d]+[）)、.．]\s*", "", heading).rstrip("。；;，")
        numbers = entry.get("facts", entry.get("事实", []))
        if not isinstance(numbers, list) or not all(isinstance(i, int) for i in numbers):
            raise OutlineError(f"小标题“{heading}”的事实编号不是整数列表")
        if not numbers:
            continue
        if not HEADING_CHARS[0] <= len(heading) <= HEADING_CHARS[1] or not re.search(f"[{HAN}]", heading):
            raise OutlineError(f"小标题“{heading}”长度不合适")
        if _DIGIT.search(heading):
            raise OutlineError(f"小标题“{heading}”含有数字")
        bad = [i for i in numbers if not 1 <= i <= n_facts]
        if bad:
            raise OutlineError(f"提纲引用了不存在的事实编号 {bad}")
        repeated = [i for i in numbers if i in seen]
        if repeated:
            raise OutlineError(f"事实 {repeated} 被分配了不止一次")
        seen.update(numbers)
        items.append(OutlineItem(heading, [i - 1 for i in numbers]))
    missing = sorted(set(range(1, n_facts + 1)) - seen)
    if missing:
        raise OutlineError(f"事实 {missing} 没有分配")
    lo = min(min_items, n_facts)
    if not lo <= len(items) <= max_items:
        raise OutlineError(f"小标题有 {len(items)} 个，应为 {lo}–{max_items} 个")
    if len({i.heading[:15] for i in items}) != len(items):
        raise OutlineError("小标题重复")
    return Outline(items, source="llm")


def parse_outline(text: str, n_facts: int, min_items: int, max_items: int) -> Outline:
    return validate_outline(parse_outline_json(text), n_facts, min_items, max_items)


# --- deterministic fallback ---------------------------------------------------------------------

GENERAL_TOPIC = "重点工作"


def _topic_of(fact: str, topics: dict[str, re.Pattern]) -> str:
    best, best_hits = GENERAL_TOPIC, 0
    for name, rx in topics.items():
        hits = len(rx.findall(fact))
        if hits > best_hits:
            best, best_hits = name, hits
    return best


def fallback_outline(facts: list[str], heading_templates: tuple[str, ...], min_items: int,
                     max_items: int, problem: str = "") -> Outline:
    """Group facts by topic keywords, keeping fact order; then split or merge to a sane count."""
    topics = topic_keywords()
    groups: dict[str, list[int]] = {}
    for i, fact in enumerate(facts):
        groups.setdefault(_topic_of(fact, topics), []).append(i)
    names = list(groups)
    lo = min(min_items, len(facts))
    while len(names) > max_items:  # merge the smallest group into its neighbour
        k = min(range(len(names)), key=lambda j: len(groups[names[j]]))
        into = names[k - 1] if k > 0 else names[1]
        groups[into].extend(groups.pop(names[k]))
        groups[into].sort()
        names.pop(k)
    while len(names) < lo:  # split the largest group in two
        k = max(range(len(names)), key=lambda j: len(groups[names[j]]))
        members = groups[names[k]]
        half = (len(members) + 1) // 2
        groups[names[k]] = members[:half]
        extra = f"{names[k]}（续）" if names[k] != GENERAL_TOPIC else "其他工作"
        while extra in groups:
            extra += "（续）"
        groups[extra] = members[half:]
        names.insert(k + 1, extra)
    items = []
    for n, name in enumerate(names):
        topic = name.replace("（续）", "")
        template = heading_templates[n % len(heading_templates)]
        heading = Template(template).substitute(topic=topic).replace("工作工作", "工作")
        items.append(OutlineItem(heading, groups[name]))
    return Outline(items, source="fallback", problem=problem)
