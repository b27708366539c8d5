"""Rule-based labels from an article's content (never from its title, which scraped pages get wrong).

genre: self-descriptions ("述职如下", "简要汇报") first, then structure ("主要做法" headings,
couplets "突出一个…"), then tense: a plan states tasks and hardly uses the perfective 了
(≤ 1.5 per 1000 chars in the seed plans, ≥ 2 in every summary).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from rag.clean import SPUN_MARKERS

PLAN_HEADING = re.compile(r"(?m)^[一二三四五六七八九十]+、[^\n]{0,20}(?:谋划|工作思路|工作计划|工作打算|工作要点)")
_REPORT_BY = re.compile(r"述职如下|述职报告|现将[^。\n]{0,20}述职")
_EXPERIENCE_HEADING = re.compile(r"(?m)^[一二三四五六七八九十]+、(?:主要)?(?:做法|经验)")
_COUPLET = re.compile(r"突出一个“")
_BRIEFING = re.compile(r"简要汇报|情况汇报如下|汇报如下")
_SUMMARY_SELF = re.compile(r"(?m)总结如下|取得了一定的(?:成效|成绩)|^[一二三四五六七八九十]+、[^\n]{0,12}主要工作(?:开展)?情况")
_PERFECTIVE = "了"
PLAN_MAX_PERFECTIVE_PER_1000 = 1.6

_LEVEL_CUES = {
    "市": re.compile(r"全市|我市|市委|市政府|市直|本市"),
    "县": re.compile(r"全县|我县|县委|县政府|县直|本县"),
    "区": re.compile(r"全区|我区|区委|区政府|区直|本区"),
}
_TOPICS = [("双拥", re.compile("双拥"), 3), ("纠风行风", re.compile("纠风"), 3),
           ("学习实践科学发展观", re.compile("学习实践"), 2), ("住院医师规培", re.compile("住院医师"), 3)]

# Terms (regexes) whose first use dates a text whose own year is masked (seeds-analysis.md §1).
YEAR_KEYWORDS: list[tuple[str, int]] = [
    ("十六届四中", 2004), ("十六届[^。]{0,4}五中", 2005), ("“六号”", 2005), ("先进性教育", 2005), ("猪链球菌", 2005), ("苏丹红", 2005),
    ("医院管理年", 2005), ("十七大", 2007), ("科学发展观统领", 2007),
    ("学习实践科学发展观", 2008), ("基本药物制度", 2009), ("9项基本公共卫生", 2009), ("十二五", 2011), ("县级公立医院", 2012), ("先看病、后付费", 2013),
    ("十八大", 2012), ("H7N9", 2013), ("群众路线教育实践", 2013), ("埃博拉", 2014), ("apec", 2014),
    ("三严三实", 2015), ("中东呼吸综合征", 2015), ("新冠", 2020), ("乙类乙管", 2023),
]
EXPLICIT_YEAR_EVIDENCE = "正文年份"
_EXPLICIT_YEAR = re.compile(r"(?<!\d)((?:19[89]|20[0-4])\d)年")

# Unit-level perspective of a 卫生局 document; a personal to-do list has none (002-篇2).
_UNIT_VOICE = re.compile(r"我局|本局|局党|全市|全县|全区|我市|我县|我区|卫生系统|各医疗卫生单位|辖区")
_HEALTH = re.compile(r"卫生|医疗|医院|疾病|健康|防疫|疾控|卫健|医改|医药|公共卫生")


def genre_of(text: str) -> str:
    if _REPORT_BY.search(text):
        return "述职报告"
    if _EXPERIENCE_HEADING.search(text) or len(_COUPLET.findall(text)) >= 3:
        return "经验交流材料"
    summary_self = bool(_SUMMARY_SELF.search(text))
    if _BRIEFING.search(text) and not summary_self:
        return "工作汇报"
    perfective = text.count(_PERFECTIVE) * 1000 / max(len(text), 1)
    if perfective < PLAN_MAX_PERFECTIVE_PER_1000 and not summary_self:
        return "工作计划"
    return "工作总结"


def level_of(text: str) -> str:
    counts = {lvl: len(rx.findall(text)) for lvl, rx in _LEVEL_CUES.items()}
    best = max(counts, key=lambda k: (counts[k], k == "市"))
    return best if counts[best] else "其他"


def topic_of(text: str) -> str:
    for name, rx, at_least in _TOPICS:
        if len(rx.findall(text)) >= at_least:
            return name
    return "综合"


def year_of(text: str, title: str = "") -> tuple[int | None, str]:
    """(year, evidence). An explicit year in the body wins; else the latest dated keyword; else a
    year in the title (last, because scraped titles carry SEO years such as "2024年工作计划")."""
    years = Counter(int(y) for y in _EXPLICIT_YEAR.findall(text))
    if years:
        # The most mentioned year (a range "2020-2023年" names a policy period, not the report).
        year = max(years, key=lambda y: (years[y], y))
        return year, f"{EXPLICIT_YEAR_EVIDENCE}：{'、'.join(f'{y}年×{n}' for y, n in sorted(years.items()))}"
    found = [(m.group(0), y) for kw, y in YEAR_KEYWORDS if (m := re.search(kw, text, re.I))]
    if not found:
        in_title = [int(y) for y in _EXPLICIT_YEAR.findall(title)]
        return (max(in_title), "标题年份（正文无线索）") if in_title else (None, "正文无年份线索")
    return max(y for _, y in found), "关键词：" + "、".join(f"{kw}（{y}）" for kw, y in found)


def spun_marker_count(text: str) -> int:
    return len(SPUN_MARKERS.findall(text))


def is_spun(text: str) -> bool:
    """Machine synonym-spun (伪原创) text: many spinner words (000-篇8 has 35; others 0)."""
    n = spun_marker_count(text)
    return n >= 5 and n * 1000 / max(len(text), 1) >= 3


def is_off_domain(text: str) -> bool:
    """Not a health bureau's report: no unit-level voice, or hardly any health words."""
    health = len(_HEALTH.findall(text)) * 1000 / max(len(text), 1)
    return not _UNIT_VOICE.search(text) or health < 1


@dataclass
class Labels:
    genre: str
    topic: str
    level: str
    year: int | None
    year_evidence: str


def label_text(text: str, title: str = "") -> Labels:
    year, evidence = year_of(text, title)
    return Labels(genre_of(text), topic_of(text), level_of(text), year, evidence)
