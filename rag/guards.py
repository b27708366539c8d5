"""The drafting guards: every check on what the model wrote, as named objects in one ordered
registry (after guardrails-ai validators / NeMo rails). A guard has an id, a scope (one model
reply, or the assembled draft), a basis (generic rule, word list, or threshold) and an action
(fix the text, drop a sentence, ask the model again, insert a fact). Every change a guard makes
is a `GuardEdit`, kept with the result, so the user sees what was removed and why.

Sentence guards implement the writing contract: a model sentence may carry its facts' numbers,
names and claims, the request's unit and year, and framing that claims nothing.
"""
from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cached_property, lru_cache

from rag.text import QUOTED_NAME_RE, han_count, char_pairs, extract_numbers, han_grams, is_year_token, keyed_tokens, number_key, sentence_key, shares_grams
from rag.config import PROJECT_ROOT
from rag.factsheet import Fact, VERIFY_MARK
from rag.postprocess import clean_paragraph, repeats
from rag.prompting import ECHO_MIN_CHARS, MASK_RE, prompt_grams
from rag.textnorm import normalize_for_compare

# Exemplars share stock phrases (“全面贯彻落实” 6) with any report; a run of 12 Han characters
# copied from an exemplar (and not in the facts) is another unit's work (measured at stop 6: at 8
# the filter dropped 41 % of the embedded model's text).
EXEMPLAR_ECHO_MIN_CHARS = 12
# A sentence whose character pairs are mostly its sub-heading's says the heading again.
HEADING_RESTATED = 0.75
# Share of a sentence's character pairs found in a fact for the sentence to be said to come from it.
FACT_LINK_SHARE = 0.3
# Share of a fact's character pairs (a fact without figures) a paragraph must hold to contain it:
# at 0.5 the debris “市第二人民医院。市中西医结合医院。” passed for the fact “…入选全省…示范医院”.
FACT_WORDING_KEPT = 0.7
# A sentence with this share of its character pairs in a fact the paragraph already said restates it.
RESTATED_SHARE = 0.45
# Character pairs every report uses; sharing only these with a paragraph says nothing about it.
GENERIC_PAIRS = frozenset({"工作", "推进", "加强", "开展", "一步", "进一", "持续", "全面", "扎实", "深入", "落实", "提升"})
# The one framing sentence that may open a paragraph without a fact, about the paragraph's own work
# (“我局坚持统筹推进，织密老年健康服务网络。” under a heading on 老年健康服务).
FRAMING_HAN = 30

FIX, DROP_SENTENCE, REASK, INSERT, DROP_CLAUSE = "fix", "drop_sentence", "reask", "insert", "drop_clause"
GENERIC, LEXICON, THRESHOLD = "generic", "lexicon", "threshold"


@dataclass
class GuardEdit:
    guard: str
    action: str
    before: str
    after: str
    reason: str
    where: str = ""          # the part or sub-heading it happened in

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Sentence:
    """One sentence of the result and where it came from: "fact" (a fact written as it is),
    "phrase" (our phrase bank), "model" (a model sentence that passed the contract) or "plan"
    (a heading of the plan)."""
    text: str
    origin: str
    fact_ids: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ReplyContext:
    """What a reply is checked against."""
    facts: list[Fact]                 # the facts this piece is written from
    all_facts: list[Fact]             # every usable fact of the request (names may be shared)
    year: int
    unit: str = ""
    heading: str = ""
    exemplars: list[str] = field(default_factory=list)
    future: bool = False              # a plan part: written as what will be done
    written: list[str] = field(default_factory=list)   # sentences already in the draft
    where: str = ""
    position: int = 0                 # index of the sentence among those kept in its paragraph

    # what the guards compare against is fixed for a paragraph once its exemplars are chosen;
    # computed on first use, not for every sentence
    @cached_property
    def allowed_numbers(self) -> set[tuple[str, str]]:
        return {t.pair for f in self.facts for t in extract_numbers(normalize_for_compare(f.text))}

    @cached_property
    def fact_texts(self) -> list[str]:
        return [f.text for f in self.all_facts]

    @cached_property
    def echo_grams(self) -> frozenset[str]:
        return (han_grams(self.exemplars, EXEMPLAR_ECHO_MIN_CHARS)
                - han_grams(self.fact_texts, EXEMPLAR_ECHO_MIN_CHARS))

    @cached_property
    def prompt_grams(self) -> frozenset[str]:
        # words of our prompts and worked examples that a fact also uses are the fact's words
        return prompt_grams() - han_grams(self.fact_texts, ECHO_MIN_CHARS)

    @cached_property
    def own_pairs_with_heading(self) -> set[str]:
        return set().union(*(char_pairs(sentence_key(normalize_for_compare(t)))
                             for t in [self.heading, *(f.text for f in self.facts)]))

    @cached_property
    def keyed_facts(self) -> list:
        return keyed_tokens(self.fact_texts)

    @cached_property
    def other_facts(self) -> list[Fact]:
        own = {f.id for f in self.facts}
        return [f for f in self.all_facts if f.id not in own]

    @cached_property
    def own_pairs(self) -> set[tuple[str, str]]:
        return _fact_pairs(self.facts)

    @cached_property
    def other_pairs(self) -> set[tuple[str, str]]:
        return _fact_pairs(self.other_facts)


@dataclass(frozen=True)
class SentenceGuard:
    id: str
    basis: str
    action: str          # REASK: rewrite once, then the plain fact; DROP_SENTENCE: just remove
    reason: str
    test: Callable[[str, ReplyContext], bool]


def _foreign_number(sentence: str, ctx: ReplyContext) -> bool:
    norm = normalize_for_compare(sentence)
    allowed = ctx.allowed_numbers
    values = {v for v, _u in allowed}
    for t in extract_numbers(norm):
        if is_year_token(t, norm) or t.pair in allowed:
            continue
        if t.unit or t.canonical not in values:
            return True
    return False


def _unknown_name(sentence: str, ctx: ReplyContext) -> bool:
    known = normalize_for_compare("".join(ctx.fact_texts))
    return any(normalize_for_compare(a or b) not in known for a, b in QUOTED_NAME_RE.findall(sentence))


def _stray_mark(sentence: str, ctx: ReplyContext) -> bool:
    """【待核实】 belongs where a fact has it (after the same two characters: “达到【待核实】”); the
    model, told what the mark means, also puts it where an exemplar had a number."""
    def contexts(text: str) -> set[str]:
        return {text[max(0, m.start() - 2):m.start()] for m in re.finditer(re.escape(VERIFY_MARK), text)}
    allowed = set().union(*(contexts(f.text) for f in ctx.facts)) if ctx.facts else set()
    return bool(contexts(sentence) - allowed)


def _exemplar_echo(sentence: str, ctx: ReplyContext) -> bool:
    return shares_grams(sentence, ctx.echo_grams, EXEMPLAR_ECHO_MIN_CHARS)


def _done_in_plan(sentence: str, ctx: ReplyContext) -> bool:
    # the checker's YEAR-02 test, so the drafter and the checker agree on what “done” is
    from evals.rules.claims import done_cues
    return ctx.future and bool(done_cues(sentence, ctx.year, ctx.fact_texts))


def _restates_heading(sentence: str, ctx: ReplyContext) -> bool:
    """Mostly the heading's words, or a sentence with no fact that carries the whole heading
    (“我委始终坚持以人民为中心，聚焦医改，工作成效持续显现。” under “聚焦医改，工作成效持续显现”)."""
    pairs = char_pairs(sentence_key(sentence))
    head = char_pairs(sentence_key(ctx.heading))
    if not ctx.heading or not pairs:
        return False
    if len(pairs & head) >= HEADING_RESTATED * len(pairs):
        return True
    return sentence_key(ctx.heading) in sentence_key(sentence) and not facts_in(sentence, ctx.facts)


# A model sentence with fewer Han characters is list debris (“市第二人民医院。”, “覆盖病组：632个。”)
# left when a Markdown list is read as prose; report sentences are longer.
FRAGMENT_HAN = 10


def _fragment(sentence: str, ctx: ReplyContext) -> bool:
    """List debris, or a sentence that stops on its opening phrase (“我局高度重视老龄健康，通过加强
    医养结合机构建设。”): its last clause starts a means or scope and nothing follows."""
    if han_count(sentence) < FRAGMENT_HAN:
        return True
    last = sentence.rstrip("。；！？").split("，")[-1]
    # “…，通过国家卫生县城复审。” is a fact, not an opening phrase left hanging
    return bool(word_re("dangling_opener").match(last)) and not facts_in(last, ctx.facts)


def _claims(sentence: str, ctx: ReplyContext) -> bool:
    # the checker's CLAIM-01 test: events, honours, scope words, organisations no fact gives
    from evals.rules.claims import unsupported_claims
    return bool(unsupported_claims(sentence, tuple(ctx.fact_texts) + (ctx.unit,)))


@lru_cache(maxsize=1)
def _words() -> dict:
    with open(PROJECT_ROOT / "prompts" / "guard_words.toml", "rb") as f:
        return tomllib.load(f)


@lru_cache(maxsize=None)
def word_re(name: str) -> re.Pattern:
    return re.compile("|".join(e["pattern"] for e in _words()[name]))


def _unsupported_effect(sentence: str, ctx: ReplyContext) -> bool:
    """An outcome claimed by a sentence that says none of its paragraph's facts: the facts and their
    figures are the results; the model's “有效提升了…” is not."""
    return bool(word_re("effect_claims").search(sentence)) and not facts_in(sentence, ctx.facts)


def _meta(sentence: str, ctx: ReplyContext) -> bool:
    return bool(word_re("meta_sentence").search(sentence.strip()))


def _unit_name_only(sentence: str, ctx: ReplyContext) -> bool:
    """A sentence that is only the unit's name or a part of it (“…党组成员、副局长。”)."""
    core = re.sub(r"[，。、；：\s]", "", sentence)
    return bool(core) and core in re.sub(r"[，。、；：\s]", "", ctx.unit)


def _moved_value(sentence: str, ctx: ReplyContext) -> bool:
    """A fact's figure put on another metric (“申报率达到96.3%” written as “覆盖率达到96.3%”): the
    words before it share nothing with the words before it in any fact (FACT-04's metric key)."""
    facts = ctx.keyed_facts
    norm = normalize_for_compare(sentence)
    prev = 0
    for t in extract_numbers(norm):
        key = number_key(norm, t.start, prev)
        prev = t.end
        if not key or is_year_token(t, norm):
            continue
        keys = [k.long_key or k.key for k in facts if k.token.pair == t.pair and (k.long_key or k.key)]
        if keys and not any(char_pairs(key) & char_pairs(k) for k in keys):
            return True
    # and the checker's own FACT-04 test, so a sentence it would fail is never kept
    from evals.document import Draft
    from evals.rules.facts import moved_numbers
    d = Draft(sentence)
    return next(moved_numbers(d.simplified, d.numbers, facts), None) is not None


def _unanchored(sentence: str, ctx: ReplyContext) -> bool:
    """A sentence that says none of the paragraph's facts, after the paragraph's first: the
    small model fills a paragraph with work the unit never reported (“设立专门的康复门诊”,
    “投资改善硬件设施”). One short framing sentence may open a paragraph; the rest must be about
    its facts."""
    if facts_in(sentence, ctx.facts):
        return False
    han = han_count(sentence)
    if ctx.position > 0 or han > FRAMING_HAN:
        return True
    # the opening framing sentence must be about this paragraph: it shares words with its heading
    # or its facts (“努力为军队办实事” under an 应急 heading is another report's sentence)
    return not _shares_own_words(sentence, ctx)


def _shares_own_words(text: str, ctx: ReplyContext) -> bool:
    """The text shares a character pair, beyond the words every report uses, with the paragraph's
    heading or facts."""
    return bool((char_pairs(sentence_key(normalize_for_compare(text))) - GENERIC_PAIRS) & ctx.own_pairs_with_heading)


def _restates_fact(sentence: str, ctx: ReplyContext) -> bool:
    """A sentence that mostly says again a fact the paragraph already said (“严格遵守中央八项规定精神，
    无违规违纪行为。我局严格按照中央八项规定精神要求，没有发生任何违规违纪行为。”)."""
    # the heading counts as said: a paragraph under “全部设立老年医学科” need not say it again
    said = ctx.heading + ("".join(ctx.written[-ctx.position:]) if ctx.position else "")
    key = char_pairs(sentence_key(normalize_for_compare(sentence)))
    if not said or not key:
        return False
    return any(covers(said, f) and len(key & char_pairs(sentence_key(normalize_for_compare(f.text))))
               >= RESTATED_SHARE * len(key) for f in ctx.facts)


def _hollow(sentence: str, ctx: ReplyContext) -> bool:
    """Praise no fact gives (取得了显著成效、重要贡献、全面提升…): the facts and their figures say how
    well the work went, or nothing does (HOLLOW-01's phrase list)."""
    from evals.rules.claims import hollow_phrases
    facts = normalize_for_compare("".join(ctx.fact_texts))
    return any(normalize_for_compare(c.text) not in facts for c in hollow_phrases(sentence))


def number_pairs(text: str) -> set[tuple[str, str]]:
    """(value, unit) of every figure in a text, years aside."""
    norm = normalize_for_compare(text)
    return {t.pair for t in extract_numbers(norm) if not is_year_token(t, norm)}


def _fact_pairs(facts: list[Fact]) -> set[tuple[str, str]]:
    return set().union(*(number_pairs(f.text) for f in facts)) if facts else set()


def _elsewhere(sentence: str, ctx: ReplyContext) -> bool:
    """A sentence about another sub-heading's facts: it carries their figures and none of this
    paragraph's, or says one of them and none of these. Given every fact in its prompt, the small
    model writes them all into whichever paragraph it is asked for; each is written in its own."""
    if not ctx.other_facts:
        return False
    pairs = number_pairs(sentence)
    if pairs & ctx.other_pairs and not pairs & ctx.own_pairs:
        return True
    return not facts_in(sentence, ctx.facts) and bool(facts_in(sentence, ctx.other_facts))


# The contract, in the order it is checked; the first guard a sentence fails names the reason.
SENTENCE_GUARDS: list[SentenceGuard] = [
    SentenceGuard("meta-sentence", LEXICON, DROP_SENTENCE, "模型在说明自己的文字（如“以下是……”），不是正文", _meta),
    SentenceGuard("unit-name-only", GENERIC, DROP_SENTENCE, "只有单位名称，不成句", _unit_name_only),
    SentenceGuard("exemplar-mask", GENERIC, REASK, "带有范文中隐去内容的标记（〔数〕〔地〕〔名〕），是照抄范文",
                  lambda s, c: bool(MASK_RE.search(s))),
    SentenceGuard("belongs-elsewhere", THRESHOLD, DROP_SENTENCE, "写的是别的小标题下的事实", _elsewhere),
    SentenceGuard("number-not-in-facts", GENERIC, REASK, "含有本段事实中没有的数字", _foreign_number),
    SentenceGuard("name-not-in-facts", GENERIC, REASK, "含有事实中没有的名称（“”或《》）", _unknown_name),
    SentenceGuard("claim-not-in-facts", LEXICON, REASK, "含有事实没有的活动、荣誉、机构或范围说法", _claims),
    SentenceGuard("stray-verify-mark", GENERIC, DROP_SENTENCE, "“【待核实】”放在了事实没有的位置", _stray_mark),
    SentenceGuard("hollow-praise", LEXICON, REASK, "空泛的评价或拔高（如“取得了显著成效”“做出了重要贡献”），事实没有这样说",
                  _hollow),
    SentenceGuard("exemplar-echo", THRESHOLD, REASK, "照抄了范文片段中的内容（连续12字以上）", _exemplar_echo),
    SentenceGuard("value-on-other-metric", THRESHOLD, REASK, "把事实中的数字写到了别的指标上", _moved_value),
    SentenceGuard("unsupported-effect", LEXICON, DROP_SENTENCE, "声称了事实没有给出的效果（如“有效提升了……”）",
                  _unsupported_effect),
    SentenceGuard("unanchored", THRESHOLD, DROP_SENTENCE, "不是在写本段的事实（事实中没有这项工作）", _unanchored),
    SentenceGuard("prompt-echo", THRESHOLD, DROP_SENTENCE, "复述了给模型的写作要求或示例",
                  lambda s, c: shares_grams(s, c.prompt_grams, ECHO_MIN_CHARS)),
    SentenceGuard("plan-written-as-done", LEXICON, REASK, "计划部分写成了已完成的事", _done_in_plan),
    SentenceGuard("restates-heading", THRESHOLD, DROP_SENTENCE, "只是重复了小标题", _restates_heading),
    SentenceGuard("restates-fact", THRESHOLD, DROP_SENTENCE, "把本段已经写过的事实又说了一遍", _restates_fact),
    SentenceGuard("repeated-sentence", THRESHOLD, DROP_SENTENCE, "与前文重复",
                  lambda s, c: repeats(s, c.written)),
    SentenceGuard("fragment", GENERIC, DROP_SENTENCE, "不成句的残片", _fragment),
]


def drop_effect_clauses(sentence: str, facts: list[Fact], future: bool = False) -> str:
    """“定向培养农村订单医学生45名，有效提升了乡村医生的执业能力。” keeps its fact and loses the
    effect clause no fact gives; a sentence that is all effect is left to the sentence guards.
    Outside plan parts an aim (“提升基层医疗卫生机构的服务能力和水平”) said after a fact claims
    it was reached; in a plan it is the aim and stays."""
    end = sentence[-1] if sentence and sentence[-1] in "。；！？" else ""
    clauses = sentence.rstrip("。；！？").split("，")

    def claims_effect(i: int, c: str) -> bool:
        return bool(word_re("effect_claims").search(c)
                    or (not future and i > 0 and word_re("effect_aims").search(c)))
    # an effect clause stays only when it is a fact's own wording, not when it merely shares a few words
    kept = [c for i, c in enumerate(clauses)
            if not (claims_effect(i, c) and not facts_in(c, facts, FACT_WORDING_KEPT))]
    if not kept or len(kept) == len(clauses):
        return sentence
    return "，".join(kept) + end


def drop_unanchored_tail(sentence: str, ctx: ReplyContext) -> str:
    """Clauses after a sentence's last fact that share no word with the paragraph's facts or heading
    go (“新建标准化预防接种门诊3个，实现整体搬迁投入运营。”): what follows a fact is said as its
    result or sequel, and one the facts do not give is invented. Clauses before the fact are how
    the work was approached and claim nothing; a sentence with no fact is left to the sentence guards."""
    end = sentence[-1] if sentence and sentence[-1] in "。；！？" else ""
    clauses = sentence.rstrip("。；！？").split("，")
    with_fact = [i for i, c in enumerate(clauses) if facts_in(c, ctx.facts)]
    if not with_fact:
        return sentence
    last = with_fact[-1]
    kept = clauses[:last + 1] + [c for c in clauses[last + 1:] if _shares_own_words(c, ctx)]
    return sentence if len(kept) == len(clauses) else "，".join(kept) + end


def strip_lead(sentence: str, words: str) -> str:
    """The sentence without a lead that the `words` list of guard_words.toml matches."""
    return word_re(words).sub("", sentence.strip(), count=1)


def strip_label_lead(sentence: str) -> str:
    """“目标，确保…” → “确保…”: the label the model put before a sentence."""
    return strip_lead(sentence, "label_lead")


def failed_guard(sentence: str, ctx: ReplyContext) -> SentenceGuard | None:
    for g in SENTENCE_GUARDS:
        if g.test(sentence, ctx):
            return g
    return None


def tidy_reply(text: str, ctx: ReplyContext, edits: list[GuardEdit]) -> str:
    """Reply-scope fix: markdown, chat preambles, labels and headings the model added, ASCII
    punctuation, fact terms it shortened (“孕妇” for “孕产妇”) — one logged edit when it changes."""
    cleaned = clean_paragraph(text, heading=ctx.heading, facts=ctx.fact_texts)
    if cleaned.strip() != text.strip():
        edits.append(GuardEdit("tidy-reply", FIX, text.strip(), cleaned, "去掉了格式符号、套话、模型自加的标签或小标题", ctx.where))
    return cleaned


def facts_in(sentence: str, facts: list[Fact], share: float = FACT_LINK_SHARE) -> list[int]:
    """Ids of the facts a sentence says: it carries one of their numbers or names, or `share` of its
    character pairs are in one of them."""
    norm = normalize_for_compare(sentence)
    pairs = number_pairs(sentence)
    key = char_pairs(sentence_key(norm))
    ids = []
    for f in facts:
        fnorm = normalize_for_compare(f.text)
        fpairs = number_pairs(f.text)
        if (pairs & fpairs or any(n in sentence for n in f.names)
                or (key and len(key & char_pairs(sentence_key(fnorm))) >= share * len(key))):
            ids.append(f.id)
    return ids


def covers(text: str, fact: Fact) -> bool:
    """A fact is in the text when all its numbers (value and unit) and names are, or — for a fact
    without numbers — when most (FACT_WORDING_KEPT) of its character pairs are."""
    norm = normalize_for_compare(text)
    have = {t.pair for t in extract_numbers(norm)}
    fnorm = normalize_for_compare(fact.text)
    need = {t.pair for t in extract_numbers(fnorm) if not is_year_token(t, fnorm)}
    if any(normalize_for_compare(n) not in norm for n in fact.names):
        return False
    if need:
        return need <= have
    key = char_pairs(sentence_key(fnorm))
    return not key or len(key & char_pairs(sentence_key(norm))) >= FACT_WORDING_KEPT * len(key)
