"""What every panel shares: the style sheet, the draft and diff renderings, labels, and the
wrapper that turns an error into a Chinese message instead of a traceback."""
from __future__ import annotations

import datetime as dt
import difflib
import html
import logging
import re
from collections.abc import Callable
from typing import Any

import streamlit as st

from rag.errors import UserFacingError
from rag.export import heading_kind, looks_like_title
from rag.sessions import DraftVersion

log = logging.getLogger("gongwen.app")

SEVERITY = {"blocker": ("严重", 0), "major": ("较重", 1), "minor": ("轻微", 2), "warn": ("提示", 3)}
KIND_LABEL = {"draft": "起草", "revise": "修改", "repair": "修复", "edit": "手工修改", "fill": "补充材料",
              "drop": "删除扩写"}
ELABORATION_LABEL = "扩写（请核实）"

CSS = """
<style>
.gw-doc {background:#fff; border:1px solid #e6e2da; border-radius:6px; padding:28px 40px;
  font-family:"FangSong","STFangsong","仿宋","Noto Serif CJK SC","Noto Serif SC",serif;
  font-size:17px; line-height:1.95; color:#1f1f1f; box-shadow:0 1px 3px rgba(0,0,0,.05);}
.gw-doc p {margin:0; text-indent:2em; text-align:justify;}
.gw-doc p.gw-title {text-indent:0; text-align:center; font-size:22px; margin-bottom:.8em;
  font-family:"STZhongsong","华文中宋","Noto Serif CJK SC",serif; font-weight:600;}
.gw-doc p.gw-h1 {font-family:"SimHei","黑体","Noto Sans CJK SC",sans-serif; font-weight:600;}
.gw-doc p.gw-h2 span.gw-head {font-family:"KaiTi","楷体","Noto Serif CJK SC",serif; font-weight:600;}
.gw-doc mark {padding:0 1px; border-radius:2px; cursor:help;}
.gw-doc mark.gw-blocker {background:#ffd2cc; border-bottom:2px solid #d93025;}
.gw-doc mark.gw-major {background:#ffe4b3; border-bottom:2px solid #e37400;}
.gw-doc mark.gw-minor, .gw-doc mark.gw-warn {background:#fff4c2; border-bottom:2px dotted #b08800;}
.gw-doc.gw-partial {border-style:dashed; color:#555;}
.gw-doc mark.gw-elab {background:#d7f5d0; border-bottom:2px solid #2e9b3f;}
.gw-doc sup.gw-elab-tag {font-size:11px; color:#1e7b30; font-family:sans-serif; margin:0 2px; white-space:nowrap;}
.gw-doc mark.gw-supply {background:#fff4c2; border-bottom:2px dotted #b08800;}
.gw-diff del {background:#ffd2cc; color:#a50e0e; text-decoration:line-through;}
.gw-diff ins {background:#ccf0d5; color:#0d652d; text-decoration:none;}
.gw-state {display:inline-block; padding:0 8px; border-radius:10px; font-size:13px; margin-left:4px;}
.gw-state-ready, .gw-state-done {background:#e6f4ea; color:#137333;}
.gw-state-starting, .gw-state-streaming {background:#fef7e0; color:#b06000;}
.gw-state-unreachable, .gw-state-failed, .gw-state-interrupted, .gw-state-stopped
  {background:#fce8e6; color:#c5221f;}
.gw-model {font-size:14px; color:#555;}
.gw-src {font-size:14px; color:#444; border-left:3px solid #d0c8b8; padding-left:10px; margin:4px 0 12px;}
/* Streamlit's file picker speaks English; its texts are hidden and said in Chinese instead. */
[data-testid="stFileUploaderDropzoneInstructions"] > * {display:none;}
[data-testid="stFileUploaderDropzoneInstructions"]::after {
  content:"把文件拖到这里，或点“选择文件”（.txt / .md / .docx，单个不超过 20MB）";
  font-size:14px; color:#555;}
[data-testid="stFileUploaderDropzone"] button > * {display:none;}
[data-testid="stFileUploaderDropzone"] button::after {content:"选择文件"; font-size:14px;}
[data-testid="stFileUploaderPagination"] {display:none;}
/* “Running…/Stop” in English while a run goes on; the panels show their own progress. */
[data-testid="stStatusWidget"] {visibility:hidden;}
/* “Press Enter to apply” under a text box, in English. */
[data-testid="InputInstructions"] {display:none;}
</style>
"""


def run_safely(fn: Callable[[], None], where: str = "") -> None:
    """No traceback on the page: user errors in Chinese, anything else logged."""
    try:
        fn()
    except UserFacingError as e:
        st.error(str(e))
    except Exception:
        log.exception("unexpected error in the page (%s)", where)
        st.error("出现了意外错误，已记录到日志（data/logs/app.log）。您填写的内容和已生成的稿件都已保存，"
                 "请稍后重试；如反复出现，请把日志发给管理员。")


def violation_spans(text: str, violations: list[dict[str, Any]]) -> list[tuple[int, int, dict]]:
    """(start, end, violation) inside the draft; falls back to finding the evidence text."""
    spans = []
    for v in violations:
        start, end = v.get("start"), v.get("end")
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
            evidence = (v.get("evidence") or "").strip()
            start = text.find(evidence) if evidence else -1
            end = start + len(evidence)
        # A finding about the whole text (length, overall tone) is listed, not painted over it.
        if start >= 0 and end > start and (end - start) * 2 <= len(text):
            spans.append((start, end, v))
    return spans


def highlight_html(text: str, violations: list[dict[str, Any]], partial: bool = False,
                   tip: Callable[[dict], str] | None = None,
                   elaboration: list[tuple[int, int, int]] = ()) -> str:
    """The draft as a document, each violation's text in <mark>, each stretch of unconfirmed
    elaboration (start, end, number) in its own colour and tagged 扩写N; all text escaped."""
    spans = violation_spans(text, violations)
    tip = tip or (lambda v: str(v.get("message", "")))
    paragraphs: list[str] = []
    offset = 0
    first_content = True
    lines = text.split("\n")
    for line in lines:
        line_start, line_end = offset, offset + len(line)
        offset = line_end + 1
        stripped = line.strip()
        if not stripped:
            continue
        cuts = {line_start, line_end}
        for s, e, _ in list(spans) + list(elaboration):
            cuts.update(x for x in (s, e) if line_start < x < line_end)
        bounds = sorted(cuts)
        pieces = []
        for a, b in zip(bounds, bounds[1:]):
            segment = html.escape(text[a:b])
            covering = [v for s, e, v in spans if s <= a and b <= e]
            elab = next((n for s, e, n in elaboration if s <= a and b <= e), None)
            if covering:
                worst = min(covering, key=lambda v: SEVERITY.get(v.get("severity"), ("", 9))[1])
                title = "；".join(tip(v) for v in covering)
                extra = " gw-elab" if elab is not None else ""
                pieces.append(f'<mark class="gw-{html.escape(str(worst.get("severity")))}{extra}" '
                              f'title="{html.escape(title)}">{segment}</mark>')
            elif elab is not None:
                pieces.append(f'<mark class="gw-elab" title="{ELABORATION_LABEL}：模型在事实之外写的做法、'
                              f'原因或成效，请核实后确认或删除">{segment}</mark>')
            else:
                pieces.append(segment)
            ending = next((n for s, e, n in elaboration if e == b and s < b), None)
            if ending is not None:
                pieces.append(f'<sup class="gw-elab-tag">扩写{ending}</sup>')
        body = "".join(pieces).strip()
        kind = heading_kind(stripped)
        if first_content and looks_like_title(stripped) and len([x for x in lines if x.strip()]) > 1:
            css = "gw-title"
        elif kind == "h2":
            head_end = body.find("。") + 1 if "。" in body else len(body)
            body = f'<span class="gw-head">{body[:head_end]}</span>{body[head_end:]}'
            css = "gw-h2"
        else:
            css = f"gw-{kind}" if kind else ""
        first_content = False
        paragraphs.append(f'<p class="{css}">{body}</p>')
    cls = "gw-doc gw-partial" if partial else "gw-doc"
    return f'<div class="{cls}">' + "".join(paragraphs) + "</div>"


def diff_html(old: str, new: str) -> tuple[str, int, int]:
    """Character-level inline diff (Chinese has no spaces to diff words on)."""
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    out, removed, added = [], 0, 0
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out.append(html.escape(old[i1:i2]))
            continue
        if op in ("delete", "replace"):
            out.append(f"<del>{html.escape(old[i1:i2])}</del>")
            removed += i2 - i1
        if op in ("insert", "replace"):
            out.append(f"<ins>{html.escape(new[j1:j2])}</ins>")
            added += j2 - j1
    body = re.sub(r"\n+", "<br>", "".join(out))
    return f'<div class="gw-doc gw-diff">{body}</div>', removed, added


def same_text(a: str, b: str) -> bool:
    """Equal but for blank lines and white space around lines: such a change makes no new
    version. A paragraph split or joined is a change (its line breaks differ)."""
    def lines(text: str) -> list[str]:
        return [line.strip() for line in text.splitlines() if line.strip()]
    return lines(a) == lines(b)


def when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp).strftime("%m-%d %H:%M")


def version_label(v: DraftVersion) -> str:
    return f"第{v.version}版 · {KIND_LABEL.get(v.kind, v.kind)} · {when(v.created_at)}"
