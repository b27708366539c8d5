"""The evaluation of a version in plain words: one verdict line (with what is left to do: the
length still missing, 【待补充】 places to fill, 【待核实】 values and model elaboration to
confirm), each finding said once under the rule's Chinese name (its id only in the tooltip), and
the drafter's notices that are not already findings."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from evals.registry import RULES
from rag.factsheet import VERIFY_MARK
from rag.text import SUPPLY_MARK, written_len
from ui.common import SEVERITY, violation_spans

# Notices that only repeat the findings listed below them.
_REPEATS_FINDINGS = ("修改后仍有问题需人工处理",)
# Notices that explain one rule's finding: shown with that finding instead of on their own.
_EXPLAINS = {"LEN-01": ("少于要求的", "多于要求的", "超过要求的")}


def rule_name(rule_id: str) -> str:
    rule = RULES.get(rule_id)
    return rule.message if rule else "其他问题"


def finding_detail(v: dict[str, Any]) -> str:
    """The finding's own words, without the rule's name it starts with."""
    message = str(v.get("message", ""))
    name = rule_name(str(v.get("rule", "")))
    return message[len(name):].lstrip("：:").strip() if message.startswith(name) else message


def tooltip(v: dict[str, Any]) -> str:
    detail = finding_detail(v)
    return f"{rule_name(str(v.get('rule', '')))}{('：' + detail) if detail else ''}（规则 {v.get('rule', '')}）"


def split_notices(notices: list[str], violations: list[dict[str, Any]]
                  ) -> tuple[list[str], dict[str, list[str]]]:
    """(notices to show on their own, notices to show under a rule's finding)."""
    fired = {v.get("rule") for v in violations}
    alone: list[str] = []
    attached: dict[str, list[str]] = {}
    for notice in dict.fromkeys(notices):
        if notice.startswith(_REPEATS_FINDINGS) and violations:
            continue
        rule = next((r for r, marks in _EXPLAINS.items() if r in fired and any(m in notice for m in marks)),
                    None)
        if rule:
            attached.setdefault(rule, []).append(notice)
        else:
            alone.append(notice)
    return alone, attached


@dataclass
class ToDo:
    """What a version still needs before it is final, counted from its text and record."""
    chars: int
    least: int
    most: int
    to_fill: int        # 【待补充…】 places
    to_verify: int      # 【待核实】 values
    to_confirm: int     # model sentences beyond the facts (origin "elaboration") not yet confirmed

    @classmethod
    def of(cls, text: str, request: dict[str, Any], detail: dict[str, Any] | None) -> "ToDo":
        least, most = (list(request.get("length_chars") or [0, 0]) + [0, 0])[:2]
        sentences = (detail or {}).get("sentences") or []
        return cls(chars=written_len(text), least=int(least), most=int(most),
                   to_fill=text.count(SUPPLY_MARK), to_verify=text.count(VERIFY_MARK.rstrip("】")),
                   to_confirm=sum(1 for s in sentences if s.get("origin") == "elaboration" and not s.get("confirmed")))

    @property
    def short(self) -> bool:
        return self.chars < self.least

    def line(self) -> str:
        """“未达字数 480/1,500 字 · 待补充 3 处 · 扩写待确认 0 句”."""
        parts = [f"未达字数 {self.chars:,}/{self.least:,} 字"] if self.short else []
        parts.append(f"待补充 {self.to_fill} 处")
        if self.to_verify:
            parts.append(f"待核实 {self.to_verify} 处")
        parts.append(f"扩写待确认 {self.to_confirm} 句")
        return " · ".join(parts)

    def advice(self) -> str:
        """What to do about a draft under its range."""
        where = "在“【待补充】”处填写" if self.to_fill else "补充"
        return (f"未达字数：全文 {self.chars:,} 字，要求 {self.least:,}—{self.most:,} 字。现有事实撑不起这个篇幅，"
                f"助手没有用空话凑字数。请{where}具体做法、数字或典型事例（也可在左侧“事实材料”中补充后重新起草），"
                "或调低目标字数。")


def verdict(ev: dict[str, Any], text: str = "", request: dict[str, Any] | None = None,
            detail: dict[str, Any] | None = None) -> None:
    violations = ev.get("violations", [])
    counts: dict[str, int] = {}
    for item in violations:
        label = SEVERITY.get(item.get("severity"), (item.get("severity"), 9))[0]
        counts[label] = counts.get(label, 0) + 1
    findings_said = "，".join(f"{k} {n} 处" for k, n in counts.items())
    todo = ToDo.of(text, request or {}, detail)
    score = f"得分 {ev.get('score', 0):.0f} · {todo.line()}"
    if ev.get("passed"):
        st.success(f"评估通过 · {score}" + (f"（另有{findings_said}，见下方问题清单）" if findings_said else ""))
    else:
        st.error(f"评估未通过 · {score} · {findings_said}，见下方问题清单")
    if todo.short:
        st.warning(todo.advice())


def badge(ev: dict[str, Any] | None) -> str:
    if not ev:
        return ""
    n = len(ev.get("violations", []))
    return (f":green[评估通过 · {ev.get('score', 0):.0f} 分]" if ev.get("passed")
            else f":red[未通过（{n} 处问题）· {ev.get('score', 0):.0f} 分]")


def findings(text: str, violations: list[dict[str, Any]], attached: dict[str, list[str]],
             expanded: bool) -> None:
    """The issue list: one line per finding, grouped by rule, worst first."""
    if not violations:
        return
    marked = "，原文已用底色标出" if violation_spans(text, violations) else ""
    with st.expander(f"问题清单（{len(violations)} 处{marked}）", expanded=expanded):
        by_rule: dict[str, list[dict[str, Any]]] = {}
        for item in sorted(violations, key=lambda x: SEVERITY.get(x.get("severity"), ("", 9))[1]):
            by_rule.setdefault(str(item.get("rule", "")), []).append(item)
        for rule_id, items in by_rule.items():
            sev = SEVERITY.get(items[0].get("severity"), (items[0].get("severity"), 9))[0]
            # a notice explaining this rule's finding says it better than the rule's own detail
            lines = list(attached.get(rule_id, []))
            for item in items if not lines else []:
                detail = finding_detail(item)
                evidence = (item.get("evidence") or "").strip()
                quote = (f"原文：“{evidence[:80]}{'…' if len(evidence) > 80 else ''}”"
                         if evidence and evidence in text and evidence not in detail else "")
                line = "；".join(x for x in (detail, quote) if x)
                if line:
                    lines.append(line)
            st.markdown(f"**【{sev}】{rule_name(rule_id)}**",
                        help=f"规则编号 {rule_id}：{RULES[rule_id].source if rule_id in RULES else ''}")
            if lines:
                st.markdown("\n".join(f"- {ln}" for ln in dict.fromkeys(lines)))
