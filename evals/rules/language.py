"""LANG-01..04: simplified script, no English or markup, no chat text, official register."""
from __future__ import annotations

import re
from collections.abc import Iterator

from evals.context import CheckContext
from rag.text import LATIN_TOKEN_RE
from evals.registry import GBT_9704, PRACTICE, REGULATIONS, Finding, rule
from evals.rules.clean import PLACEHOLDER_RE

GRADE_LETTER_RE = re.compile(r"(?<![A-Za-z])[A-Z](?=[级类型超线区])")
LATIN_WHITELIST = frozenset({
    "DR", "CT", "MRI", "HIS", "LIS", "PACS", "EMR", "ICU", "CCU", "NICU", "HIV", "AIDS", "HPV", "PCR",
    "AED", "ECMO", "N95", "COVID-19", "5G", "APP", "App", "DRG", "DIP", "CDC", "B", "X",
})
FLU_SUBTYPE_RE = re.compile(r"H\d+N\d+")
MARKUP_RE = re.compile(r"```|^[ \t]*#{1,6}\s|\*\*|</?[A-Za-z][^>\n]*>|https?://", re.M)
HAN_RE = re.compile(r"[\u4e00-\u9fff]")
ANY_LATIN_RE = re.compile(r"[A-Za-z]")

META_RE = re.compile(
    r"(以下是|下面是|如下是)(根据|为您|您)|根据您(提供|的要求)|希望(以上|这份|本文|对你|对您)|(对你|对您)有所?帮助"
    r"|以上(就是|便是)|如需(修改|调整)|作为(一个)?(AI|人工智能|语言模型)|我无法|抱歉|请注意[：:]|^注[：:]|^好的[，,]")

QUOTED_RE = re.compile(r"“[^“”\n]*”")
# 我局/我们/我委… are the unit speaking; 自我/忘我 are words, not a person.
FIRST_PERSON_RE = re.compile(r"(?<![自忘])我(?![局们委院区县市国省党科办站所中])")
REGISTER_RE = re.compile(r"[你您]|[!！]|[吧呢啊嘛哦][。！]")


@rule("LANG-01", "blocker", "稿中有繁体字，应全部使用简体字", source="《通用规范汉字表》；" + REGULATIONS)
def simplified_only(ctx: CheckContext) -> Iterator[Finding]:
    raw, simp = ctx.draft.text, ctx.draft.simplified
    for ln in ctx.draft.lines:
        hits = [i for i in range(ln.start, ln.end) if raw[i] != simp[i]]
        if hits:
            chars = "".join(dict.fromkeys(raw[i] for i in hits))
            yield Finding(hits[0], hits[-1] + 1, ctx.excerpt(hits[0], hits[0] + 1),
                          detail=f"“{chars[:20]}”等{len(hits)}处")


def _latin_runs(ctx: CheckContext) -> list[tuple[int, int]]:
    """Spans of Latin tokens neither whitelisted nor used by the facts (CMI, 1+1+N),
    neighbours without Han between them merged."""
    text = ctx.draft.text
    if not ANY_LATIN_RE.search(text):
        return []
    masked = list(text)
    for pattern in (PLACEHOLDER_RE, GRADE_LETTER_RE):
        for m in pattern.finditer(text):
            masked[m.start():m.end()] = "\x00" * (m.end() - m.start())
    masked_text = "".join(masked)
    spans: list[tuple[int, int]] = []
    for m in LATIN_TOKEN_RE.finditer(masked_text):
        s = m.start()
        while s > 0 and masked_text[s - 1].isdigit():
            s -= 1
        token, with_digits = m.group(0), masked_text[s:m.end()]
        if ({token, with_digits} & (LATIN_WHITELIST | ctx.fact_latin_tokens)
                or FLU_SUBTYPE_RE.fullmatch(token)):
            continue
        if spans and "\n" not in text[spans[-1][1]:m.start()] \
                and not HAN_RE.search(text[spans[-1][1]:m.start()]):
            spans[-1] = (spans[-1][0], m.end())
        else:
            spans.append((m.start(), m.end()))
    return spans


@rule("LANG-02", "blocker", "稿中夹杂英文、代码或标记语言", source=REGULATIONS)
def no_english(ctx: CheckContext) -> Iterator[Finding]:
    text = ctx.draft.text
    for s, e in _latin_runs(ctx):
        yield Finding(s, e, text[s:e][:60], detail=f"“{text[s:e][:30]}”")
    for m in MARKUP_RE.finditer(text):
        yield Finding(m.start(), m.end(), ctx.excerpt(m.start(), m.end()),
                      detail=f"标记“{m.group(0).strip()}”")


@rule("LANG-03", "blocker", "稿中有对话或说明性文字（如“以下是根据您的要求……”）", source=PRACTICE)
def no_meta_text(ctx: CheckContext) -> Iterator[Finding]:
    for ln in ctx.draft.lines:
        body, lead = ln.body
        for m in META_RE.finditer(body):
            s, e = lead + m.start(), lead + m.end()
            yield Finding(s, e, body[:40], detail=f"“{m.group(0)}”")


@rule("LANG-04", "minor", "语体不够庄重（第一人称单数、第二人称、感叹号或语气词）", source=GBT_9704 + "；" + PRACTICE)
def official_register(ctx: CheckContext) -> Iterator[Finding]:
    text = QUOTED_RE.sub(lambda m: " " * len(m.group(0)), ctx.draft.text)
    patterns = [REGISTER_RE] if ctx.genre == "述职报告" else [FIRST_PERSON_RE, REGISTER_RE]
    for pattern in patterns:
        for m in pattern.finditer(text):
            yield Finding(m.start(), m.end(), ctx.excerpt(m.start(), m.end()), detail=f"“{m.group(0)}”")
