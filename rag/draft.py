"""Draft a report or a section: facts analysed (rag.factsheet) → a plan (rag.plan) → small
grounded writing calls under the contract (rag.compose, rag.guards) → evaluation → deterministic
clean-up of what the checker still finds, every edit logged.

The result says where each sentence came from (`sentences`), what every guard changed (`edits`),
the plan it followed (`plan`) and what it cost (`usage`). A fault mid-draft returns the parts
already written as a partial draft (`partial`, `error`), which `draft_report(..., resume=...)`
continues without redoing them.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from string import Template
from typing import Any

from evals.check import Evaluation, evaluate
from evals.copy_index import load_copy_index
from rag.compose import Block, Composer, fact_sentence, placeholder, render_blocks
from rag.config import Settings
from rag.errors import LLMError, RequestError, UserFacingError
from rag.factsheet import FactSheet, analyse_facts
from rag.guards import GuardEdit, Sentence, covers
from rag.headings import parse_heading
from rag.plan import Embed, ReportPlan, make_plan, validate_plan
from rag.postprocess import clean_draft
from rag.prompting import (GenreGuide, PartSpec, UnitVoice, demo_exchange, fact_lines, fence, genre_guide,
                           mask_exemplar, numbered, render, requested_parts, unit_voice)
from rag.repair import DELETABLE_RULES, _check_and_repair, _fix_unit_names
from rag.targets import revision_target
from rag.schema import WHOLE_REPORT, DraftRequest, Exemplar
from rag.text import nonspace_len, sentences_of
from rag.tokens import TOKENS_PER_MESSAGE, TOKENS_REPLY_PRIMING, count_tokens

Progress = Callable[[str], None]
TokenSink = Callable[[str], None]
Retriever = Callable[[str, str, str | None, int], list[Exemplar]]

EXEMPLARS_PER_CALL = (2, 3)
# Measured (bench/run_evalset.py, stop 6): with 160–220-char exemplars the 1.5B model copied
# whole work items from them; a sentence or two teaches the voice well enough.
EXEMPLAR_CHARS = 90
FAILING = ("blocker", "major")
# The smallest paragraph a writing call must have room to answer.
MIN_ITEM_CHARS = 200
# Answer room a writing call must keep for the worked example to be sent (a long fact list on a
# small context keeps the room for the answer instead).
DEMO_ROOM_CHARS = 2 * MIN_ITEM_CHARS
SHORT_NOTICE_TAIL = "或调低目标字数；没有用空话凑字数。"


@dataclass
class Usage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cached_calls: int = 0      # prompts already answered in this draft, not sent again
    failed_calls: int = 0      # calls that ended in an LLMError (not in `calls`)
    # per call: purpose, tokens, seconds to the first token and in all (prefix reuse shows here)
    per_call: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"calls": self.calls, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "seconds": round(self.seconds, 1),
                "cached_calls": self.cached_calls, "failed_calls": self.failed_calls, "per_call": self.per_call}


@dataclass
class DraftResult:
    draft: str
    sources: list[Exemplar] = field(default_factory=list)
    evaluation: Evaluation | None = None
    notices: list[str] = field(default_factory=list)
    plan: ReportPlan | None = None
    facts: FactSheet | None = None
    edits: list[GuardEdit] = field(default_factory=list)
    sentences: list[Sentence] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    rounds: list[dict[str, Any]] = field(default_factory=list)   # score of every version tried
    partial: bool = False
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"draft": self.draft, "partial": self.partial, "error": self.error,
                "sources": [s.to_dict() for s in self.sources],
                "evaluation": self.evaluation.to_json() if self.evaluation else None,
                "notices": self.notices,
                "plan": self.plan.to_dict() if self.plan else None,
                "facts": self.facts.to_dict() if self.facts else None,
                "edits": [e.to_dict() for e in self.edits],
                "sentences": [s.to_dict() for s in self.sentences],
                "blocks": [b.to_dict() for b in self.blocks],
                "usage": self.usage.to_json(), "rounds": self.rounds}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "DraftResult":
        """A saved result (a partial draft to resume); evaluation and sources are not needed."""
        return cls(draft=data.get("draft", ""), notices=list(data.get("notices", [])),
                   plan=ReportPlan.from_dict(data["plan"]) if data.get("plan") else None,
                   blocks=[Block.from_dict(b) for b in data.get("blocks", [])],
                   partial=bool(data.get("partial")), error=data.get("error", ""))

    def summary(self) -> str:
        if not self.draft:
            return "未生成草稿。\n" + "\n".join(f"· {n}" for n in self.notices)
        lines = [f"草稿共 {nonspace_len(self.draft)} 字，参考范文段落 {len(self.sources)} 段。"]
        if self.partial:
            lines.append(f"草稿没有写完（{self.error}），已保留写好的部分，可以继续起草。")
        if self.evaluation is not None:
            counts: dict[str, int] = {}
            for v in self.evaluation.violations:
                counts[v.severity] = counts.get(v.severity, 0) + 1
            names = {"blocker": "必须修改", "major": "严重", "minor": "一般", "warn": "提示"}
            detail = "，".join(f"{names.get(k, k)} {n} 项" for k, n in counts.items()) or "无问题"
            lines.append(f"检查{'通过' if self.evaluation.passed else '未通过'}（{detail}）。")
        lines += [f"· {n}" for n in self.notices]
        return "\n".join(lines)


# --- one drafting job ----------------------------------------------------------------------------

@dataclass
class _Job:
    request: DraftRequest
    settings: Settings
    llm: Any
    guide: GenreGuide
    voice: UnitVoice
    facts: list[str]                        # usable fact texts (conflicting values withheld)
    retriever: Retriever
    on_token: TokenSink | None
    progress: Progress
    sheet: FactSheet | None = None
    sources: list[Exemplar] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    homes: dict[str, str] = field(default_factory=dict)   # fact text → its sub-heading (repairs)
    usage: Usage = field(default_factory=Usage)
    answered: dict[str, str] = field(default_factory=dict)
    retrieval_failed: bool = False

    @property
    def whole(self) -> bool:
        return self.request.section == WHOLE_REPORT

    @property
    def system(self) -> dict[str, str]:
        return {"role": "system", "content": render(
            "system", unit=self.request.unit, genre=self.request.genre,
            self_ref=self.voice.self_ref, level_word=self.voice.level_word)}

    @cached_property
    def prefix(self) -> str:
        """What every writing call of this draft starts with, byte for byte the same: llama.cpp
        reuses its cache for it, and remote endpoints bill a cached prefix cheaper."""
        facts = self.sheet.facts if self.sheet else []
        return render("context", genre=self.request.genre, unit=self.request.unit, year=self.request.year,
                      voice=self.guide.voice, facts=fence(fact_lines((f.id, f.text) for f in facts)) or "（无）")

    @cached_property
    def demo(self) -> list[dict[str, str]]:
        """The worked example every writing call carries before its own task; left out (like the
        exemplars, it is help, not material) when with it a paragraph of DEMO_ROOM_CHARS would not fit."""
        demo = demo_exchange(self.request.genre)
        # measured with every fact in the task's own list: the largest a paragraph's list can be
        used = (self._base_tokens + _message_tokens(demo) + count_tokens(self.bare_task(all_facts=True))
                + 2 * TOKENS_PER_MESSAGE + TOKENS_REPLY_PRIMING)
        return demo if used + self.answer_tokens(DEMO_ROOM_CHARS) <= self.settings.llm_context_tokens else []

    def bare_task(self, all_facts: bool = False) -> str:
        """A writing task with nothing of its own (no heading, no exemplars), to measure what is left."""
        facts = fact_lines((f.id, f.text) for f in self.sheet.facts) if all_facts and self.sheet else ""
        return render("task_item", part_title="", heading="", chars=0, fact_refs="", fact_list=facts, guide="",
                      exemplars="")

    @cached_property
    def _base_tokens(self) -> int:
        """System prompt and shared prefix: what every writing call sends, example aside."""
        return count_tokens(self.system["content"]) + count_tokens(self.prefix + "\n\n")

    @cached_property
    def _fixed_tokens(self) -> int:
        return self._base_tokens + _message_tokens(self.demo)

    def fill(self, template: str) -> str:
        r = self.request
        return Template(template).safe_substitute(
            unit=r.unit, year=str(r.year), next_year=str(r.year + 1), topic=r.topic or "",
            self_ref=self.voice.self_ref, leaders=self.voice.leaders, genre=r.genre)

    def emit(self, text: str) -> None:
        if self.on_token:
            self.on_token(text)

    def answer_tokens(self, chars: int) -> int:
        """A little more than the asked length (Qwen ≈ 0.8 tokens per Chinese character): the model
        ignores “约N字”, so the token cap is what keeps a paragraph near its length."""
        return min(self.settings.llm_max_tokens, int(chars * 1.2) + 60)

    def room(self, task: str) -> int:
        """Tokens left for the answer of a writing call with this task."""
        used = self._fixed_tokens + count_tokens(task)
        return self.settings.llm_context_tokens - used - 2 * TOKENS_PER_MESSAGE - TOKENS_REPLY_PRIMING

    def fits(self, task: str, answer_tokens: int) -> bool:
        return answer_tokens <= self.room(task)

    def _call(self, messages: list[dict], *, purpose: str, max_tokens: int, stream: bool,
              temperature: float | None, prose: bool) -> str:
        key = hashlib.sha256(repr((messages, max_tokens, temperature)).encode()).hexdigest()
        if key in self.answered:
            self.usage.cached_calls += 1   # the same prompt twice in one draft is never sent twice
            return self.answered[key]
        started, first = time.monotonic(), []

        def sink(piece: str) -> None:
            if not first:
                first.append(time.monotonic() - started)
            if stream and self.on_token:
                self.on_token(piece)

        try:
            result = self.llm.chat(messages, on_token=sink, temperature=temperature, max_tokens=max_tokens,
                                   purpose=purpose, on_notice=self.progress)
        except LLMError as e:      # a failed call is counted too, with the tokens it cost if known
            self.usage.failed_calls += 1
            self.usage.prompt_tokens += e.prompt_tokens or 0
            self.usage.completion_tokens += e.completion_tokens or 0
            raise
        self.usage.calls += 1
        self.usage.prompt_tokens += result.prompt_tokens
        self.usage.completion_tokens += result.completion_tokens
        self.usage.per_call.append({"purpose": purpose, "prompt_tokens": result.prompt_tokens,
                                    "completion_tokens": result.completion_tokens,
                                    "first_token_s": round(first[0], 2) if first else None,
                                    "seconds": round(time.monotonic() - started, 2)})
        text = result.text
        if prose and result.finish_reason == "length":
            # the token cap cut the reply mid-sentence: that sentence goes
            end = max(text.rfind(c) for c in "。！？；")
            text = text[:end + 1] if end >= 0 else text
        self.answered[key] = text
        return text

    def ask(self, task: str, *, purpose: str, max_tokens: int, stream: bool = False,
            temperature: float | None = None, prose: bool = True) -> str:
        """A writing call: the shared prefix, then this call's task."""
        messages = [self.system, *self.demo, {"role": "user", "content": self.prefix + "\n\n" + task}]
        return self._call(messages, purpose=purpose, max_tokens=max_tokens, stream=stream,
                          temperature=temperature, prose=prose)

    def chat(self, user: str, *, purpose: str, max_tokens: int, stream: bool = False,
             temperature: float | None = None, prose: bool = True) -> str:
        """A repair or revision call, whose prompt carries its own paragraph and facts."""
        return self._call([self.system, {"role": "user", "content": user}], purpose=purpose,
                          max_tokens=max_tokens, stream=stream, temperature=temperature, prose=prose)

    def exemplars(self, query: str, role: str | None) -> list[str]:
        """2–3 masked sentences of this genre's exemplars (and role, when the index has any).
        A store that fails mid-draft leaves the draft with the exemplars it already has."""
        if self.retrieval_failed:
            return []
        try:
            hits = self.retriever(query, self.request.genre, role, EXEMPLARS_PER_CALL[1])
            if len(hits) < EXEMPLARS_PER_CALL[0] and role is not None:
                hits += [h for h in self.retriever(query, self.request.genre, None, EXEMPLARS_PER_CALL[1])
                         if h.chunk_id not in {x.chunk_id for x in hits}]
        except UserFacingError as e:
            self.retrieval_failed = True
            self.notices.append(f"范文检索出错（{e}），其余部分不再参照范文起草。")
            return []
        hits = hits[:EXEMPLARS_PER_CALL[1]]
        for h in hits:
            if h.chunk_id not in {s.chunk_id for s in self.sources}:
                self.sources.append(h)
        passages = (_first_sentences(mask_exemplar(h.text, self.voice), EXEMPLAR_CHARS) for h in hits)
        return [p for p in passages if p]


def _first_sentences(text: str, limit: int) -> str:
    """Whole sentences of the passage (without heading lines) up to about `limit` characters."""
    body = "".join(l for l in text.splitlines() if not parse_heading(l) or "。" in l)
    out = ""
    for sentence in sentences_of(body) or [body]:
        if out and len(out) + len(sentence) > limit:
            break
        out += sentence
    return out[: limit * 2]


def _ask_for_facts(request: DraftRequest, parts: list[PartSpec]) -> str:
    needed = [n for p in parts for n in p.needed]
    items = "；".join(f"{i}. {n}" for i, n in enumerate(needed, 1))
    return (f"没有提供可用的事实，无法起草{request.genre}“{request.section}”。请在事实清单中每行写一条"
            f"本单位的实际情况，例如：{items}。助手不会编造数字。")


def _default_retriever(settings: Settings, progress: Progress) -> Retriever:
    from rag.ingest import ensure_seed_index
    from rag.retrieve import retrieve_exemplars
    ensure_seed_index(settings, progress=progress)

    def retrieve(query: str, genre: str, role: str | None, k: int) -> list[Exemplar]:
        return retrieve_exemplars(query, genre=genre, role=role, k=k, settings=settings)
    return retrieve


def _no_exemplars(query: str, genre: str, role: str | None, k: int) -> list[Exemplar]:
    return []


def _job(request: DraftRequest, settings: Settings, llm, on_token: TokenSink | None,
         progress: Progress | None) -> _Job:
    """Analyse the facts (instructions set aside, conflicting values withheld) and set up a job."""
    if llm is None:
        from rag.llm import get_llm
        llm = get_llm(settings)
    parts = requested_parts(request.genre, request.section)
    sheet = analyse_facts(request, parts)
    return _Job(request=request, settings=settings, llm=llm, guide=genre_guide(request.genre),
                voice=unit_voice(request.unit), facts=sheet.texts(), retriever=_no_exemplars,
                on_token=on_token, progress=progress or (lambda _msg: None), sheet=sheet,
                notices=list(sheet.notices))


def _embedder(settings: Settings) -> Embed | None:
    """The index's embedder, to group facts by meaning; None (character pairs) when it cannot load."""
    from rag.embed import EmbeddingError, get_embedder
    try:
        embedder = get_embedder(settings)
    except EmbeddingError:
        return None
    return lambda texts: embedder.embed_passages(list(texts))


def plan_draft(request: DraftRequest, settings: Settings, *, embed: Embed | None = None
               ) -> tuple[ReportPlan, FactSheet]:
    """The plan a draft of this request would follow, before anything is written."""
    parts = requested_parts(request.genre, request.section)
    sheet = analyse_facts(request, parts)
    guide = genre_guide(request.genre)
    return make_plan(request, sheet, parts, guide, title="", embed=embed), sheet


# --- after writing: draft-scope guards, then the checker ------------------------------------------

def _apply_unit_names(blocks: list[Block], job: _Job, edits: list[GuardEdit]) -> None:
    """UNIT-01: the unit's own self-reference and level words (unless a fact uses the others)."""
    for b in blocks:
        for s in b.sentences:
            if s.origin != "model":
                continue
            fixed = _fix_unit_names(s.text, job)
            if fixed != s.text:
                edits.append(GuardEdit("unit-voice", "fix", s.text, fixed, "改为本单位的自称和辖区称谓", b.heading))
                s.text = fixed


def _trim_to_length(blocks: list[Block], limit: int, sheet: FactSheet, edits: list[GuardEdit]) -> None:
    """Over the upper length: drop model sentences whose paragraph keeps every fact without them,
    longest paragraph first."""
    def removable(b: Block, s: Sentence) -> bool:
        rest = "".join(x.text for x in b.sentences if x is not s)
        return all(covers(rest, sheet.by_id(i)) for i in {i for x in b.sentences for i in x.fact_ids})

    while nonspace_len(render_blocks(blocks)) > limit:
        candidates = [(b, s) for b in blocks if b.kind == "item" for s in b.sentences
                      if s.origin == "model" and len(b.sentences) > 1 and removable(b, s)]
        if not candidates:
            return
        b, s = max(candidates, key=lambda bs: (nonspace_len(bs[0].body()), len(bs[1].text)))
        b.sentences.remove(s)
        edits.append(GuardEdit("over-length", "drop_sentence", s.text, "", "草稿超过字数上限，删去不含事实的句子", b.heading))


def _message_tokens(messages: list[dict[str, str]]) -> int:
    return sum(count_tokens(m["content"]) + TOKENS_PER_MESSAGE for m in messages)


def _checker_deletions(blocks: list[Block], ev: Evaluation, edits: list[GuardEdit], sheet: FactSheet) -> bool:
    """Delete the model sentence that carries the evidence of each failing, deletable finding; a
    fact only that sentence said is written in its place as it is. Offsets are mapped through the
    rendered draft, block by block."""
    text = render_blocks(blocks)
    spans: list[tuple[int, int, Block, Sentence]] = []
    pos = 0
    for b in blocks:
        rendered = b.render()
        if not rendered:
            continue
        start = text.index(rendered, pos)
        offset = start + (len(rendered) - len(b.body()))
        for s in b.sentences:
            spans.append((offset, offset + len(s.text), b, s))
            offset += len(s.text)
        pos = start + len(rendered)
    changed = False
    for v in ev.violations:
        if v.severity not in FAILING or v.rule not in DELETABLE_RULES or v.start is None:
            continue
        for s0, s1, b, s in spans:
            if s0 <= v.start < s1 and s.origin == "model" and s in b.sentences:
                at = b.sentences.index(s)
                b.sentences.remove(s)
                edits.append(GuardEdit(f"checker:{v.rule}", "drop_sentence", s.text, "", v.message, b.heading))
                for f in (sheet.by_id(i) for i in s.fact_ids):
                    if not covers(b.body(), f):
                        plain = fact_sentence(f)
                        b.sentences.insert(at, Sentence(plain, "fact", [f.id]))
                        at += 1
                        edits.append(GuardEdit("missing-fact", "insert", "", plain,
                                               "删去的句子带有这条事实，照录补上", b.heading))
                changed = True
                break
    return changed


def _finish(job: _Job, composer: Composer, plan: ReportPlan, started: float) -> DraftResult:
    blocks, edits = composer.blocks, composer.edits
    _apply_unit_names(blocks, job, edits)
    _trim_to_length(blocks, job.request.length_chars[1], job.sheet, edits)
    job.progress("正在检查…")
    copy_index = load_copy_index(job.settings)
    ev = evaluate(render_blocks(blocks), job.request, copy_index)
    rounds = [{"round": 0, "kind": "draft", "score": ev.score, "passed": ev.passed}]
    if _checker_deletions(blocks, ev, edits, job.sheet):
        ev = evaluate(render_blocks(blocks), job.request, copy_index)
        rounds.append({"round": 0, "kind": "deterministic", "score": ev.score, "passed": ev.passed})
    notices = job.notices
    marked = composer.mark_short_draft(job.request.length_chars[0])
    if marked:
        ev = evaluate(render_blocks(blocks), job.request, copy_index)
        rounds.append({"round": 0, "kind": "deterministic", "score": ev.score, "passed": ev.passed})
        notices.append(f"事实不足以写到要求的{job.request.length_chars[0]}字以上，已在“{marked}”处写"
                       f"“{placeholder('short_draft')}”，请在该处补充，{SHORT_NOTICE_TAIL}")
    text = render_blocks(blocks)
    if composer.short_items:
        notices.append(f"有{len(composer.short_items)}个小标题下的事实不足以写到计划字数（"
                       + "、".join(composer.short_items[:4]) + ("等" if len(composer.short_items) > 4 else "")
                       + f"），已在该处写“{placeholder('short_item')}”，请补充具体做法、数字或典型事例，"
                       + SHORT_NOTICE_TAIL)
    sentences = [s for b in blocks for s in _block_sentences(b)]
    job.usage.seconds = time.monotonic() - started
    return DraftResult(draft=text, sources=job.sources, evaluation=ev, notices=notices, plan=plan,
                       facts=job.sheet, edits=edits, sentences=sentences, blocks=blocks, usage=job.usage,
                       rounds=rounds)


def _block_sentences(b: Block) -> list[Sentence]:
    if b.kind in ("part", "item"):
        return [Sentence(b.heading, "plan")] + b.sentences
    return b.sentences


# --- public API -----------------------------------------------------------------------------------

def draft_report(request: DraftRequest, settings: Settings, *, llm=None,
                 on_token: TokenSink | None = None, progress: Progress | None = None,
                 retriever: Retriever | None = None, plan: ReportPlan | None = None,
                 resume: DraftResult | None = None, embed: Embed | None = None) -> DraftResult:
    """Draft `request.section` (or the whole report) from the request's facts.

    `plan` is a (user-edited) plan to follow instead of a new one; `resume` a partial result whose
    finished blocks are kept. With no usable facts nothing is drafted and the notice lists the
    data needed. A model fault mid-draft returns the finished blocks with `partial=True`.
    """
    started = time.monotonic()
    job = _job(request, settings, llm, on_token, progress)
    parts = requested_parts(request.genre, request.section)
    if not job.sheet.facts:
        return DraftResult(draft="", notices=job.notices + [_ask_for_facts(request, parts)], facts=job.sheet)
    # every call carries all the facts: a list the model cannot read with room to answer is refused
    if not job.fits(job.bare_task(), job.answer_tokens(MIN_ITEM_CHARS)):
        raise RequestError(f"事实太多太长（共{sum(len(f) for f in job.facts)}字），超出了模型一次能读的长度。"
                           "请精简事实，或分部分起草（选择具体章节）。")
    plan = plan or (resume.plan if resume is not None else None)
    if plan is None:
        job.progress("正在拟定提纲…")
        plan = make_plan(request, job.sheet, parts, job.guide, title="",
                         embed=embed if embed is not None else _embedder(settings))
    else:
        problems = validate_plan(plan, job.sheet)
        if problems:
            raise PlanError("提纲不能使用：" + "".join(problems))
    for fact_id, (_part, heading) in plan.fact_home().items():
        if heading:
            job.homes[job.sheet.by_id(fact_id).text] = heading
    job.progress("正在检索范文…")
    job.retriever = retriever or _retriever_or_none(settings, job)
    composer = Composer(job, job.sheet, plan)
    try:
        composer.write(done=resume.blocks if resume is not None else None)
    except LLMError as e:
        text = clean_draft(render_blocks(composer.blocks), job.facts)
        job.usage.seconds = time.monotonic() - started
        return DraftResult(draft=text, sources=job.sources, notices=job.notices + [
            f"起草到一半时模型出错：{e} 已保留写好的 {len(composer.blocks)} 段，可以“继续起草”。"],
            plan=plan, facts=job.sheet, edits=composer.edits, blocks=composer.blocks,
            sentences=[s for b in composer.blocks for s in _block_sentences(b)],
            usage=job.usage, partial=True, error=str(e))
    return _finish(job, composer, plan, started)


class PlanError(UserFacingError, ValueError):
    """A user-edited plan that cannot be written (a fact twice, a fact missing, a bad heading)."""


def _retriever_or_none(settings: Settings, job: _Job) -> Retriever:
    """The exemplar index; a store that cannot be opened means drafting without exemplars."""
    try:
        return _default_retriever(settings, job.progress)
    except UserFacingError as e:
        job.notices.append(f"范文库打不开（{e}），本次不参照范文起草。")
        return _no_exemplars


def repair_draft(request: DraftRequest, draft: str, settings: Settings, *, llm=None,
                 on_token: TokenSink | None = None) -> DraftResult:
    """Deterministic fixes, then targeted model repairs quoting the violations; a round that does
    not improve the draft ends the loop."""
    started = time.monotonic()
    job = _job(request, settings, llm, on_token, None)
    rounds: list[dict] = []
    text, ev = _check_and_repair(clean_draft(draft, job.facts), job, rounds, stream_repairs=True)
    job.usage.seconds = time.monotonic() - started
    return DraftResult(draft=text, evaluation=ev, notices=job.notices, rounds=rounds, usage=job.usage)


def revise_draft(request: DraftRequest, draft: str, instruction: str, settings: Settings, *,
                 llm=None, on_token: TokenSink | None = None) -> DraftResult:
    """Apply a follow-up instruction (“第二部分再精炼一些”) to the part it names, then check."""
    started = time.monotonic()
    job = _job(request, settings, llm, on_token, None)
    lines = draft.split("\n")
    start, end = revision_target(draft, instruction)
    target = "\n".join(lines[start:end]).strip()
    answer_tokens = job.answer_tokens(len(target) + 200)
    prompt = render("revise", genre=request.genre, instruction=fence(instruction),
                    facts=fence(numbered(job.facts)) if job.facts else "（无）", text=fence(target))
    if count_tokens(prompt) + answer_tokens + count_tokens(job.system["content"]) > settings.llm_context_tokens:
        raise LLMError("要修改的内容太长，超出了模型一次能处理的长度，请指明修改哪一部分（如“第二部分…”）。")
    revised = job.chat(prompt, purpose="revise", max_tokens=answer_tokens, stream=True)
    revised = clean_draft(revised, job.facts)
    text = clean_draft("\n".join(lines[:start] + [revised] + lines[end:]), job.facts)
    rounds: list[dict] = []
    text, ev = _check_and_repair(text, job, rounds)
    job.usage.seconds = time.monotonic() - started
    return DraftResult(draft=text, evaluation=ev, notices=job.notices, rounds=rounds, usage=job.usage)
