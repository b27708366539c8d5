"""The plan of a draft, made before anything is written and shown to the user: parts →
sub-headings → the facts under each, with a character budget per part, per sub-heading and per
fact. The user may move facts and reword headings; `draft_report(..., plan=...)` writes the plan
it is given.

Facts are grouped by meaning (embeddings of the facts, or character pairs when no embedder is
at hand); headings are written by the model from their own facts and validated, with a
deterministic heading from the genre's patterns when the model's is unusable.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from string import Template
from typing import Any

import numpy as np

from rag.text import NUMBER_RE, PERIOD_LEAD_RE, char_pairs, han_count, pair_key, sentence_key
from rag.factsheet import FactSheet
from rag.normalize import fact_label, is_record
from rag.prompting import GenreGuide, PartSpec, echoes_prompt, generic_pairs, word_re, work_kind
from rag.schema import WHOLE_REPORT, DraftRequest
from rag.textnorm import HAN, normalize_for_compare
from rag.validation import PlanFields, PlanItemFields, PlanPartFields, validate_plan_fields

HEADING_CHARS = (4, 24)
OPENING_CHARS = 170      # the phrase-bank opening, the overview of the year's work, the lead-in
TITLE_CHARS = 22
PART_LEAD_CHARS = 40     # a paragraph part's lead sentence (“在肯定成绩的同时…”)
PARAGRAPH_FACT_SHARE = 2.0
MEASURES_CHARS = 160
# The paragraph a sub-heading reads best with: long enough for the work, its 做法 and 成效 (the
# hand-written good drafts run 170–350 characters a sub-heading).
ITEM_CHARS = 260
Embed = Callable[[Sequence[str]], np.ndarray]


@dataclass
class PlanItem:
    heading: str
    fact_ids: list[int]
    budget: int = 0                 # characters of the paragraph under this heading
    heading_source: str = ""        # "model" | "pattern" | "user"

    @classmethod
    def from_fields(cls, f: PlanItemFields) -> "PlanItem":
        return cls(heading=f.heading, fact_ids=list(f.fact_ids), budget=f.budget, heading_source=f.heading_source)


@dataclass
class PlanPart:
    key: str
    title: str              # numbered heading (“存在问题”), "" for the opening/salutation/closing
    layout: str             # salutation | opening | items | paragraph | closing
    number: int = 0         # 一、二、… in the genre's numbering; 0 = not numbered
    budget: int = 0
    fact_ids: list[int] = field(default_factory=list)
    items: list[PlanItem] = field(default_factory=list)

    @classmethod
    def from_fields(cls, f: PlanPartFields) -> "PlanPart":
        return cls(key=f.key, title=f.title, layout=f.layout, number=f.number, budget=f.budget,
                   fact_ids=list(f.fact_ids), items=[PlanItem.from_fields(i) for i in f.items])


@dataclass
class ReportPlan:
    genre: str
    section: str
    title: str              # "" for a section draft
    parts: list[PlanPart] = field(default_factory=list)
    per_fact: int = 0       # characters a fact is worth in an items part
    request_fingerprint: str = ""   # DraftRequest.fingerprint() of the request it was made for

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Any) -> "ReportPlan":
        """A plan from its JSON, checked against the plan schema (RequestError naming the field)."""
        return cls.from_fields(validate_plan_fields(d))

    @classmethod
    def from_fields(cls, f: PlanFields) -> "ReportPlan":
        return cls(genre=f.genre, section=f.section, title=f.title, parts=[PlanPart.from_fields(p) for p in f.parts],
                   per_fact=f.per_fact, request_fingerprint=f.request_fingerprint)

    def dumps(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    def fact_home(self) -> dict[int, tuple[str, str]]:
        """fact id → (part key, sub-heading or "")."""
        home: dict[int, tuple[str, str]] = {}
        for p in self.parts:
            for i in p.fact_ids:
                home[i] = (p.key, "")
            for it in p.items:
                for i in it.fact_ids:
                    home[i] = (p.key, it.heading)
        return home

    def describe(self, request: DraftRequest | None = None) -> str:
        """The plan as a clerk reads it (CLI, app); part titles filled from `request` when given."""
        lines = [self.title] if self.title else []
        for p in self.parts:
            if p.title:
                title = part_title(p.title, request) if request is not None else p.title
                lines.append(f"{_numeral(p.number)}、{title}（约{p.budget}字）")
            elif p.layout == "opening":
                lines.append(f"开头（约{p.budget}字）")
            for n, it in enumerate(p.items, 1):
                lines.append(f"  （{_numeral(n)}）{it.heading}（约{it.budget}字）：事实 "
                             + "、".join(str(i) for i in it.fact_ids))
            if p.fact_ids:
                lines.append("  事实 " + "、".join(str(i) for i in p.fact_ids))
        return "\n".join(lines)


def part_title(title: str, request: DraftRequest) -> str:
    """A part title with the request's values in it (“${next_year}年工作打算” → “2025年工作打算”):
    genres.toml writes titles as templates, and no template text may reach the page."""
    return Template(title).safe_substitute(unit=request.unit, year=str(request.year), genre=request.genre,
                                           next_year=str(request.year + 1), topic=request.topic or "")


def _numeral(n: int) -> str:
    from rag.textnorm import chinese_numeral
    return chinese_numeral(n)


def validate_plan(plan: ReportPlan, sheet: FactSheet) -> list[str]:
    """Problems of a (user-edited) plan, in Chinese; empty when it can be written."""
    problems = []
    seen: dict[int, str] = {}
    known = {f.id for f in sheet.facts}
    for p in plan.parts:
        for it in p.items:
            if not it.heading.strip():
                problems.append(f"“{p.title or p.key}”下有一个小标题为空。")
            elif re.search(r"\d", it.heading):
                problems.append(f"小标题“{it.heading}”含有数字，数字请写在事实里。")
        for i in p.fact_ids + [i for it in p.items for i in it.fact_ids]:
            if i not in known:
                problems.append(f"提纲引用了不存在的事实 {i}。")
            elif i in seen:
                problems.append(f"事实 {i} 被安排了两次（{seen[i]}、{p.title or p.key}）。")
            seen[i] = p.title or p.key
    missing = sorted(known - set(seen))
    if missing:
        problems.append("事实 " + "、".join(map(str, missing)) + " 没有安排到任何部分。")
    return problems


# --- grouping by meaning ---------------------------------------------------------------------------

def _pair_vectors(texts: Sequence[str]) -> np.ndarray:
    """Bag of character pairs, normalised: a meaning proxy that needs no model."""
    keys = [char_pairs(sentence_key(normalize_for_compare(t))) for t in texts]
    vocab = {g: i for i, g in enumerate(sorted(set().union(*keys)))} if keys else {}
    m = np.zeros((len(texts), max(1, len(vocab))), dtype=np.float32)
    for r, k in enumerate(keys):
        for g in k:
            m[r, vocab[g]] = 1.0
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms == 0, 1.0, norms)


def group_by_meaning(texts: Sequence[str], k: int, embed: Embed | None = None,
                     kinds: Sequence[str] = ()) -> list[list[int]]:
    """Indexes of `texts` in `k` groups of similar meaning (average-link agglomeration on cosine
    similarity), each group in fact order and the groups ordered by their first fact, so the
    draft follows the order the user gave. `kinds` (a work kind per text, from a record) draws
    the texts of one kind together: a record's rows are months, a report's groups are works."""
    n = len(texts)
    if n == 0:
        return []
    k = max(1, min(k, n))
    vecs = np.asarray(embed(texts), dtype=np.float32) if embed else _pair_vectors(texts)
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    vecs = vecs / np.where(norms == 0, 1.0, norms)
    # Similarity sums between groups, updated as groups merge: a split record gives 60+ facts,
    # and recomputing every pair's mean each round grew with the cube of that.
    sums = (vecs @ vecs.T).astype(np.float64)
    if kinds:
        same = np.array([[bool(a) and a == b for b in kinds] for a in kinds])
        sums += KIND_BONUS * same
    sizes = np.ones(n)
    groups = [[i] for i in range(n)]
    while len(groups) > k:
        m = len(groups)
        # keep groups small enough to write one paragraph about
        score = sums / np.outer(sizes, sizes) - 0.02 * (sizes[:, None] + sizes[None, :])
        score[np.tril_indices(m)] = -np.inf
        best = int(np.argmax(score))
        a, b = divmod(best, m) if score.flat[best] > -2.0 else (0, 1)
        groups[a] = sorted(groups[a] + groups[b])
        groups.pop(b)
        sums[a, :] += sums[b, :]
        sums[:, a] += sums[:, b]
        sums = np.delete(np.delete(sums, b, axis=0), b, axis=1)
        sizes[a] += sizes[b]
        sizes = np.delete(sizes, b)
    return sorted(groups, key=lambda g: g[0])


# Similarity added between two pieces of a record that report the same kind of work: enough to
# outweigh the month and place words rows share, not the meaning of two different works.
KIND_BONUS = 0.5


def item_count(n_facts: int, part: PartSpec, chars: int) -> int:
    """As many sub-headings as the part's length holds paragraphs of about ITEM_CHARS, within the
    genre's bounds and never more than the facts (a group holds at least one)."""
    if n_facts == 0:
        return 0
    lo = min(part.min_items, n_facts)
    return max(lo, min(part.max_items, n_facts, round(chars / ITEM_CHARS) or 1))


# --- headings ------------------------------------------------------------------------------------

# Runs that two facts share without being what they are about: scope, time, quantity and verbs.
# 卫生健康 is in every report this product drafts: a heading around it names no work.
_STOP_RUNS = re.compile("全(?:县|市|区|州|旗|省|镇|院)|我(?:局|委|院|中心)|卫生健康|开展|工作|进一步|完成|实现|推进|加强|达到|提高|同比"
                        "|其中|累计|不少于|不低于|以上|以下|上半年|下半年|全年|年底|年内|今年|比上年|个百分点")


def heading_keyword(facts: Sequence[str]) -> str:
    """The longest run of Han characters (3–8) that at least two of the facts share: the words a
    deterministic heading is built around ("" when they share none; the topic is used then)."""
    texts = [NUMBER_RE.sub("，", normalize_for_compare(f)) for f in facts]   # a figure and its unit
    if len(texts) >= 2:
        for size in range(8, 2, -1):
            counts: dict[str, int] = {}
            for t in texts:
                runs = {r[i:i + size] for r in re.findall(f"[{HAN}]+", t) for i in range(len(r) - size + 1)}
                for r in runs:
                    counts[r] = counts.get(r, 0) + 1
            # one object of a list (“重点查看库房、锅炉房和食堂”) is not the work the facts share
            shared = [r for r, c in counts.items() if c >= 2 and not _STOP_RUNS.search(r)
                      and not all(re.search(f"[、和及与]{r}|{r}[、和及与等]", t) for t in texts if r in t)]
            if shared:
                return max(shared, key=lambda r: (counts[r], -texts[0].find(r) if r in texts[0] else -99))
    return ""


# A shared run of characters can stop inside a word (“二级以上” → “二级以”): these never end a name.
_RUN_TAIL = re.compile("[以上下的和及与等或、在对为]+$")
# Words a heading's object can end on; any other object reads better as “…工作” (“持续深化应急工作”).
_OBJECT_WORDS = ("(?:工作|建设|管理|服务|体系|机制|能力|水平|改革|项目|行动|防控|防治|监管|保障|治理|发展"
                 "|整治|排查|检查|演练|培训|整改|宣传|督查|巡查)")
_OBJECT_END = re.compile(_OBJECT_WORDS + "$")
# Verbs a fact opens on; what follows them is the object a pattern heading can name.
# 在 leads a place or time (“在全县…”), not a word it begins (在册, 在岗, 在编: “在岗乡村医生”)
_LEADING_VERB = re.compile("^(?:以上|以下|以内|为|对|在(?![册岗编院校建职读管])|向|以|给|从|"
                           "新建|新增|建成|建立|完成|开展|组织|实施|推进|推动|落实|举办|召开|培训|招录|引进|投入|"
                           "争取|下达|印发|出台|制定|组建|设立|创建|打造|启动|深化|加强|强化|提升|提高|扩大|全面|持续|"
                           "累计|共|全年|全县|全市|全区|今年|计划|拟|力争|确保|将|要)+")
_INNER_VERB = re.compile("开展|实施|组织|落实|推进|完成|举办|启动|建立|建成|推行|签订|通过|获得|荣获|获批|争创|创建")
# Han characters a clause may carry after its first figure for the words before it to name the work
# (“组建区级卫生应急队伍4支” names it; “联合县教育局对全县48所中小学开展…检查” does not).
LEAD_TAIL_HAN = 5


def _without_tail(lead: str) -> str:
    """Words before a figure, less the words that only led to it (达到、保持在、等、的 …)."""
    while True:
        shorter = word_re("heading_tail").sub("", lead)
        if shorter == lead:
            return lead
        lead = shorter


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
    lead = _without_tail(clause[:m.start()])
    return "" if word_re("heading_metric_end").search(lead) or word_re("heading_counted_end").search(lead) else lead


def _work_object(facts: Sequence[str], kind: str = "") -> str:
    """A name for the work a group of facts reports: the longest run two of them share when it
    names a work (“疏散演练”, or “随访问题” as a fact says its work: “随访问题整改”), else the
    object of a fact's first clause (its words after the verb, before any figure), else the shared
    run however it ends (“乡镇卫生院” is who, not what was done)."""
    shared = _RUN_TAIL.sub("", heading_keyword(facts))
    if len(shared) >= 3:
        if _OBJECT_END.search(shared):
            return shared
        work = [m.group(0) for f in facts
                for m in re.finditer(f"{re.escape(shared)}[{HAN}]{{0,2}}?{_OBJECT_WORDS}(?![人员者])",
                                     normalize_for_compare(f))]
        if work:
            return min(work, key=len)
    if kind:
        return kind     # the pieces of a record, one kind of work in several months
    for fact in facts:
        bare = re.sub(r"[（(][^）)]*[）)]", "", normalize_for_compare(fact))    # “6个县（市、区）”
        bare = PERIOD_LEAD_RE.sub("", bare)                                      # “3月，启动…”
        clause = re.split(r"[，；。：:]", bare, maxsplit=1)[0]
        runs = re.findall(f"[{HAN}]+", NUMBER_RE.sub("，", clause)) or [""]
        # the run that holds the clause's verb names the work (“由分管领导带队分3组开展节后督查”)
        run = max(runs, key=lambda r: (bool(_INNER_VERB.search(r)), len(r)))
        # “幼儿园开展托班卫生检查”: the work is what follows the run's verb
        tail = _INNER_VERB.split(run)[-1]
        run = tail if len(tail) >= 3 else run
        obj = _RUN_TAIL.sub("", _LEADING_VERB.sub("", run))
        obj = word_re("heading_tail").sub("", obj)
        if re.search(f"(?:{_INNER_VERB.pattern})$", obj):
            continue    # “汛期各乡镇卫生院落实”: a verb ends it, its object is elsewhere
        if 3 <= len(obj) <= HEADING_CHARS[1] - 6 and not word_re("heading_metric_end").search(obj):
            return obj
    return shared if len(shared) >= 3 else ""


def _metric_of(facts: Sequence[str]) -> str:
    """The metric a fact's first figure is on (“县域内就诊率达到91.3%” → “县域内就诊率”), scope
    words aside, when it can stand in a heading; "" otherwise."""
    for fact in facts:
        clause = re.split(r"[，；。：:]", re.sub(r"[（(][^）)]*[）)]", "", normalize_for_compare(fact)), maxsplit=1)[0]
        m = re.search(r"\d", clause)
        if not m:
            continue
        lead = clause[:m.start()]
        lead = _without_tail(lead)
        lead = re.sub(r"^(?:全县|全市|全区|全省|全镇|全旗|全州|全院|辖区|我县|我市|我区)", "", lead)
        if word_re("heading_metric_end").search(lead) and 3 <= len(lead) <= HEADING_CHARS[1] - 4:
            return lead
    return ""


def names_no_work(fact: str) -> bool:
    """An honour or an outcome (“被评为…先进单位”, “未发生…事故”) says what the work brought, not
    what was done: it never names a sub-heading (a heading “被评为先进单位” is the fact again)."""
    from evals.rules.claims import find_claims
    # “实现村卫生室全覆盖”, “新建…并投入使用” are outcomes that name their work: only the ones
    # that say something did not happen name none
    return any(c.kind == "honour" or c.kind == "outcome" and re.match("未|没有|无|零", c.text)
               for c in find_claims(normalize_for_compare(fact)))


def pattern_heading(guide: GenreGuide, n: int, facts: Sequence[str], topic: str, kind: str = "") -> str:
    """A heading from the genre's patterns (genres.toml fallback_headings) filled with the work its
    own facts report; the work a fact names before its figure when no object can be found; the
    topic last; `kind` names the work of a record's pieces of one kind when they share no words.
    Never a heading that fits any report (“着力加强重点工作”)."""
    facts = [f for f in facts if not names_no_work(f)] or list(facts)
    # a fact that opens on its verb names its work best (“查处收受‘红包’、回扣等问题”), a pattern
    # around the work's object next, the topic last; in a group of one kind of work, only a fact
    # of that kind names it
    lead = next((lead for f in facts if (lead := fact_lead_heading(f))
                 and (not kind or work_kind(normalize_for_compare(f)) == kind)), "")
    if HEADING_CHARS[0] <= len(lead) <= HEADING_CHARS[1] and word_re("lead_phrase").match(lead + "。"):
        return lead
    word = _work_object(facts, kind)
    if not word:
        if HEADING_CHARS[0] <= len(lead) <= HEADING_CHARS[1]:
            return lead
        metric = _metric_of(facts)
        if metric:
            return Template(guide.metric_heading).safe_substitute(metric=metric)
        word = topic or "年度目标任务"
    template = guide.fallback_headings[n % len(guide.fallback_headings)]
    if not _OBJECT_END.search(word):
        word += "工作"
    return Template(template).safe_substitute(topic=word).replace("工作工作", "工作")


def _content_chars(text: str) -> set[str]:
    """The Han characters of a text that are not in the words every report uses: “严查快处” and
    “查处” share 查 and 处, a heading and its facts say the same work in other words."""
    common = set("".join(generic_pairs()))
    return {c for c in normalize_for_compare(text) if "\u4e00" <= c <= "\u9fff"} - common - set("的了和与及等在对为将把")


def heading_problem(heading: str, facts: Sequence[str], guide: GenreGuide, taken: Sequence[str] = (),
                    others: Sequence[str] = ()) -> str:
    """Why a heading cannot be used ("" when it can): length, digits, a name cut open, our prompt's
    words, copied style example, no word of its own facts' work, a fact of its part (`others`: the
    part's other facts) restated or its label (“检查方式：”), an honour or outcome as the work, or
    the same opening as another heading of its part."""
    h = heading.strip()
    if not HEADING_CHARS[0] <= len(h) <= HEADING_CHARS[1] or not re.search(f"[{HAN}]", h):
        return "长度不合适"
    if re.search(r"[\d〔〕<>{}\[\]#*【】]", h):
        return "含有数字或符号"
    if h.count("“") != h.count("”") or h.count("《") != h.count("》"):
        return "名称不完整"
    if h in guide.heading_style or echoes_prompt(h):
        return "照抄了写法示例或提示"
    if word_re("heading_metric_end").search(h) and not word_re("lead_phrase").match(h):
        return "只是指标名称，没有说做了什么工作"
    if word_re("heading_counted_end").search(h):
        return "说的是统计的对象，没有说做了什么工作"
    own = set().union(*(pair_key(f) for f in facts)) if facts else set()
    if not (pair_key(h) - generic_pairs()) & own and len(_content_chars(h) & _content_chars("".join(facts))) < 2:
        return "与所辖事实无关"
    hk = sentence_key(normalize_for_compare(h))
    for f in [*facts, *others]:
        fk = sentence_key(normalize_for_compare(f))
        if hk and hk in fk and len(hk) >= 0.8 * len(fk):
            return "照抄了事实"
        label = fact_label(normalize_for_compare(f))
        if label and sentence_key(label.text) == hk:
            return "照抄了事实的标签"
    if names_no_work(h):
        return "是荣誉或结果，不是所做的工作"
    from evals.rules.claims import hollow_phrases   # the checker's list; evals imports rag at load
    if hollow_phrases(h):
        return "是空泛的评价，不是所做的工作"
    # the model's headings drift one group along: a heading that says another group's fact
    # better than any of its own heads the wrong paragraph
    hp = pair_key(h) - generic_pairs()
    mine = max((len(hp & pair_key(f)) for f in facts), default=0)
    if others and max(len(hp & pair_key(f)) for f in others) >= max(2, 2 * mine):
        return "说的是别的小标题下的事实"
    for other in taken:
        if other and (other == h or other[:2] == h[:2]):
            return "与同一部分的小标题开头相同"
    return ""


def clean_heading(text: str) -> str:
    text = re.sub(r"^[（(]?[一二三四五六七八九十\d]+[）)、.．]\s*", "", str(text).strip())
    # single quotes are the model's stand-in for Chinese ones (CLEAN-03 reads them as garbage)
    text = re.sub(r"[‘']([^‘’']+)[’']", r"“\1”", text)
    if text.startswith("“") and text.endswith("”") and text.count("“") == 1:
        text = text[1:-1]   # a heading quoted whole; a quoted name inside one stays quoted
    return text.strip("\"'《》 ").rstrip("。；;，,")


# --- budgets and the plan ------------------------------------------------------------------------

def make_plan(request: DraftRequest, sheet: FactSheet, parts: list[PartSpec], guide: GenreGuide,
              title: str, embed: Embed | None = None) -> ReportPlan:
    """Parts, groups and budgets: the paragraph parts take what their facts and the words around
    them need, the items parts share the rest, and an items part gets as many sub-headings as its
    share holds paragraphs. Headings are patterns until the model's are validated."""
    plan = ReportPlan(genre=request.genre, section=request.section, title=title,
                      request_fingerprint=request.fingerprint())
    numbered = [p.key for p in guide.parts if p.title]
    specs = {}
    for spec in parts:
        ids = [f.id for f in sheet.facts if f.part == spec.key]
        number = numbered.index(spec.key) + 1 if spec.key in numbered else 0
        # an items part's facts are grouped below, once its length is known
        part = PlanPart(key=spec.key, title=spec.title, layout=spec.layout, number=number, fact_ids=ids)
        specs[spec.key] = spec
        plan.parts.append(part)
    shares = _item_shares(plan, sheet, request)
    for part in (p for p in plan.parts if p.layout == "items"):
        ids, part.fact_ids = part.fact_ids, []
        share = shares[part.key]
        k = item_count(len(ids), specs[part.key], share)
        kinds = _record_kinds(request, sheet, ids)
        groups = group_by_meaning(sheet.texts(ids), k, embed, list(kinds.values())) if ids else []
        part.items = [PlanItem(heading="", fact_ids=[ids[i] for i in g]) for g in groups]
        taken: list[str] = []
        for n, it in enumerate(part.items):
            # the kind at least half of the group's facts report names it
            named = [kinds[i] for i in it.fact_ids if kinds.get(i)]
            kind = max(named, key=named.count) if named else ""
            kind = kind if 2 * named.count(kind) >= len(it.fact_ids) else ""
            it.heading = _distinct(pattern_heading(guide, n, sheet.texts(it.fact_ids), request.topic, kind),
                                   guide, n, taken)
            it.heading_source = "pattern"
            taken.append(it.heading)
        _share_out(part, share)
    _set_per_fact(plan)
    return plan


def _record_kinds(request: DraftRequest, sheet: FactSheet, ids: Sequence[int]) -> dict[int, str]:
    """The work kind of each fact, when a pasted record gave some of them (else nothing: typed
    facts group by their own words)."""
    lines = [f for f in request.facts if f.strip()]
    if not any(0 < sheet.by_id(i).source <= len(lines) and is_record(lines[sheet.by_id(i).source - 1].strip())
               for i in ids):
        return {}
    return {i: work_kind(normalize_for_compare(sheet.by_id(i).text)) for i in ids}


def rebudget(plan: ReportPlan, sheet: FactSheet, request: DraftRequest) -> None:
    """Budgets again for the groups as they are, after the user moved facts or reworded headings:
    a sub-heading's share follows its facts."""
    shares = _item_shares(plan, sheet, request)
    for part in (p for p in plan.parts if p.layout == "items"):
        _share_out(part, shares[part.key])
    _set_per_fact(plan)


def _item_shares(plan: ReportPlan, sheet: FactSheet, request: DraftRequest) -> dict[str, int]:
    """Characters of each items part: what the other parts leave of the middle of the range,
    shared by facts (one more for each part). Sets the other parts' budgets."""
    lo, hi = request.length_chars
    rest = max(0, (lo + hi) // 2 - _set_fixed_budgets(plan, sheet, request))
    weights = {p.key: len(p.fact_ids) + sum(len(it.fact_ids) for it in p.items) + 1
               for p in plan.parts if p.layout == "items"}
    return {key: rest * w // max(1, sum(weights.values())) for key, w in weights.items()}


def _share_out(part: PlanPart, share: int) -> None:
    # a heading and its marker are part of the length too
    body = max(0, share - sum(len(it.heading) + 4 for it in part.items))
    total_weight = sum(1 + len(it.fact_ids) for it in part.items) or 1
    for it in part.items:
        it.budget = body * (1 + len(it.fact_ids)) // total_weight
    part.budget = sum(it.budget for it in part.items)


def _set_per_fact(plan: ReportPlan) -> None:
    items_parts = [p for p in plan.parts if p.layout == "items"]
    n_facts = sum(len(it.fact_ids) for p in items_parts for it in p.items)
    plan.per_fact = sum(p.budget for p in items_parts) // n_facts if n_facts else 0


def _distinct(heading: str, guide: GenreGuide, n: int, taken: list[str]) -> str:
    """A pattern heading whose opening words another heading of the part already has takes the
    next pattern's verb (“扎实推进…” twice → “着力加强…”)."""
    for shift in range(len(guide.fallback_headings)):
        if not any(t[:2] == heading[:2] for t in taken):
            return heading
        verb = re.match(r"[^$]*", guide.fallback_headings[(n + shift + 1) % len(guide.fallback_headings)]).group(0)
        old = re.match(r"[^$]*", guide.fallback_headings[(n + shift) % len(guide.fallback_headings)]).group(0)
        if heading.startswith(old) and verb:
            heading = verb + heading[len(old):]
    return heading


def _set_fixed_budgets(plan: ReportPlan, sheet: FactSheet, request: DraftRequest) -> int:
    """Budgets of the parts that are not sub-headed, and what they and the titles take in all: a
    problem or plan fact with its cause or measures is about PARAGRAPH_FACT_SHARE of its length;
    a next-steps or safeguards part without facts gets a few measures."""
    fixed = TITLE_CHARS if request.section == WHOLE_REPORT else 0
    for p in plan.parts:
        if p.layout == "opening":
            p.budget = OPENING_CHARS
        elif p.layout == "paragraph":
            texts = sheet.texts(p.fact_ids)
            p.budget = PART_LEAD_CHARS + (sum(int(len(t) * PARAGRAPH_FACT_SHARE) for t in texts) if texts
                                          else MEASURES_CHARS if p.key in ("next", "safeguards") else 0)
        elif p.layout in ("salutation", "closing"):
            p.budget = 10
        if p.layout != "items":
            fixed += p.budget
        fixed += len(p.title) + 2 if p.title else 0
    return fixed
