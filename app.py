"""公文起草助手 — the web page (Streamlit): the shell that lays out the panels of ui/.

Sidebar: the model's state, the request form (ui/form.py) and 新建文稿. Main area, three tabs:
当前文稿 — the chat whose first turn drafts and whose later turns revise, every version with its
evaluation, hand editing, downloads and comparison (ui/chat.py, ui/evaluation.py); 我的文稿 —
every saved 文稿 (ui/documents.py); 范文库 — the example reports (ui/library.py).

Everything is saved in SQLite (rag/sessions.py) as soon as it exists, and drafting runs in a
background thread (ui/jobs.py); the 文稿 id lives in the URL (?s=…), so a reload with the same
address restores the work, including a version still being written.
"""
from __future__ import annotations

import logging

import streamlit as st

from rag.config import Settings
from rag.sessions import SessionStore, is_session_id, new_session_id
from ui.chat import ChatPanel
from ui.common import CSS, run_safely
from ui.documents import DocumentsPanel, new_document
from ui.form import FormPanel
from ui.library import LibraryPanel
from ui.model import model_status


@st.cache_resource(show_spinner=False)
def _file_log(log_path: str) -> logging.Handler:
    handler = logging.FileHandler(log_path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger("gongwen").addHandler(handler)
    logging.getLogger("gongwen").setLevel(logging.INFO)
    return handler


def session_id() -> tuple[str, bool]:
    """The 文稿 in the URL (a new one when absent or not ours), and whether it changed since the
    last run of this browser tab."""
    sid = st.query_params.get("s")
    if not is_session_id(sid):
        sid = new_session_id()
        st.query_params["s"] = sid
    changed = st.session_state.get("sid") != sid
    st.session_state.sid = sid
    return sid, changed


def run() -> None:
    st.set_page_config(page_title="公文起草助手", page_icon="📝", layout="wide",
                       initial_sidebar_state="expanded")
    st.markdown(CSS, unsafe_allow_html=True)
    settings = Settings()
    _file_log(str(settings.path("logs", "app.log")))
    store = SessionStore.for_settings(settings)
    sid, changed = session_id()
    form = FormPanel(store, sid)
    if changed:  # new tab, reload, or another 文稿 opened: its own form, no leftover state
        for key in [k for k in st.session_state if k.startswith(("chat_", "lib_", "docs_", "_"))]:
            del st.session_state[key]
        form.reset()
        form.load()
    library = LibraryPanel(settings, store, sid)
    chat = ChatPanel(settings, store, sid, form, library.ensure_seed_index)

    with st.sidebar:
        model_status(settings)
        library.seed_slot = st.empty()
        st.divider()
        form.draw(on_draft=lambda: chat.queue({"kind": "draft"}))
        st.divider()
        st.button("新建文稿", width="stretch", key="docs_new_sidebar", on_click=new_document,
                  args=(store, sid), help="开始一份新的文稿，单位、年份和文种沿用当前文稿；"
                                          "当前文稿在“我的文稿”中随时可以打开。")

    st.markdown("## 公文起草助手")
    current, documents, examples = st.tabs(["当前文稿", "我的文稿", "范文库"])
    with current:
        chat.draw()
    with documents:
        DocumentsPanel(store, sid).draw()
    with examples:
        library.draw()
    # after the page is drawn, so the first start shows the page at once
    run_safely(library.ensure_seed_index, "seed index")


run()
