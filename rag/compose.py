"""Writing a plan under the contract: the draft is a list of `Block`s (title, part headings,
paragraphs), each made of spans (`Sentence`s) whose origin is known.

- Framing (title, the opening's first sentence and lead-in, the closing) comes from our phrase
  banks (prompts/phrases.toml); the opening's middle sentence names the year's work strands from
  the plan (a model sentence, marked as elaboration).
- A sub-heading's paragraph is one small model call from its own facts, with its 做法 and 成效
  said around them; a paragraph short of its budget gets one more call for material, then a
  【待补充】 prompt instead of filler.
- A paragraph part (problems, next steps, safeguards) is one call that writes each fact as an
  item with its cause, impact or measures (一是…二是…); a next-steps or safeguards part with no
  facts gets future-tense measures that answer the report's own facts, marked as elaboration.
  A problems part with no facts asks the user: a problem is never invented.
Every reply goes through the guard runner (rag/guards.py), the same one repair and revision use.

Prompts share one prefix per draft (system, worked example, genre voice) so a llama.cpp server
reuses its cache from the second call on; what changes (the task with its own facts, its
exemplars) comes last. A call sees only the facts it writes.
"""
from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from string import Template
from typing import Any

from rag.config import PROJECT_ROOT
from rag.errors import LLMError
from rag.factsheet import Fact, FactSheet
from rag.guards import (DROP_CLAUSE, GuardRunner, ReplyContext, Sentence, covers, drop_spans, fact_sentence,
                        number_pairs, strip_lead)
from rag.headings import ENUM_ITEM_RE, canonical_marker
from rag.plan import PlanItem, PlanPart, ReportPlan, clean_heading, fact_lead_heading, heading_problem
from rag.postprocess import renumber_enumerations
from rag.prompting import fact_lines, fence, headings_demo_exchange, render, word_re
from rag.text import PERIOD_LEAD_RE, REMINDER_RE, SUPPLY_MARK, clauses_of, han_count, nonspace_len, sentence_key
from rag.textnorm import chinese_numeral, normalize_for_compare

# A paragraph under GROW_SHARE of its budget asks the model once more for material; one still
# under SHORT_SHARE asks the user (【待补充】).
GROW_SHARE = 0.9
SHORT_SHARE = 0.6
HEADINGS_TEMPERATURE = 0.1
# Paragraph parts written as “一是……；二是……”: a list of problems, plans or safeguards.
ENUMERATED_PARTS = ("problems", "next", "safeguards")
# Parts that may be written with no facts at all: measures to come, which claim nothing done.
MEASURE_PARTS = ("next", "safeguards")
# A short paragraph asks once for more material; a draft makes at most GROW_CALLS_MAX such calls
# (each costs the embedded model 10–20 s: a whole report must stay within minutes). The embedded
# model writes about three quarters of the length it is asked for, so most paragraphs need one.
GROW_CALLS_MAX = 6
GROW_MIN_CHARS = 40
# How many measures a part with no facts gets, and the characters the opening's overview may take.
MEASURES_WITHOUT_FACTS = 3
OVERVIEW_CHARS = 60
# An opener the model wrote (“2024年，在…领导下，我局…”) takes our phrase-bank sentence's place only
# when it says at least this much: a bare “2024年，我局扎实推进各项工作。” says less than ours.
OPENER_MIN_HAN = 40
# An overview clause this long (compare keys) that is a fact's own words repeats the paragraph below.
REPEAT_CLAUSE_KEY = 8
_ENUM_MARK = re.compile(r"(?:^|(?<=[。；：\n]))\s*(?:[一二三四五六七八九十]+是|[（(]?[一二三四五六七八九十\d]{1,2}(?:[）)、]|[.．](?!\d)))\s*[，,]?")


@lru_cache(maxsize=1)
def phrase_bank() -> dict[str, Any]:
    with open(PROJECT_ROOT / "prompts" / "phrases.toml", "rb") as f:
        return tomllib.load(f)


def placeholder(name: str) -> str:
    return phrase_bank()["placeholders"][name]


@dataclass
class Block:
    """One line of the draft."""
    key: str                       # stable id: "title", "opening", "work", "work/2", …
    kind: str                      # title | salutation | opening | part | item | paragraph | closing
    heading: str = ""              # part title or sub-heading (without its marker)
    marker: str = ""               # “一、”, “（二）”
    sentences: list[Sentence] = field(default_factory=list)

    def body(self) -> str:
        return "".join(s.text for s in self.sentences)

    def render(self) -> str:
        if self.kind == "part":
            return f"{self.marker}{self.heading}"
        if self.kind == "item":
            return f"{self.marker}{self.heading}。{self.body()}"
        return self.body()

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "heading": self.heading, "marker": self.marker,
                "sentences": [s.to_dict() for s in self.sentences]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Block":
        return cls(key=d["key"], kind=d["kind"], heading=d.get("heading", ""), marker=d.get("marker", ""),
                   sentences=[Sentence.from_dict(s) for s in d.get("sentences", [])])


def render_blocks(blocks: list[Block]) -> str:
    return "\n\n".join(b.render() for b in blocks if b.render())


def enumerate_items(items: list[list[Sentence]]) -> list[Sentence]:
    """“一是……；二是……。” from items of spans (a single item needs no 一是): one-sentence items are
    joined with “；”, longer ones stand as sentences of their own."""
    items = [it for it in items if it]
    if len(items) == 1:
        last = items[0][-1]
        return items[0][:-1] + [Sentence(last.text.rstrip("。；！？，") + "。", last.origin, last.fact_ids, last.confirmed)]
    single = all(sum(s.text[-1:] in "。！？；" for s in it) <= 1 for it in items)
    out: list[Sentence] = []
    for n, item in enumerate(items, 1):
        item = [Sentence(s.text, s.origin, s.fact_ids, s.confirmed) for s in item]
        item[0].text = f"{chinese_numeral(n)}是{_ENUM_MARK.sub('', item[0].text, count=1)}"
        last = item[-1]
        body = last.text.rstrip("。；！？，")
        last.text = body + ("；" if single and n < len(items) else "。")
        out += item
    return out


_LEAD_YEAR = re.compile(r"((?:19|20)\d\d)年")
_LEAD_AHEAD = re.compile(r"(?:下一步|今后|明年|下半年)(?:[，,]|(?=[我将要]))")


def said_once(items: list[list[Sentence]], lead: str) -> list[list[Sentence]]:
    """Items that open on the time their lead sentence already says (“2025年，我局将…：2025年计划
    招录…”, “下一步，我局将…：一是下一步，…”) lose it: the time is said once."""
    years = set(_LEAD_YEAR.findall(lead))
    ahead = bool(years) or bool(_LEAD_AHEAD.search(lead))
    out = []
    for item in items:
        if item:
            first = item[0]
            m = re.match(r"((?:19|20)\d\d)年(?:，|,)?", first.text)
            if not (m and m.group(1) in years):
                m = _LEAD_AHEAD.match(first.text) if ahead else None
            if m and len(first.text) > m.end():
                item = [Sentence(first.text[m.end():], first.origin, first.fact_ids, first.confirmed)] + item[1:]
        out.append(item)
    return out


def fact_list(facts: list[Fact]) -> str:
    """A writing call's own facts, words and all: the small model cannot look a fact up by its
    number in the list of all facts, and wrote the other paragraphs' facts when given numbers only."""
    return fact_lines((f.id, f.text) for f in facts)


def sentence_groups(spans: list[Sentence]) -> list[list[Sentence]]:
    """Spans grouped into the sentences they make up (a sentence ends on 。！？；)."""
    groups: list[list[Sentence]] = [[]]
    for s in spans:
        groups[-1].append(s)
        if s.text[-1:] in "。！？；":
            groups.append([])
    return [g for g in groups if g]


def reply_items(text: str) -> list[str]:
    """The items of a reply written as a list (一是…二是…, lines, （一）/1. markers), each without its
    marker: the items are renumbered once they are checked. A lead-in before the first item
    (“针对上述问题，我局将…：”) is no item."""
    chunks = [c.strip() for c in _ENUM_MARK.split(text)]
    if len(chunks) > 1 and chunks[0].rstrip().endswith(("：", ":")):
        chunks = chunks[1:]
    lines = [l.strip() for c in chunks for l in c.splitlines()]
    return [l for l in lines if l]


class Composer:
    """Writes the blocks of one plan. `job` is the drafting job (rag.job.DraftJob): it holds the
    request, the LLM, the retriever and the usage counters. With `elaborate=False` only the facts
    are written (every elaboration dropped and logged)."""

    def __init__(self, job, sheet: FactSheet, plan: ReportPlan, *, elaborate: bool = True,
                 runner: GuardRunner | None = None):
        self.job = job
        self.sheet = sheet
        self.plan = plan
        self.elaborate = elaborate
        self.runner = runner or GuardRunner()
        self.edits = self.runner.edits
        self.blocks: list[Block] = []
        self.short_items: list[str] = []
        self.grows = 0

    # -- framing ---------------------------------------------------------------------------------

    def values(self) -> dict[str, str]:
        r, v = self.job.request, self.job.voice
        topic = (r.topic or "").strip()
        return {"unit": r.unit, "year": str(r.year), "next_year": str(r.year + 1), "topic": topic,
                "self_ref": v.self_ref, "leaders": v.leaders,
                "focus": f"{topic}工作" if topic and not topic.endswith("工作") else (topic or "年度目标任务")}

    def phrase(self, key: str, choice: int = 0) -> str:
        bank = phrase_bank().get(self.job.request.genre, {})
        value = bank.get(key, "")
        if isinstance(value, list):
            value = value[choice % len(value)] if value else ""
        return Template(value).safe_substitute(self.values()).replace("年年", "年")

    def _phrase_block(self, key: str, kind: str, *texts: str) -> Block:
        return Block(key, kind, sentences=[Sentence(t, "phrase") for t in texts if t])

    def title_block(self) -> Block:
        title = self.phrase("title")
        self.plan.title = title
        return self._phrase_block("title", "title", title)

    def opening_block(self) -> Block:
        # a stable choice per request: the same request drafts the same opening
        choice = sum(map(ord, self.job.request.unit)) + self.job.request.year
        ours = self.phrase("opening", choice)
        overview, opener = self._overview(after_opening=True)
        if opener:
            # a model that writes its own opener (the year, under whose leadership, the year's work
            # in one sentence) says more than the phrase bank can: it stands in our sentence's place
            first = opener
            self.runner.log("own-opener", ours, "".join(s.text for s in opener), "开头")
        else:
            first = [Sentence(ours, "phrase")] if ours else []
        block = Block("opening", "opening", sentences=first + overview)
        lead_in = self.phrase("lead_in")
        if lead_in:
            block.sentences.append(Sentence(lead_in, "phrase"))
        return block

    def overview(self, after_opening: bool = True) -> list[Sentence]:
        """One sentence naming the work strands of the plan (its sub-headings), as elaboration.
        `after_opening`: it follows our opening, which has said the year already."""
        return self._overview(after_opening)[0]

    def _overview(self, after_opening: bool) -> tuple[list[Sentence], list[Sentence]]:
        """(the overview's spans, the spans of an opener sentence the model wrote, or [])."""
        headings = [it.heading for p in self.plan.parts for it in p.items]
        if not self.elaborate or not headings:
            return [], []
        works = "；".join(headings)
        opening = self.phrase("opening", sum(map(ord, self.job.request.unit)) + self.job.request.year)
        year = f"{self.job.request.year}年"
        # after an opening the model's reply may replace our sentence, so it is not held against it
        ctx = ReplyContext(facts=[], all_facts=self.sheet.facts, year=self.job.request.year,
                           unit=self.job.request.unit, future=self.job.request.genre == "工作计划",
                           written=self._written() + ([] if after_opening else [opening]), where="开头",
                           anchor=works)
        task = render("task_opening", year=self.job.request.year, works=works, chars=OVERVIEW_CHARS)
        try:
            reply = self.job.ask(task, purpose="opening", max_tokens=self.job.answer_tokens(OVERVIEW_CHARS * 2))
        except LLMError:
            return [], []   # the opening reads well without it; a server really down fails the next call
        # the lead-in (“现将…如下：”, “重点抓好以下四个方面工作”) is the phrase bank's, and a count of
        # what follows is the plan's: an overview that says either goes. A sentence on the year
        # (“2024年，在…领导下…”) is an opener: after an opening it takes our sentence's place once,
        # a second one says it twice. A sub-heading said as a sentence of its own (“妇幼服务能力持续
        # 提升。”) is said again right below.
        said = {sentence_key(h) for h in headings}
        kept: list[list[Sentence]] = []
        opener: list[Sentence] = []
        for group in sentence_groups(self.runner.read_reply(reply, ctx)):
            text = "".join(s.text for s in group)
            if text[-1:] in "：:" or re.search("如下|以下", text):
                self.runner.log("meta-sentence", text, "", "开头", reason="引导语由助手写，概述不再说“如下”")
            elif sentence_key(text) in said:
                self.runner.log("repeated-sentence", text, "", "开头", reason="小标题已经说过")
            elif sum(bool(h) and h in sentence_key(text) for h in said) >= 2:
                # “围绕新建…、提升…和规范…，全面推进”: the sub-headings strung into a sentence
                self.runner.log("repeated-sentence", text, "", "开头", reason="把小标题串成了一句，小标题下面都会写到")
            elif after_opening and text.startswith(year):
                if not opener and han_count(text) >= OPENER_MIN_HAN:
                    opener = group
                else:
                    self.runner.log("repeated-sentence", text, "", "开头", reason="开头已经说过")
            else:
                kept.append(group)
        spans = [s for g in kept[:2] for s in g]
        # a clause that is a fact's own words is said again where the fact is written: it goes
        fact_keys = [sentence_key(f.text) for f in self.sheet.facts]

        def fact_words(clause: str) -> bool:
            k = sentence_key(clause)
            return len(k) >= REPEAT_CLAUSE_KEY and any(k in fk for fk in fact_keys)

        kept_spans = []
        for s in spans:
            parts = clauses_of(s.text)
            rest = [c for c in parts if not fact_words(c)]
            if len(rest) == len(parts):
                kept_spans.append(s)
                continue
            text = "".join(rest)
            if text and text[-1:] in "，、；：" and s.text[-1:] in "。！？":
                text = text[:-1] + s.text[-1]
            self.runner.log("repeated-clause", s.text, text, "开头", action=DROP_CLAUSE,
                            reason="概述里照抄了事实原文，正文还要写")
            if sentence_key(text):
                kept_spans.append(Sentence(text, s.origin, s.fact_ids, s.confirmed))
        spans = kept_spans
        if after_opening and not opener:     # our sentence stays: what the overview repeats of it goes
            ours = sentence_key(opening)
            for s in [s for s in spans if len(sentence_key(s.text)) >= 4 and sentence_key(s.text) in ours]:
                self.runner.log("repeated-clause", s.text, "", "开头", action=DROP_CLAUSE)
            spans = drop_spans(spans, lambda s: len(sentence_key(s.text)) >= 4 and sentence_key(s.text) in ours)
        return spans, opener

    # -- parts -------------------------------------------------------------------------------------

    def part_heading(self, part: PlanPart) -> Block:
        title = Template(part.title).safe_substitute(self.values())
        return Block(part.key, "part", heading=title, marker=f"{chinese_numeral(part.number or 1)}、",
                     sentences=[])

    def _spec(self, part: PlanPart):
        return next((p for p in self.job.guide.parts if p.key == part.key), None)

    def paragraph_block(self, part: PlanPart) -> Block:
        facts = [self.sheet.by_id(i) for i in part.fact_ids]
        spec = self._spec(part)
        title = Template(part.title).safe_substitute(self.values())
        lead = spec.lead if spec is not None and spec.lead else self.phrase(f"{part.key}_lead")
        lead = Template(lead).safe_substitute(self.values())
        block = Block(f"{part.key}/p", "paragraph", sentences=[Sentence(lead, "phrase")] if lead else [])
        if facts and part.key in ENUMERATED_PARTS:
            items = said_once(self.part_items(part, facts, title, lead), lead)
            for item in items:      # 一是…二是…: each item stands on its own, none links back (“但…”, “同时，…”)
                first = item[0] if item else None
                if first is not None and first.origin in ("model", "elaboration"):
                    bare = strip_lead(first.text, "leading_connective")
                    if bare and bare != first.text:
                        item[0] = Sentence(bare, first.origin, first.fact_ids)
                        self.runner.log("leading-connective", first.text, bare, title)
            block.sentences += enumerate_items(items)
        elif facts:   # 基本情况 and the like read as prose
            block.sentences += [Sentence(fact_sentence(f), "fact", [f.id]) for f in facts]
        else:
            measures = self.measures(part, title) if part.key in MEASURE_PARTS else []
            if measures:
                block.sentences += enumerate_items(measures)
            else:
                name = {"problems": "no_problems", "next": "no_next"}.get(part.key, "no_facts")
                block.sentences.append(Sentence(placeholder(name), "phrase"))
                self.job.notices.append(f"事实中没有“{title}”的内容，这一部分只写了引导句和“{placeholder(name)}”，请补充。")
        return block

    def _part_ctx(self, part: PlanPart, facts: list[Fact], title: str, anchor: str = "") -> ReplyContext:
        """A paragraph part speaks of the whole report: causes and measures may name any of its
        work (the anchor), figures only its own facts'."""
        anchor = anchor or "".join(f.text for f in self.sheet.facts)
        return ReplyContext(facts=facts, all_facts=self.sheet.facts, year=self.job.request.year,
                            unit=self.job.request.unit, heading="", future=self._future(part),
                            written=self._written(), where=title, elaborate=self.elaborate, anchor=anchor)

    def part_items(self, part: PlanPart, facts: list[Fact], title: str, lead: str = "") -> list[list[Sentence]]:
        """Each fact of a paragraph part as an item, with the cause, impact or measures the model
        writes around it; a fact the reply lacks is its own item, as it is. An item of the reply
        that carries no fact is a measure of its own in a next-steps part, and is dropped from a
        problems part (a problem is never invented)."""
        if not self.elaborate:
            return [[Sentence(fact_sentence(f), "fact", [f.id])] for f in facts]
        ctx = self._part_ctx(part, facts, title)
        ctx.written.append(lead)     # the model copies the lead it sees in the genre's guide
        spec = self._spec(part)
        task = render("task_part", part_title=title, chars=part.budget, fact_refs=_refs(facts),
                      fact_list=fact_list(facts), guide=self.job.fill(spec.guide if spec else ""),
                      item_guide=phrase_bank()["part_guides"].get(part.key, ""))
        reply = self.job.ask(task, purpose=f"part:{part.key}", max_tokens=self.job.answer_tokens(part.budget),
                             stream=True)
        by_fact: dict[int, list[Sentence]] = {}
        extra: list[list[Sentence]] = []
        for chunk in reply_items(reply):
            spans = self.runner.read_reply(chunk, ctx, self._reasker(ctx, facts))
            ctx.written += [s.text for s in spans]
            # sentence by sentence: a sentence goes with the fact it carries, elaboration with the
            # fact it follows (or, before any, the one it leads into)
            home: int | None = None
            pending: list[Sentence] = []
            for sentence in sentence_groups(spans):
                carried = [i for s in sentence if s.origin in ("model", "fact") for i in s.fact_ids]
                if carried:
                    home = next((i for i in carried if i not in by_fact), carried[0])
                    by_fact.setdefault(home, []).extend(pending + sentence)
                    pending = []
                elif home is not None:
                    by_fact[home] += sentence
                else:
                    pending += sentence
            if pending and part.key in MEASURE_PARTS:
                extra.append(pending)
            elif pending:
                for s in pending:
                    self.runner.log("unanchored", s.text, "", title, action="drop",
                                    reason="存在问题只写事实中的问题" if part.key == "problems" else "不是在写本部分的事实")
        items: list[list[Sentence]] = []
        for f in facts:
            own = by_fact.get(f.id, [])
            if not covers("".join(s.text for s in own), f):
                # an item that said part of the fact gives way to the whole fact, with its elaboration
                plain = fact_sentence(f)
                self.runner.log("missing-fact", "", plain, title)
                own = [Sentence(plain, "fact", [f.id])] + [s for s in own if s.origin == "elaboration"]
            items.append(own)
        return items + extra

    def measures(self, part: PlanPart, title: str) -> list[list[Sentence]]:
        """Future-tense measures for a next-steps or safeguards part the facts say nothing of: each
        answers the report's own facts or the part's theme, names nothing, and is elaboration."""
        if not self.elaborate:
            return []
        theme = phrase_bank()["part_themes"].get(part.key, "")
        anchor = theme + "".join(f.text for f in self.sheet.facts)
        ctx = self._part_ctx(part, [], title, anchor=anchor)
        ctx.future = True
        task = render("task_measures", part_title=title, count=MEASURES_WITHOUT_FACTS, chars=part.budget,
                      theme=theme, fact_list=fact_list(self.sheet.facts))
        try:
            reply = self.job.ask(task, purpose=f"measures:{part.key}",
                                 max_tokens=self.job.answer_tokens(part.budget), stream=True)
        except LLMError:
            return []   # the part then asks the user (【待补充】); a server really down fails the next call
        items = []
        for chunk in reply_items(reply):
            spans = [s for s in self.runner.read_reply(chunk, ctx) if s.origin == "elaboration"]
            ctx.written += [s.text for s in spans]
            if spans:
                items.append(spans)
        if items:
            self.job.notices.append(f"事实中没有“{title}”的内容，这一部分是按报告的事实拟写的措施（扩写，请核实）。")
        return items[:MEASURES_WITHOUT_FACTS + 1]

    def headings(self, part: PlanPart) -> None:
        """One call for the sub-headings of an items part; each heading is validated against its
        own facts, and an unusable one keeps the heading the plan made from the facts."""
        items = [it for it in part.items if it.heading_source != "user"]
        if not items:
            return
        # the small model cannot look facts up by number: each group carries its facts' words
        groups = "\n".join(f"第{n}组：" + "；".join(self.sheet.by_id(i).text for i in it.fact_ids)
                           for n, it in enumerate(items, 1))
        task = render("task_headings", part_title=self.job.fill(part.title) or "正文",
                      groups=groups, heading_style=self.job.guide.heading_style)
        answer = self.job.ask(task, purpose=f"headings:{part.key}", max_tokens=60 + 40 * len(items),
                              temperature=HEADINGS_TEMPERATURE, demo=headings_demo_exchange(self.job.request.genre))
        proposed = _json_list(answer)
        taken: list[str] = [it.heading for it in part.items if it.heading_source == "user"]
        for it, raw in zip(items, proposed):
            facts = self.sheet.texts(it.fact_ids)
            proposal = clean_heading(raw)
            # the proposal, its leading clause (“加强职业健康监管，推动…” → “加强职业健康监管”), and — when
            # the model copied one of the group's own facts — the work that fact names before its figure
            candidates = [proposal, clean_heading(re.split(r"[，；：]", proposal)[0])]
            # a record's row copied whole (“4月，启动冷库安全集中治理”): the work after its month
            undated = PERIOD_LEAD_RE.sub("", proposal)
            if undated != proposal:
                candidates += [undated, clean_heading(re.split(r"[，；：]", undated)[0])]
            if any(normalize_for_compare(proposal) in normalize_for_compare(f) for f in facts):
                lead = fact_lead_heading(proposal)
                # only words that say the work (“新建胸痛救治单元”), not what was counted (“示范社区”)
                if word_re("lead_phrase").match(lead + "。"):
                    candidates.append(lead)
            others = [f.text for f in self.sheet.facts if f.part == part.key and f.id not in it.fact_ids]
            problems = [heading_problem(c, facts, self.job.guide, taken, others) for c in candidates]
            usable = next((c for c, p in zip(candidates, problems) if c and not p), "")
            if not usable:
                self.runner.log("heading-contract", proposal, it.heading, part.title,
                                reason=f"模型拟的小标题不能用（{problems[0]}），改用按事实生成的小标题")
                taken.append(it.heading)
                continue
            if usable != proposal:
                self.runner.log("heading-contract", proposal, usable, part.title,
                                reason=f"模型拟的小标题{problems[0]}，改用其中可用的部分")
            it.heading, it.heading_source = usable, "model"
            taken.append(usable)
        if len(proposed) < len(items):
            self.runner.log("heading-contract", answer.strip()[:80], "", part.title,
                            reason="模型没有为每组事实拟出小标题，其余沿用按事实生成的小标题")

    def item_block(self, part: PlanPart, n: int, item: PlanItem) -> Block:
        facts = [self.sheet.by_id(i) for i in item.fact_ids]
        heading = item.heading.rstrip("。")
        block = Block(f"{part.key}/{n}", "item", heading=heading, marker=canonical_marker(2, n))
        where = f"（{chinese_numeral(n)}）{heading}"
        if not facts:
            block.sentences = [Sentence(placeholder("no_facts"), "phrase")]
            return block
        ctx = self.item_context(part, heading, facts, where)
        block.sentences = self.write_item(part, item.budget, ctx)
        self.finish_item(block, facts, where, item.budget, ctx, part)
        return block

    def item_context(self, part: PlanPart, heading: str, facts: list[Fact], where: str) -> ReplyContext:
        ctx = ReplyContext(facts=facts, all_facts=self.sheet.facts, year=self.job.request.year,
                           unit=self.job.request.unit, heading=heading, future=self._future(part),
                           written=self._written(), where=where, elaborate=self.elaborate)
        query = " ".join([heading] + [f.text for f in facts])[:300]
        ctx.exemplars = self.job.exemplars(query, self._role(part))
        return ctx

    def write_item(self, part: PlanPart, budget: int, ctx: ReplyContext, material: str = "") -> list[Sentence]:
        """One writing call for a sub-heading's paragraph, read under the contract. `material` is
        what the user supplied for it (补充材料), written in as facts of the paragraph."""
        spec = self._spec(part)
        answer_tokens = self.job.answer_tokens(budget)
        while True:
            task = render("task_item", part_title=self.job.fill(part.title) or "正文", heading=ctx.heading,
                          chars=budget, fact_refs=_refs(ctx.facts), fact_list=fact_list(ctx.facts),
                          guide=self.job.fill(spec.guide if spec else ""),
                          exemplars=fence("".join(f"片段{chinese_numeral(i)}：{e}\n"
                                                  for i, e in enumerate(ctx.exemplars, 1))) or "（无）")
            if not ctx.exemplars or self.job.fits(task, answer_tokens):
                break
            ctx.exemplars = ctx.exemplars[:-1]   # exemplars are optional; the facts never are
        # a long fact list leaves less room: the answer is capped (the draft start checked it is enough)
        answer_tokens = max(1, min(answer_tokens, self.job.room(task)))
        reply = self.job.ask(task, purpose=f"item:{part.key}:{ctx.where}", max_tokens=answer_tokens, stream=True)
        return self.runner.read_reply(reply, ctx, self._reasker(ctx, ctx.facts))

    def finish_item(self, block: Block, facts: list[Fact], where: str, budget: int, ctx: ReplyContext,
                    part: PlanPart) -> None:
        """Block-scope guards of a written paragraph: more material when it is short, every fact
        present, no connective at its start, a 【待补充】 prompt when it is still short."""
        short = budget - nonspace_len(block.body())
        if (self.elaborate and nonspace_len(block.body()) < GROW_SHARE * budget and short >= GROW_MIN_CHARS
                and self.grows < GROW_CALLS_MAX):
            self.grows += 1
            block.sentences += self.grow(block, ctx, short)
        cover_facts(block, facts, where, self.runner)
        self._open_without_connective(block, where)
        if nonspace_len(block.body()) < SHORT_SHARE * budget:
            mark = placeholder("short_item_plan" if self._future(part) else "short_item")
            block.sentences.append(Sentence(mark, "phrase"))
            self.runner.log("short-item", "", mark, where)
            self.short_items.append(block.heading or where)

    def grow(self, block: Block, ctx: ReplyContext, chars: int) -> list[Sentence]:
        """One more call for a short paragraph: more of how the work was done and what it brought,
        about the same facts, not repeating what is there."""
        # the paragraph is shown, its facts are not listed again: shown them, the small model wrote
        # its first answer again (dropped as repeats) instead of anything new
        task = render("task_grow", heading=ctx.heading, text=fence(block.body()), chars=chars)
        try:
            reply = self.job.ask(task, purpose=f"grow:{ctx.where}", max_tokens=self.job.answer_tokens(chars))
        except LLMError:
            return []   # no more material is no loss: the paragraph asks the user instead
        ctx.written = self._written() + [block.body()]
        ctx.before = block.body()
        spans = self.runner.read_reply(reply, ctx)
        # a figure the paragraph already has, said again, is a restatement
        have = number_pairs(block.body())
        kept = drop_spans(spans, lambda s: s.origin == "model" and bool(number_pairs(s.text))
                          and number_pairs(s.text) <= have)
        for s in spans:
            if not any(s is k for k in kept):
                self.runner.log("restates-fact", s.text, "", ctx.where, action="drop",
                                reason="补写的内容把本段已经写过的数字又说了一遍")
        return kept

    def mark_short_draft(self, min_chars: int) -> str:
        """A draft under the request's lower length with no 【待补充】 yet asks for material once,
        at the end of the part with the largest budget, instead of being padded. Returns where the
        mark went, or ""."""
        text = render_blocks(self.blocks)
        if nonspace_len(text) >= min_chars or SUPPLY_MARK in text:
            return ""
        budgets = {p.key: p.budget for p in self.plan.parts}
        bodies = [b for b in self.blocks if b.kind in ("item", "paragraph")
                  and any(s.origin in ("fact", "model", "elaboration") for s in b.sentences)]
        if not bodies:
            return ""

        def part_of(b: Block) -> str:
            return b.key.split("/")[0]   # "work/2" belongs to part "work"
        best = max(budgets.get(part_of(b), 0) for b in bodies)
        block = [b for b in bodies if budgets.get(part_of(b), 0) == best][-1]
        key = part_of(block)
        mark = placeholder({"problems": "short_problems"}.get(key, "short_draft"))
        block.sentences.append(Sentence(mark, "phrase"))
        title = next((p.title for p in self.plan.parts if p.key == key), "")
        where = block.heading or Template(title).safe_substitute(self.values())
        self.runner.log("short-draft", "", mark, where,
                        reason=f"全文不足{min_chars}字，事实不够写到要求字数，标出需要补充材料的地方")
        return where or "正文"

    def _open_without_connective(self, block: Block, where: str) -> None:
        """A paragraph's first sentence cannot link back (“同时，…”): once guards have dropped what
        came before it, nothing does."""
        # the first sentence after our own lead-in (“…存在一些问题：”) opens the paragraph's content
        n = 0
        while n < len(block.sentences) and block.sentences[n].origin == "phrase" and block.sentences[n].text.endswith("："):
            n += 1
        if n >= len(block.sentences) or block.sentences[n].origin not in ("model", "elaboration"):
            return
        first = block.sentences[n]
        bare = strip_lead(first.text, "leading_connective")
        if bare != first.text:
            if bare:
                block.sentences[n] = Sentence(bare, first.origin, first.fact_ids)
            else:
                block.sentences.pop(n)
            self.runner.log("leading-connective", first.text, bare, where)

    # -- asking again -------------------------------------------------------------------------------------

    def _reasker(self, ctx: ReplyContext, facts: list[Fact]):
        def reask(failing: list[tuple[str, str]]) -> dict[int, str]:
            listing = "\n".join(f"{n}. {s}（问题：{reason}）" for n, (s, reason) in enumerate(failing, 1))
            task = render("task_reask", heading=ctx.heading or ctx.where, fact_refs=_refs(facts),
                          fact_list=fact_list(facts), sentences=listing)
            try:
                answer = self.job.ask(task, purpose="reask", max_tokens=self.job.answer_tokens(
                    sum(len(s) for s, _r in failing)))
            except LLMError:
                # no rewrite is no loss: each sentence falls back to its plain fact; a server that is
                # really down fails the next writing call, which keeps the draft as partial
                return {}
            return _numbered_lines(answer)
        return reask

    def _written(self) -> list[str]:
        """What the draft already says, our own lead sentences included (the model copies them);
        the 【待补充】 reminders aside (they are meant to repeat)."""
        return [s.text for b in self.blocks for s in b.sentences
                if not (s.origin == "phrase" and REMINDER_RE.fullmatch(s.text.strip()))]

    def _future(self, part: PlanPart) -> bool:
        """Plan parts say what will be done: a whole 工作计划, and every genre's 打算/保障 parts."""
        return self.job.request.genre == "工作计划" or part.key in ("next", "tasks", "safeguards")

    def _role(self, part: PlanPart) -> str | None:
        spec = self._spec(part)
        return spec.role if spec is not None else None

    # -- the whole plan ------------------------------------------------------------------------------

    def write(self, done: list[Block] | None = None) -> list[Block]:
        """Write every block in order, appending each to self.blocks as it is finished (so a fault
        mid-way leaves the finished blocks); blocks in `done` (a resumed partial draft) are kept."""
        done_by_key = {b.key: b for b in (done or [])}
        job, plan = self.job, self.plan

        def add(block: Block) -> None:
            job.emit(("\n\n" if self.blocks else "") + block.render())
            self.blocks.append(block)

        def reuse(key: str) -> bool:
            if key in done_by_key:
                self.blocks.append(done_by_key[key])
                return True
            return False

        # headings first: the opening names the work strands they head
        for part in plan.parts:
            if part.layout == "items" and not all(f"{part.key}/{n}" in done_by_key
                                                  for n in range(1, len(part.items) + 1)):
                job.progress(f"正在拟定“{self.part_heading(part).heading}”的小标题…")
                self.headings(part)
        if plan.title or job.whole:
            reuse("title") or add(self.title_block())
        for part in plan.parts:
            if part.layout == "salutation":
                reuse("salutation") or add(self._phrase_block("salutation", "salutation", self.phrase("salutation")))
            elif part.layout == "closing":
                reuse("closing") or add(self._phrase_block("closing", "closing", self.phrase("closing")))
            elif part.layout == "opening":
                if not reuse("opening"):
                    job.progress("正在撰写开头…")
                    add(self.opening_block())
            else:
                reuse(part.key) or add(self.part_heading(part))
                if part.layout == "items" and not job.whole and not reuse(f"{part.key}/lead"):
                    # a section has no opening: its first paragraph names the work its sub-headings cover
                    lead = self.overview(after_opening=False)
                    if lead:
                        add(Block(f"{part.key}/lead", "paragraph", sentences=lead))
                if part.layout == "paragraph":
                    if not reuse(f"{part.key}/p"):
                        job.progress(f"正在撰写“{self.part_heading(part).heading}”…")
                        add(self.paragraph_block(part))
                    continue
                for n, item in enumerate(part.items, 1):
                    if reuse(f"{part.key}/{n}"):
                        continue
                    job.progress(f"正在撰写（{chinese_numeral(n)}）{item.heading}…")
                    job.emit(f"\n\n{canonical_marker(2, n)}{item.heading}。")
                    block = self.item_block(part, n, item)
                    self.blocks.append(block)
        for b in self.blocks:
            if b.kind in ("item", "paragraph"):
                renumber_block(b)
        return self.blocks


def cover_facts(block: Block, facts: list[Fact], where: str, runner: GuardRunner) -> None:
    """Every fact of a block present in it: a model span that said only part of a missing fact
    gives way, and the fact is written in as it is."""
    def covered(f: Fact) -> bool:
        # a heading that holds a whole fact (“顺利通过国家卫生县城复审”) has said it; a heading
        # cut from a longer fact has not
        whole = sentence_key(normalize_for_compare(f.text))
        return covers(block.body(), f) or bool(whole) and whole in sentence_key(normalize_for_compare(block.heading))
    for f in facts:
        if covered(f):
            continue
        # a model span that said part of this fact (one of its figures) would say it twice
        partial = [x for x in block.sentences if x.origin == "model" and x.fact_ids == [f.id]
                   and number_pairs(x.text) and number_pairs(x.text) <= number_pairs(f.text)]
        if partial:
            block.sentences = drop_spans(block.sentences, lambda x: any(x is p for p in partial))
            for x in partial:
                runner.log("restates-fact", x.text, "", where, action="drop",
                           reason="模型只写了这条事实的一部分，已删去该句，改为照录整条事实")
        # a sentence that joined part of this fact to another fact keeps the other fact's clauses:
        # the whole fact is written in below, and its figures are not said twice
        own = number_pairs(f.text)
        for x in block.sentences:
            if x.origin != "model" or f.id not in x.fact_ids or len(x.fact_ids) < 2:
                continue
            parts = clauses_of(x.text)
            kept = [c for c in parts if not (number_pairs(c) and number_pairs(c) <= own)]
            if len(kept) == len(parts) or not any(number_pairs(c) for c in kept):
                continue
            before, text = x.text, "".join(kept)
            x.text = text[:-1] + before[-1] if text[-1] in "，；：" and before[-1] in "。；！？" else text
            x.fact_ids = [i for i in x.fact_ids if i != f.id]
            runner.log("restates-fact", before, x.text, where, action=DROP_CLAUSE,
                       reason="模型把这条事实的一部分并进了别的句子，已删去这几个分句，改为照录整条事实")
    # after those removals, so a fact that only a removed span carried is written in too
    for f in facts:
        if not covered(f):
            s = fact_sentence(f)
            block.sentences.append(Sentence(s, "fact", [f.id]))
            runner.log("missing-fact", "", s, where)


def renumber_block(block: Block) -> None:
    """“一是…三是…” counted in order within a paragraph, whatever the model wrote; a lone marker
    (a series of one) goes."""
    joined = "".join(s.text for s in block.sentences)
    if len(ENUM_ITEM_RE.findall(joined)) == 1:
        for s in block.sentences:
            s.text = ENUM_ITEM_RE.sub("", s.text, count=1)
        return
    fixed = renumber_enumerations(joined)
    if fixed != joined and len(fixed) == len(joined):   # numerals of one length: spans keep their bounds
        pos = 0
        for s in block.sentences:
            s.text, pos = fixed[pos:pos + len(s.text)], pos + len(s.text)


def _refs(facts: list[Fact]) -> str:
    return "".join(f"[{f.id}]" for f in facts)


def _json_list(answer: str) -> list[str]:
    start, end = answer.find("["), answer.rfind("]")
    data = _loads(answer[start:end + 1]) if start != -1 and end > start else None
    if isinstance(data, list):
        return [str(x.get("heading", "") if isinstance(x, dict) else x) for x in data]
    # a model that ignored the format: one heading per line
    return [l for l in (re.sub(r"^[\s\-*\d.、第组：:]+", "", x).strip() for x in answer.splitlines()) if l]


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None   # not JSON: the caller reads the answer line by line instead


def _numbered_lines(answer: str) -> dict[int, str]:
    out: dict[int, str] = {}
    for line in answer.splitlines():
        m = re.match(r"^\s*(\d{1,2})[.．、)）]\s*(.+)$", line)
        if m:
            out[int(m.group(1))] = re.sub(r"（问题：[^）]*）", "", m.group(2)).strip()
    return out
