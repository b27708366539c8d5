"""Text helpers that drafting (rag/) and checking (evals/) both need: sentences, character
n-grams and lengths. One home each, so the drafter and the checker never disagree on what a
sentence or a length is. Headings live in rag/headings.py."""
from __future__ import annotations

import re
from collections.abc import Iterable

from rag.textnorm import HAN

# The drafter's own reminders: a value it must not guess (【待核实】) and material the facts do not
# give (【待补充：…】). They are meant to stand, repeatedly, until the user fills them in.
REMINDER_RE = re.compile(r"【待(?:核实|补充)(?:：[^】\n]{1,30})?】")
# How every 【待补充：…】 begins: a draft carrying one says itself where material is missing.
SUPPLY_MARK = "【待补充"
_SENTENCE = re.compile(r"[^。；！？]*[。；！？]|[^。；！？]+$")
_WS = re.compile(r"\s")
_KEY_DROP = re.compile(f"[^{HAN}0-9.%]")


def sentences_of(text: str) -> list[str]:
    """Sentences of one paragraph, each with its closing mark (。；！？); a trailing piece without
    one is a sentence too, so joining the result gives the text back."""
    return _SENTENCE.findall(text)


def nonspace_len(text: str) -> int:
    """Length as the draft rules count it: characters that are not white space."""
    return len(_WS.sub("", text))


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
