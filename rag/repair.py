"""After writing: the draft-scope guards and the 按检查结果修改 loop, on blocks.

Both the end of a fresh draft and a repair asked for by the user run the same guards through the
same runner: the unit's own voice, nothing over the length, the checker's failing findings cut
where they stand (only in model text — facts, our phrases, headings and the user's own words stay),
figures no fact gives, every fact present in its own paragraph. A repair then asks the model to
rewrite only the paragraphs that still carry failing findings; the answer is read under the
drafting contract (rag.guards.GuardRunner.read_reply), and a round that does not improve the
checker's verdict ends the loop.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from evals.check import Evaluation, evaluate
from evals.context import Span
from evals.registry import FAILING_SEVERITIES, RuleViolation
from rag.compose import Block, cover_facts, render_blocks, renumber_block
from rag.factsheet import VERIFY_MARK, Fact
from rag.guards import FRAGMENT_HAN, GuardRunner, ReplyContext, Sentence, covers, drop_spans, fact_sentence
from rag.job import DraftJob
from rag.prompting import fence, numbered, render, word_re
from rag.postprocess import clean_paragraph
from rag.text import (REMINDER_RE, extract_numbers, han_count, is_year_token, nonspace_len, pair_key,
                      sentence_key, sentences_of, written_len)
from rag.textnorm import normalize_for_compare
from rag.units import fix_unit_words, unit_kind

REPAIR_ROUNDS = 2
# Rules whose evidence can simply be deleted from the draft (the span that carries it).
DELETABLE_RULES = {"FACT-03", "INPUT-02", "CLEAN-01", "CLEAN-02", "CLEAN-03", "LANG-02", "LANG-03", "COPY-01",
                   "SAFE-01", "YEAR-01", "CLAIM-01", "REPEAT-01", "YEAR-02", "HOLLOW-01"}
# Rules about the whole draft: their span (if any) does not point at one paragraph.
DOCUMENT_RULES = {"LEN-01", "STR-01", "FACT-01", "FACT-02", "INPUT-03"}
# Origins a guard may cut or rewrite: what the model wrote. Facts, phrases, headings and the
# user's own words stay.
EDITABLE = ("model", "elaboration")
# A reply's first sentence sharing this much of its character pairs with our lead-in is the lead-in
# reworded (“在肯定成绩的同时，我们也看到工作中还有一些问题：”): ours stays, the copy goes.
LEAD_ALIKE = 0.6


def check_blocks(blocks: list[Block], request, copy_index) -> Evaluation:
    """The checker's verdict on blocks, with where each span came from: the user's own words count
    as facts of this version, unconfirmed elaboration is listed as a reminder."""
    provenance = [Span(s.text, s.origin, s.confirmed) for b in blocks for s in b.sentences]
    return evaluate(render_blocks(blocks), request, copy_index, provenance)


def check(blocks: list[Block], job: DraftJob, copy_index) -> Evaluation:
    return check_blocks(blocks, job.request, copy_index)


def _rank(ev: Evaluation) -> tuple:
    blockers = sum(v.severity == "blocker" for v in ev.violations)
    majors = sum(v.severity == "major" for v in ev.violations)
    return (ev.passed, -blockers, -majors, ev.score)


def _failing(ev: Evaluation) -> list[RuleViolation]:
    return [v for v in ev.violations if v.severity in FAILING_SEVERITIES]


def span_offsets(blocks: list[Block]) -> list[tuple[int, int, Block, Sentence | None]]:
    """(start, end, block, span) of every span of the rendered draft; a heading is (…, None)."""
    out: list[tuple[int, int, Block, Sentence | None]] = []
    pos = 0
    for b in blocks:
        rendered = b.render()
        if not rendered:
            continue
        head = len(rendered) - len(b.body())
        if head:
            out.append((pos, pos + head, b, None))
        offset = pos + head
        for s in b.sentences:
            out.append((offset, offset + len(s.text), b, s))
            offset += len(s.text)
        pos += len(rendered) + 2          # render_blocks joins blocks with a blank line
    return out


def _where(b: Block) -> str:
    return f"{b.marker}{b.heading}" if b.heading else b.key


def _drop(block: Block, span: Sentence, runner: GuardRunner, guard: str, reason: str = "") -> None:
    block.sentences = drop_spans(block.sentences, lambda x: x is span)
    runner.log(guard, span.text, "", _where(block), reason=reason,
               action="drop" if span.text[-1:] in "。！？；" else "drop_clause")


def apply_unit_voice(blocks: list[Block], job: DraftJob, runner: GuardRunner) -> None:
    """UNIT-01: the unit's own self-reference and level words in model text (unless a fact uses
    the others)."""
    kind = job.voice.kind or unit_kind(job.request.unit)
    facts = "".join(job.facts)
    for b in blocks:
        for s in b.sentences:
            if s.origin not in EDITABLE:
                continue
            fixed = fix_unit_words(s.text, kind, facts)
            if fixed != s.text:
                runner.log("unit-voice", s.text, fixed, _where(b))
                s.text = fixed


def trim_to_length(blocks: list[Block], limit: int, sheet_facts: list[Fact], runner: GuardRunner) -> None:
    """Over the upper length: drop unconfirmed elaboration, then model spans whose paragraph keeps
    every fact without them — the longest paragraph first."""
    by_id = {f.id: f for f in sheet_facts}

    def removable(b: Block, s: Sentence) -> bool:
        rest = "".join(x.text for x in b.sentences if x is not s)
        return all(covers(rest, by_id[i]) for i in {i for x in b.sentences for i in x.fact_ids} if i in by_id)

    while written_len(render_blocks(blocks)) > limit:
        candidates = [(b, s) for b in blocks if b.kind in ("item", "paragraph", "opening") for s in b.sentences
                      if (s.origin == "elaboration" and not s.confirmed)
                      or (s.origin == "model" and len(b.sentences) > 1 and removable(b, s))]
        if not candidates:
            return
        b, s = max(candidates, key=lambda bs: (bs[1].origin == "elaboration", nonspace_len(bs[0].body()),
                                               len(bs[1].text)))
        _drop(b, s, runner, "over-length")


def delete_findings(blocks: list[Block], ev: Evaluation, runner: GuardRunner, facts: list[Fact],
                    severities: Iterable[str] = FAILING_SEVERITIES) -> bool:
    """Delete the model span that carries the evidence of each deletable finding; a fact only that
    span said is written in its place. A finding in a model heading gives the heading back to the
    plan's words. Returns whether anything changed."""
    spans = span_offsets(blocks)
    changed = False
    for v in ev.violations:
        if v.severity not in severities or v.rule not in DELETABLE_RULES or v.start is None:
            continue
        for s0, s1, b, s in spans:
            if not s0 <= v.start < s1:
                continue
            if s is None or s not in b.sentences or s.origin not in EDITABLE:
                break
            at = b.sentences.index(s)
            _drop(b, s, runner, f"checker:{v.rule}", v.message)
            for f in (f for f in facts if f.id in s.fact_ids):
                if not covers(b.body(), f):
                    plain = fact_sentence(f)
                    b.sentences.insert(at, Sentence(plain, "fact", [f.id]))
                    at += 1
                    runner.log("missing-fact", "", plain, _where(b), reason="删去的句子带有这条事实，照录补上")
            changed = True
            break
    return changed


def drop_foreign_numbers(blocks: list[Block], job: DraftJob, runner: GuardRunner) -> bool:
    """Model spans with a figure whose (value, unit) no fact gives — stricter than FACT-03, which
    compares values only — and 【待核实】 where no fact has it."""
    allowed = {t.pair for f in job.facts + job.request.key_figures for t in extract_numbers(normalize_for_compare(f))}
    values = {v for v, _u in allowed}
    marks = {f[max(0, m.start() - 2):m.start()] for f in job.facts for m in re.finditer(re.escape(VERIFY_MARK), f)}
    changed = False
    for b in blocks:
        for s in list(b.sentences):
            if s.origin not in EDITABLE:
                continue
            norm = normalize_for_compare(s.text)
            foreign = any(not is_year_token(t, norm) and t.pair not in allowed and (t.unit or t.canonical not in values)
                          for t in extract_numbers(norm))
            stray = any(s.text[max(0, m.start() - 2):m.start()] not in marks
                        for m in re.finditer(re.escape(VERIFY_MARK), s.text))
            if foreign or stray:
                _drop(b, s, runner, "foreign-number")
                changed = True
    return changed


def home_block(blocks: list[Block], fact: Fact, homes: dict[str, str]) -> Block | None:
    """The paragraph a fact belongs in: the sub-heading the plan gave it, else the paragraph of
    its part, else the body paragraph sharing most of its words."""
    heading = homes.get(fact.text)
    bodies = [b for b in blocks if b.kind in ("item", "paragraph")]
    if heading:
        hit = next((b for b in bodies if b.heading == heading), None)
        if hit:
            return hit
    hit = next((b for b in bodies if b.key.split("/")[0] == fact.part), None)
    if hit:
        return hit
    key = pair_key(fact.text)
    return max(bodies, key=lambda b: len(key & pair_key(b.render())), default=None)


def restore_missing_facts(blocks: list[Block], job: DraftJob, runner: GuardRunner) -> bool:
    """A fact the draft lacks is written back, as it is, into its own paragraph."""
    text = render_blocks(blocks)
    changed = False
    for f in job.sheet.facts:
        if covers(text, f):
            continue
        block = home_block(blocks, f, job.homes)
        plain = fact_sentence(f)
        if block is None:
            blocks.append(block := Block(f"p{len(blocks) + 1}", "paragraph"))
        block.sentences.append(Sentence(plain, "fact", [f.id]))
        runner.log("missing-fact", "", plain, _where(block))
        text = render_blocks(blocks)
        changed = True
    return changed


def block_facts(block: Block, job: DraftJob) -> list[Fact]:
    """The facts a paragraph is written from: those its spans carry, those the plan put under its
    heading, and those its text holds (a draft read back from text knows no spans' facts)."""
    ids = {i for s in block.sentences for i in s.fact_ids}
    homed = {t for t, h in job.homes.items() if h and h == block.heading}
    body = block.body()
    return [f for f in job.sheet.facts if f.id in ids or f.text in homed or covers(body, f)]


def block_context(block: Block, job: DraftJob, blocks: list[Block], elaborate: bool = True) -> ReplyContext:
    future = job.request.genre == "工作计划" or block.key.split("/")[0] in ("next", "tasks", "safeguards")
    others = [s.text for b in blocks if b is not block for s in b.sentences if s.origin != "phrase"]
    return ReplyContext(facts=block_facts(block, job), all_facts=job.sheet.facts, year=job.request.year,
                        unit=job.request.unit, heading=block.heading, future=future, written=others,
                        where=_where(block), elaborate=elaborate)


def rewrite_block(block: Block, reply: str, job: DraftJob, blocks: list[Block], runner: GuardRunner,
                  guard: str, elaborate: bool = True, extra_facts: list[Fact] | None = None) -> None:
    """Replace a paragraph's body with a model reply read under the drafting contract; its facts
    stay present, its user spans (if any) are kept in place at its start."""
    ctx = block_context(block, job, blocks, elaborate)
    if extra_facts:
        ctx.facts = ctx.facts + [f for f in extra_facts if f not in ctx.facts]
    before = block.body()
    # our reminders (【待补充】) are not the model's to keep or drop: they stay until the user fills them
    reminders = [s for s in block.sentences if s.origin == "phrase" and REMINDER_RE.fullmatch(s.text.strip())]
    answer = clean_paragraph(REMINDER_RE.sub("", reply), heading=block.heading, facts=ctx.fact_texts)
    if not extra_facts and sentence_key(answer) == sentence_key(REMINDER_RE.sub("", before)):
        return    # the model changed nothing: neither does the runner
    kept_user = [s for s in block.sentences if s.origin == "user"]
    # a part's lead-in (“工作中还存在一些问题：”) is ours: it stays ours when the model copies it back
    lead = []
    for s in block.sentences:
        if s.origin != "phrase" or REMINDER_RE.fullmatch(s.text.strip()):
            break
        lead.append(s)
    # it stays whether the model copied it back as it is, reworded it, or left it out
    for s in lead:
        if answer.startswith(s.text):
            answer = answer[len(s.text):].lstrip()
            continue
        said = sentences_of(answer)
        first = said[0] if said else ""
        if s.text.endswith(("：", ":")) and re.search("[：:]", first):   # a lead-in ends where its colon does
            first = first[:re.search("[：:]", first).end()]
        if first and _alike(first, s.text):
            answer = answer[len(first):].lstrip()
    spans = runner.read_reply(answer, ctx)
    block.sentences = lead + kept_user + spans
    cover_facts(block, ctx.facts, ctx.where, runner)
    block.sentences += reminders if extra_facts is None else []
    runner.log(guard, before, block.body(), ctx.where)


def _alike(a: str, b: str) -> bool:
    """Two sentences saying the same with other words (a lead-in the model reworded)."""
    ka, kb = pair_key(a), pair_key(b)
    return bool(ka and kb) and len(ka & kb) >= LEAD_ALIKE * min(len(ka), len(kb))


def _llm_repair(blocks: list[Block], ev: Evaluation, job: DraftJob, runner: GuardRunner, stream: bool) -> None:
    """Rewrite only the paragraphs that carry failing findings, quoting them; a draft short of its
    length with nothing else failing asks its shortest sub-headed paragraphs for more 做法 and 成效.
    A paragraph holding the user's own words is not rewritten (they are the user's)."""
    by_block: dict[int, list[RuleViolation]] = {}
    spans = span_offsets(blocks)
    general: list[RuleViolation] = []
    for v in _failing(ev):
        if v.start is None or v.rule in DOCUMENT_RULES:
            general.append(v)
            continue
        hit = next((b for s0, s1, b, _s in spans if s0 <= v.start < s1), None)
        if hit is not None and hit.kind in ("item", "paragraph", "opening"):
            by_block.setdefault(id(hit), []).append(v)
    extra = ""
    length = next((v for v in general if v.rule == "LEN-01"), None)
    written, least = written_len(render_blocks(blocks)), job.request.length_chars[0]
    if length and not by_block and written < least:
        items = [b for b in blocks if b.kind == "item" and not any(s.origin == "user" for s in b.sentences)]
        targets = sorted(items, key=lambda b: nonspace_len(b.body()))[:3]
        extra = render("grow", chars=(least - written) // max(1, len(targets)) + 40)
        by_block = {id(b): [length] for b in targets}
    for b in [b for b in blocks if id(b) in by_block][:4]:
        if any(s.origin == "user" for s in b.sentences):
            continue
        violations = by_block[id(b)]
        quoted = "\n".join(f"- [{v.rule}] {v.message}" + (f"：“{v.evidence}”" if v.evidence else "")
                           for v in violations)
        facts = block_facts(b, job)
        prompt = render("repair", genre=job.request.genre, violations=quoted,
                        facts=fence(numbered([f.text for f in facts])) if facts else "（无）",
                        text=fence(b.render()), extra=extra)
        fixed = job.chat(prompt, purpose=f"repair:{violations[0].rule}",
                         max_tokens=job.answer_tokens(nonspace_len(b.body()) + 80 + len(extra) * 4), stream=stream)
        if nonspace_len(fixed) >= nonspace_len(b.body()) // 2:   # half a paragraph is not a repair
            rewrite_block(b, fixed, job, blocks, runner, "repair")


def drop_dangling_leads(blocks: list[Block], runner: GuardRunner) -> None:
    """A paragraph that ends on a short lead (“三是强化结果运用。”) with nothing after it — the
    sentences it led into went to other guards — stops mid-list: the lead goes, and the series is
    counted again. A paragraph ends on 。, not on the ；of a list item whose next item went."""
    def short_lead(s: Sentence) -> bool:
        return han_count(s.text) < FRAGMENT_HAN and bool(word_re("lead_phrase").match(s.text.strip()))

    for b in blocks:
        if b.kind not in ("item", "paragraph"):
            continue
        # a means or scope left alone when the words it led into went (“通过这些措施。”)
        for s in [s for s in b.sentences if s.origin in ("model", "elaboration") and s.text[-1:] in "。；"
                  and han_count(s.text) < FRAGMENT_HAN and word_re("dangling_opener").match(s.text[:-1])]:
            _drop(b, s, runner, "fragment", reason="只剩引导语，后面的内容已删去")
        body = [s for s in b.sentences if not (s.origin == "phrase" and REMINDER_RE.fullmatch(s.text.strip()))]
        last = body[-1] if body else None
        # a series of short leads (“一是加强组织领导。二是强化经费保障。”) is a list, not a lead left alone
        if (len(body) > 1 and last.origin in ("model", "elaboration") and last.text[-1:] in "。；"
                and short_lead(last) and not any(short_lead(s) for s in body[:-1])):
            _drop(b, last, runner, "dangling-lead")
            renumber_block(b)
            last = body[-2]
        if last is not None and last.origin != "user" and last.text[-1:] in "；，、":
            before, last.text = last.text, last.text[:-1] + "。"
            runner.log("tidy-reply", before, last.text, _where(b), reason="段落末尾的“；”改为“。”")


def finish_blocks(blocks: list[Block], job: DraftJob, runner: GuardRunner) -> None:
    """The draft-scope guards every version passes through before it is checked."""
    drop_dangling_leads(blocks, runner)
    apply_unit_voice(blocks, job, runner)
    drop_foreign_numbers(blocks, job, runner)
    restore_missing_facts(blocks, job, runner)
    trim_to_length(blocks, job.request.length_chars[1], job.sheet.facts, runner)


def check_and_repair(blocks: list[Block], job: DraftJob, runner: GuardRunner, rounds_log: list[dict],
                     copy_index, *, model_rounds: int = REPAIR_ROUNDS, stream: bool = False) -> Evaluation:
    """Check; cut the failing findings out of model text; then up to `model_rounds` rounds of model
    repairs of the paragraphs that still fail. `blocks` is changed in place to the best version."""
    job.progress("正在检查…")
    finish_blocks(blocks, job, runner)
    ev = check(blocks, job, copy_index)
    rounds_log.append({"round": 0, "kind": "draft", "score": ev.score, "passed": ev.passed})
    for _ in range(3):  # each pass can expose the next-longest copied run, say
        if not _failing(ev) or not delete_findings(blocks, ev, runner, job.sheet.facts):
            break
        ev = check(blocks, job, copy_index)
        rounds_log.append({"round": 0, "kind": "deterministic", "score": ev.score, "passed": ev.passed})
    for n in range(1, model_rounds + 1):
        if not _failing(ev):
            break
        job.progress(f"正在修改第{n}轮…")
        trial = [Block.from_dict(b.to_dict()) for b in blocks]
        trial_runner = GuardRunner()
        _llm_repair(trial, ev, job, trial_runner, stream)
        finish_blocks(trial, job, trial_runner)
        cand = check(trial, job, copy_index)
        if delete_findings(trial, cand, trial_runner, job.sheet.facts):
            cand = check(trial, job, copy_index)
        rounds_log.append({"round": n, "kind": "llm", "score": cand.score, "passed": cand.passed})
        if _rank(cand) <= _rank(ev):
            break   # the next round would send the same paragraphs again: stop here
        blocks[:] = trial
        runner.edits += trial_runner.edits
        ev = cand
    written, least = written_len(render_blocks(blocks)), job.request.length_chars[0]
    if written < least and any(v.rule == "LEN-01" for v in ev.violations):
        job.notices.append(f"草稿{written}字，少于要求的{least}字：{len(job.facts)}条事实撑不起这个篇幅，"
                           "没有用空话凑字数。请补充事实（具体做法、数字、典型事例），或调低目标字数。")
    return ev
