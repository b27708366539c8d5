"""起草提纲: the plan a draft follows, shown and editable, and part of the document.

The plan is saved with the 文稿 (SessionStore.save_plan) when 先看提纲 makes it, on every edit
(a reworded sub-heading, facts moved by editing their numbers) and after every draft (the plan
that draft followed, with the model's headings), so a reload or a second browser shows it with
its edits, and 编辑提纲 stays available after the first draft. 起草 and 继续起草 follow it while
it fits the request (same genre, section, year and facts); each sub-heading shows its character
budget, recomputed when facts move. Part titles are filled from the request (rag.plan.part_title).

补充材料 before drafting: a sub-heading whose facts are thin for its budget (what the drafter
would mark 【待补充】 if the model added nothing) has a box for the clerk's answer; the answer
becomes a fact placed under that sub-heading (事实材料 gets the line too). After a draft, material
given for a 【待补充】 place is placed the same way in the version's plan and the saved one.

Owns the session-state keys plan_* and _plan_notice (what a 补充 under a sub-heading could not do).
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import streamlit as st

from rag.compose import SHORT_SHARE, Block
from rag.draft import DraftResult, PlanError, find_block, plan_draft
from rag.errors import RequestError
from rag.factsheet import Fact, FactSheet, analyse_facts
from rag.normalize import normalize_facts, parse_request
from rag.plan import ReportPlan, part_title, rebudget, validate_plan
from rag.prompting import requested_parts
from rag.schema import DraftRequest
from rag.sessions import SessionStore
from rag.text import nonspace_len

KIND_LABEL = {"achievement": "成绩", "problem": "问题", "plan": "打算", "safeguard": "保障"}
NO_HEADING = "（不分小标题）"


def _fit_key(request: dict[str, Any]) -> tuple:
    """What a plan's groups depend on: the facts it places and what decides their parts. The
    unit and the length change only its budgets (`refit`)."""
    return (request.get("genre"), request.get("section"), request.get("year"),
            list(request.get("facts", [])), list(request.get("confirmed_facts", [])))


def fits(saved: dict[str, Any] | None, request: DraftRequest) -> bool:
    return bool(saved) and _fit_key(saved["request"]) == _fit_key(request.to_dict())


def refit(store: SessionStore, sid: str, saved: dict[str, Any], request: DraftRequest) -> dict[str, Any]:
    """A fitting plan made for another unit name or length: budgeted again for this request and
    saved as belonging to it (its fingerprint), edits kept."""
    plan = ReportPlan.from_dict(saved["plan"])
    if plan.request_fingerprint == request.fingerprint():
        return saved
    rebudget(plan, sheet_of(saved), request)
    plan.request_fingerprint = request.fingerprint()
    saved = {**saved, "plan": plan.to_dict(), "request": request.to_dict()}
    store.save_plan(sid, saved)
    return saved


def sheet_of(saved: dict[str, Any]) -> FactSheet:
    return FactSheet(facts=[Fact.from_dict(f) for f in saved["facts"]["facts"]])


def _save(store: SessionStore, sid: str, plan: ReportPlan, facts: dict[str, Any], request: dict[str, Any]) -> None:
    # a new stamp gives the edit boxes new keys, so they show this plan and not what was typed before
    store.save_plan(sid, {"plan": plan.to_dict(), "facts": facts, "request": request, "stamp": time.time_ns()})


def make(store: SessionStore, sid: str, request: DraftRequest, settings) -> None:
    """先看提纲 / 重新拟定提纲: a new plan from the request, saved with the document."""
    plan, sheet = plan_draft(request, settings)
    _save(store, sid, plan, sheet.to_dict(), request.to_dict())


def remember(store: SessionStore, sid: str, plan: ReportPlan, sheet: FactSheet, request: DraftRequest) -> None:
    """After a draft: the plan it followed becomes the document's plan (编辑提纲 edits it)."""
    _save(store, sid, plan, sheet.to_dict(), request.to_dict())


def usable(store: SessionStore, sid: str, request: DraftRequest) -> tuple[ReportPlan | None, str]:
    """(the saved plan if 起草 can follow it, a note for the chat when a saved plan is set aside)."""
    saved = store.load_plan(sid)
    if not saved:
        return None, ""
    if not fits(saved, request):
        return None, "提纲是按改动前的要求或事实拟的，这次按现在的事实重新拟定了提纲。"
    plan = ReportPlan.from_dict(refit(store, sid, saved, request)["plan"])
    problems = validate_plan(plan, sheet_of(saved))
    if problems:
        raise PlanError("提纲不能使用：" + "".join(problems) + "请在下方“起草提纲”中改正，或点“不用提纲”。")
    return plan, ""


# --- 补充材料: a fact placed under the sub-heading it answers ----------------------------------------
def material_fact(text: str) -> str:
    """What the clerk typed in answer to a 【待补充】 place (or a thin sub-heading), as one fact:
    read like a pasted line (numbering, bullets, traditional script), lines joined; "" if empty."""
    return "；".join(normalize_facts(text).texts)


def add_fact_line(facts_text: str, fact: str) -> str:
    """事实材料 with one more line (none when that fact is already a line of it)."""
    if fact in normalize_facts(facts_text).texts:
        return facts_text
    return (facts_text.rstrip("\n") + "\n" if facts_text.strip() else "") + fact + "\n"


def new_fact_ids(sheet: FactSheet, request: DraftRequest) -> list[int]:
    """The facts the request's last line became (material is added as the last line)."""
    last = len([f for f in request.facts if f.strip()])
    return [f.id for f in sheet.facts if f.source == last]


def with_facts(plan: ReportPlan, sheet: FactSheet, request: DraftRequest, fact_ids: list[int],
               block_key: str) -> ReportPlan | None:
    """A copy of `plan` with `fact_ids` under the sub-heading (or the part without sub-headings)
    that the draft's block `block_key` (“work/2”, “problems/p”) was written from, budgeted again for
    `request`; None when the plan has no such place or would not fit `sheet`."""
    if not fact_ids:
        return None
    plan = ReportPlan.from_dict(plan.to_dict())
    part_key, _, slot = block_key.partition("/")
    part = next((p for p in plan.parts if p.key == part_key), None)
    if part is None:
        return None
    if slot.isdigit() and 0 < int(slot) <= len(part.items):
        part.items[int(slot) - 1].fact_ids += fact_ids
    elif part.layout == "paragraph":
        part.fact_ids += fact_ids
    else:
        return None
    if validate_plan(plan, sheet):
        return None
    rebudget(plan, sheet, request)
    plan.request_fingerprint = request.fingerprint()
    return plan


def place_material(store: SessionStore, sid: str, plan: ReportPlan | None, result: DraftResult, at: str,
                   blocks: list[Block] | None) -> ReportPlan | None:
    """After 补充材料: the version's plan with the material's fact under the paragraph it was
    written into; the document's saved plan too when it is the plan that version followed."""
    if plan is None or result.facts is None or result.request is None or not blocks:
        return None
    target = find_block(blocks, at)
    if target is None:
        return None
    placed = with_facts(plan, result.facts, result.request, new_fact_ids(result.facts, result.request), target.key)
    saved = store.load_plan(sid)
    if placed is not None and saved and saved["plan"].get("request_fingerprint") == plan.request_fingerprint:
        _save(store, sid, placed, result.facts.to_dict(), result.request.to_dict())
    return placed


def thin_items(plan: ReportPlan, sheet: FactSheet) -> dict[tuple[str, int], int]:
    """(part key, item index) → characters of its facts, for sub-headings whose facts fall short of
    the share of their budget under which the drafter asks for material."""
    thin = {}
    for part in plan.parts:
        for n, it in enumerate(part.items):
            chars = sum(nonspace_len(f.text) for f in sheet.facts if f.id in it.fact_ids)
            if chars < SHORT_SHARE * it.budget:
                thin[(part.key, n)] = chars
    return thin


def _on_supply(store: SessionStore, sid: str, key: str, part_key: str, item: int) -> None:
    """on_click of 补充 under a thin sub-heading: the answer is a fact of the plan's request, placed
    under that sub-heading, and a line of 事实材料 (callbacks run before the form is drawn)."""
    ss = st.session_state
    material = material_fact(ss.get(key, ""))
    saved = store.load_plan(sid)
    if not material or saved is None:
        ss._plan_notice = "请先在框里写要补充的内容（几句话即可，如具体做法、数字或典型事例），再点“补充”。"
        return
    old = parse_request(saved["request"])
    try:
        request = parse_request({**old.to_dict(), "facts": list(old.facts) + [material]})
    except RequestError as e:
        ss._plan_notice = str(e)
        return
    sheet = analyse_facts(request, requested_parts(request.genre, request.section))
    plan = ReportPlan.from_dict(saved["plan"])
    placed = with_facts(plan, sheet, request, new_fact_ids(sheet, request), f"{part_key}/{item + 1}")
    if placed is None:
        ss._plan_notice = ("补充的内容没有作为事实采用（像是给助手的指令，或写的是别的地方的情况），未加入提纲；"
                           "请只写本单位的实际做法、数字或事例。")
        return
    ss.form_facts = add_fact_line(ss.get("form_facts", ""), material)
    ss[key] = ""
    _save(store, sid, placed, sheet.to_dict(), request.to_dict())


def _ids(cell: Any) -> list[int]:
    return [int(x) for x in re.findall(r"\d+", str(cell or ""))]


def apply_edit(saved: dict[str, Any], part_key: str, item: int, *, heading: str | None = None,
               fact_ids: str | None = None) -> dict[str, Any]:
    """The saved plan with one edit: a sub-heading reworded (`item` ≥ 0) or the fact numbers of a
    sub-heading or of a part without sub-headings (`item` = -1) changed; budgets follow the facts
    when every number names a fact."""
    plan = ReportPlan.from_dict(saved["plan"])
    part = next(p for p in plan.parts if p.key == part_key)
    target = part.items[item] if item >= 0 else None
    if heading is not None and target is not None and heading.strip() != target.heading:
        target.heading, target.heading_source = heading.strip(), "user"
    if fact_ids is not None:
        if target is not None:
            target.fact_ids = _ids(fact_ids)
        else:
            part.fact_ids = _ids(fact_ids)
    sheet = sheet_of(saved)
    known = {f.id for f in sheet.facts}
    if all(i in known for p in plan.parts for i in p.fact_ids + [i for it in p.items for i in it.fact_ids]):
        rebudget(plan, sheet, parse_request(saved["request"]))
    return {**saved, "plan": plan.to_dict()}


def _on_edit(store: SessionStore, sid: str, key: str, part_key: str, item: int, field: str) -> None:
    saved = store.load_plan(sid)
    if saved is None:
        return
    value = st.session_state.get(key, "")
    store.save_plan(sid, apply_edit(saved, part_key, item, **{field: value}))


def draw(store: SessionStore, sid: str, form_request: Callable[[], DraftRequest | None], *,
         has_versions: bool, on_draft: Callable[[], None], on_make: Callable[[], None]) -> None:
    saved = store.load_plan(sid)
    if not saved:
        if has_versions:
            st.button("编辑提纲", key=f"plan_make_{sid}", on_click=on_make,
                      help="看这份文稿的事实如何分组、小标题和字数安排，修改后可按提纲重新起草。")
        return
    current = form_request()
    if current is not None and fits(saved, current):
        saved = refit(store, sid, saved, current)   # budgets for the length asked now
    plan = ReportPlan.from_dict(saved["plan"])
    request = parse_request(saved["request"])
    sheet = sheet_of(saved)
    stamp = saved.get("stamp", 0)
    thin = thin_items(plan, sheet)
    notice = st.session_state.pop("_plan_notice", None)
    with st.expander("起草提纲（可以改小标题，或改“事实编号”把事实挪到别的小标题下）", expanded=not has_versions):
        if notice:
            st.error(notice)
        if current is not None and not fits(saved, current):
            st.warning("左侧的要求或事实在拟定提纲后有改动，这份提纲已不适用：起草时会按现在的事实重新拟定提纲。")
        st.dataframe({"编号": [f.id for f in sheet.facts], "事实": [f.text for f in sheet.facts],
                      "类别": [KIND_LABEL.get(f.kind, f.kind) for f in sheet.facts]},
                     hide_index=True, width="stretch")
        for part in plan.parts:
            if not (part.items or part.layout == "paragraph"):
                continue
            title = part_title(part.title, request) if part.title else "正文"
            st.markdown(f"**{title}**（约{part.budget}字）")
            rows = [(n, it.heading, it.fact_ids, it.budget) for n, it in enumerate(part.items)]
            if part.layout == "paragraph":
                rows.append((-1, NO_HEADING, part.fact_ids, part.budget))
            for n, heading, fact_ids, budget in rows:
                c1, c2, c3 = st.columns([5, 2, 1], vertical_alignment="bottom")
                h_key, f_key = f"plan_h_{sid}_{stamp}_{part.key}_{n}", f"plan_f_{sid}_{stamp}_{part.key}_{n}"
                if n >= 0:
                    c1.text_input("小标题", value=heading, key=h_key, on_change=_on_edit,
                                  args=(store, sid, h_key, part.key, n, "heading"))
                else:
                    c1.text_input("小标题", value=heading, key=h_key, disabled=True)
                c2.text_input("事实编号", value="、".join(map(str, fact_ids)), key=f_key, on_change=_on_edit,
                              args=(store, sid, f_key, part.key, n, "fact_ids"))
                c3.markdown(f"约{budget}字")
                if (part.key, n) in thin and not has_versions:
                    s_key = f"plan_s_{sid}_{stamp}_{part.key}_{n}"
                    d1, d2 = st.columns([7, 1], vertical_alignment="bottom")
                    d1.text_input(f"“{heading}”的事实只有约{thin[(part.key, n)]}字，撑不起约{budget}字："
                                  "补充具体做法、数字或典型事例", key=s_key,
                                  placeholder="如：组织专题培训4期，建立周调度机制")
                    d2.button("补充", key=f"plan_s_go_{sid}_{stamp}_{part.key}_{n}", on_click=_on_supply,
                              args=(store, sid, s_key, part.key, n), width="stretch")
        problems = validate_plan(plan, sheet)
        for problem in problems:
            st.error(problem)
        for notice in saved["facts"].get("notices", []):
            st.caption(notice)
        cols = st.columns(3)
        cols[0].button("按此提纲起草", type="primary", key=f"plan_go_{sid}", on_click=on_draft,
                       disabled=bool(problems))
        cols[1].button("重新拟定提纲", key=f"plan_remake_{sid}", on_click=on_make,
                       help="按左侧现在的要求和事实重新分组、拟小标题；您对提纲的修改不再保留。")
        cols[2].button("不用提纲", key=f"plan_drop_{sid}", on_click=store.drop_plan, args=(sid,),
                       help="删去这份提纲，起草时重新拟定。")
