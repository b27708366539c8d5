"""Text normalization shared by the corpus pipeline, drafting and the evaluator."""
from __future__ import annotations

import re
from functools import lru_cache

import opencc

HAN = "\u4e00-\u9fff"
HAN_RE = re.compile(f"[{HAN}]")


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional → simplified Chinese (OpenCC t2s)."""
    return _t2s().convert(text)


_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９．％", "0123456789.%")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


def normalize_for_compare(text: str) -> str:
    """S(x) of eval-rules.md §0: t2s, full-width digits/．/％ to ASCII, thousands separators removed."""
    return _THOUSANDS.sub("", to_simplified(text).translate(_FULLWIDTH_DIGITS))


_COPY_KEEP = re.compile(f"[^{HAN}0-9A-Za-z]+")


def normalize_for_copy(text: str) -> str:
    """COPY-01 normalization: t2s, then only Han, digits and Latin letters."""
    return _COPY_KEEP.sub("", to_simplified(text).translate(_FULLWIDTH_DIGITS))


_ASCII_TO_FULL = {",": "，", ";": "；", ":": "：", "(": "（", ")": "）", "!": "！", "?": "？"}
# ASCII punctuation touching a Han character or a Chinese quote (N23). A ':' between digits
# (a time) and '.' in decimals are left alone because they touch digits on both sides.
# ASCII punctuation touching a Han character or a Chinese quote (N23) becomes full-width. A ':'
# between digits (a time) and '.' in decimals are left alone because they touch digits on both sides.
_BEFORE_OK = set("“”《》、，。（）：；")   # what may stand before a mark that is converted
_AFTER_OK = set("“”《》（）")             # what may stand after it
# Parenthesised heading markers "(一)" / "(1)" at a line start are headings whatever follows.
_ASCII_PAREN_HEADING = re.compile(r"^(\s*)\(([一二三四五六七八九十]+|\d{1,2})\)", re.M)


def _is_han(c: str) -> bool:
    return "\u4e00" <= c <= "\u9fff"


def to_fullwidth_punctuation(text: str) -> str:
    """Map ASCII , ; : ! ? ( ) used in Chinese text to their full-width forms.

    A converted mark can make its neighbour convertible (“(吧!)”), so marks are converted from a
    work list in one linear pass rather than by re-running a regex until nothing changes (which
    was quadratic on a long run of marks)."""
    text = _ASCII_PAREN_HEADING.sub(lambda m: f"{m.group(1)}（{m.group(2)}）", text)
    chars = list(text)
    n = len(chars)

    def convertible(i: int) -> bool:
        if chars[i] not in _ASCII_TO_FULL:
            return False
        before = chars[i - 1] if i > 0 else ""
        after = chars[i + 1] if i + 1 < n else ""
        return bool(before) and (_is_han(before) or before in _BEFORE_OK) or \
            bool(after) and (_is_han(after) or after in _AFTER_OK)

    work = [i for i in range(n) if convertible(i)]
    while work:
        i = work.pop()
        if not convertible(i):
            continue
        chars[i] = _ASCII_TO_FULL[chars[i]]
        work += [j for j in (i - 1, i + 1) if 0 <= j < n and convertible(j)]
    return "".join(chars)


CN_DIGITS = "零一二三四五六七八九"


def chinese_numeral(n: int) -> str:
    """1..99 as 一 … 九十九, as used in heading markers."""
    if not 0 < n < 100:
        raise ValueError(n)
    tens, ones = divmod(n, 10)
    if tens == 0:
        return CN_DIGITS[ones]
    return ("" if tens == 1 else CN_DIGITS[tens]) + "十" + (CN_DIGITS[ones] if ones else "")


def parse_chinese_numeral(s: str) -> int | None:
    """一 … 九十九 → int; None when s is not such a numeral."""
    if not s or any(c not in CN_DIGITS + "十" for c in s):
        return None
    if "十" not in s:
        return CN_DIGITS.index(s) if len(s) == 1 and s != "零" else None
    left, _, right = s.partition("十")
    tens = CN_DIGITS.index(left) if left else 1
    ones = CN_DIGITS.index(right) if right else 0
    if len(left) > 1 or len(right) > 1:
        return None
    return tens * 10 + ones
