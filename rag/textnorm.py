"""Text normalization shared by the corpus pipeline, drafting and the evaluator, and the same
normalized forms with an origin index per character (the checker compares on normalized text
but reports offsets into the raw draft)."""
from __future__ import annotations

import re
from dataclasses import dataclass
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
    if len(left) > 1 or len(right) > 1 or "十" in right:
        return None
    tens = CN_DIGITS.index(left) if left else 1
    ones = CN_DIGITS.index(right) if right else 0
    return tens * 10 + ones


# --- normalized views that remember where each character came from ---------------------------

_COPY_KEEP_RUN = re.compile(f"[{HAN}0-9A-Za-z]+")


@dataclass(frozen=True)
class MappedText:
    """`text` derived from a source string; `origin[i]` is the source index of `text[i]`."""
    text: str
    origin: tuple[int, ...]
    source_len: int

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a half-open span of `text` to the source."""
        if start >= len(self.text):
            return self.source_len, self.source_len
        if end <= start:
            return self.origin[start], self.origin[start]
        return self.origin[start], self.origin[end - 1] + 1


def simplified_aligned(text: str) -> str:
    """t2s with one output character per input character.

    OpenCC phrase conversions almost never change length; when they do, fall back to
    converting character by character so positions stay aligned.
    """
    converted = to_simplified(text)
    if len(converted) == len(text):
        return converted
    out = []
    for ch in text:
        c = to_simplified(ch)
        out.append(c if len(c) == 1 else ch)
    return "".join(out)


def compare_form(text: str, simplified: str | None = None) -> MappedText:
    """S(x) of eval-rules.md §0 with offsets (same string as rag.textnorm.normalize_for_compare)."""
    s = (simplified if simplified is not None else simplified_aligned(text)).translate(_FULLWIDTH_DIGITS)
    drop = {m.start() for m in _THOUSANDS.finditer(s)}
    if not drop:
        return MappedText(s, tuple(range(len(s))), len(text))
    keep = [i for i in range(len(s)) if i not in drop]
    return MappedText("".join(s[i] for i in keep), tuple(keep), len(text))


def copy_form(text: str, simplified: str | None = None) -> MappedText:
    """COPY-01 form (only Han, digits, Latin) with offsets; equals rag.textnorm.normalize_for_copy."""
    s = (simplified if simplified is not None else simplified_aligned(text)).translate(_FULLWIDTH_DIGITS)
    runs = [m.span() for m in _COPY_KEEP_RUN.finditer(s)]
    origin = tuple(i for a, b in runs for i in range(a, b))
    return MappedText("".join(s[a:b] for a, b in runs), origin, len(text))

