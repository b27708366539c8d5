"""Unit kinds: how a unit refers to itself (我局, 我委, 我中心, 我院) and its scope words
(全县, 全旗, 全镇, 全院), read from its name with the table in prompts/units.toml.

One home for this knowledge: the drafter (rag.prompting.unit_voice), the unit-word fixer
(fix_unit_words) and the checker's UNIT-01 (wrong_unit_words) all call unit_kind().
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from string import Template
from typing import Protocol

from rag.config import PROJECT_ROOT
from rag.textnorm import to_simplified

UNITS_TOML = PROJECT_ROOT / "prompts" / "units.toml"
LEVELS = "县区市州旗盟省镇乡"
TOWN_LEVELS = "镇乡"
# 全/我/本 + a level; 区域, 市场, 乡镇, 乡村, 镇村 are words, not a level. 省 is not checked:
# every unit may compare itself with 全省.
LEVEL_WORD_RE = re.compile(r"(全|我|本)(县|区(?!域)|市(?!场)|州|旗|盟|镇(?!村)|乡(?![镇村]))")


@dataclass(frozen=True)
class UnitKind:
    """What a unit's name says about its voice. `level` is "" when the name has no level."""
    unit: str                       # the simplified name
    key: str                        # kind id in units.toml (bureau, cdc, hospital …)
    label: str                      # 卫生健康局, 疾病预防控制中心 …
    org: str                        # the matched organisation word, "" for an unknown kind
    place: str                      # the name before it: 青山县, 锦川县青石镇
    level: str                      # 县 区 市 州 旗 盟 省 镇 乡, or ""
    self_ref: str                   # 我局, 我委, 我中心, 我院 …
    self_refs: tuple[str, ...]      # every self reference it may use (self_ref first)
    scope_words: tuple[str, ...]    # its own scope words, the main one first (全县, 全中心)
    upper_levels: tuple[str, ...]   # levels above it it may still name with 全 (全市排名)
    leaders: str                    # 县委、县政府 …
    area: bool                      # its work covers its place (a 局), not only itself (a 医院)

    @property
    def scope_word(self) -> str:
        """The unit's own scope word for “辖区称……”; 本辖区 when the name says nothing."""
        return self.scope_words[0] if self.scope_words else "本辖区"

    def allows_level_word(self, word: str) -> bool:
        """May this unit write `word` (全县, 我市 …)? Its own level always; 全 + a level above it
        too (a county names 全市 for rankings); a town's words unless the unit is a town's.
        Without a level in its name nothing is judged."""
        prefix, level = word[0], word[1]
        if not self.level or (level in TOWN_LEVELS and self.level not in TOWN_LEVELS):
            return True     # a county report may tell of one town's 全镇 coverage
        return level == self.level or (prefix == "全" and level in self.upper_levels)


@lru_cache(maxsize=1)
def _table() -> dict:
    with open(UNITS_TOML, "rb") as f:
        return tomllib.load(f)


@lru_cache(maxsize=1)
def _patterns() -> tuple[tuple[dict, re.Pattern[str]], ...]:
    return tuple((k, re.compile(k["pattern"])) for k in _table()["kinds"])


def _level_of(place: str) -> str:
    for ch in reversed(place):
        if ch in LEVELS:
            return ch
    return ""


@lru_cache(maxsize=256)
def unit_kind(unit: str) -> UnitKind:
    """The kind of unit a name belongs to, with its self reference, level and scope words.

    The leftmost organisation word wins (a title after it, “党组书记、局长”, is ignored); the
    level is the last level character before it, never a guess.
    """
    name = re.sub(r"\s+", "", to_simplified(unit))
    table = _table()
    best: tuple[int, int, int] | None = None
    entry, org, start = table["unknown"], "", len(name)
    for order, (kind, rx) in enumerate(_patterns()):
        m = rx.search(name)
        if m and (best is None or (m.start(), -len(m.group(0)), order) < best):
            best = (m.start(), -len(m.group(0)), order)
            entry, org, start = kind, m.group(0), m.start()
    place = name[:start] if org else name
    level = _level_of(place)
    scope = ([f"全{level}"] if entry["area"] and level else []) + list(entry["scope"])
    leaders = (Template(entry["leaders"]).substitute(level=level) if level or "${level}" not in entry["leaders"]
               else table["no_level_leaders"])
    return UnitKind(unit=name, key=entry["key"], label=entry["label"], org=org, place=place,
                    level=level, self_ref=entry["self_ref"],
                    self_refs=(entry["self_ref"], *entry["also"]), scope_words=tuple(scope),
                    upper_levels=tuple(table["upper_levels"].get(level, ())), leaders=leaders,
                    area=entry["area"])


def checked_self_refs() -> tuple[str, ...]:
    return tuple(_table()["checked_self_refs"])


@dataclass(frozen=True)
class UnitWord:
    """A level word or self reference in a text that does not fit the unit."""
    start: int
    end: int
    word: str
    replacement: str
    why: str            # Chinese, for UNIT-01


def wrong_unit_words(text: str, kind: UnitKind, facts: str = "") -> list[UnitWord]:
    """Level words and self references in `text` that belong to another kind of unit or level.

    A word that occurs in the facts is the user's own and is never reported; the self references
    of a unit of unknown kind (a 医疗保障局) are not judged."""
    found: list[UnitWord] = []
    for m in LEVEL_WORD_RE.finditer(text):
        word = m.group(0)
        if kind.allows_level_word(word) or word in facts:
            continue
        found.append(UnitWord(m.start(), m.end(), word, word[0] + kind.level,
                              f"本单位是{kind.level}级，却写“{word}”"))
    for ref in checked_self_refs() if kind.key != "unknown" else ():
        if ref in kind.self_refs or ref in facts:
            continue
        for m in re.finditer(f"(?<![自忘]){ref}", text):
            found.append(UnitWord(m.start(), m.end(), ref, kind.self_ref,
                                  f"本单位是{kind.label}，应自称“{kind.self_ref}”，不应自称“{ref}”"))
    return sorted(found, key=lambda w: w.start)


def fix_unit_words(text: str, kind: UnitKind, facts: str = "") -> str:
    """Rewrite what wrong_unit_words finds to the unit's own level word and self reference."""
    for w in reversed(wrong_unit_words(text, kind, facts)):
        text = text[:w.start] + w.replacement + text[w.end:]
    return text


_LEADERS_RE = re.compile(r"([县区市州旗盟])委、?([县区市州旗盟])政府")


class UnitWords(Protocol):
    """What localize_unit_words needs: a UnitKind, or the drafter's UnitVoice."""
    leaders: str
    level: str
    self_ref: str


def localize_unit_words(text: str, unit: UnitWords) -> str:
    """Another unit's text (an exemplar) in this unit's voice: its leaders, level words and self
    references rewritten, so a 市 exemplar does not teach a 县 draft to say 全市 or a hospital's
    draft to say 我局. Level words stay when the unit's name has no level."""
    text = _LEADERS_RE.sub(unit.leaders, text)
    if unit.level:
        text = LEVEL_WORD_RE.sub(lambda m: m.group(1) + unit.level, text)
    return re.sub(f"(?<![自忘])(?:{'|'.join(checked_self_refs())})", unit.self_ref, text)
