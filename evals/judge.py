"""Optional LLM review of the two rules a script cannot settle (FACT-06 tense, LANG-04 register).

Off by default (`python -m evals check --judge`); never used by the mechanical evaluation or tests.
The model answers JSON; each finding must quote the draft verbatim, otherwise it is dropped,
so a judge cannot invent violations at positions that do not exist.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from rag.config import Settings
from rag.errors import LLMError
from rag.schema import DraftRequest

from evals.check import Evaluation, score, violation_order
from evals.registry import RULES, RuleViolation

PROMPT_FILE = Path(__file__).resolve().parent / "judge_prompt.md"
JUDGED_RULES = ("FACT-06", "LANG-04")
_JSON_OBJECT = re.compile(r"\{.*\}", re.S)


def build_messages(draft: str, request: DraftRequest) -> list[dict]:
    facts = "\n".join(f"{i}. {f}" for i, f in enumerate(request.facts, 1)) or "（无）"
    system = PROMPT_FILE.read_text(encoding="utf-8").format(
        genre=request.genre, section=request.section, unit=request.unit, year=request.year, facts=facts)
    return [{"role": "system", "content": system}, {"role": "user", "content": f"草稿如下：\n\n{draft}"}]


def parse_judgement(reply: str, draft: str) -> list[RuleViolation]:
    """Violations from the model's JSON reply; items not quoting the draft are dropped."""
    m = _JSON_OBJECT.search(reply)
    try:
        data = json.loads(m.group(0)) if m else None
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("violations"), list):
        raise LLMError("复核模型没有按要求返回 JSON，本次复核结果无法使用。")
    out = []
    for item in data["violations"]:
        if not isinstance(item, dict) or item.get("rule") not in JUDGED_RULES:
            continue
        evidence = str(item.get("evidence", "")).strip()
        start = draft.find(evidence) if evidence else -1
        if start < 0:
            continue
        rule = RULES[item["rule"]]
        reason = str(item.get("reason", "")).strip().replace("\n", " ")
        message = f"{rule.message}（模型复核）" + (f"：{reason}" if reason else "")
        out.append(RuleViolation(rule.id, "minor", message, evidence, start, start + len(evidence)))
    return out


def judge_draft(draft: str, request: DraftRequest, settings: Settings, llm=None) -> list[RuleViolation]:
    if llm is None:
        from rag.llm import get_llm
        llm = get_llm(settings)
    result = llm.chat(build_messages(draft, request), temperature=0.0, purpose="judge")
    return parse_judgement(result.text, draft)


def merge_judgement(evaluation: Evaluation, judged: list[RuleViolation]) -> Evaluation:
    """Add judged findings that the mechanical rules did not already report at the same place."""
    have = {(v.rule, v.start) for v in evaluation.violations}
    extra = [v for v in judged if (v.rule, v.start) not in have]
    violations = sorted(evaluation.violations + extra, key=violation_order)
    return Evaluation(evaluation.passed, score(violations), violations)
