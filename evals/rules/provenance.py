"""ELAB-01: elaboration to confirm. The drafter keeps what a model wrote around the facts (how the
work was done, why, what it brought in general words) and marks it; the checker lists each
unconfirmed stretch as a reminder, like 【待核实】 — never as a failure. It needs the drafter's
record of where each span came from (`evaluate(..., provenance=...)`); a bare text has none."""
from __future__ import annotations

from collections.abc import Iterator

from evals.context import CheckContext
from evals.registry import PRODUCT, Finding, rule


@rule("ELAB-01", "warn", "扩写内容（事实之外的做法、原因或成效），请核实后确认或删除", source=PRODUCT)
def elaboration_to_confirm(ctx: CheckContext) -> Iterator[Finding]:
    text = ctx.draft.text
    pos = 0
    for span in ctx.provenance:
        at = text.find(span.text, pos) if span.text else -1
        if at == -1:
            continue
        pos = at + len(span.text)
        if span.origin == "elaboration" and not span.confirmed:
            yield Finding(at, pos, span.text)
