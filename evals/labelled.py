"""Scoring the evaluator on the labelled drafts (eval-rules.md §0, last paragraph).

A cases directory holds cases.jsonl (one request per line, with "id"; further *.jsonl request
files beside it are read too) and drafts/ with
<id>.good.md, <id>.bad.md and <id>.bad.defects.json ({"rules": [...]}).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rag.errors import InputFileError
from rag.schema import DraftRequest
from rag.textio import read_text_file

from evals.check import Evaluation, evaluate
from evals.copy_index import CopyIndex
from evals.registry import FAILING_SEVERITIES, RULES
from rag.normalize import parse_request

DEFAULT_CASES_DIR = Path(__file__).resolve().parent / "cases"



@dataclass
class LabelledDraft:
    name: str
    kind: str                   # "good" | "bad"
    request: DraftRequest
    text: str
    expected: frozenset[str]    # rule ids labelled for a bad draft; empty for a good one


@dataclass
class LabelledResult:
    draft: LabelledDraft
    evaluation: Evaluation

    @property
    def reported(self) -> set[str]:
        return self.evaluation.rule_ids()

    @property
    def missed(self) -> set[str]:
        return set(self.draft.expected) - self.reported

    @property
    def extra(self) -> set[str]:
        """Reported rules outside the label (for a good draft: any rule at all)."""
        return self.reported - set(self.draft.expected)

    @property
    def ok(self) -> bool:
        """Bad: every labelled rule found. Good: no blocker or major."""
        if self.draft.kind == "bad":
            return not self.missed
        return not self.evaluation.rule_ids(FAILING_SEVERITIES)


def load_labelled(cases_dir: Path = DEFAULT_CASES_DIR) -> list[LabelledDraft]:
    cases_file = cases_dir / "cases.jsonl"
    drafts_dir = cases_dir / "drafts"
    if not cases_file.exists() or not drafts_dir.is_dir():
        raise InputFileError(f"{cases_dir} 下应有 cases.jsonl 和 drafts/ 目录。")
    requests: dict[str, DraftRequest] = {}
    # cases.jsonl first, then the other request files beside it (cases-more.jsonl)
    for requests_file in [cases_file] + sorted(p for p in cases_dir.glob("*.jsonl") if p != cases_file):
        for n, line in enumerate(read_text_file(requests_file).splitlines(), 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                raise InputFileError(f"{requests_file} 第 {n} 行不是合法的 JSON。") from None
            requests[data.get("id", "")] = parse_request(data)
    out = []
    for path in sorted(drafts_dir.glob("*.md")):
        case_id, _, kind = path.stem.partition(".")
        if kind not in ("good", "bad"):
            continue
        if case_id not in requests:
            raise InputFileError(f"{path.name} 在 {cases_dir.name} 的请求文件中没有对应的请求 {case_id}。")
        expected: frozenset[str] = frozenset()
        if kind == "bad":
            labels = path.with_name(f"{path.stem}.defects.json")
            if not labels.exists():
                raise InputFileError(f"缺少标注文件 {labels.name}。")
            expected = frozenset(json.loads(read_text_file(labels))["rules"])
        out.append(LabelledDraft(path.name, kind, requests[case_id], read_text_file(path), expected))
    return out


def run_labelled(cases_dir: Path = DEFAULT_CASES_DIR,
                 copy_index: CopyIndex | None = None) -> list[LabelledResult]:
    return [LabelledResult(d, evaluate(d.text, d.request, copy_index)) for d in load_labelled(cases_dir)]


@dataclass
class RuleRow:
    rule: str
    labelled: int        # bad drafts labelled with the rule
    found: int           # of those, drafts where it was reported
    unlabelled_bad: int  # bad drafts where it was reported without the label
    false_alarms: int    # good drafts where it was reported as blocker/major
    notes_on_good: int   # good drafts where it was reported as minor/warn

    @property
    def recall(self) -> float | None:
        return self.found / self.labelled if self.labelled else None


def rule_rows(results: list[LabelledResult]) -> list[RuleRow]:
    rows = []
    for rule_id in RULES:
        bad = [r for r in results if r.draft.kind == "bad"]
        good = [r for r in results if r.draft.kind == "good"]
        rows.append(RuleRow(
            rule_id,
            labelled=sum(rule_id in r.draft.expected for r in bad),
            found=sum(rule_id in r.draft.expected and rule_id in r.reported for r in bad),
            unlabelled_bad=sum(rule_id not in r.draft.expected and rule_id in r.reported for r in bad),
            false_alarms=sum(rule_id in r.evaluation.rule_ids(FAILING_SEVERITIES) for r in good),
            notes_on_good=sum(rule_id in r.evaluation.rule_ids(("minor", "warn")) for r in good),
        ))
    return rows


def format_report(results: list[LabelledResult]) -> str:
    good = sum(r.draft.kind == "good" for r in results)
    lines = ["规则        标注(坏稿)  检出  召回率  坏稿多报  好稿误报(阻断/严重)  好稿提示",
             "-" * 74]
    for row in rule_rows(results):
        if not (row.labelled or row.unlabelled_bad or row.false_alarms or row.notes_on_good):
            continue
        recall = f"{row.recall:.0%}" if row.recall is not None else "—"
        lines.append(f"{row.rule:<10}  {row.labelled:>8}  {row.found:>4}  {recall:>6}  {row.unlabelled_bad:>8}"
                     f"  {row.false_alarms:>6}/{good:<13}  {row.notes_on_good:>6}")
    silent = [row.rule for row in rule_rows(results)
              if not (row.labelled or row.unlabelled_bad or row.false_alarms or row.notes_on_good)]
    lines.append(f"未触发的规则：{'、'.join(silent) if silent else '无'}")
    lines.append("")
    lines.append("逐篇结果：")
    for r in results:
        status = "符合" if r.ok else "不符"
        exp = "、".join(sorted(r.draft.expected)) or "（无）"
        got = "、".join(sorted(r.reported)) or "（无）"
        lines.append(f"  {r.draft.name:<14} {status}  标注：{exp}  检出：{got}  得分 {r.evaluation.score:g}")
    bad_total = sum(len(r.draft.expected) for r in results)
    bad_found = sum(len(r.draft.expected) - len(r.missed) for r in results)
    alarms = sum(bool(r.evaluation.rule_ids(FAILING_SEVERITIES)) for r in results if r.draft.kind == "good")
    lines.append("")
    lines.append(f"合计：标注规则 {bad_total} 项，检出 {bad_found} 项；好稿 {good} 篇，有阻断/严重误报的 {alarms} 篇。")
    return "\n".join(lines)
