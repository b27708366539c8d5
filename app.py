"""公文起草助手 — the web page (Streamlit).

Sidebar: model state, the request (genre, section, unit, year, length, facts) and uploads of
example reports. Main area: a chat whose first turn drafts and whose later turns revise;
every version with its evaluation (offending text highlighted), a repair button, the
exemplars used, a comparison of two versions and .docx / .md / .txt downloads.

Everything is saved in SQLite (rag/sessions.py) as soon as it exists; the session id lives in
the URL (?s=…), so a reload with the same address restores the work.
"""
from __future__ import annotations

import datetime as dt
import difflib
import html
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NoReturn

import streamlit as st

from evals.facts import find_conflicts, is_injection
from rag.config import Settings
from rag.errors import RequestError, UserFacingError
from rag.export import export_docx, export_markdown, export_text, heading_kind, looks_like_title
from rag.llm import get_llm
from rag.schema import GENRES, WHOLE_REPORT, DraftRequest
from rag.sessions import DraftVersion, SessionStore, is_session_id, new_session_id

log = logging.getLogger("gongwen.app")

# --- Request form ------------------------------------------------------------------------
SECTIONS: dict[str, list[str]] = {
    "工作总结": [WHOLE_REPORT, "主要工作及成效", "存在问题", "下一步工作打算", "存在问题及下一步工作打算"],
    "工作计划": [WHOLE_REPORT, "主要任务", "目标任务", "保障措施"],
    "工作汇报": [WHOLE_REPORT, "主要工作及成效", "存在问题", "下一步工作打算"],
    "述职报告": [WHOLE_REPORT, "履职情况", "存在不足", "下一步打算"],
    "经验交流材料": [WHOLE_REPORT, "基本情况", "主要做法", "下一步工作思路"],
}
OTHER_SECTION = "其他（自行输入）"
# What to ask for when the facts are empty, per genre (INPUT-01).
FACT_ITEMS: dict[str, list[str]] = {
    "工作总结": ["主要工作及数字成效（如接种率、筛查人数、建成项目数）", "重点项目、活动的名称和场次",
             "获得的荣誉、考核排名", "存在的问题（如需写）", "下一步工作打算（如需写）"],
    "工作计划": ["年度目标和指标（如覆盖率、建成数量）", "重点任务和项目名称", "时间节点和责任单位",
             "保障措施（经费、人员、制度）"],
    "工作汇报": ["汇报事项和时间范围", "已开展的工作及数字成效", "存在的困难和问题",
             "下一步打算或需要上级支持的事项"],
    "述职报告": ["本人职务和分管工作", "任职期间完成的主要工作及数字", "学习、作风和廉洁自律情况",
             "存在的不足和今后打算"],
    "经验交流材料": ["基本情况（规模、背景）", "主要做法（几条具体举措）", "取得的成效及数字",
               "下一步工作思路"],
}
MAX_FACTS_CHARS = 20_000   # a request's facts are a few thousand characters at most
MAX_FACT_LINES = 200
LENGTH_BOUNDS = (200, 6000)

# Excel cells arrive tab-separated; Word lists keep their bullets and numbering.
_LIST_MARKER = re.compile(
    r"^\s*(?:[•·●○■□◆◇▪▫►▶✓✔\-*+–—]+\s*|\d{1,3}\s*[.．、)）]\s*|[（(]\d{1,3}[)）]\s*"
    r"|[①-⑳]\s*|[一二三四五六七八九十]{1,3}\s*[、.．]\s*|[（(][一二三四五六七八九十]{1,3}[)）]\s*)")
_SERIAL_CELL = re.compile(r"^(?:\d{1,3}|[（(]?\d{1,3}[)）]|\d{1,3}[.．、])$")
_CHAT_DRAFT_WORDS = {"起草", "开始起草", "重新起草", "生成", "起草全文"}


def parse_facts(text: str) -> list[str]:
    """Pasted text → one fact per line, without tabs, bullets, numbering or blank lines."""
    facts = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        cells = [c.strip(" \u3000\u00a0") for c in raw.split("\t")]
        cells = [c for c in cells if c]
        if len(cells) > 1 and _SERIAL_CELL.match(cells[0]):  # Excel's 序号 column
            cells = cells[1:]
        line = "，".join(cells)
        line = _LIST_MARKER.sub("", line, count=1).strip(" \u3000\u00a0；;")
        if line:
            facts.append(line)
    return facts


@dataclass
class FormState:
    genre: str = GENRES[0]
    section: str = WHOLE_REPORT
    unit: str = ""
    year: int = field(default_factory=lambda: dt.date.today().year)
    length: tuple[int, int] = (600, 1000)
    facts_text: str = ""
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"genre": self.genre, "section": self.section, "unit": self.unit,
                "year": self.year, "length": list(self.length), "facts_text": self.facts_text,
                "notes": self.notes}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FormState":
        form = cls()
        if data.get("genre") in GENRES:
            form.genre = data["genre"]
        for name in ("section", "unit", "facts_text", "notes"):
            if isinstance(data.get(name), str):
                setattr(form, name, data[name])
        if isinstance(data.get("year"), int):
            form.year = data["year"]
        length = data.get("length")
        if isinstance(length, list) and len(length) == 2 and all(isinstance(x, int) for x in length):
            form.length = (max(LENGTH_BOUNDS[0], length[0]), min(LENGTH_BOUNDS[1], length[1]))
        return form

    def request(self) -> DraftRequest:
        """The drafting request, or a RequestError saying what to fill in."""
        if not self.unit.strip():
            raise RequestError("请在左侧填写“单位名称”，例如“青山县卫生健康局”。")
        if not self.section.strip():
            raise RequestError("请在左侧选择或填写要起草的部分（如“全文”“主要工作及成效”）。")
        facts = parse_facts(self.facts_text)
        if not facts:
            items = "\n".join(f"- {item}" for item in FACT_ITEMS[self.genre])
            raise RequestError(
                f"请先在左侧“事实材料”中填写本单位的具体情况，每行一条（可直接从 Excel 或 Word 粘贴）。"
                f"起草{self.genre}一般需要：\n{items}\n\n助手只使用您提供的事实和数字，不会编造。")
        if len(facts) > MAX_FACT_LINES:
            raise RequestError(f"事实材料共 {len(facts)} 行，超过 {MAX_FACT_LINES} 行上限，请精简后再起草。")
        return DraftRequest.from_dict({
            "genre": self.genre, "section": self.section.strip(), "unit": self.unit.strip(),
            "year": self.year, "facts": facts, "length_chars": list(self.length),
            "notes": self.notes.strip()})


# --- Resources shared by all sessions of this server process -----------------------------
@st.cache_resource(show_spinner=False)
def _file_log(log_path: str) -> logging.Handler:
    handler = logging.FileHandler(log_path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger("gongwen").addHandler(handler)
    logging.getLogger("gongwen").setLevel(logging.INFO)
    return handler


@dataclass
class SeedIndexState:
    """Whether the committed example reports are indexed, shared by all sessions.

    Indexing runs in the script thread (with progress on the page) rather than a background
    thread: on Python 3.11.7, imports in another thread while Streamlit compiles the script
    can break `ast.parse` ("AST constructor recursion depth mismatch")."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: bool = False


@st.cache_resource(show_spinner=False)
def seed_index_state(data_dir: str, collection: str, chroma: str) -> SeedIndexState:
    return SeedIndexState()


def settings_key(settings: Settings) -> tuple[str, ...]:
    return (str(settings.data_dir), settings.collection, f"{settings.chroma_host}:{settings.chroma_port}")


# --- Rendering helpers --------------------------------------------------------------------
SEVERITY = {"blocker": ("严重", 0), "major": ("较重", 1), "minor": ("轻微", 2), "warn": ("提示", 3)}
KIND_LABEL = {"draft": "起草", "revise": "修改", "repair": "修复"}

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
.gw-diff del {background:#ffd2cc; color:#a50e0e; text-decoration:line-through;}
.gw-diff ins {background:#ccf0d5; color:#0d652d; text-decoration:none;}
.gw-state {display:inline-block; padding:0 8px; border-radius:10px; font-size:13px; margin-left:4px;}
.gw-state-ready {background:#e6f4ea; color:#137333;}
.gw-state-starting {background:#fef7e0; color:#b06000;}
.gw-state-unreachable {background:#fce8e6; color:#c5221f;}
.gw-model {font-size:14px; color:#555;}
.gw-src {font-size:14px; color:#444; border-left:3px solid #d0c8b8; padding-left:10px; margin:4px 0 12px;}
</style>
"""


def _violation_spans(text: str, violations: list[dict[str, Any]]) -> list[tuple[int, int, dict]]:
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


def highlight_html(text: str, violations: list[dict[str, Any]], partial: bool = False) -> str:
    """The draft as a document, each violation's text in <mark>; all text escaped."""
    spans = _violation_spans(text, violations)
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
        for s, e, _ in spans:
            cuts.update(x for x in (s, e) if line_start < x < line_end)
        bounds = sorted(cuts)
        pieces = []
        for a, b in zip(bounds, bounds[1:]):
            segment = html.escape(text[a:b])
            covering = [v for s, e, v in spans if s <= a and b <= e]
            if covering:
                worst = min(covering, key=lambda v: SEVERITY.get(v.get("severity"), ("", 9))[1])
                tip = "；".join(f"{v.get('rule', '')}：{v.get('message', '')}" for v in covering)
                pieces.append(f'<mark class="gw-{html.escape(str(worst.get("severity")))}" '
                              f'title="{html.escape(tip)}">{segment}</mark>')
            else:
                pieces.append(segment)
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


def char_count(text: str) -> int:
    return len(re.sub(r"\s", "", text))


def export_title(request: dict[str, Any]) -> str | None:
    if request.get("section") == WHOLE_REPORT:
        return f"{request.get('unit', '')}{request.get('year', '')}年{request.get('genre', '')}"
    return None


def version_label(v: DraftVersion) -> str:
    when = dt.datetime.fromtimestamp(v.created_at).strftime("%m-%d %H:%M")
    return f"第{v.version}版 · {KIND_LABEL.get(v.kind, v.kind)} · {when}"


# --- Page ---------------------------------------------------------------------------------
class Page:
    def __init__(self) -> None:
        self.settings = Settings()
        _file_log(str(self.settings.path("logs", "app.log")))
        self.store = SessionStore.for_settings(self.settings)
        self.sid = self._session_id()
        self.versions = self.store.drafts(self.sid)

    @property
    def working_version(self) -> DraftVersion | None:
        """The newest complete version: what a revision or repair starts from."""
        return next((v for v in reversed(self.versions) if v.text and v.status == "done"), None)

    # session and form ---------------------------------------------------------------------
    def _session_id(self) -> str:
        sid = st.query_params.get("s")
        if not is_session_id(sid):
            sid = new_session_id()
            st.query_params["s"] = sid
        if st.session_state.get("sid") != sid:  # new tab, reload or another session's URL
            for key in [k for k in st.session_state if k.startswith("form_") or k.startswith("_")]:
                del st.session_state[key]
            st.session_state.sid = sid
            self._load_form(FormState.from_dict(self.store.load_form(sid) or {}))
        return sid

    def _load_form(self, form: FormState) -> None:
        ss = st.session_state
        ss.form_genre = form.genre
        options = SECTIONS[form.genre]
        ss.form_section_choice = form.section if form.section in options else OTHER_SECTION
        ss.form_section_custom = "" if form.section in options else form.section
        ss.form_unit, ss.form_year = form.unit, form.year
        ss.form_length = form.length
        ss.form_facts, ss.form_notes = form.facts_text, form.notes
        ss._saved_form = form.to_dict()

    def form(self) -> FormState:
        ss = st.session_state
        choice = ss.get("form_section_choice", WHOLE_REPORT)
        section = ss.get("form_section_custom", "") if choice == OTHER_SECTION else choice
        return FormState(genre=ss.get("form_genre", GENRES[0]), section=section,
                         unit=ss.get("form_unit", ""), year=int(ss.get("form_year", 2024)),
                         length=tuple(ss.get("form_length", (600, 1000))),
                         facts_text=ss.get("form_facts", ""), notes=ss.get("form_notes", ""))

    def _save_form_if_changed(self) -> None:
        form = self.form().to_dict()
        if form != st.session_state.get("_saved_form"):
            self.store.save_form(self.sid, form)
            st.session_state._saved_form = form

    @staticmethod
    def _guard_facts_size() -> None:
        """on_change of the facts box: refuse a giant paste and keep what was there."""
        ss = st.session_state
        text = ss.get("form_facts", "")
        if len(text) > MAX_FACTS_CHARS:
            ss._facts_refused = len(text)
            ss.form_facts = ss.get("_saved_form", {}).get("facts_text", "")

    @staticmethod
    def _on_genre_change() -> None:
        ss = st.session_state
        if ss.get("form_section_choice") not in SECTIONS[ss.form_genre]:
            ss.form_section_choice = WHOLE_REPORT

    # sidebar ------------------------------------------------------------------------------
    def sidebar(self) -> None:
        with st.sidebar:
            self._model_status()
            self.seed_slot = st.empty()
            st.divider()
            st.markdown("#### 起草要求")
            st.selectbox("文种", GENRES, key="form_genre", on_change=self._on_genre_change)
            genre = st.session_state.form_genre
            st.selectbox("起草部分", SECTIONS[genre] + [OTHER_SECTION], key="form_section_choice",
                         help="“全文”起草整篇；也可只起草其中一个部分。")
            if st.session_state.form_section_choice == OTHER_SECTION:
                st.text_input("部分名称", key="form_section_custom", placeholder="如：疾病预防控制工作")
            st.text_input("单位名称", key="form_unit", placeholder="如：青山县卫生健康局")
            col_year, _ = st.columns([1, 1])
            with col_year:
                st.number_input("年份", min_value=2000, max_value=2100, step=1, key="form_year")
            st.slider("目标字数", min_value=LENGTH_BOUNDS[0], max_value=LENGTH_BOUNDS[1], step=50,
                      key="form_length")
            st.text_area(
                "事实材料（每行一条）", key="form_facts", height=220, on_change=self._guard_facts_size,
                placeholder="可直接从 Excel 或 Word 粘贴，例如：\n全县适龄儿童免疫规划疫苗接种率保持在95%以上\n"
                            "全年报告法定传染病12类1386例，报告及时率100%",
                help="每行一条事实。粘贴时自动去掉制表符、项目符号和编号。助手只使用这里的数字。")
            refused = st.session_state.pop("_facts_refused", None)
            if refused:
                st.error(f"粘贴的内容太大（{refused:,} 字），超过 {MAX_FACTS_CHARS:,} 字上限，未采用；"
                         "已保留原来的内容。请只粘贴本次需要的事实。")
            facts = parse_facts(st.session_state.get("form_facts", ""))
            st.caption(f"已识别 **{len(facts)}** 条事实" if facts else "尚未填写事实")
            if facts:
                with st.expander("查看识别结果"):
                    st.dataframe({"序号": list(range(1, len(facts) + 1)), "事实": facts},
                                 hide_index=True, width="stretch")
                self._fact_warnings(facts)
            st.text_area("补充要求（可选）", key="form_notes", height=80,
                         placeholder="如：分免疫规划、传染病防控两块写；不写存在问题")
            self._save_form_if_changed()
            st.button("起草", type="primary", width="stretch", key="draft_sidebar",
                      on_click=self._queue, args=({"kind": "draft"},))
            st.divider()
            self._uploads()
            st.divider()
            st.button("新建文稿", width="stretch", on_click=self._new_session,
                      help="开始一份新的文稿；当前文稿仍可通过原网址打开。")
            st.caption("本页网址中包含文稿编号，收藏或刷新本页都能回到当前文稿。")

    @staticmethod
    def _fact_warnings(facts: list[str]) -> None:
        """What the drafter would set aside, said while the user can still fix the facts."""
        for n, fact in enumerate(facts, 1):
            if is_injection(fact):
                st.warning(f"第{n}条像是给助手的指令，起草时不会采用：“{fact[:40]}”")
        for conflict in find_conflicts(facts):
            st.warning(conflict.message() + "不改的话，草稿中这两个数值都不用，在该处写“【待核实】”。")

    @staticmethod
    def _new_session() -> None:
        st.query_params["s"] = new_session_id()

    @staticmethod
    def _queue(action: dict[str, Any]) -> None:
        st.session_state._action = action

    def _model_status(self) -> None:
        """Which model and whether it answers; while the embedded model starts, this part of
        the sidebar refreshes itself every few seconds without rerunning the page."""
        try:
            status = get_llm(self.settings).status()
        except UserFacingError as e:
            st.error(f"语言模型：{e}")
            return
        if status.state == "starting":
            st.fragment(self._show_model_status, run_every=3)()
        else:
            self._show_model_status(status)

    def _show_model_status(self, status=None) -> None:
        if status is None:
            try:
                status = get_llm(self.settings).status()
            except UserFacingError as e:
                st.error(f"语言模型：{e}")
                return
        state = {"ready": "就绪", "starting": "启动中", "unreachable": "无法连接"}.get(status.state,
                                                                              status.state)
        st.markdown(f'**语言模型** <span class="gw-state gw-state-{html.escape(status.state)}">'
                    f'{state}</span><br><span class="gw-model">{html.escape(status.label)}</span>',
                    unsafe_allow_html=True)
        if status.state == "unreachable":
            st.error(status.detail)
        elif status.state == "starting":
            st.caption(status.detail or "内置模型正在启动，首次启动约需一分钟；可以先填写要求。")
        elif status.detail:
            st.caption(status.detail)

    def _uploads(self) -> None:
        st.markdown("#### 添加范文")
        st.caption("上传本单位以往的报告（.txt / .md / .docx），起草时会参考其写法。")
        for level, text in st.session_state.pop("_upload_result", []):
            getattr(st, level)(text)
        nonce = st.session_state.get("_upload_nonce", 0)
        files = st.file_uploader("选择文件", type=["txt", "md", "docx"], accept_multiple_files=True,
                                 key=f"upload_{nonce}", label_visibility="collapsed")
        if files and st.button("加入范文库", width="stretch", key="ingest"):
            self._run_safely(lambda: self._ingest(files))

    def _ingest(self, files) -> None:
        from rag.ingest import ingest_paths
        folder = self.settings.data_dir / "uploads" / self.sid
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for f in files:
            path = folder / Path(f.name).name
            path.write_bytes(f.getvalue())
            paths.append(path)
        self.ensure_seed_index()
        bar = ProgressBar(st.progress(0.0, text="正在加入范文库…"))
        report = ingest_paths(paths, self.settings, progress=bar.message,
                              progress_fraction=bar.fraction)
        bar.widget.empty()
        results = [("warning", f"{Path(name).name}：{reason}") for name, reason in report.errors]
        useful = report.added or report.replaced or report.unchanged or report.deleted
        results.append(("success" if useful else "info", report.summary()))
        st.session_state._upload_result = results
        st.session_state._upload_nonce = st.session_state.get("_upload_nonce", 0) + 1
        st.rerun()  # clears the file picker; the results show above it

    # main area ----------------------------------------------------------------------------
    def main(self) -> None:
        st.markdown("## 公文起草助手")
        messages = self.store.messages(self.sid)
        if not messages:
            self._welcome()
        by_id = {v.id: v for v in self.versions}
        latest_id = self.versions[-1].id if self.versions else None
        # The version revisions and repairs start from: shown in full, with its buttons, even
        # when a later attempt failed.
        working_id = self.working_version.id if self.working_version else None
        for m in messages:
            with st.chat_message(m.role):
                v = by_id.get(m.draft_id) if m.draft_id else None
                if v is None:
                    st.markdown(m.content)
                elif v.id in (latest_id, working_id):
                    self._version_full(v, actions=v.id == working_id)
                else:
                    st.markdown(f"**{version_label(v)}**　{char_count(v.text)} 字　"
                                + self._eval_badge(v))
                    with st.expander("展开查看这一版"):
                        self._version_full(v, actions=False)
        if len([v for v in self.versions if v.text]) >= 2:
            self._compare()

        action = st.session_state.pop("_action", None)
        prompt = st.chat_input("提出修改意见，如“第二部分再精炼一些”；输入“起草”按左侧要求起草")
        if prompt:
            prompt = prompt.strip()
            action = {"kind": "draft"} if prompt in _CHAT_DRAFT_WORDS else {"kind": "revise",
                                                                             "instruction": prompt}
        if action:
            self._run_safely(lambda: self._perform(action))

    def _welcome(self) -> None:
        st.info("**三步完成一篇材料**\n\n"
                "1. 在左侧选择文种和起草部分，填写单位、年份和目标字数；\n"
                "2. 把本单位的事实和数字粘贴到“事实材料”（每行一条，可直接从 Excel/Word 粘贴）；\n"
                "3. 点击“起草”。生成后可在下方对话框提出修改意见，并导出符合公文格式的 Word 文档。")
        st.button("起草", type="primary", key="draft_main", on_click=self._queue,
                  args=({"kind": "draft"},))

    @staticmethod
    def _eval_badge(v: DraftVersion) -> str:
        if v.status == "failed":
            return ":orange[未完成]"
        ev = v.evaluation
        if not ev:
            return ""
        n = len(ev.get("violations", []))
        return (f":green[评估通过 · {ev.get('score', 0):.0f} 分]" if ev.get("passed")
                else f":red[未通过（{n} 处问题）· {ev.get('score', 0):.0f} 分]")

    def _version_full(self, v: DraftVersion, actions: bool = True) -> None:
        head = f"**{version_label(v)}**　{char_count(v.text)} 字"
        if v.instruction:
            head += f"　修改意见：{v.instruction}"
        st.markdown(head)
        if v.status == "failed":
            st.error(f"生成中断：{v.error}")
            if v.text:
                st.caption("以下是中断前已生成的部分，已保存。")
        elif v.status == "streaming":
            st.warning("这一版没有生成完（程序中途停止），以下是已保存的部分。")
        for notice in v.notices:
            st.info(notice)
        ev = v.evaluation
        violations = ev.get("violations", []) if ev else []
        if ev:
            self._evaluation_summary(ev)
        if v.text:
            st.markdown(highlight_html(v.text, violations, partial=v.status != "done"),
                        unsafe_allow_html=True)
        if violations:
            marked = "，原文已用底色标出" if _violation_spans(v.text, violations) else ""
            with st.expander(f"问题清单（{len(violations)} 处{marked}）", expanded=actions):
                for item in sorted(violations,
                                   key=lambda x: SEVERITY.get(x.get("severity"), ("", 9))[1]):
                    sev = SEVERITY.get(item.get("severity"), (item.get("severity"), 9))[0]
                    evidence = (item.get("evidence") or "").strip()
                    quote = (f"　原文：“{evidence[:80]}{'…' if len(evidence) > 80 else ''}”"
                             if evidence and evidence in v.text else "")
                    st.markdown(f"- **【{sev}】{item.get('rule', '')}** {item.get('message', '')}{quote}")
        if v.sources:
            with st.expander(f"参考的范文段落（{len(v.sources)} 段）"):
                for s in v.sources:
                    where = s.get("section") or s.get("role", "")
                    st.markdown(f"**《{s.get('title', '')}》** · {s.get('genre', '')} · {where}")
                    text = s.get("text", "")
                    st.markdown(f'<div class="gw-src">{html.escape(text[:300])}'
                                f'{"…" if len(text) > 300 else ""}</div>', unsafe_allow_html=True)
        if actions and v.text:
            self._actions(v, violations)

    @staticmethod
    def _evaluation_summary(ev: dict[str, Any]) -> None:
        violations = ev.get("violations", [])
        counts: dict[str, int] = {}
        for item in violations:
            label = SEVERITY.get(item.get("severity"), (item.get("severity"), 9))[0]
            counts[label] = counts.get(label, 0) + 1
        detail = "，".join(f"{k} {n} 处" for k, n in counts.items())
        score = f"得分 {ev.get('score', 0):.0f}"
        if ev.get("passed"):
            st.success(f"评估通过 · {score}" + (f"（另有{detail}，可参考修改）" if detail else ""))
        else:
            st.error(f"评估未通过 · {score} · {detail}")

    def _actions(self, v: DraftVersion, violations: list[dict[str, Any]]) -> None:
        cols = st.columns([1.3, 1, 1, 1])
        with cols[0]:
            st.button("按评估意见修复", key=f"repair_{v.id}", type="primary" if violations else "secondary",
                      disabled=not violations or v.status != "done", width="stretch",
                      on_click=self._queue, args=({"kind": "repair", "draft_id": v.id},),
                      help="逐条引用上面的问题，只改有问题的句子。")
        request = v.request
        title = export_title(request)
        stem = f"{request.get('unit', '')}{request.get('year', '')}年{request.get('genre', '')}-第{v.version}版"
        font_set = "common" if st.session_state.get("export_fonts") == "通用字体" else "gb"
        with cols[1]:
            st.download_button("下载 Word", data=lambda: export_docx(v.text, title, font_set),
                               file_name=f"{stem}.docx", key=f"docx_{v.id}", on_click="ignore",
                               mime="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                               width="stretch")
        with cols[2]:
            st.download_button("下载 Markdown", data=lambda: export_markdown(v.text, title),
                               file_name=f"{stem}.md", mime="text/markdown", key=f"md_{v.id}",
                               on_click="ignore", width="stretch")
        with cols[3]:
            st.download_button("下载纯文本", data=lambda: export_text(v.text, title).encode("utf-8-sig"),
                               file_name=f"{stem}.txt", mime="text/plain", key=f"txt_{v.id}",
                               on_click="ignore", width="stretch")
        st.radio("Word 字体", ["公文标准字体", "通用字体"], key="export_fonts", horizontal=True,
                 help="公文标准字体：方正小标宋简体、仿宋_GB2312、楷体_GB2312、黑体（缺字体时自动换用"
                      "华文中宋、仿宋、楷体）；通用字体：华文中宋、仿宋、楷体、黑体（Windows/WPS 自带）。")

    def _compare(self) -> None:
        usable = [v for v in self.versions if v.text]
        with st.expander("版本对比"):
            labels = {v.id: version_label(v) for v in usable}
            c1, c2 = st.columns(2)
            with c1:
                a = st.selectbox("原版本", [v.id for v in usable], index=len(usable) - 2,
                                 format_func=labels.get, key="cmp_a")
            with c2:
                b = st.selectbox("新版本", [v.id for v in usable], index=len(usable) - 1,
                                 format_func=labels.get, key="cmp_b")
            old = next(v for v in usable if v.id == a)
            new = next(v for v in usable if v.id == b)
            body, removed, added = diff_html(old.text, new.text)
            st.caption(f"删去 {removed} 字（红色删除线），新增 {added} 字（绿色）；"
                       f"字数 {char_count(old.text)} → {char_count(new.text)}")
            st.markdown(body, unsafe_allow_html=True)

    # actions --------------------------------------------------------------------------------
    def _run_safely(self, fn: Callable[[], None]) -> None:
        """No traceback on the page: user errors in Chinese, anything else logged."""
        try:
            fn()
        except UserFacingError as e:
            st.error(str(e))
        except Exception:
            log.exception("unexpected error in the page (session %s)", self.sid)
            st.error("出现了意外错误，已记录到日志（data/logs/app.log）。您填写的内容和已生成的稿件都已保存，"
                     "请稍后重试；如反复出现，请把日志发给管理员。")

    def ensure_seed_index(self) -> None:
        """Index the example reports once per data directory; instant afterwards."""
        from rag.ingest import ensure_seed_index
        state = seed_index_state(*settings_key(self.settings))
        if state.done:
            return
        with self.seed_slot.container():
            with st.status("正在准备范文库（首次运行约需一两分钟）…", expanded=False) as status:
                with state.lock:
                    if not state.done:
                        report = ensure_seed_index(self.settings,
                                                   progress=lambda m: status.update(label=m))
                        state.done = True
                        log.info("seed index: %s", report.summary())
        self.seed_slot.empty()

    def _record_failure(self, draft_id: int, partial: str, reason: str) -> NoReturn:
        """Keep what streamed before the failure as a (failed) version and show it."""
        self.store.fail_draft(draft_id, partial, reason)
        self.store.add_message(self.sid, "assistant", f"生成中断：{reason}", draft_id)
        st.rerun()

    def _perform(self, action: dict[str, Any]) -> None:
        from rag import draft as drafting
        kind = action["kind"]
        latest = self.working_version
        if kind == "revise" and latest is None:
            self.store.add_message(self.sid, "user", action["instruction"])
            self.store.add_message(self.sid, "assistant",
                                   "还没有可修改的稿件。请先在左侧填写要求和事实，再点击“起草”。")
            st.rerun()
        if kind == "repair":
            target = self.store.draft(action["draft_id"])
            request = DraftRequest.from_dict(target.request)
            user_text = f"按评估意见修复第{target.version}版"
        else:
            request = self.form().request()  # RequestError (shown) when something is missing
            target = latest
            user_text = (f"起草：{request.genre} · {request.section}（{request.unit}，{request.year}年，"
                         f"{len(request.facts)} 条事实）" if kind == "draft" else action["instruction"])
        self.ensure_seed_index()
        s = self.settings
        llm = get_llm(s)  # shared per configuration; the embedded model starts in the background

        self.store.add_message(self.sid, "user", user_text)
        with st.chat_message("user"):
            st.markdown(user_text)
        version = self.store.start_draft(self.sid, kind, request.to_dict(),
                                         instruction=action.get("instruction", ""),
                                         parent_id=target.id if target and kind != "draft" else None)
        with st.chat_message("assistant"):
            status = st.status({"draft": "正在起草…", "revise": "正在修改…",
                                "repair": "正在修复…"}[kind], expanded=False)
            preview = st.empty()
            stream = StreamSink(preview, lambda text: self.store.update_text(version.id, text))
            try:
                if kind == "draft":
                    result = drafting.draft_report(request, s, llm=llm, on_token=stream,
                                                   progress=lambda m: status.update(label=m))
                elif kind == "revise":
                    result = drafting.revise_draft(request, target.text, action["instruction"], s,
                                                   llm=llm, on_token=stream)
                else:
                    result = drafting.repair_draft(request, target.text, s, llm=llm, on_token=stream)
            except UserFacingError as e:
                self._record_failure(version.id, stream.text, str(e))
            except Exception:  # logged, and the page shows the saved partial text instead
                log.exception("drafting failed (session %s, version %s)", self.sid, version.version)
                self._record_failure(version.id, stream.text,
                                     "程序内部错误，详情已记录在日志（data/logs/app.log）中。")
            status.update(label="完成", state="complete")
        if not result.draft:  # nothing usable to draft from (e.g. every fact was an instruction)
            self._record_failure(version.id, "", "\n".join(result.notices) or "没有生成内容。")
        evaluation = result.evaluation.to_json() if result.evaluation is not None else None
        # revise/repair keep the exemplars of the version they started from
        sources = [e.to_dict() for e in result.sources] or (target.sources if target else [])
        self.store.finish_draft(version.id, result.draft, sources=sources,
                                notices=list(result.notices), evaluation=evaluation)
        self.store.add_message(self.sid, "assistant", f"第{version.version}版已生成。", version.id)
        st.rerun()


class ProgressBar:
    """ingest's two callbacks (message, fraction) driving one st.progress."""

    def __init__(self, widget) -> None:
        self.widget, self.text, self.value = widget, "正在加入范文库…", 0.0

    def message(self, text: str) -> None:
        self.text = text
        self.widget.progress(self.value, text=text)

    def fraction(self, value: float) -> None:
        self.value = min(1.0, max(0.0, value))
        self.widget.progress(self.value, text=self.text)


class StreamSink:
    """on_token target: shows the text as it streams and saves it about once a second, so a
    failure or a crash mid-way keeps what was written."""

    def __init__(self, placeholder, save: Callable[[str], None]) -> None:
        self.placeholder, self.save = placeholder, save
        self.parts: list[str] = []
        self._shown = self._saved = 0.0

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def __call__(self, token: str) -> None:
        self.parts.append(token)
        now = time.monotonic()
        if now - self._shown > 0.1:
            self.placeholder.markdown(highlight_html(self.text, [], partial=True), unsafe_allow_html=True)
            self._shown = now
        if now - self._saved > 1.0:
            self.save(self.text)
            self._saved = now


def run() -> None:
    st.set_page_config(page_title="公文起草助手", page_icon="📝", layout="wide",
                       initial_sidebar_state="expanded")
    st.markdown(CSS, unsafe_allow_html=True)
    page = Page()
    page.sidebar()
    page.main()
    # after the page is drawn, so the first start shows the page at once
    page._run_safely(page.ensure_seed_index)


run()
