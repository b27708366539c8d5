"""Writing a plan under the contract: the draft is a list of `Block`s (title, part headings,
paragraphs), each made of `Sentence`s whose origin is known.

- Framing (title, opening, lead-ins, closing) comes from our phrase banks (prompts/phrases.toml).
- A paragraph part (problems, next steps, safeguards) is its facts, enumerated 一是…二是…, after
  its lead sentence: the model has nothing to add there but invention.
- A sub-heading's paragraph is one small model call from its own facts; every sentence of the
  reply is checked by the sentence guards (rag/guards.py). Failing sentences are asked for again
  once, then replaced by the plain fact; a fact the paragraph lacks is written in as it is; a
  paragraph short of its budget gets a 【待补充】 prompt instead of filler.

Prompts share one prefix per draft (system, genre voice, every fact) so a llama.cpp server
reuses its cache from the second call on; what changes (the task, its exemplars) comes last.
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
from rag.guards import (DROP_CLAUSE, DROP_SENTENCE, INSERT, REASK, GuardEdit, ReplyContext, Sentence, covers,
                        drop_effect_clauses, drop_unanchored_tail, facts_in, failed_guard, number_pairs,
                        strip_label_lead, strip_lead, tidy_reply, word_re)
from rag.headings import canonical_marker
from rag.plan import PlanItem, PlanPart, ReportPlan, clean_heading, heading_problem
from rag.postprocess import renumber_enumerations
from rag.prompting import fact_lines, fence, render
from rag.text import SUPPLY_MARK, han_count, ensure_full_stop, nonspace_len, sentence_key, sentences_of
from rag.textnorm import chinese_numeral, normalize_for_compare, to_fullwidth_punctuation

# A paragraph under this share of its budget asks the user for more (【待补充】) instead of padding.
SHORT_SHARE = 0.6
HEADINGS_TEMPERATURE = 0.1
# Paragraph parts written as “一是……；二是……”: a list of problems, plans or safeguards.
ENUMERATED_PARTS = ("problems", "next", "safeguards")


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
                   sentences=[Sentence(s["text"], s["origin"], list(s.get("fact_ids", [])))
                              for s in d.get("sentences", [])])


def render_blocks(blocks: list[Block]) -> str:
    return "\n\n".join(b.render() for b in blocks if b.render())


def fact_sentence(fact: Fact) -> str:
    """A fact written as it is, as one sentence of the report."""
    return ensure_full_stop(to_fullwidth_punctuation(fact.text.strip().rstrip("；;，,。")))


def enumerate_facts(facts: list[Fact]) -> list[Sentence]:
    """“一是……；二是……。” from the facts themselves (a single fact needs no 一是)."""
    if len(facts) == 1:
        return [Sentence(fact_sentence(facts[0]), "fact", [facts[0].id])]
    out = []
    for n, f in enumerate(facts, 1):
        body = fact_sentence(f).rstrip("。")
        out.append(Sentence(f"{chinese_numeral(n)}是{body}{'。' if n == len(facts) else '；'}", "fact", [f.id]))
    return out


# Han characters a clause may carry after its first figure for the words before it to name the work
# (“组建区级卫生应急队伍4支” names it; “联合县教育局对全县48所中小学开展…检查” does not).
LEAD_TAIL_HAN = 5


def fact_lead_heading(text: str) -> str:
    """The words of a fact's first clause before its first figure, less a trailing word that only
    led to the figure; "" when the work is named after the figure instead."""
    clause = re.split(r"[，；。：:]", re.sub(r"[（(][^）)]*[）)]", "", text), maxsplit=1)[0]
    m = re.search(r"[\d０-９]", clause)
    if not m:
        return ""
    rest = re.sub(r"[\d０-９.．%％]+", "", clause[m.start():].split("、")[0])
    if han_count(rest) > LEAD_TAIL_HAN:
        return ""
    lead = clause[:m.start()]
    while True:
        shorter = word_re("heading_tail").sub("", lead)
        if shorter == lead:
            break
        lead = shorter
    return "" if word_re("heading_metric_end").search(lead) else lead


def fact_list(facts: list[Fact]) -> str:
    """A writing call's own facts, words and all: the small model cannot look a fact up by its
    number in the list of all facts, and wrote the other paragraphs' facts when given numbers only."""
    return fact_lines((f.id, f.text) for f in facts)


class Composer:
    """Writes the blocks of one plan. `job` is the drafting job (rag.job.DraftJob): it holds the
    request, the LLM, the retriever and the usage counters."""

    def __init__(self, job, sheet: FactSheet, plan: ReportPlan):
        self.job = job
        self.sheet = sheet
        self.plan = plan
        self.edits: list[GuardEdit] = []
        self.blocks: list[Block] = []
        self.short_items: list[str] = []

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
        return self._phrase_block("opening", "opening", self.phrase("opening", choice), self.phrase("lead_in"))

    # -- parts -------------------------------------------------------------------------------------

    def part_heading(self, part: PlanPart) -> Block:
        title = Template(part.title).safe_substitute(self.values())
        return Block(part.key, "part", heading=title, marker=f"{chinese_numeral(part.number or 1)}、",
                     sentences=[])

    def paragraph_block(self, part: PlanPart) -> Block:
        facts = [self.sheet.by_id(i) for i in part.fact_ids]
        spec = next((p for p in self.job.guide.parts if p.key == part.key), None)
        lead = spec.lead if spec is not None and spec.lead else self.phrase(f"{part.key}_lead")
        lead = Template(lead).safe_substitute(self.values())
        sentences = [Sentence(lead, "phrase")] if lead else []
        if facts and part.key in ENUMERATED_PARTS:
            sentences += enumerate_facts(facts)
        elif facts:   # 基本情况 and the like read as prose
            sentences += [Sentence(fact_sentence(f), "fact", [f.id]) for f in facts]
        else:
            name = {"problems": "no_problems", "next": "no_next"}.get(part.key, "no_facts")
            sentences.append(Sentence(placeholder(name), "phrase"))
            self.job.notices.append(f"事实中没有“{Template(part.title).safe_substitute(self.values())}”的内容，"
                                    f"这一部分只写了引导句和“{placeholder(name)}”，请补充。")
        return Block(f"{part.key}/p", "paragraph", sentences=sentences)

    def headings(self, part: PlanPart) -> None:
        """One call for the sub-headings of an items part; each heading is validated against its
        own facts, and an unusable one keeps the pattern heading of the plan."""
        items = [it for it in part.items if it.heading_source != "user"]
        if not items:
            return
        # the small model cannot look facts up by number: each group carries its facts' words
        groups = "\n".join(f"第{n}组：" + "；".join(self.sheet.by_id(i).text for i in it.fact_ids)
                           for n, it in enumerate(items, 1))
        task = render("task_headings", part_title=self.job.fill(part.title) or "正文",
                      groups=groups, heading_style=self.job.guide.heading_style)
        answer = self.job.ask(task, purpose=f"headings:{part.key}", max_tokens=60 + 40 * len(items),
                              temperature=HEADINGS_TEMPERATURE)
        proposed = _json_list(answer)
        for it, raw in zip(items, proposed):
            heading = clean_heading(raw)
            problem = heading_problem(heading, self.sheet.texts(it.fact_ids), self.job.guide)
            first = clean_heading(re.split(r"[，；：]", heading)[0])
            if problem and first != heading and not heading_problem(first, self.sheet.texts(it.fact_ids),
                                                                      self.job.guide):
                # a heading too long, or a fact copied as one: its leading clause often reads well
                # (“加强职业健康监管，推动…” → “加强职业健康监管”)
                heading, problem = first, ""
            # only a copy of one of this group's own facts (the model can put another group's fact
            # in the wrong slot)
            own = any(normalize_for_compare(heading) in normalize_for_compare(t) for t in self.sheet.texts(it.fact_ids))
            lead = fact_lead_heading(heading) if own else ""
            if problem and lead and not heading_problem(lead, self.sheet.texts(it.fact_ids), self.job.guide):
                # the model copied a fact as the heading: the work it names, without the figures,
                # heads the paragraph better than a pattern (“组建区级卫生应急队伍4支” → “组建区级卫生应急队伍”)
                self.edits.append(GuardEdit("heading-contract", "fix", heading, lead,
                                            f"模型拟的小标题{problem}，只保留其中数字之前的工作名称", part.title))
                heading, problem = lead, ""
            if problem:
                self.edits.append(GuardEdit("heading-contract", "fix", heading, it.heading,
                                            f"模型拟的小标题不能用（{problem}），改用按事实生成的小标题", part.title))
                continue
            it.heading, it.heading_source = heading, "model"
        if len(proposed) < len(items):
            self.edits.append(GuardEdit("heading-contract", "fix", answer.strip()[:80], "",
                                        "模型没有为每组事实拟出小标题，其余沿用按事实生成的小标题", part.title))

    def item_block(self, part: PlanPart, n: int, item: PlanItem) -> Block:
        facts = [self.sheet.by_id(i) for i in item.fact_ids]
        heading = item.heading.rstrip("。")
        block = Block(f"{part.key}/{n}", "item", heading=heading, marker=canonical_marker(2, n))
        where = f"（{chinese_numeral(n)}）{heading}"
        ctx = ReplyContext(facts=facts, all_facts=self.sheet.facts, year=self.job.request.year, unit=self.job.request.unit,
                           heading=heading, future=self._future(part), written=self._written(), where=where)
        if not facts:
            block.sentences = [Sentence(placeholder("no_facts"), "phrase")]
            return block
        refs = "".join(f"[{f.id}]" for f in facts)
        query = " ".join([heading] + [f.text for f in facts])[:300]
        ctx.exemplars = self.job.exemplars(query, self._role(part))
        spec_guide = next((p.guide for p in self.job.guide.parts if p.key == part.key), "")
        answer_tokens = self.job.answer_tokens(item.budget)
        while True:
            task = render("task_item", part_title=self.job.fill(part.title) or "正文", heading=heading,
                          chars=item.budget, fact_refs=refs, fact_list=fact_list(facts),
                          guide=self.job.fill(spec_guide),
                          exemplars=fence("".join(f"片段{chinese_numeral(i)}：{e}\n"
                                                  for i, e in enumerate(ctx.exemplars, 1))) or "（无）")
            if not ctx.exemplars or self.job.fits(task, answer_tokens):
                break
            ctx.exemplars = ctx.exemplars[:-1]   # exemplars are optional; the facts never are
        # a long fact list leaves less room: the answer is capped (the draft start checked it is enough)
        answer_tokens = max(1, min(answer_tokens, self.job.room(task)))
        reply = self.job.ask(task, purpose=f"item:{part.key}:{n}", max_tokens=answer_tokens, stream=True)
        block.sentences = self._checked(reply, ctx, refs)
        self._cover_facts(block, facts, where)
        self._open_without_connective(block, where)
        if nonspace_len(block.body()) < SHORT_SHARE * item.budget:
            block.sentences.append(Sentence(placeholder("short_item"), "phrase"))
            self.short_items.append(heading)
        return block

    def mark_short_draft(self, min_chars: int) -> str:
        """A draft under the request's lower length with no 【待补充】 yet (its facts all sit in
        paragraph parts, which are the facts themselves) asks for material once, at the end of the
        part with the largest budget, instead of being padded. Returns where the mark went, or ""."""
        text = render_blocks(self.blocks)
        if nonspace_len(text) >= min_chars or SUPPLY_MARK in text:
            return ""
        budgets = {p.key: p.budget for p in self.plan.parts}
        bodies = [b for b in self.blocks if b.kind in ("item", "paragraph")
                  and any(s.origin in ("fact", "model") for s in b.sentences)]
        if not bodies:
            return ""

        def part_of(b: Block) -> str:
            return b.key.split("/")[0]   # "work/2" belongs to part "work"
        best = max(budgets.get(part_of(b), 0) for b in bodies)
        block = [b for b in bodies if budgets.get(part_of(b), 0) == best][-1]
        mark = placeholder("short_draft")
        block.sentences.append(Sentence(mark, "phrase"))
        title = next((p.title for p in self.plan.parts if p.key == part_of(block)), "")
        where = block.heading or Template(title).safe_substitute(self.values())
        self.edits.append(GuardEdit("short-draft", INSERT, "", mark,
                                    f"全文不足{min_chars}字，事实不够写到要求字数，标出需要补充材料的地方", where))
        return where or "正文"

    def _open_without_connective(self, block: Block, where: str) -> None:
        """A paragraph's first sentence cannot link back (“同时，…”): once guards have dropped what
        came before it, nothing does."""
        if not block.sentences or block.sentences[0].origin != "model":
            return
        first = block.sentences[0]
        bare = strip_lead(first.text, "leading_connective")
        if bare != first.text and bare:
            block.sentences[0] = Sentence(bare, first.origin, first.fact_ids)
            self.edits.append(GuardEdit("leading-connective", "fix", first.text, bare,
                                        "段首的“同时”“此外”之类承接前文，前面没有内容，去掉", where))

    # -- the contract --------------------------------------------------------------------------------

    def _checked(self, reply: str, ctx: ReplyContext, refs: str) -> list[Sentence]:
        text = tidy_reply(reply, ctx, self.edits)
        kept: list[Sentence | None] = []
        to_reask: list[tuple[int, str, str]] = []   # (slot, sentence, reason)
        for s in sentences_of(text):
            if not s.strip():
                continue
            s = self._trim_clauses(s, ctx)
            ctx.written = self._written() + [x.text for x in kept if x]
            ctx.position = len(kept)
            guard = failed_guard(s, ctx)
            if guard is None:
                kept.append(Sentence(s, "model", facts_in(s, ctx.facts)))
            elif guard.action == REASK and facts_in(s, ctx.facts):
                # only a sentence that carries one of the paragraph's facts is worth a rewrite;
                # any other failing sentence is framing the draft does without
                to_reask.append((len(kept), s, guard.reason))
                kept.append(None)
                self.edits.append(GuardEdit(guard.id, REASK, s, "", guard.reason, ctx.where))
            else:
                self.edits.append(GuardEdit(guard.id, DROP_SENTENCE, s, "", guard.reason, ctx.where))
        if to_reask:
            for slot, new in self._reask(to_reask, ctx, refs, kept).items():
                kept[slot] = new
        return [s for s in kept if s is not None]

    def _trim_clauses(self, s: str, ctx: ReplyContext) -> str:
        """Clause-scope fixes of one model sentence, each logged: a label before it, an effect no
        fact gives, a clause after its fact that no fact gives."""
        bare = strip_label_lead(s)
        if bare != s.strip():
            self.edits.append(GuardEdit("label-lead", "fix", s, bare, "去掉模型加在句首的标签", ctx.where))
            s = bare
        plain = drop_effect_clauses(s, ctx.facts, ctx.future)
        if plain != s:
            self.edits.append(GuardEdit("unsupported-effect", DROP_CLAUSE, s, plain,
                                        "删去事实没有给出的效果说法", ctx.where))
            s = plain
        plain = drop_unanchored_tail(s, ctx)
        if plain != s:
            self.edits.append(GuardEdit("unanchored-clause", DROP_CLAUSE, s, plain,
                                        "删去事实之后、事实中没有的内容", ctx.where))
            s = plain
        return s

    def _reask(self, failing: list[tuple[int, str, str]], ctx: ReplyContext, refs: str,
               kept: list[Sentence | None]) -> dict[int, Sentence | None]:
        listing = "\n".join(f"{n}. {s}（问题：{reason}）" for n, (_slot, s, reason) in enumerate(failing, 1))
        task = render("task_reask", heading=ctx.heading, fact_refs=refs, sentences=listing)
        try:
            answer = self.job.ask(task, purpose="reask", max_tokens=self.job.answer_tokens(
                sum(len(s) for _slot, s, _r in failing)))
        except LLMError as e:
            # no rewrite is no loss: each sentence falls back to its plain fact below; a server
            # that is really down fails the next writing call, which keeps the draft as partial
            answer = ""
            self.edits.append(GuardEdit("reask", "fix", "", "", f"改写请求没有得到回答（{e}），改为照录事实", ctx.where))
        rewritten = _numbered_lines(answer)
        out: dict[int, Sentence | None] = {}
        for n, (slot, original, _reason) in enumerate(failing, 1):
            candidate = ensure_full_stop(tidy_reply(rewritten.get(n, ""), ctx, []).strip())
            candidate = self._trim_clauses(candidate, ctx) if candidate else ""
            ctx.written = self._written() + [x.text for x in kept if x] + [x.text for x in out.values() if x]
            ctx.position = slot
            guard = failed_guard(candidate, ctx) if candidate else None
            if candidate and guard is None:
                out[slot] = Sentence(candidate, "model", facts_in(candidate, ctx.facts))
                self.edits.append(GuardEdit("reask", "rewrite", original, candidate, "按要求改写后通过检查", ctx.where))
                continue
            # still failing: the plain fact it was about, unless another sentence already says it
            said = "".join(x.text for x in kept if x) + "".join(x.text for x in out.values() if x)
            fact = next((f for f in ctx.facts if f.id in facts_in(original, ctx.facts) and not covers(said, f)), None)
            out[slot] = Sentence(fact_sentence(fact), "fact", [fact.id]) if fact else None
            self.edits.append(GuardEdit(guard.id if guard else "reask", "replace" if fact else DROP_SENTENCE,
                                        original, out[slot].text if out[slot] else "",
                                        "改写后仍不符合要求，" + ("改为照录事实" if fact else "已删去"), ctx.where))
        return out

    def _cover_facts(self, block: Block, facts: list[Fact], where: str) -> None:
        def covered(f: Fact) -> bool:
            # a heading that holds a whole fact (“顺利通过国家卫生县城复审”) has said it; a heading
            # cut from a longer fact has not
            whole = sentence_key(normalize_for_compare(f.text))
            return covers(block.body(), f) or bool(whole) and whole in sentence_key(normalize_for_compare(block.heading))
        missing = [f for f in facts if not covered(f)]
        for f in missing:
            # a model sentence that said part of this fact (one of its figures) would say it twice
            partial = [x for x in block.sentences if x.origin == "model" and x.fact_ids == [f.id]
                       and number_pairs(x.text) and number_pairs(x.text) <= number_pairs(f.text)]
            for x in partial:
                block.sentences.remove(x)
                self.edits.append(GuardEdit("restates-fact", DROP_SENTENCE, x.text, "",
                                            "模型只写了这条事实的一部分，已删去该句，改为照录整条事实", where))
        # after those removals, so a fact that only a removed sentence carried is written in too
        for f in facts:
            if not covered(f):
                s = fact_sentence(f)
                block.sentences.append(Sentence(s, "fact", [f.id]))
                self.edits.append(GuardEdit("missing-fact", INSERT, "", s, "模型漏写了这条事实，照录补上", where))

    def _written(self) -> list[str]:
        return [s.text for b in self.blocks for s in b.sentences if s.origin != "phrase"]

    def _future(self, part: PlanPart) -> bool:
        """Plan parts say what will be done: a whole 工作计划, and every genre's 打算/保障 parts."""
        return self.job.request.genre == "工作计划" or part.key in ("next", "tasks", "safeguards")

    def _role(self, part: PlanPart) -> str | None:
        spec = next((p for p in self.job.guide.parts if p.key == part.key), None)
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

        if plan.title or job.whole:
            reuse("title") or add(self.title_block())
        for part in plan.parts:
            if part.layout == "salutation":
                reuse("salutation") or add(self._phrase_block("salutation", "salutation", self.phrase("salutation")))
            elif part.layout == "closing":
                reuse("closing") or add(self._phrase_block("closing", "closing", self.phrase("closing")))
            elif part.layout == "opening":
                reuse("opening") or add(self.opening_block())
            else:
                reuse(part.key) or add(self.part_heading(part))
                if part.layout == "paragraph":
                    reuse(f"{part.key}/p") or add(self.paragraph_block(part))
                    continue
                if not all(f"{part.key}/{n}" in done_by_key for n in range(1, len(part.items) + 1)):
                    job.progress(f"正在拟定“{self.part_heading(part).heading}”的小标题…")
                    self.headings(part)
                for n, item in enumerate(part.items, 1):
                    if reuse(f"{part.key}/{n}"):
                        continue
                    job.progress(f"正在撰写（{chinese_numeral(n)}）{item.heading}…")
                    job.emit(f"\n\n{canonical_marker(2, n)}{item.heading}。")
                    block = self.item_block(part, n, item)
                    self.blocks.append(block)
        for b in self.blocks:
            if b.kind in ("item", "paragraph"):
                _renumber(b)
        return self.blocks


def _renumber(block: Block) -> None:
    """“一是…三是…” counted in order within a paragraph, whatever the model wrote."""
    joined = "\u0000".join(s.text for s in block.sentences)
    fixed = renumber_enumerations(joined)
    if fixed != joined:
        for s, t in zip(block.sentences, fixed.split("\u0000")):
            s.text = t


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
