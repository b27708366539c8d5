"""FACT-01..06 and FACT-03b: the draft's numbers and names against the user's facts."""
from __future__ import annotations

import re
from collections.abc import Iterator

from rag.textnorm import parse_chinese_numeral

from evals.context import CheckContext
from rag.text import KEY_CHARS, KeyedToken, NumberToken, extract_numbers, is_year_token
from evals.registry import GBT_NUMBERS, PRACTICE, REGULATIONS, Finding, rule
from rag.headings import ENUM_ITEM_RE

# FACT-03 fixed terms (matched on S(draft)); numbers inside them are not quantities.
FIXED_TERMS_RE = re.compile(r"12320|120(?=急救|指挥|调度)|N95|H\d+N\d+|COVID-19|5G")
NAMED_ITEM_RE = re.compile(r"《[^《》\n]*》|“[^“”\n]*”")
SENTENCE_BREAKS = "。；！？!?;\n"
FACT04_LOOKBACK = 14

COUNT_CLAIM_RE = re.compile(r"(以下|抓好|做好|突出|聚焦|重点抓好|重点做好)([一二三四五六七八九十两]{1,2})(个方面|项|方面|件|大)")
# A numeral run is tried from its first character only (its second after 第, as before), here and
# in CN_FIXED_RE: tried from every character, a long run of numerals was scanned once per character.
CN_QUANTITY_RE = re.compile(r"(?:(?<![第一二三四五六七八九十两])|(?<=第[一二三四五六七八九十两]))"
                            r"([一二三四五六七八九十两]+)(项|个|家|所|名|人|次|台|场|期)")
# FACT-03b fixed expressions: these numerals are names or set phrases, not quantities.
CN_FIXED_RE = re.compile(
    r"两个(确立|维护|毫不动摇|结合|务必)|三个(代表|务必|区分)|四个(意识|自信|全面|面向|最严)|"
    r"五个(必由之路)|三级(医院|医疗)|二级(甲等|以上|医院)|两癌|十四五|十五五|二十届|"
    r"(?<![一二三四五六七八九十两])[一二三四五六七八九十两]+个方面|一人一(档|策)|[一二三四五六七八九十]次(会议|全会)"
    # "五项制度", "三项措施": names of sets of measures, not measured quantities.
    r"|(?<![一二三四五六七八九十两])[一二三四五六七八九十两]+项(制度|措施|任务|工作|举措|原则|要求|机制|行动)")
_QUAL_AFTER = ("以上", "以下", "余")
_QUAL_BEFORE = ("不少于", "不低于", "约", "近")
QUAL_AFTER_WINDOW = 2   # 以上/以下/余 right after the number and unit
QUAL_BEFORE_WINDOW = 4  # 不少于/不低于/约/近 right before the number


def _fixed_spans(ctx: CheckContext) -> list[tuple[int, int]]:
    cmp = ctx.draft.compare
    return [cmp.source_span(m.start(), m.end()) for m in FIXED_TERMS_RE.finditer(cmp.text)]


def _token_desc(t: NumberToken) -> str:
    return f"{t.value}{t.unit}"


@rule("FACT-01", "major", "事实中的数字在稿中缺失或数值、单位被改动", source=f"{REGULATIONS}（内容真实准确）")
def fact_numbers_present(ctx: CheckContext) -> Iterator[Finding]:
    pairs = {t.pair for t in ctx.draft.numbers}
    values = {t.canonical for t in ctx.draft.numbers}
    reported: set[tuple[str, str]] = set()
    for fact, tok in ctx.required_tokens:
        if tok.pair in ctx.conflict_pairs or tok.pair in reported:
            continue
        ok = tok.pair in pairs if tok.unit else tok.canonical in values
        if not ok:
            reported.add(tok.pair)
            yield Finding(0, 0, _token_desc(tok), detail=f"“{_token_desc(tok)}”（事实：{fact}）")


@rule("FACT-02", "major", "事实中的文件名、项目名（《》或“”内）未原样出现", source=f"{REGULATIONS}（内容真实准确）")
def named_items_verbatim(ctx: CheckContext) -> Iterator[Finding]:
    text = ctx.draft.compare.text
    seen = set()
    for fact in ctx.mandatory_facts:
        for m in NAMED_ITEM_RE.finditer(fact):
            item = m.group(0)
            if item not in seen and item not in text:
                seen.add(item)
                yield Finding(0, 0, item, detail=f"{item}（事实：{fact}）")


def _year_or_fixed(ctx: CheckContext, t: NumberToken, fixed: list[tuple[int, int]]) -> bool:
    return (is_year_token(t, ctx.draft.text)
            or any(s <= t.start < e for s, e in fixed))


@rule("FACT-03", "blocker", "稿中出现事实里没有的数字（含推算出的数字）", source=f"{REGULATIONS}（内容真实准确）")
def no_invented_numbers(ctx: CheckContext) -> Iterator[Finding]:
    fixed = _fixed_spans(ctx)
    for t in ctx.draft.numbers:
        if _year_or_fixed(ctx, t, fixed) or t.canonical in ctx.fact_values:
            continue
        yield Finding(t.start, t.end, ctx.excerpt(t.start, t.end), detail=f"“{t.text}”")


def _claim_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in COUNT_CLAIM_RE.finditer(text)]


@rule("FACT-03b", "warn", "汉字数量词不在事实中，请人工核对是否编造", source=f"{GBT_NUMBERS}；{PRACTICE}")
def chinese_numeral_quantities(ctx: CheckContext) -> Iterator[Finding]:
    cmp = ctx.draft.compare.text
    fixed = [m.span() for m in CN_FIXED_RE.finditer(cmp)] + _claim_spans(cmp)
    fact_text = ctx.all_fact_text
    for m in CN_QUANTITY_RE.finditer(cmp):
        numeral = m.group(1)
        value = 2 if numeral == "两" else parse_chinese_numeral(numeral)
        if value is None or value == 1 or m.group(0) in fact_text:
            continue
        if str(value) in ctx.fact_values or any(s <= m.start() < e for s, e in fixed):
            continue
        s, e = ctx.draft.compare.source_span(m.start(), m.end())
        yield Finding(s, e, ctx.excerpt(s, e), detail=f"“{m.group(0)}”")


def metric_values(keyed: list[KeyedToken]) -> dict[str, set[str]]:
    """Long FACT-04 key → values of the facts attached to it."""
    keys: dict[str, set[str]] = {}
    for kt in keyed:
        if kt.long_key:
            keys.setdefault(kt.long_key, set()).add(kt.token.canonical)
    return keys


def _best_values(window: str, keys: dict[str, set[str]]) -> tuple[str, set[str]] | None:
    """Values of the fact key best matching the text before a number: nearest, then longest
    matched suffix; keys that tie share their values. A key matches only if at least its spec
    form (last 4 chars) occurs in the window. Nearest first: in “48次集中清洁行动，参与群众2.6万人次”
    the number belongs to 参与群众, not to the longer key the previous number was written before."""
    best: list[str] = []
    best_score = (-1, 0)
    for long_key in keys:
        shortest = min(KEY_CHARS, len(long_key))
        for n in range(len(long_key), shortest - 1, -1):
            pos = window.rfind(long_key[-n:])
            if pos >= 0:
                score = (pos + n, n)
                if score > best_score:
                    best, best_score = [long_key], score
                elif score == best_score:
                    best.append(long_key)
                break
    if not best:
        return None
    return best[0], set().union(*(keys[k] for k in best))


def moved_numbers(text: str, numbers: list[NumberToken], keyed: list[KeyedToken],
                  skip: set[tuple[str, str]] = frozenset()) -> Iterator[tuple[NumberToken, str, set[str]]]:
    """(number, fact key, the key's values) for each fact figure of `text` written after another
    fact's metric. FACT-04's test; the drafting guard asks it of each model sentence, so the
    drafter never keeps a sentence the checker would fail."""
    keys = metric_values(keyed)
    if not keys:
        return
    values = {kt.token.canonical for kt in keyed}
    prev_end = 0
    for t in numbers:
        window = text[max(prev_end, t.start - FACT04_LOOKBACK):t.start]
        window = window[max(window.rfind(c) for c in SENTENCE_BREAKS) + 1:]
        prev_end = t.end
        if t.canonical not in values or t.pair in skip:
            continue
        found = _best_values(window, keys)
        if found and t.canonical not in found[1]:
            yield t, found[0], found[1]


@rule("FACT-04", "major", "数字与指标对应错误（数字被挪到了别的指标上）", source=f"{REGULATIONS}（内容真实准确）")
def numbers_attached(ctx: CheckContext) -> Iterator[Finding]:
    # the simplified draft is aligned with the raw one, so token offsets index it
    for t, best, owners in moved_numbers(ctx.draft.simplified, ctx.draft.numbers, ctx.keyed, ctx.conflict_pairs):
        yield Finding(t.start, t.end, ctx.excerpt(t.start, t.end, 14),
                      detail=f"事实中“{best}”对应{'、'.join(sorted(owners))}，稿中却是{t.text}")


@rule("FACT-05", "major", "“以下N个方面/N项”与实际列出的条数不符", source=PRACTICE)
def count_claims(ctx: CheckContext) -> Iterator[Finding]:
    d = ctx.draft
    hs = d.headings
    for m in COUNT_CLAIM_RE.finditer(d.text):
        claimed = 2 if m.group(2) == "两" else parse_chinese_numeral(m.group(2))
        if not claimed:
            continue
        line = d.line_at(m.start())
        enclosing = d.heading_by_line.get(line.index)
        if enclosing is None:
            before = [h for h in hs if h.line.index < line.index]
            enclosing = before[-1] if before else None
        enclosing_rank = enclosing.rank if enclosing else 0
        following = [h for h in hs if h.line.index > line.index]
        next_lines = [ln for ln in d.nonempty_lines if ln.index > line.index]
        counted = None
        if following and next_lines and next_lines[0].index == following[0].line.index \
                and following[0].rank > enclosing_rank:
            rank = following[0].rank
            counted = 0
            for h in following:
                if h.rank < rank:
                    break
                if h.rank == rank:
                    counted += 1
        else:
            items = list(ENUM_ITEM_RE.finditer(line.text, m.end() - line.start))
            counted = len(items) or None
        if counted is not None and counted != claimed:
            yield Finding(m.start(), m.end(), ctx.excerpt(m.start(), m.end()),
                          detail=f"写“{m.group(0)}”，实际列出{counted}条")


def _qualifiers(text: str, start: int, end: int) -> set[str]:
    """FACT-06 qualifiers touching a number: 以上/以下/余 just after it, 不少于/约/近 just before."""
    after = text[end:end + QUAL_AFTER_WINDOW + 2]
    before = text[max(0, start - QUAL_BEFORE_WINDOW):start]
    found = {q for q in _QUAL_AFTER if any(after.startswith(q, i) for i in range(QUAL_AFTER_WINDOW))}
    found |= {q for q in _QUAL_BEFORE if before.endswith(q) or before[:-1].endswith(q)}
    return found


@rule("FACT-06", "minor", "事实中数字前后的限定词（以上、不少于、约等）在稿中丢失", source=PRACTICE)
def qualifiers_kept(ctx: CheckContext) -> Iterator[Finding]:
    text = ctx.draft.simplified
    draft_quals: dict[tuple[str, str], set[str]] = {}
    first: dict[tuple[str, str], NumberToken] = {}
    for t in ctx.draft.numbers:
        draft_quals.setdefault(t.pair, set()).update(_qualifiers(text, t.start, t.end))
        first.setdefault(t.pair, t)
    for fact in ctx.mandatory_facts:
        for t in extract_numbers(fact):
            if is_year_token(t, fact) or t.pair not in draft_quals:
                continue
            lost = _qualifiers(fact, t.start, t.end) - draft_quals[t.pair]
            if lost:
                w = first[t.pair]
                yield Finding(w.start, w.end, ctx.excerpt(w.start, w.end),
                              detail=f"事实“{fact}”中“{t.text}”带“{'、'.join(sorted(lost))}”")
