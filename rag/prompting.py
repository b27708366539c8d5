"""Prompt files, per-genre guidance and the pieces every drafting prompt is built from.

Prompts live in prompts/*.md (Chinese, ${name} placeholders) and the genre knowledge in
prompts/genres.toml, so wording can be tuned without touching code. Facts and exemplars always
enter a prompt as fenced, quoted data; exemplars have their numbers and place names masked so
they can teach style but never leak facts into a draft.
"""
from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from string import Template

from rag.config import PROJECT_ROOT
from rag.errors import RequestError
from rag.schema import GENRES, WHOLE_REPORT
from rag.headings import parse_heading
from rag.text import han_grams
from rag.textnorm import HAN, to_fullwidth_punctuation, to_simplified
from rag.units import UnitKind, localize_unit_words, unit_kind

PROMPTS_DIR = PROJECT_ROOT / "prompts"


@lru_cache(maxsize=None)
def load_prompt(name: str) -> Template:
    return Template((PROMPTS_DIR / f"{name}.md").read_text(encoding="utf-8").strip())


def render(name: str, **values: object) -> str:
    """Fill prompts/<name>.md; a missing placeholder is a bug, so substitute() raises."""
    return load_prompt(name).substitute({k: str(v) for k, v in values.items()})


@lru_cache(maxsize=1)
def _genre_data() -> dict:
    with open(PROMPTS_DIR / "genres.toml", "rb") as f:
        return tomllib.load(f)


@dataclass(frozen=True)
class PartSpec:
    """One section of a report (opening, 主要工作及成效, 存在问题 …) as genres.toml defines it."""
    key: str
    title: str
    role: str
    layout: str               # salutation | opening | items | paragraph | closing
    guide: str = ""
    text: str = ""            # fixed text (salutation)
    lead: str = ""            # first sentence of a problems part (“…还存在一些不足：”)
    keywords: str = ""        # facts matching this go here when the part is drafted
    min_items: int = 2
    max_items: int = 6
    needed: tuple[str, ...] = ()      # data items to ask the user for when there are no facts


@dataclass(frozen=True)
class GenreGuide:
    genre: str
    voice: str
    heading_style: str
    fallback_headings: tuple[str, ...]
    metric_heading: str = "着力提高${metric}"
    parts: tuple[PartSpec, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class UnitVoice:
    """How a unit refers to itself and its area: 我局/我中心/我院, 全县/全旗/全院, 县委、县政府.

    `level` is "" when the unit's name has no level (nothing is guessed); `kind` is the full
    record from rag.units."""
    self_ref: str
    level_word: str
    leaders: str
    level: str
    kind: UnitKind | None = None


def genre_guide(genre: str) -> GenreGuide:
    if genre not in GENRES:
        raise RequestError(f"未知文种“{genre}”，可选：{'、'.join(GENRES)}。")
    g = _genre_data()[genre]
    parts = tuple(PartSpec(**{**p, "needed": tuple(p.get("needed", ()))}) for p in g["parts"])
    return GenreGuide(genre=genre, voice=g["voice"], heading_style=g["heading_style"],
                      fallback_headings=tuple(g["fallback_headings"]), parts=parts,
                      metric_heading=g.get("metric_heading", "着力提高${metric}"))


ECHO_MIN_CHARS = 6


@lru_cache(maxsize=1)
def guard_words() -> dict:
    """prompts/guard_words.toml: how sentences are said (never what about), for the guards and
    the plan's headings."""
    with open(PROMPTS_DIR / "guard_words.toml", "rb") as f:
        return tomllib.load(f)


@lru_cache(maxsize=None)
def word_re(name: str) -> re.Pattern:
    return re.compile("|".join(e["pattern"] for e in guard_words()[name]))


def work_kind(text: str) -> str:
    """The kind of work a fact reports (guard_words.toml work_kind: 专项整治, 应急演练 …), "" when
    it names none of them."""
    return next((e["name"] for e in guard_words()["work_kind"] if re.search(e["pattern"], text)), "")


@lru_cache(maxsize=1)
def generic_pairs() -> frozenset[str]:
    """Character pairs every report uses: sharing only these says nothing about a paragraph."""
    return frozenset(guard_words()["generic_pairs"]["pairs"].split())


@lru_cache(maxsize=1)
def _demos() -> list[dict]:
    with open(PROMPTS_DIR / "demo_item.toml", "rb") as f:
        return tomllib.load(f)["demo"]


@lru_cache(maxsize=1)
def _headings_demo() -> dict:
    with open(PROMPTS_DIR / "demo_headings.toml", "rb") as f:
        return tomllib.load(f)


def headings_demo_exchange(genre: str) -> list[dict[str, str]]:
    """The worked example of the sub-headings call as a finished exchange in that call's format
    (prompts/demo_headings.toml says why); [] when no answer shows this genre's style."""
    demo = _headings_demo()
    answer = next((a for a in demo["answer"] if genre in a["genres"]), None)
    if answer is None:
        return []
    item = next((d for d in _demos() if genre in d["genres"]), _demos()[0])
    groups = "\n".join(f"第{n}组：{g}" for n, g in enumerate(demo["groups"], 1))
    user = (render("context", genre=genre, unit=item["unit"], year=item["year"], voice=genre_guide(genre).voice)
            + "\n\n" + render("task_headings", part_title=demo["part_title"], groups=groups,
                                heading_style=genre_guide(genre).heading_style))
    return [{"role": "user", "content": user},
            {"role": "assistant", "content": json.dumps(answer["headings"], ensure_ascii=False)}]


@lru_cache(maxsize=1)
def demo_topics() -> tuple[frozenset[str], ...]:
    """For each worked example, the words that name its own topic (prompts/demo_item.toml says why),
    and the place of its made-up unit (“临川县卫生健康局” → 临川): a draft that names that place
    copied the example's unit into another unit's report."""
    topics = [frozenset(d.get("topic_words", [])) for d in _demos() if d.get("topic_words")]
    places = [frozenset({m.group(1)}) for d in _demos()
              if (m := re.match(r"([\u4e00-\u9fff]{2,}?)(?:县|市|区|旗|州)", d.get("unit", "")))]
    return tuple(dict.fromkeys(topics + places))


def demo_exchange(genre: str) -> list[dict[str, str]]:
    """The worked example for a genre's voice as a finished user/assistant exchange, the task in
    the very format of a real writing call (prompts/demo_item.toml says why)."""
    demo = next((d for d in _demos() if genre in d["genres"]), None)
    if demo is None:
        return []
    own = list(enumerate(demo["facts"], 1))
    refs = "".join(f"[{i}]" for i, _t in own)
    user = (render("context", genre=genre, unit=demo["unit"], year=demo["year"],
                   voice=genre_guide(genre).voice) + "\n\n"
            + render("task_item", part_title=demo["part_title"], heading=demo["heading"],
                     chars=len(demo["answer"]), fact_refs=refs, fact_list=fact_lines(own),
                     guide="", exemplars="（无）"))
    return [{"role": "user", "content": user}, {"role": "assistant", "content": demo["answer"]}]


# A worked example's answer is report prose: it shares short stock phrases (“对发现的问题督促…”)
# with any report, so only a longer run of it is an echo.
DEMO_ECHO_MIN_CHARS = 10


@lru_cache(maxsize=1)
def prompt_grams() -> tuple[frozenset[str], frozenset[str]]:
    """(runs of ECHO_MIN_CHARS of our instructions, runs of DEMO_ECHO_MIN_CHARS of the worked
    examples' answers): what a reply repeats when it echoes its prompt."""
    texts = [p.read_text(encoding="utf-8") for p in PROMPTS_DIR.glob("*.md")]
    for g in _genre_data().values():
        if isinstance(g, dict) and "voice" in g:
            texts += [g["voice"], g["heading_style"]]
            texts += [p.get("guide", "") for p in g.get("parts", []) + g.get("section_parts", [])]
    # Quoted phrases (“现将…述职如下：”) are wording the model is asked to use, not instructions;
    # the role line (“你是…机关的公文写作助手”) names the domain every report is about.
    texts = [re.sub(r"^你是[^\n]*", "|", t) for t in texts]
    instructions = han_grams((re.sub(r"\$\{\w+\}|“[^”]*”", "|", t) for t in texts), ECHO_MIN_CHARS)
    # the worked examples' answers: a sentence copied from one is about a unit that does not exist
    demos = han_grams((d["answer"] for d in _demos()), DEMO_ECHO_MIN_CHARS)
    return instructions, demos


def echoes_prompt(text: str, facts: Iterable[str] = (), *, demos: bool = True) -> bool:
    """True when a text repeats our own instructions or (with `demos`) our worked examples (the
    small model sometimes echoes its prompt); runs the facts themselves use do not count."""
    instruction_grams, demo_grams = prompt_grams()
    facts = list(facts)
    own6 = han_grams(facts, ECHO_MIN_CHARS) if facts else frozenset()
    own10 = han_grams(facts, DEMO_ECHO_MIN_CHARS) if facts else frozenset()
    return (any(g in instruction_grams and g not in own6 for g in han_grams([text], ECHO_MIN_CHARS))
            or demos and any(g in demo_grams and g not in own10 for g in han_grams([text], DEMO_ECHO_MIN_CHARS)))


def fact_labels() -> tuple[re.Pattern, re.Pattern]:
    """(problems label, next-steps label): a fact starting with one is routed to that part."""
    c = _genre_data()["_common"]
    return re.compile(c["problems_label"]), re.compile(c["next_label"])


_SECTION_YEAR = re.compile(r"^(?:20\d\d年度?|明年|下半年|本年度)")


def section_name(section: str) -> str:
    """A section name as typed, cleaned: simplified, no spaces, no numbering (“二、存在问题”),
    no trailing colon."""
    name = re.sub(r"\s+", "", to_simplified(section)).rstrip("：:")
    h = parse_heading(name)
    return h.rest if h and h.rest else name


def section_part_keys(genre: str, section: str) -> tuple[str, ...] | None:
    """The part keys a section name drafts in a genre (its own sections, then the aliases of
    genres.toml), or None when the genre has no such section. 全文 is every part."""
    g = _genre_data()[genre]
    if section.strip() == WHOLE_REPORT:
        return tuple(p["key"] for p in g["parts"])
    name = section_name(section)
    available = {p["key"] for p in g["parts"] + g.get("section_parts", [])}
    for candidate in dict.fromkeys((name, _SECTION_YEAR.sub("", name))):
        keys = g.get("sections", {}).get(candidate) or _genre_data()["section_aliases"].get(candidate)
        chosen = tuple(k for k in keys or () if k in available)
        if chosen:
            return chosen
    return None


def canonical_genre(name: str) -> str | None:
    """A genre name as typed (工作總結, 总结, 述职) → one of GENRES, or None."""
    name = re.sub(r"\s+", "", to_simplified(name))
    return name if name in GENRES else _genre_data()["genre_aliases"].get(name)


def genre_sections(genre: str) -> list[str]:
    """The sections offered for a genre, 全文 first (what the app's section list shows)."""
    genre_guide(genre)  # a clear error for an unknown genre
    return [WHOLE_REPORT, *_genre_data()[genre].get("sections", {})]


def section_checklist(genre: str, section: str) -> list[str]:
    """What to ask the user for to draft this section: the needed items of its parts."""
    return list(dict.fromkeys(n for p in requested_parts(genre, section) for n in p.needed))


def _part_spec(p: dict) -> PartSpec:
    return PartSpec(**{**p, "needed": tuple(p.get("needed", ()))})


def requested_parts(genre: str, section: str) -> list[PartSpec]:
    """The parts to draft for a request: all of them for 全文, else the section's parts.

    A section drafted as one part is headed with the section's own name (存在不足, 主要做法及成效).
    An unknown section name is drafted as the genre's body part under that heading, so a user
    who types “医疗服务” still gets a section rather than an error; requests are checked against
    genre_sections() where they enter (rag.normalize).
    """
    guide = genre_guide(genre)
    if section == WHOLE_REPORT:
        return list(guide.parts)
    by_key = {p.key: p for p in guide.parts}
    by_key.update({p["key"]: _part_spec(p) for p in _genre_data()[genre].get("section_parts", [])})
    chosen = [by_key[k] for k in section_part_keys(genre, section) or ()]
    if len(chosen) == 1 and chosen[0].layout in ("items", "paragraph"):
        return [replace(chosen[0], title=section_name(section))]
    if chosen:
        return chosen
    body = next(p for p in guide.parts if p.layout == "items")
    return [PartSpec(key=body.key, title=section.strip(), role=body.role, layout="items",
                     min_items=body.min_items, max_items=body.max_items, needed=body.needed)]


def unit_voice(unit: str) -> UnitVoice:
    """The unit's self reference, scope word and leaders, from its kind (prompts/units.toml)."""
    kind = unit_kind(unit)
    return UnitVoice(self_ref=kind.self_ref, level_word=kind.scope_word, leaders=kind.leaders,
                     level=kind.level, kind=kind)


# --- exemplar masking ------------------------------------------------------------------------

_NUMBER_RE = re.compile(r"\d+(?:[.．]\d+)?\s*(?:%|％|‰)?|[０-９]+")
_PLACE_RE = re.compile(f"([{HAN}]{{2}})(市|县|区|镇|乡)")
# Second characters that make "XY县/区…" an ordinary word rather than a place name; the
# function words among them keep “工作在县委” from becoming “工〔地〕委”.
_NOT_PLACE_END = set("全我本该各城乡县市省州地社辖景园山灾病疫片小库郊矿街在于对向从到为将把被由了的是")
# First characters that are function words or unit names, not the start of a place name.
_NOT_PLACE_START = set("在和与对向从到及于为将把被由了的是局委院所站中个等各全本我该")
_QUOTED_NAME = re.compile(r"“([^“”]{7,})”")
_BOOK_TITLE = re.compile(r"《[^《》]+》")

NUMBER_MASK, PLACE_MASK, NAME_MASK = "〔数〕", "〔地〕", "〔名〕"
# Any 〔…〕 mask (ours or the corpus cleaner's 〔缺〕) in model output means copied exemplar text.
MASK_RE = re.compile(r"〔[^〕]{1,3}〕")


def mask_exemplar(text: str, voice: UnitVoice) -> str:
    """Hide an exemplar's facts: numbers, place names, named projects and document titles.

    Level words and self-references are rewritten to the requesting unit's own (全县, 我局), so
    a 市 exemplar does not teach a 县 draft to say 全市 (UNIT-01).
    """
    text = to_fullwidth_punctuation(to_simplified(text))
    text = _NUMBER_RE.sub(NUMBER_MASK, text)
    text = localize_unit_words(text, voice)
    text = _PLACE_RE.sub(lambda m: m.group(0) if (m.group(1)[1] in _NOT_PLACE_END
                                                  or m.group(1)[0] in _NOT_PLACE_START)
                         else PLACE_MASK, text)
    text = _QUOTED_NAME.sub(f"“{NAME_MASK}”", text)
    text = _BOOK_TITLE.sub(f"《{NAME_MASK}》", text)
    return re.sub(f"(?:{re.escape(NUMBER_MASK)}[、，]?){{2,}}", NUMBER_MASK, text)


def fence(text: str) -> str:
    """Quoted data never closes its own fence: strip the fence markers from inside."""
    return text.replace("<<<", "«").replace(">>>", "»").strip()


def fact_lines(facts: Iterable[tuple[int, str]]) -> str:
    """Facts as every prompt lists them: “[id] text”, one a line; the id is how a task names them."""
    return "\n".join(f"[{i}] {t}" for i, t in facts)


def numbered(lines: list[str], brackets: bool = False) -> str:
    return "\n".join(f"[{i}] {t}" if brackets else f"{i}. {t}" for i, t in enumerate(lines, 1))
