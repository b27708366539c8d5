"""The 范文库 panel: every example report (built-in and uploaded) with its genre, passages, who
added it and when; leave one out of this 文稿's drafts, delete an upload, add new ones.

Owns the session-state keys lib_* (upload picker generation, results, delete confirmation).
Which reports this 文稿 leaves out is part of its request (form_excluded, saved with the form).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import streamlit as st

from rag.config import Settings
from rag.library import LibraryDoc, add_uploads, delete_upload, list_documents, when_label
from rag.sessions import SessionStore
from ui.common import run_safely

log = logging.getLogger("gongwen.app")


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


class LibraryPanel:
    def __init__(self, settings: Settings, store: SessionStore, sid: str) -> None:
        self.settings, self.store, self.sid = settings, store, sid
        self.seed_slot = None   # a sidebar placeholder for the first-run progress

    @property
    def _state(self) -> SeedIndexState:
        s = self.settings
        return seed_index_state(str(s.data_dir), s.collection, f"{s.chroma_host}:{s.chroma_port}")

    def ensure_seed_index(self) -> None:
        """Index the example reports once per data directory; instant afterwards."""
        from rag.ingest import ensure_seed_index
        state = self._state
        if state.done:
            return
        slot = self.seed_slot if self.seed_slot is not None else st.empty()
        with slot.container():
            with st.status("正在准备范文库（首次运行约需一两分钟）…", expanded=False) as status:
                with state.lock:
                    if not state.done:
                        report = ensure_seed_index(self.settings,
                                                   progress=lambda m: status.update(label=m))
                        state.done = True
                        log.info("seed index: %s", report.summary())
        slot.empty()

    # -- drawing -----------------------------------------------------------------------------
    def draw(self) -> None:
        st.markdown("#### 范文库")
        st.caption("起草时从这些报告中检索写法（数字、地名等事实会被遮盖，不会抄进草稿）。"
                   "取消勾选“参考”，本文稿起草时就不用这篇；上传的报告所有文稿都能参考。")
        self._uploads()
        if not self._state.done:
            st.info("范文库正在准备，稍后刷新本页即可看到列表。")
            return
        run_safely(self._table, "library")

    def _table(self) -> None:
        docs = list_documents(self.settings)
        excluded = set(st.session_state.get("form_excluded", []))
        uploaded = [d for d in docs if not d.builtin]
        st.markdown(f"共 {len(docs)} 篇：内置 {len(docs) - len(uploaded)} 篇，上传 {len(uploaded)} 篇；"
                    f"本文稿不参考 {len(excluded & {d.key for d in docs})} 篇。")
        widths = [4, 1.3, 0.8, 2.2, 0.8, 0.8]
        head = st.columns(widths)
        for col, name in zip(head, ["标题", "文种", "段落", "添加", "参考"]):
            col.markdown(f"**{name}**")
        for d in docs:
            cols = st.columns(widths, vertical_alignment="center")
            cols[0].markdown(d.title)
            cols[1].markdown(d.genre)
            cols[2].markdown(str(d.passages))
            cols[3].markdown(self._who(d))
            cols[4].checkbox("参考", value=d.key not in excluded, key=f"lib_use_{d.key}",
                             label_visibility="collapsed", on_change=self._toggle, args=(d.key,),
                             help="取消勾选：本文稿起草时不参考这篇。")
            if not d.builtin:
                cols[5].button("删除", key=f"lib_del_{d.key}", on_click=self._ask_delete, args=(d.key,))
            if st.session_state.get("lib_confirm") == d.key:
                st.warning(f"确定从范文库删除《{d.title}》吗？所有文稿都将不再参考它，此操作不能撤销。")
                c1, c2, _ = st.columns([1, 1, 4])
                if c1.button("确认删除", key=f"lib_del_yes_{d.key}", type="primary"):
                    self._delete(d)
                c2.button("取消", key=f"lib_del_no_{d.key}", on_click=self._ask_delete, args=(None,))

    def _who(self, d: LibraryDoc) -> str:
        if d.builtin:
            return "内置范文"
        if d.orphaned:
            return "上传（原文件已不在，可删除）"
        if not d.session_id:
            return f"命令行导入 · {when_label(d.added_at)}"
        session = self.store.session(d.session_id) if d.session_id else None
        who = "本文稿" if d.session_id == self.sid else (f"文稿《{session.title}》" if session else "已删除的文稿")
        return f"{who}上传 · {when_label(d.added_at)}"

    @staticmethod
    def _toggle(key: str) -> None:
        ss = st.session_state
        excluded = [k for k in ss.get("form_excluded", []) if k != key]
        if not ss.get(f"lib_use_{key}", True):
            excluded.append(key)
        ss.form_excluded = excluded

    @staticmethod
    def _ask_delete(key: str | None) -> None:
        st.session_state.lib_confirm = key

    def _delete(self, d: LibraryDoc) -> None:
        delete_upload(self.settings, d)
        st.session_state.lib_confirm = None
        st.session_state.lib_results = [("success", f"已从范文库删除《{d.title}》。")]
        st.rerun()

    def _uploads(self) -> None:
        for level, text in st.session_state.pop("lib_results", []):
            getattr(st, level)(text)
        nonce = st.session_state.get("lib_upload_nonce", 0)
        # No `type=` filter: Streamlit would refuse other files in English; ours says why in Chinese.
        files = st.file_uploader("添加范文（本单位以往的报告，.txt / .md / .docx）", accept_multiple_files=True,
                                 key=f"lib_upload_{nonce}")
        if files and st.button("加入范文库", key="lib_ingest", type="primary"):
            run_safely(lambda: self._ingest(files), "upload")

    def _ingest(self, files) -> None:
        self.ensure_seed_index()
        bar = ProgressBar(st.progress(0.0, text="正在加入范文库…"))
        report = add_uploads(self.settings, self.sid, [(f.name, f.getvalue()) for f in files],
                             progress=bar.message, progress_fraction=bar.fraction)
        bar.widget.empty()
        results = [("warning", message) for _name, message in report.errors]
        results += [("info", message) for _path, message in report.notices]   # e.g. filler cut out
        if report.added or report.replaced:
            results.append(("success", f"已加入范文库：{report.added + report.replaced} 个文件，"
                                       f"共 {report.passages_written} 个段落。"))
        if report.unchanged:
            results.append(("info", f"{report.unchanged} 个文件已在范文库中，内容没有变化。"))
        st.session_state.lib_results = results
        st.session_state.lib_upload_nonce = nonce = st.session_state.get("lib_upload_nonce", 0) + 1
        log.info("upload (session %s, picker %s): %s", self.sid, nonce, report.summary())
        st.rerun()  # clears the file picker; the results show above it
