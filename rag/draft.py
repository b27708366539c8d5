"""Draft a report or a section: facts checked → exemplars → outline → one small call per
sub-heading → deterministic clean-up → evaluation → deterministic and targeted LLM repair.

A weak embedded model (Qwen2.5-Coder-1.5B) invents work items when given freedom, so every
call is small and explicit: one sub-heading, its own facts, 2–4 masked exemplar passages.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from string import Template
from typing import Any

from evals.check import Evaluation, evaluate
from evals.registry import RuleViolation
from evals.copy_index import load_copy_index
from evals.document import nonspace_len
from evals.facts import FactConflict, classify_facts, extract_numbers, find_conflicts, is_year_token
from rag.config import Settings
from rag.errors import LLMError
from rag.outline import (Outline, OutlineError, OutlineItem, PartFacts, fallback_outline,
                         parse_outline, route_facts, split_labelled)
from rag.headings import canonical_marker
from rag.postprocess import (QUOTED_OR_TITLED, clean_draft, clean_paragraph, drop_masked_clauses, drop_sentences,
                             heading_rank, repeats, sentences_of, split_heading)
from rag.prompting import (MASK_RE, GenreGuide, PartSpec, UnitVoice, exemplar_echo_test, fence, genre_guide, han_grams,
                           mask_exemplar, numbered, off_topic_test, render, requested_parts, ungrounded_test,
                           unit_voice)
from rag.schema import WHOLE_REPORT, DraftRequest, Exemplar
from rag.textnorm import HAN, chinese_numeral, normalize_for_compare, parse_chinese_numeral
from rag.tokens import (TOKENS_PER_MESSAGE, TOKENS_REPLY_PRIMING, count_tokens,
                        fit_to_budget)

Progress = Callable[[str], None]
TokenSink = Callable[[str], None]
Retriever = Callable[[str, str, str | None, int], list[Exemplar]]

EXEMPLARS_PER_CALL = (2, 3)
# Measured (bench/run_evalset.py, HC01/HC07): with 160–220-char exemplars the 1.5B model copied
# whole work items, masks and all, from them; a sentence or two teaches the voice well enough.
EXEMPLAR_CHARS = 90          # one masked passage is cut to this many characters
OUTLINE_TEMPERATURE = 0.1
# A paragraph that keeps less than this share of its length target gets one continuation call.
SHORT_SHARE = 0.7
REPAIR_ROUNDS = 2
FAILING = ("blocker", "major")
# A fact without numbers whose wording the draft keeps less of than this is written in again.
WORDING_KEPT = 0.5
# Rules whose evidence can simply be deleted from the draft (the clause that carries it).
DELETABLE_RULES = {"FACT-03", "INPUT-02", "CLEAN-01", "CLEAN-02", "CLEAN-03", "LANG-02", "LANG-03", "COPY-01",
                   "SAFE-01", "YEAR-01"}
# Rules about the whole draft: their span (if any) does not point at one paragraph.
DOCUMENT_RULES = {"LEN-01", "STR-01", "FACT-01", "FACT-02", "INPUT-03"}


@dataclass
class DraftResult:
    draft: str
    sources: list[Exemplar] = field(default_factory=list)
    evaluation: Evaluation | None = None
    notices: list[str] = field(default_factory=list)
    outline: list[dict[str, Any]] = field(default_factory=list)   # per part: headings and facts
    rounds: list[dict[str, Any]] = field(default_factory=list)    # score of every version tried

    def to_json(self) -> dict[str, Any]:
        return {"draft": self.draft, "sources": [s.to_dict() for s in self.sources],
                "evaluation": self.evaluation.to_json() if self.evaluation else None,
                "notices": self.notices, "outline": self.outline, "rounds": self.rounds}

    def summary(self) -> str:
        if not self.draft:
            return "未生成草稿。\n" + "\n".join(f"· {n}" for n in self.notices)
        chars = len(re.sub(r"\s", "", self.draft))
        lines = [f"草稿共 {chars} 字，参考范文段落 {len(self.sources)} 段。"]
        if self.evaluation is not None:
            counts: dict[str, int] = {}
            for v in self.evaluation.violations:
                counts[v.severity] = counts.get(v.severity, 0) + 1
            names = {"blocker": "必须修改", "major": "严重", "minor": "一般", "warn": "提示"}
            detail = "，".join(f"{names.get(k, k)} {n} 项" for k, n in counts.items()) or "无问题"
            lines.append(f"检查{'通过' if self.evaluation.passed else '未通过'}（{detail}）。")
        lines += [f"· {n}" for n in self.notices]
        return "\n".join(lines)


# --- context of one drafting job ----------------------------------------------------------------

@dataclass
class _Job:
    request: DraftRequest
    settings: Settings
    llm: Any
    guide: GenreGuide
    voice: UnitVoice
    facts: list[str]                       # usable facts (conflicting values removed)
    retriever: Retriever
    on_token: TokenSink | None
    progress: Progress
    sources: list[Exemplar] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    homes: dict[str, str] = field(default_factory=dict)   # fact → the sub-heading it was given

    @property
    def system(self) -> dict[str, str]:
        return {"role": "system", "content": render(
            "system", unit=self.request.unit, genre=self.request.genre,
            self_ref=self.voice.self_ref, level_word=self.voice.level_word)}

    def values(self) -> dict[str, str]:
        r = self.request
        return {"unit": r.unit, "year": str(r.year), "next_year": str(r.year + 1),
                "topic": r.topic or "", "self_ref": self.voice.self_ref,
                "leaders": self.voice.leaders, "genre": r.genre}

    def off_topic(self, *also: str) -> Callable[[str], bool]:
        """A test for sentences on a topic that neither the facts nor `also` (a sub-heading)
        touches: exemplar work that belongs to another unit (双拥 in a 行风 述职), or what
        the model wrote from memory (新农合, 食品安全)."""
        return off_topic_test(self.facts + [self.request.topic or "", *also])

    def fill(self, template: str) -> str:
        return Template(template).safe_substitute(self.values())

    def emit(self, text: str) -> None:
        if self.on_token:
            self.on_token(text)

    def chat(self, user: str, *, purpose: str, max_tokens: int, stream: bool = False,
             temperature: float | None = None, prose: bool = True) -> str:
        messages = [self.system, {"role": "user", "content": user}]
        result = self.llm.chat(messages, on_token=self.on_token if stream else None,
                               temperature=temperature, max_tokens=max_tokens, purpose=purpose)
        if prose and result.finish_reason == "length":
            # the token cap cut the reply mid-sentence (“积极参加各级卫生部门举办的”): that sentence goes
            end = max(result.text.rfind(c) for c in "。！？；")
            return result.text[:end + 1] if end >= 0 else result.text
        return result.text

    def exemplars(self, query: str, role: str | None) -> list[str]:
        """2–4 masked passages of this genre (and role, when the index has any)."""
        hits = self.retriever(query, self.request.genre, role, EXEMPLARS_PER_CALL[1])
        if len(hits) < EXEMPLARS_PER_CALL[0] and role is not None:
            hits += [h for h in self.retriever(query, self.request.genre, None, EXEMPLARS_PER_CALL[1])
                     if h.chunk_id not in {x.chunk_id for x in hits}]
        hits = hits[:EXEMPLARS_PER_CALL[1]]
        for h in hits:
            if h.chunk_id not in {s.chunk_id for s in self.sources}:
                self.sources.append(h)
        passages = (_first_sentences(drop_sentences(mask_exemplar(h.text, self.voice), self.off_topic()),
                                     EXEMPLAR_CHARS) for h in hits)
        return [p for p in passages if p]


def _first_sentences(text: str, limit: int) -> str:
    """Whole sentences of the passage (without heading lines) up to about `limit` characters."""
    body = "".join(l for l in text.splitlines() if not heading_rank(l) or "。" in l)
    out = ""
    for sentence in re.findall(r"[^。；]*[。；]", body) or [body]:
        if out and len(out) + len(sentence) > limit:
            break
        out += sentence
    return out[: limit * 2]


def _answer_tokens(chars: int, settings: Settings) -> int:
    """A little more than the asked length (Qwen ≈ 0.8 tokens per Chinese character): the model
    ignores “约N字”, so the token cap is what keeps a section near its length."""
    return min(settings.llm_max_tokens, int(chars * 1.2) + 60)


def pack_prompt(template: str, fixed: dict[str, object], exemplars: list[str], answer_tokens: int,
                settings: Settings, system: str = "") -> str:
    """Render a prompt within llm_context_tokens minus the answer budget.

    Facts and instructions (`fixed`) are required and never cut — fit_to_budget raises a
    RequestError if they alone do not fit; exemplars are optional and dropped first.
    """
    budget = settings.llm_context_tokens - answer_tokens - 2 * TOKENS_PER_MESSAGE - TOKENS_REPLY_PRIMING
    skeleton = render(template, **fixed, exemplars="")
    labelled = [f"片段{chinese_numeral(i)}：{e}\n" for i, e in enumerate(exemplars, 1)]
    kept, _dropped = fit_to_budget([system, skeleton], labelled, budget)
    return render(template, **fixed, exemplars=fence("".join(kept)) or "（无）")


# --- facts before drafting ----------------------------------------------------------------------

VERIFY_MARK = "【待核实】"
PROBLEMS_MARK = "【待核实：请补充存在的问题】"


def _without_conflicting_values(facts: list[str], conflicts: list[FactConflict]) -> list[str]:
    """Put VERIFY_MARK where each conflicting value was: “县域内就诊率达到【待核实】”,
    “下派医师共【待核实】，其中主治以上职称20名”. The user sees where the number belongs; the
    model never sees either value, so it cannot pick one."""
    bad = {pair for c in conflicts for pair in c.pairs}
    out = []
    for fact in facts:
        text = normalize_for_compare(fact)
        drop = [t for t in extract_numbers(text) if t.pair in bad]
        if not drop:
            out.append(fact)
            continue
        for t in sorted(drop, key=lambda t: t.start, reverse=True):
            text = text[:t.start] + VERIFY_MARK + text[t.end:]
        metric = _LEAD_WORDS.sub("", text.split(VERIFY_MARK)[0])
        if text.endswith(VERIFY_MARK) and text.count(VERIFY_MARK) == 1 and any(metric in f for f in out):
            continue  # “县域内就诊率为【待核实】” after “全县县域内就诊率达到【待核实】”: one mark is enough
        out.append(text)
    return out


_LEAD_WORDS = re.compile(r"(?:保持在|达到|提高到|增至|增加到|下降到|缩短至|控制在|不少于|不低于|超过|为|达|至|由|约|共|计)$")


def _ask_for_facts(request: DraftRequest, parts: list[PartSpec]) -> str:
    needed = [n for p in parts for n in p.needed]
    items = "；".join(f"{i}. {n}" for i, n in enumerate(needed, 1))
    return (f"没有提供可用的事实，无法起草{request.genre}“{request.section}”。请在事实清单中每行写一条"
            f"本单位的实际情况，例如：{items}。助手不会编造数字。")


# --- the parts ------------------------------------------------------------------------------------

def _length_plan(request: DraftRequest, routed: list[PartFacts]) -> dict[str, int]:
    """Target characters per part: short fixed parts, the body shares the rest by fact count."""
    lo, hi = request.length_chars
    total = (lo + hi) // 2
    plan: dict[str, int] = {}
    share = {"opening": 0.13, "paragraph": 0.13}
    for pf in routed:
        if pf.part.layout == "opening":
            plan[pf.part.key] = max(80, min(220, int(total * share["opening"])))
        elif pf.part.layout == "paragraph":
            plan[pf.part.key] = max(80, min(300, int(total * share["paragraph"]) + 40 * len(pf.facts)))
    rest = max(200, total - sum(plan.values()) - 60)
    body = [pf for pf in routed if pf.part.layout == "items"]
    for pf in body:
        plan[pf.part.key] = rest // max(1, len(body))
    return plan


def _draft_outline(job: _Job, pf: PartFacts) -> Outline:
    job.progress("正在拟定提纲…")
    part, facts = pf.part, pf.facts
    prompt = render("outline", genre=job.request.genre, part_title=job.fill(part.title),
                    min_items=min(part.min_items, len(facts)), max_items=part.max_items,
                    heading_style=job.guide.heading_style,
                    facts=fence(numbered(facts, brackets=True)))
    answer = job.chat(prompt, purpose=f"outline:{part.key}", temperature=OUTLINE_TEMPERATURE, prose=False,
                      max_tokens=min(job.settings.llm_max_tokens, 120 + 60 * len(facts)))
    try:
        outline = parse_outline(answer, len(facts), part.min_items, part.max_items)
        copied = [it.heading for it in outline.items if it.heading in job.guide.heading_style]
        if copied:
            # the style example (“坚持改革创新，医疗卫生体制改革取得新进展”) is no heading for
            # these facts, and it stands in the seed corpus word for word (COPY-01)
            raise OutlineError(f"小标题“{copied[0]}”照抄了写法示例")
        return outline
    except OutlineError as e:
        job.notices.append(f"模型拟定的提纲不可用（{e}），已按事实主题自动分组。")
        return fallback_outline(facts, job.guide.fallback_headings, part.min_items,
                                part.max_items, problem=str(e))


def _write_paragraph(job: _Job, part: PartSpec, heading: str, facts: list[str], chars: int,
                     purpose: str) -> str:
    query = " ".join([heading or job.fill(part.title)] + facts)[:300]
    exemplars = job.exemplars(query, part.role)
    content_rule = ("先写做法，再写事实中的数字成效；每条事实都要写到，数字、单位和限定词照抄。" if facts else
                    "没有提供事实，只写原则性、定性的表述，不写任何数字、机构名和项目名。")
    answer_tokens = _answer_tokens(chars, job.settings)
    prompt = pack_prompt("section", {
        "genre": job.request.genre, "part_title": job.fill(part.title) or part.role,
        "heading_line": f"小标题是“{heading}”，正文紧扣这个小标题。" if heading else "",
        "voice": job.guide.voice, "guide": job.fill(part.guide),
        "facts": fence(numbered(facts)) if facts else "（无）", "chars": chars,
        "content_rule": content_rule}, exemplars, answer_tokens, job.settings, job.system["content"])
    text = job.chat(prompt, purpose=purpose, max_tokens=answer_tokens, stream=True)
    kept = _kept_sentences(job, part, text, heading, exemplars, facts)
    # a problems part says what its facts say and no more: lengthening it would only invent
    if facts and not part.lead and _chars(kept) < SHORT_SHARE * chars:
        kept = _extend_paragraph(job, part, heading, facts, kept, chars - _chars(kept), exemplars, purpose)
    if part.lead and facts:
        kept = part.lead + kept
    return kept


def _kept_sentences(job: _Job, part: PartSpec, text: str, heading: str, exemplars: list[str],
                    facts: list[str]) -> str:
    """Model output cleaned, without masks, without what it copied from its exemplars and
    without sentences on topics no fact touches. In a part with a lead sentence (the unit's
    problems) only sentences written from its facts stay: the lead is put back by the caller."""
    text = drop_masked_clauses(clean_paragraph(text, heading=heading, facts=job.facts), MASK_RE)
    text = drop_sentences(text, exemplar_echo_test(exemplars, job.facts))
    text = drop_sentences(text, job.off_topic(heading))
    return drop_sentences(text, ungrounded_test(facts)) if part.lead else text


def _extend_paragraph(job: _Job, part: PartSpec, heading: str, facts: list[str], text: str,
                      chars: int, exemplars: list[str], purpose: str) -> str:
    """One continuation call for a paragraph that came out short (the echo filter removes what
    the model copied, often a third of it): more on how the same facts' work was done."""
    job.progress("正在补充内容…")
    answer_tokens = _answer_tokens(chars, job.settings)
    prompt = render("extend", genre=job.request.genre, part_title=job.fill(part.title) or part.role,
                    heading_line=f"这段正文在小标题“{heading}”之下。" if heading else "",
                    voice=job.guide.voice, facts=fence(numbered(facts)), text=fence(text), chars=chars)
    more = job.chat(prompt, purpose=f"extend:{purpose}", max_tokens=answer_tokens, stream=True)
    more = _kept_sentences(job, part, more, heading, exemplars, facts)
    written = sentences_of(text)
    more = drop_sentences(more, lambda s: repeats(s, written))
    return text + more


def _write_opening(job: _Job, chars: int, topics: list[str]) -> str:
    exemplars = job.exemplars(f"{job.request.genre} {job.request.topic} 开头 总体情况", "开头")
    answer_tokens = _answer_tokens(chars, job.settings)
    prompt = pack_prompt("opening", {
        "unit": job.request.unit, "genre": job.request.genre, "year": job.request.year,
        "opening": job.fill(job.guide.opening), "voice": job.guide.voice,
        "topics": fence("；".join(topics) or job.request.topic or job.request.genre),
        "chars": chars}, exemplars, answer_tokens, job.settings, job.system["content"])
    text = clean_paragraph(job.chat(prompt, purpose="opening", max_tokens=answer_tokens, stream=True),
                           facts=job.facts)
    text = drop_sentences(drop_masked_clauses(text, MASK_RE), job.off_topic(*topics))
    lead_in = job.fill(job.guide.lead_in)
    if lead_in and not re.search(job.guide.lead_in_pattern, text):
        # STR-01 wants the “现将…如下：” sentence; the model often forgets it
        text = text.rstrip("：") + lead_in
        job.emit(lead_in)
    return text


def _compose(job: _Job, routed: list[PartFacts], outlines: dict[str, Outline]) -> str:
    """Write every part in order, streaming, and return the assembled raw text."""
    request = job.request
    plan = _length_plan(request, routed)
    numbered_keys = [p.key for p in job.guide.parts if p.title]
    whole = request.section == WHOLE_REPORT
    blocks: list[str] = []

    def add(text: str) -> None:
        job.emit(("\n\n" if blocks else "") + text)
        blocks.append(text)

    if whole:
        title = job.fill(job.guide.title).replace("年年", "年")
        add(title)
    topics = [it.heading for o in outlines.values() for it in o.items]
    for pf in routed:
        part = pf.part
        if part.layout == "salutation":
            add(part.text)
            continue
        if part.layout == "closing":
            if job.guide.closing:
                add(job.guide.closing)
            continue
        if part.layout == "opening":
            job.progress("正在撰写开头…")
            job.emit("\n\n" if blocks else "")
            blocks.append(_write_opening(job, plan[part.key], topics))
            continue
        # a section draft keeps its place in the genre's numbering (存在问题 is 二、)
        index = numbered_keys.index(part.key) + 1 if part.key in numbered_keys else 1
        add(f"{chinese_numeral(index)}、{job.fill(part.title)}")
        if part.layout == "paragraph" and part.lead and not pf.facts:
            # the unit's problems are facts too: with none given, a reminder, not invented ones
            add(part.lead + PROBLEMS_MARK)
            job.notices.append(f"事实中没有“{job.fill(part.title)}”的内容，这一部分只写了引导句和“{PROBLEMS_MARK}”，"
                               "请补充（可在事实中写“存在问题：……”）。")
            continue
        if part.layout == "paragraph":
            job.progress(f"正在撰写“{job.fill(part.title)}”…")
            job.emit("\n\n")
            blocks.append(_write_paragraph(job, part, "", pf.facts, plan[part.key],
                                           purpose=f"paragraph:{part.key}"))
            continue
        outline = outlines[part.key]
        per_item = max(90, plan[part.key] // max(1, len(outline.items)))
        for n, item in enumerate(outline.items, 1):
            job.progress(f"正在撰写（{chinese_numeral(n)}）…")
            head = f"{canonical_marker(2, n)}{item.heading}。"
            job.emit("\n\n" + head)
            item_facts = outline.facts_of(item, pf.facts)
            job.homes.update({f: item.heading for f in item_facts})
            body = _write_paragraph(job, part, item.heading, item_facts, per_item,
                                    purpose=f"item:{part.key}:{n}")
            blocks.append(head + body)
    return "\n\n".join(blocks)


# --- evaluation and repair ------------------------------------------------------------------------

def _rank(ev: Evaluation) -> tuple:
    blockers = sum(v.severity == "blocker" for v in ev.violations)
    majors = sum(v.severity == "major" for v in ev.violations)
    return (ev.passed, -blockers, -majors, ev.score)


def _failing(ev: Evaluation) -> list:
    return [v for v in ev.violations if v.severity in FAILING]


def _line_spans(text: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for line in text.split("\n"):
        spans.append((pos, pos + len(line)))
        pos += len(line) + 1
    return spans


def _delete_evidence(text: str, violations: list) -> str:
    """Delete the clause (or, in a heading, just the evidence) of each deletable violation."""
    cuts: list[tuple[int, int]] = []
    for v in violations:
        if v.rule not in DELETABLE_RULES or v.start is None or v.end is None or v.end <= v.start:
            continue
        line_start = text.rfind("\n", 0, v.start) + 1
        line_end = text.find("\n", v.end)
        line_end = len(text) if line_end == -1 else line_end
        head_len = len(split_heading(text[line_start:line_end])[0])
        if head_len and v.start - line_start < head_len:
            cuts.append((v.start, v.end))  # inside a heading: remove only the offending text
            continue
        left = max(text.rfind(c, line_start, v.start) for c in "，。；：")
        left = max(left + 1, line_start + head_len)
        rights = [i for i in (text.find(c, v.end, line_end) for c in "，。；") if i != -1]
        right = min(rights) + 1 if rights else line_end
        cuts.append((left, right))
    for start, end in sorted(set(cuts), reverse=True):
        text = text[:start] + text[end:]
    return clean_draft(text)


def _missing_facts(text: str, facts: list[str]) -> list[tuple[str, str]]:
    """(kind, piece) for every fact piece with a number the draft lacks; kind is the routing
    label (problems / next / '') so the piece can go back to its own part."""
    d = normalize_for_compare(text)
    draft_grams = han_grams([d], 4)
    draft_tokens = extract_numbers(d)
    pairs = {t.pair for t in draft_tokens}
    values = {t.canonical for t in draft_tokens}
    missing = []
    for fact in facts:
        kind, pieces = split_labelled(fact)
        for piece in pieces:
            s = normalize_for_compare(piece)
            tokens = [t for t in extract_numbers(s) if not is_year_token(t, s)]
            if (any((t.pair not in pairs) if t.unit else (t.canonical not in values) for t in tokens)
                    or any(mark not in d for mark in _verify_marks(s))
                    or any(name not in d for name in QUOTED_OR_TITLED.findall(s))   # FACT-02: “一码通用”, 《…》
                    or (not tokens and _wording_kept(s, draft_grams) < WORDING_KEPT)):
                missing.append((kind, piece))
    return missing


def _wording_kept(piece: str, draft_grams: frozenset[str]) -> float:
    """Share of a fact piece's 4-character runs the draft contains: a fact with no number is
    present when most of its wording is (“本人严格遵守中央八项规定精神，无违规违纪行为”)."""
    grams = han_grams([piece], 4)
    return len(grams & draft_grams) / len(grams) if grams else 1.0


def _verify_marks(text: str) -> list[str]:
    """Each VERIFY_MARK with the four characters naming what it stands for (“就诊率达到【待核实】”)."""
    return [text[max(0, m.start() - 4):m.end()] for m in re.finditer(re.escape(VERIFY_MARK), text)]


def _bigrams(s: str) -> set[str]:
    s = re.sub(f"[^{HAN}]", "", s)
    return {s[i:i + 2] for i in range(len(s) - 1)}


_PART_HEADINGS = {"problems": re.compile(r"问题|不足|短板|差距"),
                  "next": re.compile(r"打算|计划|下一步|思路|今后|努力方向")}


def _is_body(line: str) -> bool:
    """A paragraph with sentences (a “（一）小标题。正文” line counts; a bare heading does not)."""
    head, body = split_heading(line)
    return "。" in body or (len(body) > 10 and not head)


def _insert_facts(text: str, missing: list[tuple[str, str]], homes: dict[str, str]) -> str:
    """Add each missing fact piece as a sentence of the paragraph under the sub-heading the
    outline gave it, else of the closest body paragraph of its part."""
    lines = text.split("\n")
    top_rank = min((h[0] for h in map(heading_rank, lines) if h), default=None)
    part_of_line: list[str] = []
    current = "opening"  # lines before the first top heading: title, salutation, opening
    for line in lines:
        h = heading_rank(line)
        if h and h[0] == top_rank:
            current = next((k for k, rx in _PART_HEADINGS.items() if rx.search(h[2][:20])), "")
        part_of_line.append(current)
    body = [i for i, l in enumerate(lines) if _is_body(l)]
    for kind, piece in missing:
        home = next((h for f, h in homes.items() if piece in f), None)
        candidates = ([i for i in body if home and home in lines[i]]
                      or [i for i in body if part_of_line[i] == kind]
                      or [i for i in body if part_of_line[i] != "opening"] or body)
        if not candidates:
            lines.append(piece.rstrip("。；，") + "。")
            continue
        grams = _bigrams(piece)
        best = max(candidates, key=lambda i: len(grams & _bigrams(lines[i])))
        lines[best] = lines[best].rstrip() + piece.rstrip("。；，") + "。"
    return "\n".join(lines)


def _fix_unit_names(text: str, job: _Job) -> str:
    """UNIT-01: self-reference and level words of the requesting unit (unless a fact uses them)."""
    fact_text = "".join(job.facts)
    other = "我委" if job.voice.self_ref == "我局" else "我局"
    if other not in fact_text:
        text = text.replace(other, job.voice.self_ref)
    for level in "县区市":
        if level == job.voice.level:
            continue
        for prefix in "全我本":
            word = prefix + level
            if word not in fact_text:
                text = text.replace(word, prefix + job.voice.level)
    return text


def _chars(text: str) -> int:
    return len(re.sub(r"\s", "", text))


def _trim_to_length(text: str, limit: int, facts: list[str]) -> str:
    """Drop sentences that carry no fact number from the longest paragraphs until the draft
    fits; the first sentence after a heading and every fact sentence stay."""
    fact_values = {t.canonical for f in facts for t in extract_numbers(normalize_for_compare(f))}
    lines = text.split("\n")
    while _chars("\n".join(lines)) > limit:
        best = None
        for i in sorted((i for i, l in enumerate(lines) if _is_body(l)), key=lambda i: -len(lines[i])):
            head, body = split_heading(lines[i])
            sentences = sentences_of(body)
            removable = [k for k, s in enumerate(sentences) if k > 0 and not any(
                t.canonical in fact_values for t in extract_numbers(normalize_for_compare(s)))]
            if removable:
                k = max(removable, key=lambda k: len(sentences[k]))
                lines[i] = head + "".join(sentences[:k] + sentences[k + 1:])
                best = i
                break
        if best is None:
            break
    return "\n".join(lines)


def _foreign_numbers(text: str, job: _Job) -> list[tuple[int, int]]:
    """Spans of numbers whose (value, unit) is in no fact — stricter than FACT-03, which only
    compares values, so “100万元” passes there when a fact says “100%”."""
    allowed = {t.pair for f in job.facts + job.request.key_figures
               for t in extract_numbers(normalize_for_compare(f))}
    allowed_values = {v for v, u in allowed}
    spans = []
    for line_start, line_end in _line_spans(text):
        line = text[line_start:line_end]
        h = heading_rank(line)
        skip = len(line) - len(h[2]) if h else 0          # the heading marker's own ordinal
        for t in extract_numbers(line):
            if t.start < skip or is_year_token(t, line) or t.pair in allowed:
                continue
            if t.unit or t.canonical not in allowed_values:
                spans.append((line_start + t.start, line_start + t.end))
    # the model, told what 【待核实】 means, also puts it where an exemplar had a number
    mark_contexts = {m[-len(VERIFY_MARK) - 2:] for f in job.facts for m in _verify_marks(f)}
    for m in re.finditer(re.escape(VERIFY_MARK), text):
        if text[max(0, m.start() - 2):m.end()] not in mark_contexts:
            spans.append((m.start(), m.end()))
    return spans


def _drop_foreign_numbers(text: str, job: _Job) -> str:
    foreign = [RuleViolation("FACT-03", "blocker", "", "", s, e) for s, e in _foreign_numbers(text, job)]
    return _delete_evidence(text, foreign) if foreign else text


def _deterministic_fixes(text: str, ev: Evaluation, job: _Job) -> str:
    # a 【待核实】 reminder (warn) stays; a minor COPY-01 run is still copied text and goes
    text = _drop_foreign_numbers(_delete_evidence(text, [v for v in ev.violations if v.severity != "warn"]), job)
    text = _restore_missing_facts(_fix_unit_names(text, job), job)
    high = job.request.length_chars[1]
    if _chars(text) > high:
        text = _trim_to_length(text, high, job.facts)
    return clean_draft(text, job.facts)


def _restore_missing_facts(text: str, job: _Job) -> str:
    missing = _missing_facts(text, job.facts)
    return _insert_facts(text, missing, job.homes) if missing else text


def _llm_repair(text: str, ev: Evaluation, job: _Job, stream: bool) -> str:
    """Rewrite only the paragraphs that carry failing violations, quoting them."""
    lines = text.split("\n")
    spans = _line_spans(text)
    by_line: dict[int, list] = {}
    general = []
    for v in _failing(ev):
        if v.start is None or v.rule in DOCUMENT_RULES:
            general.append(v)
            continue
        for i, (s, e) in enumerate(spans):
            if s <= v.start <= e and lines[i].strip():
                by_line.setdefault(i, []).append(v)
                break
    extra = ""
    length = next((v for v in general if v.rule == "LEN-01"), None)
    n_chars = len(re.sub(r"\s", "", text))
    lo, hi = job.request.length_chars
    if length and not by_line:
        # only paragraphs under a sub-heading change length: the title, the opening's lead-in and
        # a problems part (its facts and no more) must stay as they are
        paragraphs = [i for i, l in enumerate(lines) if _is_body(l) and split_heading(l)[0]]
        if n_chars < lo:
            targets = sorted(paragraphs, key=lambda i: len(lines[i]))[:3]
            extra = render("grow", chars=(lo - n_chars) // max(1, len(targets)) + 40)
        else:
            targets = sorted(paragraphs, key=lambda i: -len(lines[i]))[:3]
            extra = render("shrink", chars=(n_chars - hi) // max(1, len(targets)) + 30)
        by_line = {i: [length] for i in targets}
    for i, violations in list(by_line.items())[:4]:
        head, body = split_heading(lines[i])
        if not body.strip():
            continue
        quoted = "\n".join(f"- [{v.rule}] {v.message}" + (f"：“{v.evidence}”" if v.evidence else "")
                           for v in violations)
        answer_tokens = _answer_tokens(len(body) + 80, job.settings)
        facts = _facts_of_paragraph(lines[i], job)
        prompt = render("repair", genre=job.request.genre, violations=quoted,
                        facts=fence(numbered(facts)) if facts else "（无）", text=fence(body), extra=extra)
        if count_tokens(prompt) + answer_tokens > job.settings.llm_context_tokens:
            continue
        fixed = job.chat(prompt, purpose=f"repair:{violations[0].rule}", max_tokens=answer_tokens,
                         stream=stream)
        heading = heading_rank(head)[2].rstrip("。") if head else ""
        fixed = drop_sentences(clean_paragraph(fixed, heading=heading, facts=job.facts), job.off_topic(heading))
        if len(fixed) >= len(body) // 2:  # an answer that lost half the paragraph is not a repair
            lines[i] = head + fixed
    return "\n".join(lines)


def _facts_of_paragraph(line: str, job: _Job) -> list[str]:
    """The facts a repair of this paragraph may use: those the outline put under its heading
    and those it already states. Given every fact, the small model pours all of them into
    whichever paragraph it is repairing."""
    grams = han_grams([normalize_for_compare(line)], 4)
    pairs = {t.pair for t in extract_numbers(normalize_for_compare(line))}
    return [f for f in job.facts
            if (job.homes.get(f) and job.homes[f] in line)
            or any(t.pair in pairs for t in extract_numbers(normalize_for_compare(f)))
            or _wording_kept(normalize_for_compare(f), grams) >= WORDING_KEPT]


def _evaluate(text: str, job: _Job, copy_index) -> Evaluation:
    return evaluate(text, job.request, copy_index)


def _check_and_repair(text: str, job: _Job, rounds_log: list[dict], stream_repairs: bool = False
                      ) -> tuple[str, Evaluation]:
    copy_index = load_copy_index(job.settings)
    job.progress("正在检查…")
    # a fact the model left out goes back in, whether or not a rule notices its absence
    text = clean_draft(_restore_missing_facts(_drop_foreign_numbers(text, job), job), job.facts)
    ev = _evaluate(text, job, copy_index)
    rounds_log.append({"round": 0, "kind": "draft", "score": ev.score, "passed": ev.passed})
    best = (text, ev)
    for _ in range(3):  # each pass can expose the next-longest copied run, say
        text, ev = best
        if not _failing(ev):
            break
        fixed = _deterministic_fixes(text, ev, job)
        if fixed == text:
            break
        ev2 = _evaluate(fixed, job, copy_index)
        rounds_log.append({"round": 0, "kind": "deterministic", "score": ev2.score, "passed": ev2.passed})
        if _rank(ev2) < _rank(ev):
            break
        best = (fixed, ev2)
    for n in range(1, REPAIR_ROUNDS + 1):
        text, ev = best
        if not _failing(ev):
            break
        job.progress(f"正在修改第{n}轮…")
        candidate = _llm_repair(text, ev, job, stream_repairs)
        candidate = clean_draft(candidate, job.facts)
        cand_ev = _evaluate(candidate, job, copy_index)
        candidate2 = _deterministic_fixes(candidate, cand_ev, job)
        if candidate2 != candidate:
            candidate, cand_ev = candidate2, _evaluate(candidate2, job, copy_index)
        rounds_log.append({"round": n, "kind": "llm", "score": cand_ev.score, "passed": cand_ev.passed})
        if _rank(cand_ev) > _rank(ev):
            best = (candidate, cand_ev)
    text, ev = best
    left = _failing(ev)
    if left:
        job.notices.append("修改后仍有问题需人工处理：" + "；".join(
            f"[{v.rule}] {v.message}" for v in left[:6]) + ("等" if len(left) > 6 else "") + "。")
    written, (least, _most) = nonspace_len(text), job.request.length_chars
    if written < least and any(v.rule == "LEN-01" for v in ev.violations):
        # what the model wrote beyond the facts was removed, so say what would make it longer
        job.notices.append(f"草稿{written}字，少于要求的{least}字：{len(job.facts)}条事实撑不起这个篇幅，"
                           "模型补写的无事实依据的内容已删去，没有用空话凑字数。请补充事实（具体做法、数字、"
                           "典型事例），或调低目标字数。")
    return text, ev


# --- public API -----------------------------------------------------------------------------------

def _default_retriever(settings: Settings, progress: Progress) -> Retriever:
    from rag.ingest import ensure_seed_index
    from rag.retrieve import retrieve_exemplars
    ensure_seed_index(settings, progress=progress)

    def retrieve(query: str, genre: str, role: str | None, k: int) -> list[Exemplar]:
        return retrieve_exemplars(query, genre=genre, role=role, k=k, settings=settings)
    return retrieve


def _job(request: DraftRequest, settings: Settings, llm, on_token: TokenSink | None,
         progress: Progress | None) -> _Job:
    """Check the facts (injection, conflicts) and set up one drafting job."""
    if llm is None:
        from rag.llm import get_llm
        llm = get_llm(settings)
    classes = classify_facts(request)
    notices = [f"已忽略一条像是指令的事实，不作为起草内容：“{f[:60]}”" for f in classes.injection]
    facts = [f.strip() for f in classes.mandatory + classes.overlong]
    conflicts = find_conflicts(facts)
    for c in conflicts:
        notices.append(c.message() + f"草稿中两个数值都没有使用，已在该处写“{VERIFY_MARK}”，请核实后填写。")
    if conflicts:
        facts = _without_conflicting_values(facts, conflicts)
    return _Job(request=request, settings=settings, llm=llm, guide=genre_guide(request.genre),
                voice=unit_voice(request.unit), facts=facts, retriever=_no_exemplars,
                on_token=on_token, progress=progress or (lambda _msg: None), notices=notices)


def _no_exemplars(query: str, genre: str, role: str | None, k: int) -> list[Exemplar]:
    return []


def draft_report(request: DraftRequest, settings: Settings, *, llm=None,
                 on_token: TokenSink | None = None, progress: Progress | None = None,
                 retriever: Retriever | None = None) -> DraftResult:
    """Draft `request.section` (or the whole report) from the request's facts.

    Conflicting facts are reported in `notices` and drafting continues with neither value;
    injection-like facts are dropped with a notice; with no usable facts nothing is drafted and
    the notice lists the data needed. `retriever(query, genre, role, k)` defaults to the hybrid
    index (seeded on first use).
    """
    job = _job(request, settings, llm, on_token, progress)
    parts = requested_parts(request.genre, request.section)
    if not job.facts:
        return DraftResult(draft="", notices=job.notices + [_ask_for_facts(request, parts)])
    job.progress("正在检索范文…")
    job.retriever = retriever or _default_retriever(settings, job.progress)
    routed = route_facts(job.facts, parts)
    outlines: dict[str, Outline] = {}
    for pf in routed:
        if pf.part.layout == "items":
            outlines[pf.part.key] = (_draft_outline(job, pf) if pf.facts else
                                     Outline([OutlineItem(job.fill(pf.part.title) or pf.part.role, [])],
                                             source="fallback"))
    text = clean_draft(_compose(job, routed, outlines), job.facts)
    rounds: list[dict] = []
    text, ev = _check_and_repair(text, job, rounds)
    outline_json = [{"part": pf.part.key, "facts": pf.facts,
                     "items": [{"heading": it.heading, "facts": outlines[pf.part.key].facts_of(it, pf.facts)}
                               for it in outlines[pf.part.key].items] if pf.part.key in outlines else [],
                     "source": outlines[pf.part.key].source if pf.part.key in outlines else ""}
                    for pf in routed]
    return DraftResult(draft=text, sources=job.sources, evaluation=ev, notices=job.notices,
                       outline=outline_json, rounds=rounds)


def repair_draft(request: DraftRequest, draft: str, settings: Settings, *, llm=None,
                 on_token: TokenSink | None = None) -> DraftResult:
    """Deterministic fixes, then up to two targeted LLM passes quoting the violations."""
    job = _job(request, settings, llm, on_token, None)
    rounds: list[dict] = []
    text, ev = _check_and_repair(clean_draft(draft, job.facts), job, rounds, stream_repairs=True)
    return DraftResult(draft=text, evaluation=ev, notices=job.notices, rounds=rounds)


_PART_REF = re.compile(r"第([一二三四五六七八九十\d]+)(?:部分|节|章|段)")


def _revision_target(draft: str, instruction: str) -> tuple[int, int]:
    """Line range the instruction is about: “第二部分” → the second top-level block, a heading
    quoted in the instruction → its block; otherwise the whole draft."""
    lines = draft.split("\n")
    heads = [(i, heading_rank(l)) for i, l in enumerate(lines)]
    heads = [(i, h) for i, h in heads if h]
    if not heads:
        return 0, len(lines)
    top = min(h[0] for _, h in heads)
    tops = [i for i, h in heads if h[0] == top]
    m = _PART_REF.search(instruction)
    if m:
        raw = m.group(1)
        n = int(raw) if raw.isdigit() else parse_chinese_numeral(raw)
        if n and 1 <= n <= len(tops):
            start = tops[n - 1]
            end = tops[n] if n < len(tops) else len(lines)
            return start, end
    for i, h in heads:
        title = h[2].split("。")[0]
        if len(title) >= 4 and title[:6] in instruction:
            nxt = [j for j, hh in heads if j > i and hh[0] <= h[0]]
            return i, nxt[0] if nxt else len(lines)
    return 0, len(lines)


def revise_draft(request: DraftRequest, draft: str, instruction: str, settings: Settings, *,
                 llm=None, on_token: TokenSink | None = None) -> DraftResult:
    """Apply a follow-up instruction (“第二部分再精炼一些”) to the part it names, then check."""
    job = _job(request, settings, llm, on_token, None)
    lines = draft.split("\n")
    start, end = _revision_target(draft, instruction)
    target = "\n".join(lines[start:end]).strip()
    answer_tokens = _answer_tokens(len(target) + 200, settings)
    prompt = render("revise", genre=request.genre, instruction=fence(instruction),
                    facts=fence(numbered(job.facts)) if job.facts else "（无）", text=fence(target))
    if count_tokens(prompt) + answer_tokens + count_tokens(job.system["content"]) > settings.llm_context_tokens:
        raise LLMError("要修改的内容太长，超出了模型一次能处理的长度，请指明修改哪一部分（如“第二部分…”）。")
    revised = job.chat(prompt, purpose="revise", max_tokens=answer_tokens, stream=True)
    revised = clean_draft(revised, job.facts)
    text = clean_draft("\n".join(lines[:start] + [revised] + lines[end:]), job.facts)
    rounds: list[dict] = []
    text, ev = _check_and_repair(text, job, rounds)
    return DraftResult(draft=text, evaluation=ev, notices=job.notices, rounds=rounds)
