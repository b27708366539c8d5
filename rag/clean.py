"""Cleaning scraped report pages into article bodies.

Rule ids (N01…N29) are those of /work/shared/research/seeds-analysis.md §4; every removal or
change is recorded as an AuditEntry so a person can review it. The order follows §4.4:
cut footer → drop header lines → split articles → repair lines → fix decimals → inline garbage
→ punctuation and units → t2s → word fixes → headings → placeholders.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.headings import CN_NUM, parse_heading
from rag.schema import AuditEntry
from rag.textnorm import HAN, chinese_numeral, parse_chinese_numeral, to_fullwidth_punctuation, to_simplified

MASK = "〔缺〕"  # one token for every lost number or name; never filled in


@dataclass
class Line:
    no: int      # 1-based line number in the source file (first line when lines were joined)
    text: str


@dataclass
class RawArticle:
    number: int                  # 1-based position of the article in its file
    title: str
    lines: list[Line]


@dataclass
class CleanedBody:
    lines: list[Line]
    flags: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


class Auditor:
    """Collects AuditEntry records for one source file."""

    def __init__(self, source: str):
        self.source = source
        self.entries: list[AuditEntry] = []

    def add(self, action: str, rule: str, line: int | None, before: str, after: str = "",
            reason: str = "") -> None:
        self.entries.append(AuditEntry(self.source, action, rule, line, before, after, reason))

    def sub(self, pattern: re.Pattern, repl, line: Line, rule: str, reason: str,
            action: str = "replace") -> None:
        """re.sub on one line, recording each match with a little context."""
        text = line.text

        def one(m: re.Match) -> str:
            new = m.expand(repl) if isinstance(repl, str) else repl(m)
            if new != m.group(0):
                lo, hi = max(0, m.start() - 8), min(len(text), m.end() + 8)
                self.add(action, rule, line.no, text[lo:hi],
                         text[lo:m.start()] + new + text[m.end():hi], reason)
            return new

        line.text = pattern.sub(one, text)


# ---------------------------------------------------------------- page noise (N01–N15)

class _BreadcrumbLine:
    r"""N05 `^\s*\S+(?:\s*>\s*\S+){2,}\s*$` (a site's “首页 > 范文 > 总结” path) decided by running
    the pattern's automaton over the line once. As a backtracking regex it is exponential: `\S+`
    may swallow `>`, so a line of many `x>` items has exponentially many parses."""

    pattern = r"^\s*\S+(?:\s*>\s*\S+){2,}\s*$"

    @staticmethod
    def search(text: str) -> bool:
        # States: "lead" (leading blanks), ("item", n) inside an item after n separators,
        # ("pre", n) blanks after an item, ("post", n) after a separator and its blanks,
        # "tail" trailing blanks; n counts separators, capped at 2 ("{2,}").
        states: set = {"lead"}
        for ch in text:
            blank = ch.isspace()
            nxt: set = set()
            for s in states:
                if s == "lead":
                    nxt.add("lead" if blank else ("item", 0))
                    continue
                if s == "tail":
                    if blank:
                        nxt.add("tail")
                    continue
                kind, n = s
                if kind == "item":
                    if blank:
                        nxt.add(("pre", n))
                    else:
                        nxt.add(("item", n))
                        if ch == ">":
                            nxt.add(("post", min(n + 1, 2)))
                elif kind == "pre":
                    if blank:
                        nxt.add(("pre", n))
                    elif ch == ">":
                        nxt.add(("post", min(n + 1, 2)))
                elif blank:  # post
                    nxt.add(("post", n))
                else:
                    nxt.add(("item", n))
            if not nxt:
                return False
            states = nxt
        return bool(states & {("item", 2), ("pre", 2), "tail"})


HEADER_RULES: list[tuple[str, re.Pattern | _BreadcrumbLine, str]] = [
    # The tempered dot stops at the next “由网友“”, so each character is scanned from one start only.
    ("N01", re.compile(r"由网友“(?:(?!由网友“)[^”])*”投稿提供"), "网站投稿来源说明"),
    ("N02", re.compile(r"(?:下面是|今天)小编"), "网站“小编”导语"),
    ("N03", re.compile(r"^时间[:：]\s*\d{4}-\d{2}-\d{2}[\s\d:]*浏览量[:：]?\s*$"), "发布时间与浏览量"),
    ("N04", re.compile(r"^更新时间[:：]?\s*$"), "空的更新时间"),
    ("N05", _BreadcrumbLine(), "网站导航路径"),
    ("N06", re.compile(r"^\s*前言[:：]\s*本站"), "网站前言"),
    # Starts only at the first of a run of brackets: retrying inside "((((…" is quadratic.
    ("N07", re.compile(r"(?<![（(])[（(]+(?:精选|通用)\d+篇[)）]+"), "合集标题"),
    ("N10", re.compile(r"^\s*\[[^\]]*范文\]\s*$"), "“范文”标签"),
    ("N13", re.compile(r"^\S{2,40}\d{4}-\d{2}-\d{2}\s*$"), "相关文章标题与日期"),
    ("N15", re.compile(r"^\s*•|(?:\.\.\.|…)\s*$"), "截断的推荐摘要"),
]
# Lines that start the site footer: nothing after them is content (§4.1 "simplest robust rule").
FOOTER_RULES: list[tuple[str, re.Pattern, str]] = [
    ("N11", re.compile(r"^\s*★"), "“★”相关链接"),
    ("N12", re.compile(r"相关文章[:：]\s*$"), "“相关文章”栏"),
    ("N14", re.compile(r"^\s*(?:推荐访问[:：].*|最新推荐|推荐度[:：]?|点击下载.*|精选图文)\s*$"), "推荐与下载栏"),
]
# Article separators of a compilation page: "篇3：标题" and "标题 篇3". Written as a prefix match
# plus str.strip rather than `\s*(.+?)\s*$`, whose lazy group retries the blank run at every
# position (quadratic on a line of blanks).
_SEPARATOR_HEAD = re.compile(r"^篇(\d+)[:：](.*)$")
_DIGITS = re.compile(r"\d+")


def _separator(text: str) -> tuple[int, str] | None:
    m = _SEPARATOR_HEAD.match(text)
    if m:
        rest = m.group(2)
        if rest.strip():
            return int(m.group(1)), rest.strip()
        if rest:  # all blank: the regex this replaced kept the last blank as the title
            return int(m.group(1)), rest[-1]
    body = text.rstrip()
    mark = body.rfind("篇")
    if mark > 0 and _DIGITS.fullmatch(body, mark + 1) and body[mark - 1].isspace() and body[:mark].strip():
        return int(body[mark + 1:]), body[:mark].strip()
    return None


def _title_key(text: str) -> str:
    return re.sub(r"\s+", "", to_simplified(to_fullwidth_punctuation(text.strip())))


def clean_title(title: str) -> str:
    return to_simplified(to_fullwidth_punctuation(re.sub(r"\s+", "", title)))


def _looks_like_title(text: str) -> bool:
    t = text.strip()
    return (2 <= len(t) <= 40 and not heading_level(t) and not re.search(r"[。；;！!？?，,]$", t)
            and "。" not in t)


def split_document(text: str, audit: Auditor) -> list[RawArticle]:
    """Cut the site footer, drop header lines, and split a page into its articles (N01–N15)."""
    lines = [Line(i, t) for i, t in enumerate(text.splitlines(), 1)]
    kept: list[Line] = []
    for pos, line in enumerate(lines):
        footer = next(((rid, why) for rid, rx, why in FOOTER_RULES if rx.search(line.text)), None)
        if footer:
            for rest in lines[pos:]:
                if rest.text.strip():
                    audit.add("cut_footer", footer[0], rest.no, rest.text, "", f"页脚（自“{footer[1]}”起）")
            break
        hit = next(((rid, why) for rid, rx, why in HEADER_RULES if rx.search(line.text)), None)
        if hit:
            audit.add("drop_line", hit[0], line.no, line.text, "", hit[1])
            continue
        kept.append(line)

    seps = [(i, _separator(line.text)) for i, line in enumerate(kept)]
    seps = [(i, s) for i, s in seps if s]
    articles: list[RawArticle] = []
    if seps:
        for i, line in enumerate(kept[:seps[0][0]]):
            if line.text.strip():  # the page title above a compilation
                audit.add("drop_line", "N09", line.no, line.text, "", "合集前的页面标题")
        for k, (i, (number, title)) in enumerate(seps):
            end = seps[k + 1][0] if k + 1 < len(seps) else len(kept)
            audit.add("replace", "N08", kept[i].no, kept[i].text, title, "合集分篇标记，取其标题")
            articles.append(RawArticle(number, title, kept[i + 1:end]))
    else:
        body = [line for line in kept if line.text.strip()]
        title = ""
        if len(body) > 1 and _looks_like_title(body[0].text):
            title = body[0].text.strip()
            audit.add("replace", "TITLE", body[0].no, body[0].text, title, "首行为标题")
            body = body[1:]
        articles.append(RawArticle(1, title, body))

    for art in articles:
        nonblank = [line for line in art.lines if line.text.strip()]
        for line in nonblank[:3]:
            if art.title and _title_key(line.text) == _title_key(art.title):
                audit.add("drop_line", "N09", line.no, line.text, "", "正文开头重复的标题")
                art.lines = [x for x in art.lines if x is not line]
    return articles


# ---------------------------------------------------------------- headings

def heading_level(text: str) -> int | None:
    """1–4 for a line starting with a heading marker (any common variant), else None."""
    h = parse_heading(text)
    return h.rank if h and h.rank <= 4 else None


_HEADING_FIXES: list[tuple[re.Pattern, str, str]] = [
    (re.compile(f"^([{CN_NUM}]+)[.．]"), r"\1、", "一级标题用“一、”"),
    (re.compile(r"^0?(\d{1,2})[、．](?!\d)"), r"\1.", "三级标题用“1.”"),
    (re.compile(r"^0(\d)\.(?!\d)"), r"\1.", "三级标题用“1.”"),
    (re.compile(f"^第([{CN_NUM}]+)、是"), r"\1是", "“第一、是”改为“一是”"),
]


def _normalize_headings(lines: list[Line], audit: Auditor) -> None:
    prev_top = 0
    for line in lines:
        for rx, repl, why in _HEADING_FIXES:
            audit.sub(rx, repl, line, "HEADING", why)
        m = re.match(f"^([{CN_NUM}]+)、", line.text)
        if m:
            n = parse_chinese_numeral(m.group(1))
            if n is not None and n == prev_top:  # "三、" written twice (000-篇5)
                new = chinese_numeral(n + 1) + "、" + line.text[m.end():]
                audit.add("replace", "HEADING", line.no, line.text[:20], new[:20], "一级标题序号重复，顺延")
                line.text, n = new, n + 1
            prev_top = n or prev_top


# ---------------------------------------------------------------- line repair (N26–N28)

_ENDS_HAN = re.compile(f"[{HAN}]$")
_STARTS_HAN = re.compile(f"^[{HAN}]")
_ENDS_SEMI = re.compile(r"[;；]\s*$")
_RUN_ON_HEADING = re.compile(f"^([{CN_NUM}]+、[^。\n]{{4,40}}。)(.+)$")
_EDGE_BLANKS = " \t\u3000\xa0"
# Each alternative starts only at the first blank of a run (lookbehind): retried at every blank of
# a long run, `[ \u3000]+(?=…)` is quadratic.
_STRAY_SPACE = re.compile(f"(?<=[{HAN},，。])[ \u3000]+(?=[{HAN}\\d])|(?<=\\d) +(?=[{HAN}])"
                          r"|(?<![ \u3000])[ \u3000]+(?=[,，。;；:：、!?！？])")
_REPORT_COLON = re.compile(f"(?<=汇报|如下)[ \u3000]+(?=[{HAN}])")


def _is_heading_line(text: str) -> bool:
    return bool(heading_level(text)) and len(text) <= 60 and "。" not in text[:-1]


def _breaks_a_word(prev: str, nxt: str, doc: str) -> bool:
    """A line that ends mid-word: the two characters around the break occur together elsewhere
    at least as often as the pairs on either side ("…核心的双⏎拥宣传" yes, "…应对措施⏎推进" no:
    that is a paragraph missing its full stop, and is left as two paragraphs)."""
    if len(prev) > 1 and prev[-2] in "，,、；;：:":
        return True  # a one-character clause ("…烈士陵园,参⏎观…") is always a broken word
    across = doc.count(prev[-1] + nxt[0])
    before = doc.count(prev[-2:]) if len(prev) > 1 and _ENDS_HAN.search(prev[:-1]) else 0
    return across >= 1 and across >= max(before, doc.count(nxt[:2]))


def _repair_lines(lines: list[Line], audit: Auditor) -> list[Line]:
    stripped = 0
    out: list[Line] = []
    for line in lines:
        new = line.text.strip(_EDGE_BLANKS)
        stripped += new != line.text
        if new:
            out.append(Line(line.no, new))
    if stripped:
        audit.add("replace", "N27", out[0].no if out else None, f"{stripped} 行首尾有空白", "",
                  "删除行首行尾空白与空行")

    doc = "\n".join(x.text for x in out)
    joined: list[Line] = []
    for line in out:
        if joined:
            prev = joined[-1]
            broken_word = (_ENDS_HAN.search(prev.text) and len(prev.text) > 20
                           and not _is_heading_line(prev.text) and _STARTS_HAN.match(line.text)
                           and not heading_level(line.text) and _breaks_a_word(prev.text, line.text, doc))
            split_list = _ENDS_SEMI.search(prev.text) and not heading_level(line.text)
            if broken_word or split_list:
                rule = "N26a" if broken_word else "N26b"
                audit.add("replace", rule, line.no, prev.text[-12:] + "⏎" + line.text[:12],
                          prev.text[-12:] + line.text[:12],
                          "词语中间断行，合并" if broken_word else "分号后断行，合并")
                prev.text += line.text
                continue
        joined.append(line)

    result: list[Line] = []
    for line in joined:
        m = _RUN_ON_HEADING.match(line.text)
        if m:
            audit.add("replace", "N26c", line.no, m.group(1) + m.group(2)[:10],
                      m.group(1) + "⏎" + m.group(2)[:10], "标题与正文同行，拆开")
            result += [Line(line.no, m.group(1)), Line(line.no, m.group(2))]
        else:
            result.append(line)
    for line in result:
        audit.sub(_REPORT_COLON, "：", line, "N28", "“汇报”后缺冒号")
        audit.sub(_STRAY_SPACE, "", line, "N28", "多余空格")
    return result


# ---------------------------------------------------------------- inline fixes

# N17: the decimal point written as "、"/"。" ("1、38亿元"). A unit must follow, so list items
# such as "13、50以上" (line start) or "2、3月" are left alone.
_DECIMAL = re.compile(r"(?<=[^\s\d])(\d+)[、。](\d+)(?=[万亿千%％‰/元])")
_GARBAGE = re.compile(f"(?<=[{HAN}“”])[.`'](?=[{HAN}“”])")
_REVERSED_QUOTES = re.compile(f"”([{HAN}]{{1,20}})“")
_DOUBLED_PUNCT = re.compile(r"[,，]([。.])(?!\d)|。\s*(。)")
_DOT_RUN = re.compile(r"\.{3,}")
# Any bracketed run; only those holding U+FFFD are removed (see clean_body). Requiring the U+FFFD
# inside the pattern made it backtrack over every U+FFFD of the run (quadratic).
_BRACKETED = re.compile(r"[（(][^（）()\n]*[)）]")
_UNITS: list[tuple[re.Pattern, str]] = [
    (re.compile("％"), "%"),
    (re.compile("㎡"), "平方米"),
    (re.compile(r"(?<=[\d万])[mM]2(?![\d])"), "平方米"),
]
# N22: a scraper swapped 组织 for 支部 (000-篇10). Only fixed in an article that never writes
# 组织 and uses 支部 as a verb or organiser several times.
_ZHIBU_AS_ZUZHI = re.compile(r"支部(?=全市|大型|市级|医务|党员|“|对我市|奖)")

# N19 placeholders, applied in this order on simplified text.
_PLACEHOLDERS: list[tuple[str, re.Pattern, str]] = [
    ("N19a", re.compile(r"20[Xx*]{2}"), "年份被隐去"),
    ("N19b", re.compile(r"(?<![A-Za-z0-9])[Xx]{2,}(?:[.。、]\d+)?(?![A-Za-z])"), "数字或名称被隐去"),
    ("N19c", re.compile(r"(?<![A-Za-z])[Xx](?=[市县区镇乡村局届中年月日帮])"), "名称被隐去"),
    ("N19d", re.compile(r"(?<!\d)\*+"), "数字或名称被星号隐去"),
    ("N19e", re.compile(r"_{2,}|＿{2,}"), "名称留空"),
    ("N19f", re.compile(r"□+"), "名称被方框隐去"),
    ("N19g", re.compile(r"(?<=对)地名(?=[卫医乡镇县市区村])"), "地名被隐去"),
]
# N19h: the number was deleted and the measure word left ("下辖个党支部，名党员").
_MISSING_NUMBER = re.compile(r"(?<![\d一二三四五六七八九十百千万两几多余数每各整〕])(?=[个名]党)"
                             r"|(?<=军人|人员|机关|医院)(?=名[，,、.。…])")
# N18: a rate with no unit: the "%" was lost. Flag only; the number cannot be repaired.
LOST_PERCENT = re.compile(r"率(?:达到|达|为)?\d+(?:\.\d+)?(?![\d.%％‰/、])")
# N21: words a synonym spinner produced (000-篇8).
SPUN_MARKERS = re.compile("步队|当真|优抚东西|构造带领|大家卫生|传抱病|查抄|批示部|斥候|经过议定|交易骨干"
                          "|紧张议事日程|唆使精神|当局")


def with_placeholder_flag(flags: list[str], text: str) -> list[str]:
    """flags of a whole text, re-derived for a part of it: has_placeholder only if the part has one."""
    return sorted({f for f in flags if f != "has_placeholder"} | ({"has_placeholder"} if MASK in text else set()))


def _balanced_before(text: str, pos: int) -> bool:
    return text.count("“", 0, pos) == text.count("”", 0, pos)


def clean_body(lines: list[Line], audit: Auditor) -> CleanedBody:
    """Clean one article's lines; returns the new lines and flags (has_placeholder, …)."""
    lines = [Line(x.no, x.text) for x in lines]
    for line in lines:
        audit.sub(_BRACKETED, lambda m: "" if "\ufffd" in m.group(0) else m.group(0), line, "N20",
                  "乱码的文号，删除")
        audit.sub(re.compile("\ufffd"), "", line, "N20", "乱码字符，删除")
    lines = _repair_lines(lines, audit)

    for line in lines:
        audit.sub(_DECIMAL, r"\1.\2", line, "N17", "小数点误作顿号/句号")
        audit.sub(_GARBAGE, "", line, "N16", "汉字间的杂散符号")
        audit.sub(_REVERSED_QUOTES,
                  lambda m: f"“{m.group(1)}”" if _balanced_before(line.text, m.start()) else m.group(0),
                  line, "N25", "引号方向颠倒")

    punct_changes = 0
    for line in lines:
        new = to_fullwidth_punctuation(line.text)
        punct_changes += sum(a != b for a, b in zip(new, line.text))
        line.text = new
        audit.sub(_DOUBLED_PUNCT, lambda m: m.group(1) or m.group(2), line, "N29", "重复标点，保留后一个")
        audit.sub(_DOT_RUN, "……", line, "N29", "连串英文句点改为省略号")
        for rx, repl in _UNITS:
            audit.sub(rx, repl, line, "N24", "统一单位写法")
    if punct_changes:
        audit.add("replace", "N23", lines[0].no, f"{punct_changes} 处半角标点", "全角标点",
                  "中文里的半角标点改为全角")

    t2s_lines = 0
    for line in lines:
        new = to_simplified(line.text)
        if new != line.text:
            t2s_lines += 1
            line.text = new
    if t2s_lines:
        audit.add("replace", "T2S", lines[0].no, f"{t2s_lines} 行含繁体字", "简体", "繁体转简体（OpenCC t2s）")

    text = "\n".join(x.text for x in lines)
    if "组织" not in text and len(_ZHIBU_AS_ZUZHI.findall(text)) >= 3:
        for line in lines:
            audit.sub(_ZHIBU_AS_ZUZHI, "组织", line, "N22", "“组织”被替换成“支部”，还原")

    _normalize_headings(lines, audit)

    for line in lines:
        for rid, rx, why in _PLACEHOLDERS:
            audit.sub(rx, MASK, line, rid, why + "，以〔缺〕标记", action="mask")
        audit.sub(_MISSING_NUMBER, MASK, line, "N19h", "数字缺失（只剩量词），以〔缺〕标记", action="mask")

    flags: list[str] = []
    if any(MASK in x.text for x in lines):
        flags.append("has_placeholder")
    lost = [(x, m) for x in lines for m in LOST_PERCENT.finditer(x.text)]
    for line, m in lost:
        audit.add("flag", "N18", line.no, line.text[max(0, m.start() - 10):m.end() + 6], "",
                  "比率缺“%”，本文数字不可靠")
    if lost:
        flags += ["numbers_unreliable", "percent_lost"]
    return CleanedBody(lines, flags)


def clean_text(text: str, source: str = "text") -> str:
    """Clean a plain article body (no page noise handling); used for checks and idempotence."""
    lines = [Line(i, t) for i, t in enumerate(text.splitlines(), 1)]
    return clean_body(lines, Auditor(source)).text
