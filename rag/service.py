"""Drafting and checking as functions of plain data: a request as the dict of a request file
(the fields of evals/cases/cases.jsonl), a draft as text.

`rag draft --json`, `evals check --json`, the `gongwen` command and the LangChain runnables
(rag.integrations.langchain) all go through these two functions, so they return the same JSON.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rag.config import Settings
from rag.schema import DraftRequest

Progress = Callable[[str], None]


def draft_from_request(data: Any, settings: Settings, *, on_token: Callable[[str], None] | None = None,
                       progress: Progress | None = None, plan=None, resume=None,
                       hints: dict[str, str] | None = None, facts_only: bool = False):
    """Normalise and validate the request (RequestError in Chinese on bad input), tell `progress`
    what normalising changed, refuse a plan or a partial draft made for another request, then
    draft it. The result's notices start with those changes, so `result.to_json()` is what
    `rag draft --json` prints. `hints` say how to make a fitting plan / draft again."""
    from rag.draft import draft_report
    from rag.errors import RequestError
    from rag.normalize import normalize_request
    from rag.validation import belongs_to_request
    loaded = normalize_request(data)
    request, hints = loaded.request, hints or {}
    if plan is not None:
        belongs_to_request("提纲", plan.genre, plan.section, [plan.request_fingerprint], request.genre,
                           request.section, request.fingerprint(), hints.get("plan", "请重新生成提纲。"))
    if resume is not None:
        if resume.plan is None:
            raise RequestError("未完成草稿里没有提纲，无法接着写。请重新起草。")
        belongs_to_request("未完成草稿", resume.plan.genre, resume.plan.section,
                           [resume.request_fingerprint],
                           request.genre, request.section, request.fingerprint(),
                           hints.get("resume", "请重新起草。"))
    if progress is not None:
        for notice in loaded.notices:
            progress(f"提示：{notice}")
    result = draft_report(loaded.request, settings, on_token=on_token, progress=progress, plan=plan,
                          resume=resume, facts_only=facts_only)
    result.notices[:0] = loaded.notices     # what normalising the request changed comes first
    return result


def check_draft(draft: str, request: DraftRequest, settings: Settings, *, copy: bool = True,
                judge: bool = False):
    """The checker's verdict on a draft of a normalised request; `copy` adds COPY-01 (the copy
    index of the corpus), `judge` asks the model to review FACT-06 and LANG-04 too.
    `.to_json()` of the result is what `evals check --json` prints."""
    from evals.check import evaluate
    copy_index = None
    if copy:
        from evals.copy_index import load_copy_index
        copy_index = load_copy_index(settings)
    evaluation = evaluate(draft, request, copy_index)
    if judge:
        from evals.judge import judge_draft, merge_judgement
        evaluation = merge_judgement(evaluation, judge_draft(draft, request, settings))
    return evaluation
