"""Draft a report or a section: facts analysed (rag.factsheet) → a plan (rag.plan) → small
grounded writing calls under the contract (rag.compose, rag.guards) → evaluation → deterministic
clean-up of what the checker still finds, every edit logged.

The result says where each sentence came from (`sentences`), what every guard changed (`edits`),
the plan it followed (`plan`) and what it cost (`usage`). A fault mid-draft returns the parts
already written as a partial draft (`partial`, `error`), which `draft_report(..., resume=...)`
continues without redoing them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from evals.check import Evaluation
from evals.copy_index import load_copy_index
from rag.compose import Block, Composer, placeholder, render_blocks
from rag.config import Settings
from rag.errors import LLMError, RequestError, UserFacingError
from rag.factsheet import FactSheet, analyse_facts
from rag.document import elaboration, parse_blocks
from rag.guards import GuardEdit, GuardRunner, Sentence
from rag.plan import Embed, ReportPlan, make_plan, validate_plan
from rag.prompting import (PartSpec, fence, genre_guide,
                           numbered, render, requested_parts, unit_voice)
from rag.job import (MIN_ITEM_CHARS, DraftJob, Progress, Retriever, TokenSink, Usage)
from rag.repair import block_facts, check, check_blocks, check_and_repair, delete_findings, finish_blocks, rewrite_block
from rag.targets import revision_target
from rag.schema import DraftRequest, Exemplar
from rag.text import SUPPLY_MARK, nonspace_len
from rag.tokens import count_tokens
from rag.validation import validate_result_fields

SHORT_NOTICE_TAIL = "或调低目标字数；没有用空话凑字数。"


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
    request: DraftRequest | None = None    # set when the version's request changed (补充材料)

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
                "elaboration": elaboration_summary(self.blocks),
                "usage": self.usage.to_json(), "rounds": self.rounds,
                "request_fingerprint": self.request_fingerprint,
                **({"request": self.request.to_dict()} if self.request else {})}

    @property
    def request_fingerprint(self) -> str:
        """The fingerprint of the request this draft was written for (carried by its plan)."""
        return self.plan.request_fingerprint if self.plan else ""

    @classmethod
    def from_json(cls, data: Any) -> "DraftResult":
        """A saved result (a partial draft to resume), checked against the result schema
        (RequestError naming the field); evaluation and sources are not needed."""
        f = validate_result_fields(data)
        return cls(draft=f.draft, notices=list(f.notices), plan=ReportPlan.from_fields(f.plan) if f.plan else None,
                   blocks=[Block.from_dict(b.model_dump()) for b in f.blocks],
                   edits=[GuardEdit.from_dict(e) for e in data.get("edits", []) if isinstance(e, dict)],
                   partial=f.partial, error=f.error)

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
         progress: Progress | None) -> DraftJob:
    """Analyse the facts (instructions set aside, conflicting values withheld) and set up a job."""
    if llm is None:
        from rag.llm import get_llm
        llm = get_llm(settings)
    parts = requested_parts(request.genre, request.section)
    sheet = analyse_facts(request, parts)
    return DraftJob(request=request, settings=settings, llm=llm, guide=genre_guide(request.genre),
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


# --- after writing ------------------------------------------------------------------------------

def elaboration_summary(blocks: list[Block]) -> dict[str, int]:
    spans = elaboration(blocks)
    return {"sentences": len(spans), "chars": sum(nonspace_len(s.text) for s in spans),
            "confirmed": sum(s.confirmed for s in spans)}


def _finish(job: DraftJob, composer: Composer, plan: ReportPlan, started: float) -> DraftResult:
    blocks, runner = composer.blocks, composer.runner
    finish_blocks(blocks, job, runner)
    job.progress("正在检查…")
    copy_index = load_copy_index(job.settings)
    ev = check(blocks, job, copy_index)
    rounds = [{"round": 0, "kind": "draft", "score": ev.score, "passed": ev.passed}]
    if delete_findings(blocks, ev, runner, job.sheet.facts):
        ev = check(blocks, job, copy_index)
        rounds.append({"round": 0, "kind": "deterministic", "score": ev.score, "passed": ev.passed})
    notices = job.notices
    marked = composer.mark_short_draft(job.request.length_chars[0])
    if marked:
        ev = check(blocks, job, copy_index)
        rounds.append({"round": 0, "kind": "deterministic", "score": ev.score, "passed": ev.passed})
        notices.append(f"事实不足以写到要求的{job.request.length_chars[0]}字以上，已在“{marked}”处写"
                       f"“{placeholder('short_draft')}”，请在该处补充，{SHORT_NOTICE_TAIL}")
    if composer.short_items:
        notices.append(f"有{len(composer.short_items)}个小标题下的内容不足以写到计划字数（"
                       + "、".join(composer.short_items[:4]) + ("等" if len(composer.short_items) > 4 else "")
                       + "），已在该处写“【待补充：……】”，请补充具体做法、数字或典型事例，" + SHORT_NOTICE_TAIL)
    summary = elaboration_summary(blocks)
    if summary["sentences"]:
        notices.append(f"草稿中有{summary['sentences']}处扩写（{summary['chars']}字，事实之外的做法、原因和成效），"
                       "已标为“扩写（请核实）”，请逐处确认或删除。")
    job.usage.seconds = time.monotonic() - started
    return _result(job, blocks, runner, ev, rounds, plan=plan)


def _result(job: DraftJob, blocks: list[Block], runner: GuardRunner, ev: Evaluation | None,
            rounds: list[dict], *, plan: ReportPlan | None = None, partial: bool = False,
            error: str = "") -> DraftResult:
    return DraftResult(draft=render_blocks(blocks), sources=job.sources, evaluation=ev, notices=job.notices,
                       plan=plan, facts=job.sheet, edits=runner.edits,
                       sentences=[s for b in blocks for s in _block_sentences(b)], blocks=blocks,
                       usage=job.usage, rounds=rounds, partial=partial, error=error)


def _block_sentences(b: Block) -> list[Sentence]:
    if b.kind in ("part", "item"):
        return [Sentence(b.heading, "plan")] + b.sentences
    return b.sentences


# --- public API -----------------------------------------------------------------------------------

def draft_report(request: DraftRequest, settings: Settings, *, llm=None,
                 on_token: TokenSink | None = None, progress: Progress | None = None,
                 retriever: Retriever | None = None, plan: ReportPlan | None = None,
                 resume: DraftResult | None = None, embed: Embed | None = None,
                 facts_only: bool = False) -> DraftResult:
    """Draft `request.section` (or the whole report) from the request's facts.

    `plan` is a (user-edited) plan to follow instead of a new one; `resume` a partial result whose
    finished blocks are kept. With no usable facts nothing is drafted and the notice lists the
    data needed. A model fault mid-draft returns the finished blocks with `partial=True`.
    `facts_only` drafts with no elaboration: every sentence is a fact, a phrase or model text
    carrying a fact.
    """
    started = time.monotonic()
    job = _job(request, settings, llm, on_token, progress)
    parts = requested_parts(request.genre, request.section)
    if not job.sheet.facts:
        return DraftResult(draft="", notices=job.notices + [_ask_for_facts(request, parts)], facts=job.sheet)
    # the largest call (a part's headings, measures) lists every fact: a list the model cannot read
    # with room to answer is refused
    if not job.fits(job.bare_task(all_facts=True), job.answer_tokens(MIN_ITEM_CHARS)):
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
    _set_homes(job, plan)
    job.progress("正在检索范文…")
    job.retriever = retriever or _retriever_or_none(settings, job)
    composer = Composer(job, job.sheet, plan, elaborate=not facts_only)
    try:
        composer.write(done=resume.blocks if resume is not None else None)
    except LLMError as e:
        job.usage.seconds = time.monotonic() - started
        job.notices.append(f"起草到一半时模型出错：{e} 已保留写好的 {len(composer.blocks)} 段，可以“继续起草”。")
        return _result(job, composer.blocks, composer.runner, None, [], plan=plan, partial=True, error=str(e))
    return _finish(job, composer, plan, started)


def _set_homes(job: DraftJob, plan: ReportPlan) -> None:
    for fact_id, (_part, heading) in plan.fact_home().items():
        if heading:
            job.homes[job.sheet.by_id(fact_id).text] = heading


class PlanError(UserFacingError, ValueError):
    """A user-edited plan that cannot be written (a fact twice, a fact missing, a bad heading)."""


def _retriever_or_none(settings: Settings, job: DraftJob) -> Retriever:
    """The exemplar index; a store that cannot be opened means drafting without exemplars."""
    try:
        return _default_retriever(settings, job.progress)
    except UserFacingError as e:
        job.notices.append(f"范文库打不开（{e}），本次不参照范文起草。")
        return _no_exemplars


def version_blocks(draft: str, blocks: list[Block] | None) -> list[Block]:
    """The blocks of a version's text: its own when they still render to it, else the text read
    again with the spans it shares with them (a hand edit's new words are the user's)."""
    if blocks and render_blocks(blocks) == draft.strip():
        return [Block.from_dict(b.to_dict()) for b in blocks]
    return parse_blocks(draft, blocks)


def _job_for_version(request: DraftRequest, settings: Settings, llm, on_token, blocks: list[Block],
                     plan: ReportPlan | None) -> DraftJob:
    job = _job(request, settings, llm, on_token, None)
    if plan is not None and not validate_plan(plan, job.sheet):
        _set_homes(job, plan)
    return job


def repair_draft(request: DraftRequest, draft: str, settings: Settings, *, llm=None,
                 on_token: TokenSink | None = None, blocks: list[Block] | None = None,
                 plan: ReportPlan | None = None) -> DraftResult:
    """按检查结果修改: the same guards as drafting, then model repairs of the paragraphs that still
    fail; `blocks` (and `plan`) are the version's own record, so its facts, elaboration and the
    user's own words keep their origin. A round that does not improve the verdict ends the loop."""
    started = time.monotonic()
    current = version_blocks(draft, blocks)
    job = _job_for_version(request, settings, llm, on_token, current, plan)
    runner = GuardRunner()
    rounds: list[dict] = []
    ev = check_and_repair(current, job, runner, rounds, load_copy_index(settings), stream=True)
    job.usage.seconds = time.monotonic() - started
    return _result(job, current, runner, ev, rounds, plan=plan)


def revise_draft(request: DraftRequest, draft: str, instruction: str, settings: Settings, *,
                 llm=None, on_token: TokenSink | None = None, blocks: list[Block] | None = None,
                 plan: ReportPlan | None = None) -> DraftResult:
    """Apply a follow-up instruction (“第二部分再精炼一些”) to the paragraphs it names, each
    rewritten under the drafting contract; every other block stays as it is, so no part can be
    duplicated or lost. A fact a rewrite dropped goes back into its own paragraph."""
    started = time.monotonic()
    current = version_blocks(draft, blocks)
    job = _job_for_version(request, settings, llm, on_token, current, plan)
    runner = GuardRunner()
    targets = revision_blocks(current, instruction)
    if not targets:
        raise RequestError("没有找到要修改的段落，请指明修改哪一部分（如“第二部分…”“（二）…”）。")
    for b in targets:
        facts = block_facts(b, job)
        prompt = render("revise", genre=request.genre, instruction=fence(instruction),
                        facts=fence(numbered([f.text for f in facts])) if facts else "（无）", text=fence(b.render()))
        answer_tokens = job.answer_tokens(nonspace_len(b.body()) + 200)
        if count_tokens(prompt) + answer_tokens + count_tokens(job.system["content"]) > settings.llm_context_tokens:
            raise LLMError("要修改的内容太长，超出了模型一次能处理的长度，请指明修改哪一部分（如“第二部分…”）。")
        job.progress(f"正在修改{b.marker}{b.heading or '这一段'}…")
        revised = job.chat(prompt, purpose="revise", max_tokens=answer_tokens, stream=True)
        b.sentences = [s for s in b.sentences if s.origin != "user"]   # the user asked for this part to change
        rewrite_block(b, revised, job, current, runner, "revision")
    rounds: list[dict] = []
    ev = check_and_repair(current, job, runner, rounds, load_copy_index(settings), model_rounds=0)
    job.usage.seconds = time.monotonic() - started
    return _result(job, current, runner, ev, rounds, plan=plan)


def find_block(blocks: list[Block], at: str) -> Block | None:
    """The body block a user points at: by its marker (“（二）”), its sub-heading's words, or its
    part's title (“存在问题”); "" means the first block asking for material (【待补充】)."""
    at = (at or "").strip()
    bodies = [b for b in blocks if b.kind in ("item", "paragraph", "opening")]
    if not at:
        return next((b for b in bodies if SUPPLY_MARK in b.body()), None)
    hit = next((b for b in bodies if b.marker and b.marker == at), None)
    if hit is None:
        hit = next((b for b in bodies if b.heading and (at in b.heading or b.heading in at)), None)
    if hit is None:
        part = next((b for b in blocks if b.kind == "part" and at in b.marker + b.heading), None)
        if part is not None:
            hit = next((b for b in bodies if b.key.split("/")[0] == part.key), None)
    return hit


def fill_paragraph(request: DraftRequest, draft: str, at: str, material: str, settings: Settings, *,
                   llm=None, on_token: TokenSink | None = None, blocks: list[Block] | None = None,
                   plan: ReportPlan | None = None) -> DraftResult:
    """补充材料: the user answers a 【待补充】 place (or any paragraph) in a few words. The answer
    becomes a fact of that paragraph — in the request of the new version (`result.request`), its
    own sentence origin "user" — and only that paragraph is rewritten with it, under the same
    contract as a draft. Every other block stays as it is."""
    material = material.strip()
    if not material:
        raise RequestError("请先写要补充的内容（几句话即可，如具体做法、数字或典型事例）。")
    started = time.monotonic()
    current = version_blocks(draft, blocks)
    target = find_block(current, at)
    if target is None:
        raise RequestError(f"没有找到要补充的段落“{at}”，请写小标题的编号（如“（二）”）或部分名称。")
    request = replace(request, facts=list(request.facts) + [material])
    job = _job_for_version(request, settings, llm, on_token, current, None)
    fact = next((f for f in job.sheet.facts if f.original.strip() == material), None)
    if fact is None:
        raise RequestError("补充的内容像是给助手的指令，不能作为事实写入草稿，请只写本单位的实际情况。")
    job.homes[fact.text] = target.heading
    runner = GuardRunner()
    facts = block_facts(target, job)
    target.sentences = [s for s in target.sentences if not (s.origin == "phrase" and SUPPLY_MARK in s.text)]
    prompt = render("task_fill", genre=request.genre, material=fence(material),
                    facts=fence(numbered([f.text for f in facts])) if facts else "（无）", text=fence(target.render()))
    job.progress(f"正在把补充的材料写进{target.marker}{target.heading or '这一段'}…")
    reply = job.chat(prompt, purpose="fill", stream=True,
                     max_tokens=job.answer_tokens(nonspace_len(target.body()) + 2 * nonspace_len(material) + 120))
    rewrite_block(target, reply, job, current, runner, "user-material", extra_facts=[fact])
    for s in target.sentences:          # the user's own material, as written in, is theirs
        if s.origin in ("fact", "model") and s.fact_ids == [fact.id]:
            s.origin = "user"
    rounds: list[dict] = []
    ev = check_and_repair(current, job, runner, rounds, load_copy_index(settings), model_rounds=0)
    job.usage.seconds = time.monotonic() - started
    result = _result(job, current, runner, ev, rounds, plan=plan)
    result.request = request
    return result


def edit_draft(request: DraftRequest, draft: str, settings: Settings, *, blocks: list[Block] | None = None,
               plan: ReportPlan | None = None) -> DraftResult:
    """A hand edit: the new text read against the version it started from, so the words the user
    typed are origin "user" — no rule calls their numbers or names invented, and no repair or
    revision removes them unasked — then checked. Nothing is rewritten."""
    current = parse_blocks(draft, blocks)
    ev = check_blocks(current, request, load_copy_index(settings))
    return DraftResult(draft=render_blocks(current), evaluation=ev, plan=plan, blocks=current,
                       sentences=[s for b in current for s in _block_sentences(b)], request=request)


def revision_blocks(blocks: list[Block], instruction: str) -> list[Block]:
    """The body blocks a revision instruction is about (rag.targets reads the instruction against
    the rendered draft's lines)."""
    lines: list[Block | None] = []
    for n, b in enumerate(x for x in blocks if x.render()):
        if n:
            lines.append(None)          # the blank line between blocks
        lines.append(b)
    start, end = revision_target(render_blocks(blocks), instruction)
    hit = [b for b in lines[start:end] if b is not None]
    return [b for b in hit if b.kind in ("item", "paragraph", "opening")]
