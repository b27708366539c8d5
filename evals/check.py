"""evaluate(draft, request) → Evaluation: every registered rule run on one draft.

Score (0–100): 100 minus a penalty per rule that fired. A rule's penalty is the weight of its
worst severity (blocker 40, major 15, minor 3, warn 0), times 1.5 if it fired twice and 2 if
three or more times; the score is floored at 0. So one blocker alone leaves 60, one major 85,
and a draft passes (no blocker, no major) with at least 100 − 3·(number of minor rules)·2.

Size limit: `evaluate` refuses a draft longer than MAX_DRAFT_CHARS characters (blanks included)
with a Chinese InputFileError, so `python -m evals check` says so and exits 2 instead of running
for minutes. A real report is under 20,000 characters; the limit is ten times that. Measured
with bench/bench_evals_size.py (copy index on, 2 shared cores): 100,000 characters 0.45 s,
200,000 1.2 s, 400,000 4.1 s; growth is quadratic above that (Document.numbers tests every number
against every heading marker, Document.line_at scans the lines for every finding).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

from rag.errors import InputFileError
from rag.schema import DraftRequest

import evals.rules  # noqa: F401  (registers the rules)
from evals.context import CheckContext, Span
from evals.copy_index import CopyIndex
from evals.registry import FAILING_SEVERITIES, RULES, SEVERITIES, RuleViolation

SEVERITY_WEIGHT = {"blocker": 40.0, "major": 15.0, "minor": 3.0, "warn": 0.0}
MAX_DRAFT_CHARS = 200_000
REPEAT_FACTOR = {1: 1.0, 2: 1.5}
MAX_REPEAT_FACTOR = 2.0


@dataclass
class Evaluation:
    passed: bool
    score: float
    violations: list[RuleViolation] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"passed": self.passed, "score": self.score,
                "violations": [v.to_dict() for v in self.violations]}

    def rule_ids(self, severities: tuple[str, ...] = SEVERITIES) -> set[str]:
        return {v.rule for v in self.violations if v.severity in severities}

    @property
    def blocking(self) -> list[RuleViolation]:
        return [v for v in self.violations if v.severity in FAILING_SEVERITIES]


def score(violations: list[RuleViolation]) -> float:
    counts = Counter(v.rule for v in violations)
    worst: dict[str, float] = {}
    for v in violations:
        worst[v.rule] = max(worst.get(v.rule, 0.0), SEVERITY_WEIGHT[v.severity])
    penalty = sum(w * REPEAT_FACTOR.get(counts[r], MAX_REPEAT_FACTOR) for r, w in worst.items())
    return round(max(0.0, 100.0 - penalty), 1)


def violation_order(v: RuleViolation) -> tuple[int, int, str]:
    return SEVERITIES.index(v.severity), v.start, v.rule


def evaluate(draft: str, request: DraftRequest, copy_index: CopyIndex | None = None,
             provenance: list[Span] | None = None) -> Evaluation:
    """Check a draft against its request. COPY-01 runs only when a copy index is given.
    `provenance` is where the draft's spans came from, when the drafter knows it: the user's own
    words then count as facts of this version (no rule calls them invented), and unconfirmed
    elaboration is listed as a reminder (ELAB-01).

    InputFileError for a draft over MAX_DRAFT_CHARS characters."""
    if len(draft) > MAX_DRAFT_CHARS:
        raise InputFileError(
            f"草稿有 {len(draft):,} 个字符，超过检查上限 {MAX_DRAFT_CHARS:,} 个字符（一篇工作报告通常不到 "
            f"2 万字）。请确认选对了文件，或把草稿分成几部分分别检查。")
    return check_unbounded(draft, request, copy_index, provenance)


def check_unbounded(draft: str, request: DraftRequest, copy_index: CopyIndex | None = None,
                    provenance: list[Span] | None = None) -> Evaluation:
    """`evaluate` without the size limit (for measuring how the rules scale)."""
    user = [s.text for s in provenance or () if s.origin == "user"]
    if user:
        request = replace(request, facts=list(request.facts) + user)
    ctx = CheckContext(draft, request, copy_index, provenance)
    violations = [r.violation(f) for r in RULES.values() if r.check for f in r.check(ctx)]
    violations.sort(key=violation_order)
    passed = not any(v.severity in FAILING_SEVERITIES for v in violations)
    return Evaluation(passed, score(violations), violations)
