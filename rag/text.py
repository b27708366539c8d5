"""Text helpers that drafting (rag/) and checking (evals/) both need: sentences, character
n-grams and lengths. One home each, so the drafter and the checker never disagree on what a
sentence or a length is. Headings live in rag/headings.py."""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from rag.textnorm import HAN, compare_form, normalize_for_compare

# The drafter's own reminders: a value it must not guess (【待核实】) and material the facts do not
# give (【待补充：…】). They are meant to stand, repeatedly, until the user fills them in.
REMINDER_RE = re.compile(r"【待(?:核实|补充)(?:：[^】\n]{1,30})?】")
# How every 【待补充：…】 begins: a draft carrying one says itself where material is missing.
SUPPLY_MARK = "【待补充"
# A “quoted name” or 《title》: what a draft may only carry when a fact gives it (FACT-02, the
# name guard). Longer runs in quotes are quotations, not names.
QUOTED_NAME_RE = re.compile(r"“([^“”\n]{1,40})”|《([^《》\n]{1,80})》")
# A Latin token (DRG, 1+1+N, CMI): a draft may keep those its facts use (LANG-02).
# the month or date a record's row opens on (“3月，”, “2月3日至2月9日，”)
PERIOD_LEAD_RE = re.compile(r"^(?:\d{1,4}[年月日](?:[\d至—\-~～]{0,6}[年月日])*[，,、：:]?)+")
# a month a record's row was written under (“5月，”, “2月3日至2月9日，”): when, not what — a
# sentence that says the row's work without it still says the fact
MONTH_LEAD_RE = re.compile(r"^\d{1,2}月(?:\d{1,2}日)?(?:[至—\-~～](?:\d{1,2}月)?\d{1,2}日)?[，,：:]")
LATIN_TOKEN_RE = re.compile(r"(?<![A-Za-z])[A-Za-z][A-Za-z0-9\-+]*")
_HAN_CHAR = re.compile(f"[{HAN}]")
_SENTENCE = re.compile(r"[^。；！？]*[。；！？]|[^。；！？]+$")
_WS = re.compile(r"\s")
_KEY_DROP = re.compile(f"[^{HAN}0-9.%]")


def sentences_of(text: str) -> list[str]:
    """Sentences of one paragraph, each with its closing mark (。；！？); a trailing piece without
    one is a sentence too, so joining the result gives the text back."""
    return _SENTENCE.findall(text)


def quoted_names(text: str) -> list[str]:
    """Every “quoted name” and 《title》 of the text, with its marks."""
    return [m.group(0) for m in QUOTED_NAME_RE.finditer(text)]


def han_count(text: str) -> int:
    """Han characters in the text: how long a sentence, clause or heading reads."""
    return len(_HAN_CHAR.findall(text))


def nonspace_len(text: str) -> int:
    """Length as the draft rules count it: characters that are not white space."""
    return len(_WS.sub("", text))


def written_len(text: str) -> int:
    """A draft's length as the clerk gets it: characters that are not white space, less the
    【待补充…】 and 【待核实】 marks, which are places to write, not writing."""
    return nonspace_len(REMINDER_RE.sub("", text))


def han_grams(texts: Iterable[str], n: int) -> frozenset[str]:
    """Every n-character run of Han characters in the texts."""
    return frozenset(run[i:i + n] for text in texts for run in re.findall(f"[{HAN}]+", text)
                     for i in range(len(run) - n + 1))


def shares_grams(sentence: str, grams: frozenset[str], n: int) -> bool:
    return any(g in grams for g in han_grams([sentence], n))


def sentence_key(sentence: str) -> str:
    """What two sentences are compared on: Han characters, digits, '.', '%'."""
    return _KEY_DROP.sub("", sentence)


def char_pairs(key: str) -> set[str]:
    return {key[i:i + 2] for i in range(len(key) - 1)}


def ensure_full_stop(sentence: str) -> str:
    """A sentence that ends on a comma or nothing ends on 。 instead."""
    s = sentence.rstrip().rstrip("，、；;,：:")
    return s if not s or s[-1] in "。！？" else s + "。"


# --- numbers (eval-rules.md §0): a quantity is a value and its unit ---------------------------

# §0 unit list; the alternation is ordered longest first so the longest unit wins.
UNITS: tuple[str, ...] = (
    "个百分点", "/10万", "/万", "万人次", "万剂次", "万人份", "万人", "万元", "亿元", "万亩", "万份",
    "万条", "万平方米", "平方米", "人次", "家次", "台次", "剂次", "%", "‰", "分钟", "小时",
    "元", "人", "名", "个", "家", "所", "项", "台", "支", "次", "场", "期", "份", "例", "张", "亩",
    "吨", "分", "户", "起", "件", "类", "种", "批", "块", "篇", "辆", "天", "日", "月", "年", "岁", "万",
)
_UNIT_ALT = "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))
NUMBER_RE = re.compile(rf"(?<![\d.])(\d+(?:\.\d+)?)(?!\.\d)\s*({_UNIT_ALT})?")

RANGE_DASHES = "—–-～~至"
_YEAR_VALUE = re.compile(r"(?:19|20)\d\d")
_YEAR_AFTER = re.compile(rf"[{RANGE_DASHES}]|上半年|下半年")

# FACT-04 keys: the Han text before a number, minus trailing function words.
_CLAUSE_BREAKS = "，。；、：（）,;:()\n"
_KEY_FUNCTION_WORDS = ("保持在", "达到", "提高到", "增至", "增加到", "下降到", "缩短至", "缩短到", "控制在",
                       "不少于", "不低于", "超过", "为", "达", "至", "由", "约", "共", "计", "仅", "占", "有",
                       "了", "是", "的")
_HAN_ONLY = re.compile(f"[^{HAN}]")
KEY_CHARS = 4
MIN_KEY_CHARS = 3
# The 4-char key of the spec collides for metrics such as 儿童系统管理率 / 孕产妇系统管理率
# ("统管理率"), so a longer key is kept too: it tells such metrics apart (find_conflicts,
# FACT-04) while every match still needs the whole 4-char key.
LONG_KEY_CHARS = 8


@lru_cache(maxsize=8192)
def canonical_value(value: str) -> str:
    """'95.0' and '95' compare equal; the result is a plain decimal string."""
    try:
        d = Decimal(value).normalize()
    except InvalidOperation:
        return value
    return format(d, "f")


@dataclass(frozen=True)
class NumberToken:
    """A quantity (value, unit) found in a text; unit is '' when none follows (§0 '∅')."""
    value: str
    unit: str
    start: int          # offsets into the text given to extract_numbers
    end: int
    text: str           # the token as written in that text

    @property
    def canonical(self) -> str:
        return canonical_value(self.value)

    @property
    def pair(self) -> tuple[str, str]:
        return self.canonical, self.unit


def extract_numbers(text: str) -> list[NumberToken]:
    """Number tokens of S(text) (§0: longest unit, 万/亿, %, ‰, /10万, ranges, full-width digits).

    Offsets refer to `text` itself, not to its normalized form.
    """
    return list(_extract_cached(text))


@lru_cache(maxsize=4096)
def _extract_cached(text: str) -> tuple[NumberToken, ...]:
    # Facts are tokenized by several rules and again for every draft of the same request.
    return tuple(extract_numbers_mapped(compare_form(text), text))


def extract_numbers_mapped(mapped, source: str) -> list[NumberToken]:
    """Tokens of an already normalized MappedText whose source is `source`."""
    tokens = []
    for m in NUMBER_RE.finditer(mapped.text):
        end = m.end(2) if m.group(2) else m.end(1)
        s, e = mapped.source_span(m.start(1), end)
        tokens.append(NumberToken(m.group(1), m.group(2) or "", s, e, source[s:e]))
    return tokens


def is_year_token(tok: NumberToken, text: str) -> bool:
    """FACT-03/YEAR-01 year: 19xx/20xx followed by 年 or a range dash, or preceded by a dash."""
    if not _YEAR_VALUE.fullmatch(tok.value):
        return False
    if tok.unit == "年":
        return True
    if tok.unit == "" and _YEAR_AFTER.match(text, tok.end):
        return True
    return tok.start > 0 and text[tok.start - 1] in RANGE_DASHES


def number_key(text: str, start: int, prev_end: int, chars: int = KEY_CHARS) -> str | None:
    """FACT-04 key of the number at `start`: Han chars back to the previous number or clause break.

    The spec's key is the last 4 chars (`chars`); None when fewer than 3 are left.
    """
    seg = text[prev_end:start]
    cut = max(seg.rfind(c) for c in _CLAUSE_BREAKS)
    seg = seg[cut + 1:]
    stripped = True
    while stripped:
        stripped = False
        for w in _KEY_FUNCTION_WORDS:
            if seg.endswith(w):
                seg = seg[: -len(w)]
                stripped = True
    han = _HAN_ONLY.sub("", seg)[-chars:]
    return han if len(han) >= MIN_KEY_CHARS else None


@dataclass(frozen=True)
class KeyedToken:
    """A fact number with its FACT-04 key and the index of the fact it comes from."""
    fact_index: int
    token: NumberToken
    key: str | None
    long_key: str | None = None     # up to LONG_KEY_CHARS; ends with `key`

    def same_metric(self, other: "KeyedToken") -> bool:
        """Equal keys whose longer forms agree (one is a suffix of the other)."""
        if not self.key or self.key != other.key:
            return False
        a, b = self.long_key or "", other.long_key or ""
        return a.endswith(b) or b.endswith(a)


def keyed_tokens(facts: list[str]) -> list[KeyedToken]:
    """Number tokens of S(fact) for each fact, with their FACT-04 keys (offsets into S(fact))."""
    out = []
    for i, fact in enumerate(facts):
        s = normalize_for_compare(fact)
        prev_end = 0
        for tok in extract_numbers(s):
            out.append(KeyedToken(i, tok, number_key(s, tok.start, prev_end),
                                  number_key(s, tok.start, prev_end, LONG_KEY_CHARS)))
            prev_end = tok.end
    return out




def number_pairs(text: str) -> set[tuple[str, str]]:
    """(value, unit) of every figure in a text, years aside."""
    norm = normalize_for_compare(text)
    return {t.pair for t in extract_numbers(norm) if not is_year_token(t, norm)}


# --- clauses and fact presence: one test each, for the drafter, the repairer and the checker ---

_CLAUSE = re.compile(r"[^，；：]*[，；：]|[^，；：]+$")
# Share of a sentence's character pairs found in a fact for the sentence to be about that fact.
FACT_LINK_SHARE = 0.3
# Share of a figure-less fact's character pairs a text must hold to contain the fact: at 0.5 the
# debris “市第二人民医院。市中西医结合医院。” passed for the fact “…入选全省…示范医院”.
FACT_PRESENT_SHARE = 0.7


def clauses_of(sentence: str) -> list[str]:
    """Clauses of one sentence, each with the mark that ends it (，；：, or the sentence's own end
    on the last); joining them gives the sentence back."""
    return [c for c in _CLAUSE.findall(sentence) if c]


def pair_key(text: str) -> set[str]:
    """The character pairs a text is compared on (normalised, Han/digits/./% only)."""
    return char_pairs(sentence_key(normalize_for_compare(text)))


def says_fact(sentence: str, fact: str, share: float = FACT_LINK_SHARE) -> bool:
    """The sentence is about this fact: it carries one of its figures or quoted names, `share` of
    its own character pairs are the fact's, or it holds the fact (a fact without figures said
    inside a longer sentence, “…负责妇幼保健、计划免疫和爱国卫生工作，…”, is still said)."""
    if number_pairs(sentence) & number_pairs(fact):
        return True
    if any(n in sentence for n in quoted_names(fact)):
        return True
    key, own = pair_key(sentence), pair_key(fact)
    return bool(key) and (len(key & own) >= share * len(key)
                          or (len(own) >= 4 and len(key & own) >= FACT_PRESENT_SHARE * len(own)))


def contains_fact(text: str, fact: str) -> bool:
    """The text holds the fact: all its figures (value and unit) and quoted names, or — for a fact
    without figures — FACT_PRESENT_SHARE of its character pairs."""
    norm = normalize_for_compare(text)
    if any(normalize_for_compare(n) not in norm for n in quoted_names(fact)):
        return False
    fact = MONTH_LEAD_RE.sub("", normalize_for_compare(fact))
    need = number_pairs(fact)
    if need:
        return need <= {t.pair for t in extract_numbers(norm)}
    key = pair_key(fact)
    return not key or len(key & pair_key(text)) >= FACT_PRESENT_SHARE * len(key)
