"""Rules as data: every rule of eval-rules.md is one registered entry.

Adding a rule means writing one decorated function in a module under evals/rules/:

    @rule("PUNC-09", "minor", "一句话的中文说明", source=GBT_PUNCT)
    def check_something(ctx: CheckContext) -> Iterator[Finding]:
        yield Finding(start, end, evidence)

The function yields Findings; evaluate() turns them into RuleViolations with the rule's id,
severity (a Finding may override it, e.g. LEN-01 major/minor) and message.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

Severity = Literal["blocker", "major", "minor", "warn"]
SEVERITIES: tuple[Severity, ...] = ("blocker", "major", "minor", "warn")
# A draft with a finding of these severities fails the check.
FAILING_SEVERITIES: tuple[Severity, ...] = ("blocker", "major")
SEVERITY_LABELS = {"blocker": "阻断", "major": "严重", "minor": "提示", "warn": "待人工核对"}

# Sources the rules rest on.
GBT_9704 = "GB/T 9704-2012《党政机关公文格式》"
REGULATIONS = "《党政机关公文处理工作条例》"
GBT_PUNCT = "GB/T 15834-2011《标点符号用法》"
GBT_NUMBERS = "GB/T 15835-2011《出版物上数字用法》"
PRACTICE = "写作惯例"
PRODUCT = "产品要求（eval-rules.md）"


@dataclass(frozen=True)
class Finding:
    """What a check function reports; offsets are into the raw draft."""
    start: int
    end: int
    evidence: str
    detail: str = ""                 # appended to the rule's message
    severity: Severity | None = None  # overrides the rule's default


@dataclass(frozen=True)
class RuleViolation:
    rule: str
    severity: Severity
    message: str
    evidence: str
    start: int
    end: int

    def to_dict(self) -> dict:
        return asdict(self)


# A check reads an evals.context.CheckContext (typed loosely here: the context module imports this one).
Check = Callable[[Any], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    message: str                       # one line, Chinese
    source: str
    check: Check | None = None
    covered_by: tuple[str, ...] = ()   # rules with no check of their own (INPUT-01, INPUT-04)

    def violation(self, f: Finding) -> RuleViolation:
        message = f"{self.message}：{f.detail}" if f.detail else self.message
        message = _WHITESPACE_RUN.sub(" ", message)     # one line, whatever the facts contained
        return RuleViolation(self.id, f.severity or self.severity, message, f.evidence, f.start, f.end)


RULES: dict[str, Rule] = {}
_WHITESPACE_RUN = re.compile(r"\s+")


def register(r: Rule) -> Rule:
    if r.id in RULES:
        raise ValueError(f"rule {r.id} registered twice")
    if r.severity not in SEVERITIES:
        raise ValueError(f"rule {r.id}: unknown severity {r.severity}")
    RULES[r.id] = r
    return r


def rule(rule_id: str, severity: Severity, message: str, *, source: str) -> Callable[[Check], Check]:
    """Decorator registering a check function under a rule id of eval-rules.md."""
    def deco(fn: Check) -> Check:
        register(Rule(rule_id, severity, message, source, fn))
        return fn
    return deco
