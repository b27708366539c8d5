"""CLEAN-01..04: placeholders, scrape noise, inline garbage, lost numbers."""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

from rag.text import REMINDER_RE
from rag.textnorm import HAN

from evals.context import CheckContext
from evals.registry import PRACTICE, REGULATIONS, Finding, rule

PLACEHOLDER_RE = re.compile(
    r"20[Xx×＊*]{2}|[Xx]{2,}|(?<![A-Za-z])[Xx](?=[市县区镇乡村局届年月日])|＊|\*|_{2,}|＿{2,}|□|■"
    # 〇〇 inside a year written in Chinese numerals (二〇〇八年) is not a placeholder.
    r"|○○|(?<![一二三四五六七八九〇零])〇〇(?![一二三四五六七八九〇零年])|某某"
    # A bracket pair holds no opening bracket, so a line of “【【【…” is scanned once, not once per “【”.
    r"|某(?:县|市|区|镇|乡|单位|同志|医院)|【[^【】\n]*】|\[[^\[\]\n]*\]|\{[^{}\n]*\}|待补充|待填写|TBD|TODO|\?\?|？？")

SCRAPE_NOISE_RE = re.compile(
    r"小编|网友|投稿|浏览量|阅读量|更新时间|发布时间|相关文章|推荐访问|最新推荐|精选图文|推荐度|点击下载|文档为doc|范文"
    r"|本站|首[页頁]|文章中心|精选\d+篇|通用\d+篇|篇\d+[:：]|^篇\d+|★|•|供大家参考|一起来阅读|客服老师|作文档|前言[:：]|范文大全")
DATED_SITE_LINE_RE = re.compile(r"^\S{2,40}\d{4}-\d{2}-\d{2}$")
# "卫生局2024年工作计划 篇3": the SEO suffix of a compilation page (eval-rules.md CLEAN-02 example).
SEO_SUFFIX_RE = re.compile(r"(?<=\s)篇\d+$")

GARBAGE_RE = re.compile(
    rf"(?<=[{HAN}“”])[.`'’‘](?=[{HAN}“”])|\ufffd|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
    r"|(?<=[^\s\d])\d+[、。]\d+|[，,][。.]|的的"
    r"|步队|当真|优抚东西|构造带领|大家卫生|传抱病|查抄|批示部|斥候|经过议定|交易骨干|紧张议事日程|唆使精神|当局")

LOST_NUMBER_RE = re.compile(
    # A rate of exactly 0 (孕产妇死亡率为0) needs no unit.
    r"率(?:达到|达|为|是)?(?!0(?![\d.]))\d+(?:\.\d+)?(?![\d.%％‰‱/]|个百分点|分)"
    r"|(?<![\d一二三四五六七八九十百千万两几多余数若每各])[个名](?=党支部|党员)"
    r"|(?:军人|人员|党员|干部)\s*名[，,。]")


def _each(ctx: CheckContext, pattern: re.Pattern[str]) -> Iterator[Finding]:
    for m in pattern.finditer(ctx.draft.text):
        yield Finding(m.start(), m.end(), ctx.excerpt(m.start(), m.end()), detail=f"“{m.group(0)}”")


@rule("CLEAN-01", "blocker", "稿中有占位符（XX、＊、□、某某、待补充等）", source=REGULATIONS)
def placeholders(ctx: CheckContext) -> Iterator[Finding]:
    for f in _each(ctx, PLACEHOLDER_RE):
        if REMINDER_RE.fullmatch(ctx.draft.text[f.start:f.end]):
            yield replace(f, severity="warn", detail=f"{f.detail}是留给您填写的标记，定稿前请核实或补充")
        else:
            yield f


def _in_fact_term(text: str, m: re.Match, facts: str) -> bool:
    """The match with two characters around it stands in a fact: the fact's wording, not noise."""
    windows = (text[max(0, m.start() - 2):m.end()], text[max(0, m.start() - 1):m.end() + 1],
               text[m.start():m.end() + 2])
    return any(len(w) > len(m.group(0)) and w in facts for w in windows)


@rule("CLEAN-02", "blocker", "稿中有网页抓取的杂质（小编、供大家参考、篇N等）", source=PRACTICE)
def scrape_noise(ctx: CheckContext) -> Iterator[Finding]:
    for ln in ctx.draft.lines:
        body, lead = ln.body
        for m in SCRAPE_NOISE_RE.finditer(body):
            if _in_fact_term(body, m, ctx.all_fact_text):
                continue   # “病案首页” is a fact's own term, not a web page's 首页
            s, e = lead + m.start(), lead + m.end()
            yield Finding(s, e, ctx.excerpt(s, e, 12), detail=f"“{m.group(0)}”")
        for m in SEO_SUFFIX_RE.finditer(body):
            s, e = lead + m.start(), lead + m.end()
            yield Finding(s, e, body[:40], detail=f"“{m.group(0)}”")
        if DATED_SITE_LINE_RE.match(body):
            yield Finding(lead, lead + len(body), body, detail="网页日期行")


@rule("CLEAN-03", "major", "稿中有乱码、错用的小数点或伪原创替换词", source=PRACTICE)
def inline_garbage(ctx: CheckContext) -> Iterator[Finding]:
    for m in GARBAGE_RE.finditer(ctx.draft.text):
        if m.group(0)[0].isdigit() and m.group(0) in ctx.all_fact_text:   # the user wrote it so (“与110、119联动”)
            continue
        shown = m.group(0).encode("unicode_escape").decode() if not m.group(0).isprintable() else m.group(0)
        yield Finding(m.start(), m.end(), ctx.excerpt(m.start(), m.end()), detail=f"“{shown}”")


@rule("CLEAN-04", "major", "数字或单位缺失（如“覆盖率100，”“名党员”）", source=REGULATIONS)
def lost_numbers(ctx: CheckContext) -> Iterator[Finding]:
    as_in_facts = {m.group(0) for m in LOST_NUMBER_RE.finditer(ctx.all_fact_text)}
    for f in _each(ctx, LOST_NUMBER_RE):
        if ctx.draft.text[f.start:f.end] not in as_in_facts:   # the user wrote it so
            yield f
