"""先看提纲: the plan a draft would follow, shown and editable before anything is written.

The user sees each fact with its number and kind, and the sub-headings with the facts under
them; a heading can be reworded and facts moved by editing the numbers. 按此提纲起草 drafts from
the edited plan (rag.draft.draft_report(plan=...)); a plan that places a fact twice or not at all
is refused with the reason. Owns the session-state keys plan_*.
"""
from __future__ import annotations

import re
from typing import Any

import streamlit as st

from rag.draft import plan_draft
from rag.plan import ReportPlan
from rag.schema import DraftRequest

KIND_LABEL = {"achievement": "成绩", "problem": "问题", "plan": "打算", "safeguard": "保障"}


def _key(sid: str) -> str:
    return f"plan_{sid}"


def make(sid: str, request: DraftRequest, settings) -> None:
    plan, sheet = plan_draft(request, settings)
    st.session_state[_key(sid)] = {"plan": plan.to_dict(), "facts": sheet.to_dict(),
                                   "request": request.to_dict()}


def current(sid: str) -> dict[str, Any] | None:
    return st.session_state.get(_key(sid))


def discard(sid: str) -> None:
    st.session_state.pop(_key(sid), None)


def _ids(cell: Any) -> list[int]:
    return [int(x) for x in re.findall(r"\d+", str(cell or ""))]


def edited_plan(sid: str) -> ReportPlan:
    """The plan with the user's edits of the table applied (headings and fact numbers)."""
    saved = current(sid)
    plan = ReportPlan.from_dict(saved["plan"])
    table = st.session_state.get(f"plan_table_{sid}")
    rows = _rows(plan)
    if isinstance(table, dict):   # data_editor state: {"edited_rows": {i: {col: value}}}
        for i, change in table.get("edited_rows", {}).items():
            rows[int(i)].update(change)
    for row in rows:
        part = next(p for p in plan.parts if p.key == row["_part"])
        if row["_item"] >= 0:
            item = part.items[row["_item"]]
            if row["小标题"] != item.heading:
                item.heading, item.heading_source = str(row["小标题"]).strip(), "user"
            item.fact_ids = _ids(row["事实编号"])
        else:
            part.fact_ids = _ids(row["事实编号"])
    return plan


def _rows(plan: ReportPlan) -> list[dict[str, Any]]:
    rows = []
    for p in plan.parts:
        for n, it in enumerate(p.items):
            rows.append({"_part": p.key, "_item": n, "部分": p.title or p.key, "小标题": it.heading,
                         "事实编号": "、".join(map(str, it.fact_ids))})
        if p.layout == "paragraph":
            rows.append({"_part": p.key, "_item": -1, "部分": p.title or p.key, "小标题": "（不分小标题）",
                         "事实编号": "、".join(map(str, p.fact_ids))})
    return rows


def draw(sid: str, on_draft) -> None:
    saved = current(sid)
    if not saved:
        return
    plan = ReportPlan.from_dict(saved["plan"])
    facts = saved["facts"]["facts"]
    with st.container(border=True):
        st.markdown("**起草提纲**（可以改小标题，或改“事实编号”把事实挪到别的小标题下）")
        st.dataframe({"编号": [f["id"] for f in facts], "事实": [f["text"] for f in facts],
                      "类别": [KIND_LABEL.get(f["kind"], f["kind"]) for f in facts]},
                     hide_index=True, width="stretch")
        rows = _rows(plan)
        st.data_editor([{k: v for k, v in r.items() if not k.startswith("_")} for r in rows],
                       key=f"plan_table_{sid}", hide_index=True, width="stretch",
                       disabled=["部分"], num_rows="fixed")
        for notice in saved["facts"].get("notices", []):
            st.caption(notice)
        cols = st.columns(2)
        cols[0].button("按此提纲起草", type="primary", key=f"plan_go_{sid}", on_click=on_draft)
        cols[1].button("不用提纲", key=f"plan_drop_{sid}", on_click=discard, args=(sid,))
