"""Deterministic clean-up of one model reply before its sentences are checked.

A small model writes Markdown, chat lines ("以下是…"), ASCII punctuation, its own heading
styles and labels, the odd traditional character, and shortens fact terms (孕产妇 → 孕妇).
`clean_paragraph` undoes all of that, rule-based and idempotent; the guard runner
(rag.guards.GuardRunner.tidy) logs what it changed. Repeats and restatements are the guards'.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from rag.headings import ENUM_ITEM_RE, parse_heading
from rag.text import sentences_of
from rag.textnorm import (HAN, chinese_numeral, normalize_for_compare, parse_chinese_numeral, to_fullwidth_punctuation,
                          to_simplified)

# --- Markdown and chat ------------------------------------------------------------------------

_FENCE_LINE = re.compile(r"^\s*(```|~~~).*$")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s*")
_MD_QUOTE = re.compile(r"^\s*>\s?")
_MD_BULLET = re.compile(r"^\s*(?:[-*+•·▪●]\s+|[-*+•·▪●](?=[" + HAN + "（(]))")
_MD_EMPHASIS = re.compile(r"\*\*|__|(?<![\w*])\*(?=\S)|(?<=\S)\*(?![\w*])|`")
_MD_RULE = re.compile(r"^\s*(?:[-*_]\s*){3,}$")
_HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")

# LANG-03 meta/chat phrases (eval-rules.md §5) plus common model preambles.
_CHAT = re.compile(
    r"(以下是|下面是|如下是)(根据|为您|您|一篇|一份|一段|关于|本|改写|修改|按照|修订)|根据您(提供|的要求)|希望(以上|这份|这篇|本文|对你|对您)"
    r"|(对你|对您)有所?帮助|以上(就是|便是)|如需(修改|调整)|作为(一个)?(AI|人工智能|语言模型)|我无法|抱歉"
    r"|请注意[：:]|^注[：:]|此致|敬礼|谢谢(您|你|大家)|^尊敬的(上级)?领导|^好的[，,。！]|^当然[，,！]|^修改后的|^改好的|^正文[：:]|^(以下|下面)为")


def strip_markdown(text: str) -> str:
    lines = []
    for line in text.splitlines():
        if _FENCE_LINE.match(line) or _MD_RULE.match(line):
            continue
        line = _MD_HEADING.sub("", line)
        line = _MD_QUOTE.sub("", line)
        line = _MD_BULLET.sub("", line)
        line = _HTML_TAG.sub("", line)
        lines.append(_MD_EMPHASIS.sub("", line))
    return "\n".join(lines)


_SENTENCE = re.compile(r"[^。！？!?\n]*[。！？!?]?")


def drop_chat(text: str) -> str:
    """Remove meta/chat sentences; a line that is nothing but chat disappears."""
    out = []
    for line in text.splitlines():
        if not _CHAT.search(line.strip()):
            out.append(line)
            continue
        kept = "".join(s for s in _SENTENCE.findall(line.strip()) if s and not _CHAT.search(s))
        if kept.strip():
            out.append(kept)
    return "\n".join(out)


# --- characters, numbers, punctuation ---------------------------------------------------------

_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９％", "0123456789%")
_ASCII_QUOTES = re.compile(r'"([^"\n]*)"')
_SPACE_IN_TEXT = re.compile(f"(?<=[{HAN}，。；：、“”（）《》])[ \u3000\t]+|[ \u3000\t]+(?=[{HAN}，。；：、“”（）《》])")
_DOUBLED = [(re.compile(r"[，、；：]+(?=[。！？])"), ""), (re.compile(r"。{2,}"), "。"),
            (re.compile(r"，{2,}"), "，"), (re.compile(r"；{2,}"), "；"), (re.compile(r"、{2,}"), "、"),
            (re.compile(r"的的"), "的")]


def normalize_characters(text: str) -> str:
    """Simplified script, ASCII digits and %, full-width Chinese punctuation, no stray spaces."""
    text = to_simplified(text).translate(_FULLWIDTH_DIGITS)
    text = _ASCII_QUOTES.sub(lambda m: f"“{m.group(1)}”", text)
    text = to_fullwidth_punctuation(text)
    text = text.replace("!", "！").replace("！", "。")  # official register: no exclamation marks
    text = _SPACE_IN_TEXT.sub("", text)
    for rx, rep in _DOUBLED:
        text = rx.sub(rep, text)
    return text


# --- headings ---------------------------------------------------------------------------------

def heading_rank(line: str) -> tuple[int, int, str] | None:
    """(rank, ordinal, rest) for a heading line of rank 1–4 in any common marker style, else None."""
    h = parse_heading(line)
    if h is None or h.rank > 4 or h.ordinal == 0:
        return None
    return h.rank, h.ordinal, h.rest


_OPTIONAL_CHARS = set("级的和与及等之各乡县市区镇村省")


def restore_fact_terms(text: str, facts: Iterable[str]) -> str:
    """Put back fact terms the model shortened by one character (孕产妇死亡率 → 孕妇死亡率).

    Every 5–7 character window of a fact minus one inner character is a candidate shortening;
    it is replaced only where the shortened form occurs in the draft, nowhere in the facts, and
    leads to a figure (“孕妇死亡率为0”): a shortened term is a fact's label, and away from a figure
    the shorter form is often a word of its own (“围绕儿童健康需求” is no shortening of
    “0—6岁儿童健康管理”).
    Shorter windows, and a dropped 级/的/和…, make ordinary phrases: with the fact “组建区级卫生
    应急队伍”, “星湖区卫生健康局” would have become “星湖区级卫生健康局”.
    """
    fact_text = "\n".join(normalize_for_compare(f) for f in facts)
    fixes: dict[str, str] = {}
    for run in re.findall(f"[{HAN}]+", fact_text):
        for size in range(5, 8):
            for i in range(len(run) - size + 1):
                window = run[i:i + size]
                for j in range(1, size - 1):
                    if window[j] in _OPTIONAL_CHARS:
                        continue
                    short = window[:j] + window[j + 1:]
                    if short not in fact_text and short in text:
                        fixes.setdefault(short, window)
    for short in sorted(fixes, key=len, reverse=True):
        text = re.sub(re.escape(short) + r"(?=[^，。；！？\d]{0,6}\d)", fixes[short], text)
    return text


# --- whole-draft and single-paragraph clean-up ------------------------------------------------

def renumber_enumerations(line: str) -> str:
    """“一是……二是……” counted in order within a line. The model starts a list at “三是”, and a
    dropped sentence leaves a gap (STR-04); “一是” starts a new list, as the checker reads it."""
    expected = 1

    def renumber(m: re.Match[str]) -> str:
        nonlocal expected
        if parse_chinese_numeral(m.group(1)) == 1:
            expected = 1
        item, expected = f"{chinese_numeral(expected)}是", expected + 1
        return item

    return ENUM_ITEM_RE.sub(renumber, line)


_MD_HEADING_LINE = re.compile(r"^\s*(?:#{1,6}\s.*|\*\*[^*。，]{1,30}\*\*[：:]?|【[^】]{1,20}】[：:]?)\s*$")
_LEADING_LABEL = re.compile(r"^【[^】]{1,20}】[：:]?")
# The small model sometimes starts a paragraph with the section role it was given
# ("主要工作及成效深化…", "做法开展…") and runs list markers into the text ("…。四、加强…。六。").
_ROLE_LABEL = re.compile(r"^(?:主要工作及成效|主要工作|主要做法|做法|存在问题|下一步打算|目标任务|保障措施)[：:]?"
                         rf"(?=[{HAN}])")
_INLINE_MARKER = re.compile(r"(?<=[。；：])(?:[一二三四五六七八九十]+[、。．.]|[（(][一二三四五六七八九十\d]+[)）]"
                            r"|\d{1,2}[、．](?!\d)|\d{1,2}\.(?!\d))")
_TITLED_NAME = re.compile(r"《[^》]{1,40}》")
_ENDS = "。！？：；，、”）!?:;,"
# Labels the model puts before what it was asked to write ("将要做的事：", "具体措施：").
_META_LABEL = re.compile(r"(?:^|(?<=[。；]))(?:将要做的事|要做的事|具体做法|具体措施|具体怎么做|主要内容|工作内容|做法|措施"
                         r"|机制|方法|成效|对(?:群众|工作)(?:和(?:群众|工作))?的作用|这些工作具体是(?:如何|怎样)做的"
                         r"|事实\d*|正文|续写)[：:]")
# A salutation or sign-off belongs to the report's frame, never inside a body paragraph.
# "我们采取了以下措施：组建专业团队：成立了…": a list the model formats inside one paragraph.
# The intro sentence goes; a short label before a colon becomes the clause it is ("组建专业团队，成立了…").
_LIST_INTRO = re.compile(r"(?:^|(?<=[。；]))[^。；：]*以下[^。；：]{0,14}[：:](?=[^。；]{6})")
_INLINE_LABEL = re.compile(r"(?:^|(?<=[。；]))([^，。；：“”]{2,12})[：:](?=[^。；]{6})")
_SALUTATION = re.compile(r"(?:^|(?<=[。；]))(?:尊敬的|各位领导|同志们)[^。；：]{0,30}[：:]")


def drop_unknown_titles(text: str, facts: Iterable[str]) -> str:
    """Drop sentences naming a document 《…》 that no fact names: the model invents plausible
    titles (《健康知识普及计划》), and a made-up document name in an official report is a false fact."""
    known = {normalize_for_compare(m) for f in facts for m in _TITLED_NAME.findall(f)}
    return drop_sentences(text, lambda s: any(normalize_for_compare(m) not in known
                                              for m in _TITLED_NAME.findall(s)))


def _is_label(text: str) -> bool:
    """A short heading text without a clause or a number: a label, not a sentence."""
    return len(text) <= 20 and not re.search(r"[，,；;\d]", text) and "。" not in text.rstrip("。：:")


def clean_paragraph(text: str, heading: str = "", facts: Iterable[str] = ()) -> str:
    """One body paragraph: cleaned, headings the model added removed, lines joined."""
    text = "\n".join(l for l in text.splitlines() if not _MD_HEADING_LINE.match(l))
    text = drop_chat(strip_markdown(text))
    parts = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        h = heading_rank(line)
        if h:
            line = h[2]
            if _is_label(line):
                continue  # a sub-heading of the model's own (“（三）加强疾病防控工作”): ours are in the outline
        if heading and line.rstrip("。：:") == heading.rstrip("。："):
            continue  # the model repeated the sub-heading on its own line
        parts.append(line)
    # lines the model broke its paragraph into are sentences: keep them apart when joined
    joined = "".join(p if i == len(parts) - 1 or p[-1] in _ENDS else p + "。" for i, p in enumerate(parts))
    text = _LEADING_LABEL.sub("", normalize_characters(joined))
    text = _META_LABEL.sub("", _INLINE_MARKER.sub("", _ROLE_LABEL.sub("", text)))
    text = _LIST_INTRO.sub("", _SALUTATION.sub("", text))
    text = _INLINE_LABEL.sub(lambda m: m.group(0) if m.group(1).endswith("如下") else m.group(1) + "，", text)
    text = drop_unknown_titles(text, facts)
    text = re.sub(r"[<>«»]{2,}", "", text)
    if heading and text.startswith(heading.rstrip("。")):
        text = text[len(heading.rstrip("。")):].lstrip("。：，")
    text = restore_fact_terms(text, facts)
    if text and text[-1] not in "。！？：；”）":
        text += "。"
    return text




def drop_sentences(text: str, unwanted: re.Pattern | Callable[[str], bool]) -> str:
    """Remove every sentence of a paragraph that is unwanted."""
    test = unwanted.search if isinstance(unwanted, re.Pattern) else unwanted
    kept: list[str] = []
    for s in sentences_of(text):
        if test(s):
            continue
        kept.append(s)
    return "".join(kept)
