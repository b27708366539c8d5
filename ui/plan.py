"""起草提纲: the plan a draft follows, shown and editable, and part of the document.

The plan is saved with the 文稿 (SessionStore.save_plan) when 先看提纲 makes it, on every edit
(a reworded sub-heading, facts moved by editing their numbers) and after every draft (the plan
that draft followed, with the model's headings), so a reload or a second browser shows it with
its edits, and 编辑提纲 stays available after the first draft. 起草 and 继续起草 follow it while
it fits the request (same genre, section, year and facts); each sub-heading shows its character
budget, recomputed when facts move. Part titles are filled from the request (rag.plan.part_title).

Owns the session-state keys plan_*.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import streamlit as st

from rag.draft import PlanError, plan_draft
from rag.factsheet import Fact, FactSheet
from rag.normalize import parse_request
from rag.plan import ReportPlan, part_title, rebudget, validate_plan
from rag.schema import DraftRequest
from rag.sessions import SessionStore

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
    with st.expander("起草提纲（可以改小标题，或改“事实编号”把事实挪到别的小标题下）", expanded=not has_versions):
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
