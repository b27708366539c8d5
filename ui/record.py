"""What the drafter recorded about a version: the plan it followed, every edit a guard made
(删改记录), where each sentence came from, and what the model calls cost. Read-only panels; the
record is `DraftVersion.detail` (DraftResult.to_json without the text columns)."""
from __future__ import annotations

from typing import Any

import streamlit as st

from rag.guards import guard_label
from rag.normalize import parse_request
from rag.plan import part_title

ORIGIN_LABEL = {"fact": "事实原文", "phrase": "固定用语", "model": "模型撰写（已核对）", "plan": "提纲标题",
                "elaboration": "扩写（请核实）", "user": "您写的"}
ACTION_LABEL = {"fix": "修正", "drop_sentence": "删去", "drop_clause": "删去分句", "reask": "要求重写",
                "rewrite": "已重写", "replace": "改为照录事实", "insert": "补入"}


def _facts_by_id(detail: dict[str, Any]) -> dict[int, str]:
    return {f["id"]: f["text"] for f in (detail.get("facts") or {}).get("facts", [])}


def record_panel(detail: dict[str, Any], request: dict[str, Any]) -> None:
    edits = detail.get("edits") or []
    sentences = [s for s in detail.get("sentences") or [] if s.get("text")]
    facts = _facts_by_id(detail)
    if edits:
        with st.expander(f"删改记录（{len(edits)} 处）"):
            st.caption("起草时每一处自动删改都记在这里：哪项检查、怎么处理、原句和原因。")
            st.dataframe({"检查项": [guard_label(e["guard"]) for e in edits],
                          "处理": [ACTION_LABEL.get(e["action"], e["action"]) for e in edits],
                          "原句": [e["before"] for e in edits], "改为": [e["after"] for e in edits],
                          "原因": [e["reason"] for e in edits], "位置": [e.get("where", "") for e in edits]},
                         hide_index=True, width="stretch")
    if sentences:
        with st.expander("每句话的来源"):
            st.caption("“事实原文”照录您提供的事实；“模型撰写”是模型写的、已逐句核对数字、名称和说法的句子。")
            st.dataframe({"句子": [s["text"] for s in sentences],
                          "来源": ["扩写（已确认）" if s.get("confirmed") else ORIGIN_LABEL.get(s["origin"], s["origin"])
                                 for s in sentences],
                          "依据的事实": ["；".join(facts.get(i, str(i)) for i in s.get("fact_ids", []))
                                         for s in sentences]},
                         hide_index=True, width="stretch")
    plan = detail.get("plan")
    if plan:
        with st.expander("起草提纲"):
            filled = parse_request(request)
            for part in plan.get("parts", []):
                if part.get("title"):
                    st.markdown(f"**{part_title(part['title'], filled)}**（约{part.get('budget', 0)}字）")
                for it in part.get("items", []):
                    st.markdown(f"- {it['heading']}（约{it.get('budget', 0)}字）："
                                + "；".join(facts.get(i, str(i)) for i in it["fact_ids"]))
                if part.get("fact_ids"):
                    st.markdown("- " + "；".join(facts.get(i, str(i)) for i in part["fact_ids"]))
    usage = detail.get("usage")
    if usage and usage.get("calls"):
        st.caption(f"模型调用 {usage['calls']} 次，输入 {usage['prompt_tokens']:,} 个词元、输出 "
                   f"{usage['completion_tokens']:,} 个词元，用时 {usage['seconds']:.0f} 秒。")
