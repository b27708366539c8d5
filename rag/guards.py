"""The drafting guards: every check on, and every change to, a draft — while writing, when
finishing, in repair and in revision — is a named `Guard` in one ordered registry (after
guardrails-ai validators / NeMo rails). A guard has an id, a scope (one model reply, a sentence,
a clause, a block, the whole draft), a basis (a generic rule, a word list, or a threshold) and an
on-fail action (drop, drop_clause, rewrite, reask, insert, mark). Every change goes through a
`GuardRunner`, which logs it as a `GuardEdit`, so the user sees what was removed, added or marked
and why.

What a model may write (the contract):
- *hard claims* — a number, “name”, 《title》, organisation, event, honour, scope word or checkable
  outcome no fact gives — are never kept (the number, name and claim guards; CLAIM-01's test);
- *facts* are kept with every figure and qualifier exact;
- *elaboration* — how the work was done, why, what it brought in general words, the causes of a
  problem, the measures of a plan — is kept when it stays on its paragraph's own facts and names
  no hard claim, marked with origin "elaboration" for the user to confirm. With `elaborate=False`
  (the facts-only switch) it is dropped instead, each drop logged.
Quality guards (repeats, another paragraph's fact, copied exemplar text, prompt echo, fragments,
hollow praise, a plan written as done) apply to facts and elaboration alike.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import cached_property

from rag.factsheet import VERIFY_MARK, Fact
from rag.postprocess import clean_paragraph
from rag.prompting import MASK_RE, demo_topics, echoes_prompt, generic_pairs, word_re
from rag.text import (FACT_LINK_SHARE, FACT_PRESENT_SHARE, char_pairs, clauses_of, contains_fact, ensure_full_stop,
                      extract_numbers, han_count, han_grams, is_year_token, keyed_tokens, number_key,
                      number_pairs, pair_key, QUOTED_NAME_RE, says_fact, sentence_key, sentences_of,
                      shares_grams)
from rag.textnorm import normalize_for_compare

# Exemplars share stock phrases (“全面贯彻落实” 6) with any report; a run of 12 Han characters
# copied from an exemplar (and not in the facts) is another unit's work (measured at stop 6: at 8
# the filter dropped 41 % of the embedded model's text).
EXEMPLAR_ECHO_MIN_CHARS = 12
# A sentence whose character pairs are mostly its sub-heading's says the heading again.
HEADING_RESTATED = 0.75
# A sentence with this share of its character pairs in a fact the paragraph already said restates it.
RESTATED_SHARE = 0.45
# A model sentence with fewer Han characters is list debris (“市第二人民医院。”, “覆盖病组：632个。”)
# left when a Markdown list is read as prose; report sentences are longer.
FRAGMENT_HAN = 10
# An elaboration span (no fact in it) copying this many characters of an exemplar is another
# unit's 做法 (“抓项目夯基础”); a fact's clause may share up to EXEMPLAR_ECHO_MIN_CHARS.
ELABORATION_ECHO_MIN_CHARS = 8
# Pairs of another sub-heading's fact words that make a sentence without a fact that one's.
ELSEWHERE_PAIRS = 3
# A clause this short without a fact (“同时，”“为此，”) is a link: it goes with the clause it leads into.
LINK_CLAUSE_HAN = 5
# A clause this long said twice in one draft is a repeat (“参加县‘八一’军民联欢活动” under two headings).
REPEATED_CLAUSE_HAN = 8

SCOPES = ("reply", "sentence", "clause", "block", "draft")
BASES = ("generic", "lexicon", "threshold")
ACTIONS = ("drop", "drop_clause", "rewrite", "reask", "insert", "mark")
GENERIC, LEXICON, THRESHOLD = BASES
DROP, DROP_CLAUSE, REWRITE, REASK, INSERT, MARK = ACTIONS
ORIGINS = ("fact", "phrase", "model", "elaboration", "plan", "user")


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

    @classmethod
    def from_dict(cls, d: dict) -> "GuardEdit":
        return cls(*(str(d.get(k, "")) for k in ("guard", "action", "before", "after", "reason", "where")))


@dataclass
class Sentence:
    """One span of the result — a sentence, or a clause of one — and where it came from: "fact"
    (a fact written as it is), "phrase" (our phrase bank), "model" (a model span that carries its
    facts), "elaboration" (model text around the facts, to be confirmed), "plan" (a heading of the
    plan) or "user" (what the user typed). Joining a block's spans gives its text."""
    text: str
    origin: str
    fact_ids: list[int] = field(default_factory=list)
    confirmed: bool = False          # an elaboration the user has confirmed

    def to_dict(self) -> dict:
        d = {"text": self.text, "origin": self.origin, "fact_ids": list(self.fact_ids)}
        if self.origin == "elaboration":
            d["confirmed"] = self.confirmed
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Sentence":
        return cls(d["text"], d["origin"], [int(i) for i in d.get("fact_ids", [])], bool(d.get("confirmed")))


# --- the context a reply is checked in -------------------------------------------------------------

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
    elaborate: bool = True            # keep grounded elaboration (marked) or only the facts
    # words a paragraph without facts must stay on (a plan's 保障措施: the report's facts and the
    # part's own theme); a paragraph with facts stays on its facts and heading
    anchor: str = ""
    before: str = ""                  # what the paragraph already says (a reply that continues it)

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
    def short_echo_grams(self) -> frozenset[str]:
        return (han_grams(self.exemplars, ELABORATION_ECHO_MIN_CHARS)
                - han_grams(self.fact_texts + [self.heading], ELABORATION_ECHO_MIN_CHARS))

    @cached_property
    def own_pairs_with_heading(self) -> set[str]:
        own = [self.heading, self.anchor, *(f.text for f in self.facts)]
        return set().union(*(pair_key(t) for t in own)) - generic_pairs()

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


def facts_in(text: str, facts: list[Fact], share: float = FACT_LINK_SHARE) -> list[int]:
    """Ids of the facts a sentence or clause is about (rag.text.says_fact)."""
    return [f.id for f in facts if says_fact(text, f.text, share)]


def covers(text: str, fact: Fact) -> bool:
    """The text holds the fact (rag.text.contains_fact)."""
    return contains_fact(text, fact.text)


def _fact_pairs(facts: list[Fact]) -> set[tuple[str, str]]:
    return set().union(*(number_pairs(f.text) for f in facts)) if facts else set()


def _shares_own_words(text: str, ctx: ReplyContext) -> bool:
    """The text shares a character pair, beyond the words every report uses, with the paragraph's
    heading, facts or anchor: it stays on the paragraph's own work."""
    return bool(pair_key(text) & ctx.own_pairs_with_heading)


# --- sentence tests -----------------------------------------------------------------------------------

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
    if shares_grams(sentence, ctx.echo_grams, EXEMPLAR_ECHO_MIN_CHARS):
        return True
    # what the sentence adds around its facts must be the unit's own, not an exemplar's 做法
    extra = "，".join(c for c in clauses_of(sentence) if not facts_in(c, ctx.facts))
    return bool(extra) and shares_grams(extra, ctx.short_echo_grams, ELABORATION_ECHO_MIN_CHARS)


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


def _fragment(sentence: str, ctx: ReplyContext) -> bool:
    """List debris, or a sentence that stops on its opening phrase (“我局高度重视老龄健康，通过加强
    医养结合机构建设。”): its last clause starts a means or scope and nothing follows."""
    if han_count(sentence) < FRAGMENT_HAN:
        # “充实执法力量。”: a short lead of what follows, verb and object, is not debris
        return not word_re("lead_phrase").match(sentence.strip())
    last = sentence.rstrip("。；！？").split("，")[-1]
    # “…，通过国家卫生县城复审。” is a fact, not an opening phrase left hanging
    return bool(word_re("dangling_opener").match(last)) and not facts_in(last, ctx.facts)


def _claims(sentence: str, ctx: ReplyContext) -> bool:
    # the checker's CLAIM-01 test: events, honours, scope words, organisations and checkable
    # outcomes (“未发生…”, “实现全覆盖”) no fact gives
    from evals.rules.claims import unsupported_claims
    return bool(unsupported_claims(sentence, tuple(ctx.fact_texts) + (ctx.unit,)))


def claims_effect(text: str) -> bool:
    """An outcome said in words (“有效减轻了…负担”): kept as elaboration to confirm, or dropped
    in a facts-only draft."""
    return bool(word_re("effect_claims").search(text))


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


def _off_topic(sentence: str, ctx: ReplyContext) -> bool:
    """A sentence that says none of the paragraph's facts and shares no word of its work (beyond
    the words every report uses): the small model fills a paragraph with another report's
    sentences (“努力为军队办实事” under an 应急 heading). Elaboration stays on its paragraph's facts."""
    return not facts_in(sentence, ctx.facts) and not _shares_own_words(sentence, ctx)


def _restates_fact(sentence: str, ctx: ReplyContext) -> bool:
    """A sentence that mostly says again a fact the paragraph already said (“严格遵守中央八项规定精神，
    无违规违纪行为。我局严格按照中央八项规定精神要求，没有发生任何违规违纪行为。”)."""
    # the heading counts as said: a paragraph under “全部设立老年医学科” need not say it again
    said = ctx.heading + ctx.before + ("".join(ctx.written[-ctx.position:]) if ctx.position else "")
    key = pair_key(sentence)
    if not said or not key:
        return False
    return any(covers(said, f) and len(key & pair_key(f.text)) >= RESTATED_SHARE * len(key) for f in ctx.facts)


def _hollow(sentence: str, ctx: ReplyContext) -> bool:
    """Praise no fact gives (取得了显著成效、重要贡献、全面提升…): the facts and their figures say how
    well the work went, or nothing does (HOLLOW-01's phrase list)."""
    from evals.rules.claims import hollow_phrases
    facts = normalize_for_compare("".join(ctx.fact_texts))
    return any(normalize_for_compare(c.text) not in facts for c in hollow_phrases(sentence))


def _demo_topic(sentence: str, ctx: ReplyContext) -> bool:
    """The worked example's topic carried into this report: a word naming it, when nothing the
    user gave (facts, heading, the paragraph as it stands) names that topic at all."""
    given = "".join(ctx.fact_texts) + ctx.heading + ctx.anchor + ctx.before
    return any(any(w in sentence for w in words) and not any(w in given for w in words)
               for words in demo_topics())


def _elsewhere(sentence: str, ctx: ReplyContext) -> bool:
    """A sentence about another sub-heading's facts: it carries their figures and none of this
    paragraph's, or says one of them and none of these. Given every fact in its prompt, the small
    model writes them all into whichever paragraph it is asked for; each is written in its own."""
    if not ctx.other_facts:
        return False
    pairs = number_pairs(sentence)
    if pairs & ctx.other_pairs and not pairs & ctx.own_pairs:
        return True
    # a paragraph written about the whole report (an opening, problems, next steps, measures:
    # its anchor) may name any of the report's work; only another sub-heading's figures are not its
    if not ctx.facts or ctx.anchor or facts_in(sentence, ctx.facts):
        return False
    if facts_in(sentence, ctx.other_facts):
        return True
    # far more of another sub-heading's words than of its own (“此外，还将推动中药种植基地建设…”
    # under 中医馆 when 中药材种植示范基地 has its own sub-heading)
    key = pair_key(sentence) - generic_pairs()
    own = len(key & ctx.own_pairs_with_heading)
    other = max((len(key & pair_key(f.text)) for f in ctx.other_facts), default=0)
    return other >= ELSEWHERE_PAIRS and other > 2 * own


def _repeated(sentence: str, ctx: ReplyContext) -> bool:
    # REPEAT-01's own test, so the drafter keeps no sentence the checker would call a repeat
    from evals.rules.claims import near_duplicate
    key = sentence_key(sentence)
    return any(key and (key in sentence_key(w) or near_duplicate(sentence, w)) for w in ctx.written)


def _echoes_prompt(sentence: str, ctx: ReplyContext) -> bool:
    """Our instructions repeated, or a worked example's sentence in a sentence that says none of
    the paragraph's facts (around its own facts, a phrase the example also uses is the report's
    own 做法 for work of the same kind). Words a fact uses are the fact's."""
    return echoes_prompt(sentence, ctx.fact_texts, demos=not facts_in(sentence, ctx.facts))


# --- the registry ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Guard:
    id: str
    scope: str           # reply | sentence | clause | block | draft
    basis: str           # generic | lexicon | threshold
    action: str          # what it does on failure: drop | drop_clause | rewrite | reask | insert | mark
    label: str           # its name for the user (删改记录)
    reason: str          # why, for the user
    test: Callable[[str, ReplyContext], bool] | None = None   # sentence guards

    def __post_init__(self):
        if self.scope not in SCOPES or self.basis not in BASES or self.action not in ACTIONS:
            raise ValueError(f"guard {self.id}: bad scope/basis/action")


def _g(id, scope, basis, action, label, reason, test=None) -> Guard:
    return Guard(id, scope, basis, action, label, reason, test)


# Every guard, in the order it is applied within its scope. A sentence guard's REASK means: a
# sentence carrying one of the paragraph's facts is asked for again once, then replaced by the
# plain fact; any other failing sentence is dropped.
REGISTRY: tuple[Guard, ...] = (
    # reply scope: the model's whole answer, before it is read as sentences
    _g("prompt-text", "reply", THRESHOLD, DROP, "复述提示内容", "去掉回答中照抄的提示结构（【文种】、<<<、“片段一”之类）"),
    _g("tidy-reply", "reply", GENERIC, REWRITE, "格式整理", "去掉了格式符号、套话、模型自加的标签或小标题"),
    # clause scope: parts of one model sentence
    _g("label-lead", "clause", LEXICON, DROP_CLAUSE, "句首标签", "去掉模型加在句首的标签"),
    _g("repeated-clause", "clause", THRESHOLD, DROP_CLAUSE, "重复分句", "这一分句前文已经写过"),
    _g("unsupported-effect", "clause", LEXICON, DROP_CLAUSE, "事实没有的效果",
       "只写事实时，删去事实没有给出的效果说法"),
    _g("unanchored-clause", "clause", THRESHOLD, DROP_CLAUSE, "事实之外的分句",
       "只写事实时，删去事实之后、事实中没有的内容"),
    # sentence scope: the contract, in the order it is checked; the first failure names the reason
    _g("meta-sentence", "sentence", LEXICON, DROP, "模型自述", "模型在说明自己的文字（如“以下是……”），不是正文", _meta),
    _g("unit-name-only", "sentence", GENERIC, DROP, "只有单位名称", "只有单位名称，不成句", _unit_name_only),
    _g("exemplar-mask", "sentence", GENERIC, REASK, "照抄范文标记", "带有范文中隐去内容的标记（〔数〕〔地〕〔名〕），是照抄范文",
       lambda s, c: bool(MASK_RE.search(s))),
    _g("belongs-elsewhere", "sentence", THRESHOLD, DROP, "属于别的小标题", "写的是别的小标题下的事实", _elsewhere),
    _g("number-not-in-facts", "sentence", GENERIC, REASK, "事实中没有的数字", "含有本段事实中没有的数字", _foreign_number),
    _g("name-not-in-facts", "sentence", GENERIC, REASK, "事实中没有的名称", "含有事实中没有的名称（“”或《》）", _unknown_name),
    _g("claim-not-in-facts", "sentence", LEXICON, REASK, "事实中没有的说法",
       "含有事实没有的活动、荣誉、机构、范围说法或可核查的结果（如“未发生”“全覆盖”）", _claims),
    _g("stray-verify-mark", "sentence", GENERIC, DROP, "多余的待核实标记", "“【待核实】”放在了事实没有的位置", _stray_mark),
    _g("hollow-praise", "sentence", LEXICON, REASK, "空泛拔高", "空泛的评价或拔高（如“取得了显著成效”“做出了重要贡献”），事实没有这样说",
       _hollow),
    _g("exemplar-echo", "sentence", THRESHOLD, REASK, "照抄范文", "照抄了范文片段中的内容（连续12字以上）", _exemplar_echo),
    _g("value-on-other-metric", "sentence", THRESHOLD, REASK, "数字张冠李戴", "把事实中的数字写到了别的指标上", _moved_value),
    _g("prompt-echo", "sentence", THRESHOLD, DROP, "复述写作要求", "复述了给模型的写作要求或示例", _echoes_prompt),
    _g("demo-topic", "sentence", LEXICON, DROP, "写进了示例的话题", "写进了写作示例的话题（如“职业健康”）或示例单位的地名，本报告的事实没有这些",
       _demo_topic),
    _g("plan-written-as-done", "sentence", LEXICON, REASK, "计划写成已完成", "计划部分写成了已完成的事", _done_in_plan),
    _g("unanchored", "sentence", THRESHOLD, DROP, "与本段无关", "既不是本段的事实，也不是围绕本段事实的展开", _off_topic),
    _g("restates-heading", "sentence", THRESHOLD, DROP, "重复小标题", "只是重复了小标题", _restates_heading),
    _g("restates-fact", "sentence", THRESHOLD, DROP, "重复事实", "把本段已经写过的事实又说了一遍", _restates_fact),
    _g("repeated-sentence", "sentence", THRESHOLD, DROP, "重复句子", "与前文重复", _repeated),
    _g("fragment", "sentence", GENERIC, DROP, "残句", "不成句的残片", _fragment),
    _g("reask", "sentence", GENERIC, REWRITE, "请模型改写", "不符合要求的句子请模型改写一次"),
    # marking: what passed and is not a fact
    _g("elaboration", "sentence", THRESHOLD, MARK, "扩写（请核实）",
       "围绕本段事实的做法、原因或成效，事实没有逐字给出，请核实"),
    _g("facts-only", "sentence", GENERIC, DROP, "只写事实", "选择了只写事实，删去事实之外的扩写"),
    # block scope: one paragraph
    _g("missing-fact", "block", GENERIC, INSERT, "补上漏写的事实", "模型漏写了这条事实，照录补上"),
    _g("leading-connective", "block", LEXICON, REWRITE, "段首承接词", "段首的“同时”“此外”之类承接前文，前面没有内容，去掉"),
    _g("dangling-lead", "block", LEXICON, DROP, "悬空的引导句", "段末的引导短句后面没有内容，删去"),
    _g("short-item", "block", THRESHOLD, INSERT, "字数不足", "这一段写不到计划字数，标出需要补充材料的地方"),
    _g("heading-contract", "block", GENERIC, REWRITE, "小标题", "模型拟的小标题不能用，改用按事实生成的小标题"),
    _g("own-opener", "block", THRESHOLD, REWRITE, "模型写的开头",
       "模型写了完整的开头句（年份、在谁的领导下、一年的工作），用它代替固定的开头语（扩写，请核实）"),
    _g("user-material", "block", GENERIC, REWRITE, "补充材料", "按用户补充的材料重写了这一段"),
    _g("revision", "block", GENERIC, REWRITE, "按要求修改", "按用户的修改要求重写了这一段"),
    _g("repair", "block", GENERIC, REWRITE, "按检查结果修改", "按检查结果请模型修改了这一段"),
    # draft scope: the assembled draft
    _g("unit-voice", "draft", LEXICON, REWRITE, "单位自称", "改为本单位的自称和辖区称谓"),
    _g("over-length", "draft", THRESHOLD, DROP, "超出字数", "草稿超过字数上限，删去不含事实的句子"),
    _g("short-draft", "draft", THRESHOLD, INSERT, "字数不足", "全文不足要求字数，标出需要补充材料的地方"),
    _g("foreign-number", "draft", GENERIC, DROP_CLAUSE, "事实中没有的数字", "删去事实中没有的数字所在的分句"),
    _g("checker", "draft", GENERIC, DROP, "检查未通过", "检查发现的问题所在的句子已删去"),
)
GUARDS: dict[str, Guard] = {g.id: g for g in REGISTRY}
SENTENCE_GUARDS: tuple[Guard, ...] = tuple(g for g in REGISTRY if g.scope == "sentence" and g.test)
# hard claims that sit in one clause: the clause goes and the rest of the sentence stays
CLAUSE_CUTTABLE = frozenset({"number-not-in-facts", "name-not-in-facts", "claim-not-in-facts", "hollow-praise",
                             "exemplar-mask", "plan-written-as-done", "exemplar-echo", "demo-topic"})


def failed_guard(sentence: str, ctx: ReplyContext) -> Guard | None:
    """The first sentence guard a sentence fails, in the registry's order."""
    return next((g for g in SENTENCE_GUARDS if g.test(sentence, ctx)), None)


def guard_label(guard_id: str) -> str:
    """The Chinese name of a guard for the user; checker findings read “检查：RULE-ID”."""
    if guard_id.startswith("checker:"):
        return f"检查：{guard_id.split(':', 1)[1]}"
    g = GUARDS.get(guard_id)
    return g.label if g else guard_id


class GuardRunner:
    """Applies guards and keeps the history of what each did. One runner per draft, repair or
    revision; its `edits` are what the user sees."""

    def __init__(self, edits: list[GuardEdit] | None = None):
        self.edits: list[GuardEdit] = edits if edits is not None else []

    def log(self, guard_id: str, before: str, after: str, where: str = "", *, reason: str = "",
            action: str = "") -> GuardEdit:
        base = guard_id.split(":", 1)[0]
        g = GUARDS.get(base)
        if g is None:
            raise KeyError(f"unregistered guard {guard_id}")
        action = action or g.action
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action}")
        edit = GuardEdit(guard_id, action, before, after, reason or g.reason, where)
        self.edits.append(edit)
        return edit

    def failed_guard(self, sentence: str, ctx: ReplyContext) -> Guard | None:
        return failed_guard(sentence, ctx)

    # -- one model reply, as sentences with their origins -------------------------------------------

    def read_reply(self, reply: str, ctx: ReplyContext,
                   reask: Callable[[list[tuple[str, str]]], dict[int, str]] | None = None) -> list[Sentence]:
        """The spans of a model reply that pass the contract, each with its origin: a sentence
        carrying its facts is "model" (its clauses that carry none are "elaboration"), a sentence
        about its facts' work that carries none is "elaboration". Failing sentences that carry a
        fact are asked for again once through `reask` (list of (sentence, reason) → {n: rewrite}),
        then replaced by the plain fact; other failing sentences are dropped. Every change logged."""
        text = self.tidy(reply, ctx)
        kept: list[list[Sentence] | None] = []
        failing: list[tuple[int, str, str]] = []      # (slot, sentence, reason)

        def written() -> list[str]:
            return ctx.written + ["".join(s.text for s in x) for x in kept if x]

        for s in sentences_of(text):
            if not s.strip():
                continue
            s = self.trim_clauses(s, ctx, written())
            if not s:
                continue
            ctx_written, ctx.written = ctx.written, written()
            ctx.position = sum(1 for x in kept if x)
            guard = self.failed_guard(s, ctx)
            if guard is not None and guard.id in CLAUSE_CUTTABLE:
                cut = self._without_failing_clauses(s, guard, ctx)
                if cut:
                    self.log(guard.id, s, cut, ctx.where, action=DROP_CLAUSE)
                    s, guard = cut, None
            ctx.written = ctx_written
            if guard is None:
                kept.append(self.spans(s, ctx))
            elif guard.action == REASK and reask is not None and facts_in(s, ctx.facts):
                failing.append((len(kept), s, guard.reason))
                kept.append(None)
                self.log(guard.id, s, "", ctx.where, action=REASK)
            else:
                self.log(guard.id, s, "", ctx.where, action=DROP)
        if failing:
            answers = reask([(s, r) for _slot, s, r in failing]) if reask else {}
            for n, (slot, original, _reason) in enumerate(failing, 1):
                kept[slot] = self._rewrite(original, answers.get(n, ""), ctx, written())
        return self.mark([s for x in kept if x for s in x], ctx)

    def _without_failing_clauses(self, s: str, guard: Guard, ctx: ReplyContext) -> str:
        """The sentence without the clauses that fail `guard` on their own, when what is left passes
        every guard (“…新建门诊3个，实现整体搬迁投入运营。” keeps its fact); "" otherwise."""
        clauses = clauses_of(s)
        kept = [c for c in clauses if not guard.test(ensure_full_stop(c), ctx)]
        if len(kept) in (0, len(clauses)):
            return ""
        candidate = ensure_full_stop("".join(kept))
        return candidate if self.failed_guard(candidate, ctx) is None else ""

    def _rewrite(self, original: str, answer: str, ctx: ReplyContext, written: list[str]) -> list[Sentence]:
        candidate = ensure_full_stop(clean_paragraph(answer, heading=ctx.heading, facts=ctx.fact_texts).strip()) \
            if answer.strip() else ""
        candidate = self.trim_clauses(candidate, ctx, written) if candidate else ""
        saved, ctx.written = ctx.written, written
        guard = self.failed_guard(candidate, ctx) if candidate else None
        ctx.written = saved
        if candidate and guard is None:
            self.log("reask", original, candidate, ctx.where, reason="按要求改写后通过检查")
            return self.spans(candidate, ctx)
        # still failing: the plain fact it was about, unless another sentence already says it
        said = "".join(written)
        fact = next((f for f in ctx.facts if f.id in facts_in(original, ctx.facts) and not covers(said, f)), None)
        if fact is None:
            self.log(guard.id if guard else "reask", original, "", ctx.where, action=DROP,
                     reason="改写后仍不符合要求，已删去")
            return []
        plain = fact_sentence(fact)
        self.log(guard.id if guard else "reask", original, plain, ctx.where, action=REWRITE,
                 reason="改写后仍不符合要求，改为照录事实")
        return [Sentence(plain, "fact", [fact.id])]

    def tidy(self, reply: str, ctx: ReplyContext) -> str:
        """Reply-scope fixes: prompt structure the model copied, Markdown, chat preambles, labels and
        headings it added, ASCII punctuation, fact terms it shortened — each change logged."""
        bare = strip_prompt_text(reply)
        if bare.strip() != reply.strip():
            self.log("prompt-text", reply.strip(), bare.strip(), ctx.where)
        cleaned = clean_paragraph(bare, heading=ctx.heading, facts=ctx.fact_texts)
        if cleaned.strip() != bare.strip():
            self.log("tidy-reply", bare.strip(), cleaned, ctx.where)
        return cleaned

    def trim_clauses(self, s: str, ctx: ReplyContext, written: list[str]) -> str:
        """Clause-scope fixes of one model sentence, each logged: a label before it, a clause the
        draft already has, and — in a facts-only draft — an effect or a tail no fact gives."""
        bare = strip_label_lead(s)
        if bare != s.strip():
            self.log("label-lead", s, bare, ctx.where)
            s = bare
        plain = drop_repeated_clauses(s, written)
        if plain != s:
            self.log("repeated-clause", s, plain, ctx.where)
            s = plain
        if ctx.elaborate:
            return s
        plain = drop_effect_clauses(s, ctx.facts, ctx.future)
        if plain != s:
            self.log("unsupported-effect", s, plain, ctx.where)
            s = plain
        plain = drop_unanchored_tail(s, ctx)
        if plain != s:
            self.log("unanchored-clause", s, plain, ctx.where)
            s = plain
        return s

    def spans(self, sentence: str, ctx: ReplyContext) -> list[Sentence]:
        """A passing model sentence as spans: the clauses that carry the paragraph's facts are
        "model", runs of clauses that carry none are "elaboration" (about the sentence's facts)."""
        ids = facts_in(sentence, ctx.facts)
        if not ids:
            return [Sentence(sentence, "elaboration", self._elaborated(sentence, ctx))]
        out: list[Sentence] = []
        carry = ""
        for clause in clauses_of(sentence):
            own = facts_in(carry + clause, ctx.facts)
            if not own and han_count(clause) < LINK_CLAUSE_HAN and clause[-1:] not in "。！？；":
                carry += clause       # “同时，”“其中，”: a link belongs to the clause it leads into
                continue
            clause, carry = carry + clause, ""
            origin = "model" if own else "elaboration"
            if out and out[-1].origin == origin:
                out[-1].text += clause
                out[-1].fact_ids = sorted(set(out[-1].fact_ids) | set(own or ids))
            else:
                out.append(Sentence(clause, origin, own or ids))
        if carry:
            out.append(Sentence(carry, "elaboration", ids))
        # clauses between this paragraph's facts that say another sub-heading's fact are that
        # paragraph's (“…队员90人，同时，加强哨点监测，建立…报告网络，”): said there, not here
        elsewhere = [s for s in out if s.origin == "elaboration"
                     and facts_in(s.text, ctx.other_facts, FACT_PRESENT_SHARE)]
        for s in elsewhere:
            self.log("belongs-elsewhere", s.text, "", ctx.where, action=DROP_CLAUSE,
                     reason="这几个分句写的是别的小标题下的事实")
        if not elsewhere:
            return out
        kept = drop_spans(out, lambda x: any(x is e for e in elsewhere))
        if kept and out[0] is not kept[0]:
            kept[0].text = re.sub("^(?:并且|并|且|还|同时[，,]?)", "", kept[0].text)   # what it joined on to went
        return kept

    @staticmethod
    def _elaborated(sentence: str, ctx: ReplyContext) -> list[int]:
        """The facts a sentence without figures elaborates: those whose words it shares, else all
        of the paragraph's."""
        key = pair_key(sentence) - generic_pairs()
        ids = [f.id for f in ctx.facts if key & pair_key(f.text)]
        return ids or [f.id for f in ctx.facts]

    def mark(self, spans: list[Sentence], ctx: ReplyContext) -> list[Sentence]:
        """Log every elaboration span (action mark), or drop it in a facts-only draft."""
        if ctx.elaborate:
            for s in spans:
                if s.origin == "elaboration":
                    self.log("elaboration", s.text, s.text, ctx.where)
            return spans
        kept = drop_spans(spans, lambda s: s.origin == "elaboration")
        for s in spans:
            if s.origin == "elaboration":
                self.log("facts-only", s.text, "", ctx.where, action=DROP_CLAUSE if s.text[-1:] not in "。！？" else DROP)
        return kept


# --- clause-level text functions -----------------------------------------------------------------

def fact_sentence(fact: Fact) -> str:
    """A fact written as it is, as one sentence of the report."""
    from rag.textnorm import to_fullwidth_punctuation
    return ensure_full_stop(to_fullwidth_punctuation(fact.text.strip().rstrip("；;，,。")))


_PROMPT_STRUCTURE = re.compile(
    r"【(?:文种|写法|全部事实|本次任务|范文片段|要求|小标题写法)】[^\n]*|<<<|>>>"
    r"|(?:^|(?<=[\n。；]))\s*片段[一二三四五六七八九十]+[：:，,]?|\[\d{1,2}\]\s?")


def strip_prompt_text(text: str) -> str:
    """A reply without the structure of our prompts that the model copied: section labels
    (【文种】…), the material fences (<<< >>>), exemplar labels (片段一：) and fact numbers ([3])."""
    return _PROMPT_STRUCTURE.sub("", text)


def drop_spans(spans: list[Sentence], unwanted: Callable[[Sentence], bool]) -> list[Sentence]:
    """The spans without the unwanted ones, each sentence still ending on its own mark: a clause
    left ending on “，” where the rest of its sentence went ends on “。”."""
    out: list[Sentence] = []
    for s in spans:
        if unwanted(s):
            if out and s.text[-1:] in "。！？；" and out[-1].text[-1:] in "，、：":
                out[-1] = Sentence(ensure_full_stop(out[-1].text), out[-1].origin, out[-1].fact_ids,
                                   out[-1].confirmed)
            continue
        out.append(s)
    if out and out[-1].text[-1:] in "，、：":
        last = out[-1]
        out[-1] = Sentence(ensure_full_stop(last.text), last.origin, last.fact_ids, last.confirmed)
    return out


def drop_repeated_clauses(sentence: str, written: Iterable[str]) -> str:
    """The sentence without clauses of REPEATED_CLAUSE_HAN or more Han characters that the draft
    already says word for word; "" when those were most of it (what is left is a remnant of a
    repeated sentence, “其中尘肺病9例，减少了往返奔波。”)."""
    said = "".join(sentence_key(w) for w in written)
    if not said:
        return sentence
    # a clause said before, or one that holds a clause said before (“这项工作有效遏制了…” after “…，有效遏制了…。”)
    earlier = {k for w in written for c in clauses_of(w) if han_count(c) >= REPEATED_CLAUSE_HAN
               for k in [sentence_key(c)]}
    clauses = clauses_of(sentence)
    kept = [c for c in clauses if han_count(c) < REPEATED_CLAUSE_HAN
            or (sentence_key(c) not in said and not any(k in sentence_key(c) for k in earlier))]
    if len(kept) == len(clauses):
        return sentence
    if han_count("".join(kept)) * 2 < han_count(sentence):
        return ""
    return ensure_full_stop("".join(kept)) if kept else ""


def drop_effect_clauses(sentence: str, facts: list[Fact], future: bool = False) -> str:
    """“定向培养农村订单医学生45名，有效提升了乡村医生的执业能力。” keeps its fact and loses the
    effect clause no fact gives; a sentence that is all effect is left to the sentence guards.
    Outside plan parts an aim (“提升基层医疗卫生机构的服务能力和水平”) said after a fact claims
    it was reached; in a plan it is the aim and stays."""
    end = sentence[-1] if sentence and sentence[-1] in "。；！？" else ""
    clauses = sentence.rstrip("。；！？").split("，")

    def effect(i: int, c: str) -> bool:
        return bool(claims_effect(c) or (not future and i > 0 and word_re("effect_aims").search(c)))
    # an effect clause stays only when it is a fact's own wording, not when it merely shares a few words
    kept = [c for i, c in enumerate(clauses)
            if not (effect(i, c) and not [f for f in facts if says_fact(c, f.text, 0.7)])]
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
