"""我的文稿: every 文稿 kept on this computer, newest first, to open, rename or delete; and
新建文稿, which keeps the unit, year and genre of the current one.

Owns the session-state keys docs_* (rename boxes, delete confirmation).
"""
from __future__ import annotations

import streamlit as st

from rag.sessions import SessionStore, new_session_id
from ui.common import when
from ui.form import carry_over


def open_session(sid: str) -> None:
    st.query_params["s"] = sid


def new_document(store: SessionStore, current: str) -> None:
    """A new 文稿 with the current unit, year and genre already filled in."""
    sid = new_session_id()
    store.save_form(sid, carry_over(store.load_form(current)))
    open_session(sid)


class DocumentsPanel:
    def __init__(self, store: SessionStore, sid: str) -> None:
        self.store, self.sid = store, sid

    def draw(self) -> None:
        st.markdown("#### 我的文稿")
        st.button("新建文稿", key="docs_new", on_click=new_document, args=(self.store, self.sid),
                  help="开始一份新的文稿，单位、年份和文种沿用当前文稿。")
        sessions = self.store.sessions()
        if not sessions:
            st.caption("还没有保存的文稿。填写要求或起草后，文稿会自动保存在这里。")
            return
        st.caption("文稿自动保存在本机；网址中的编号对应当前文稿，收藏网址也能回到它。")
        for s in sessions:
            with st.container(border=True):
                c1, c2, c3, c4 = st.columns([5, 1, 1, 1], vertical_alignment="center")
                current = "　:blue[（当前）]" if s.id == self.sid else ""
                c1.markdown(f"**{s.title}**{current}")
                facts = " · ".join(x for x in (s.unit, s.genre, f"{s.year}年" if s.year else "",
                                               f"{s.versions} 个版本" if s.versions else "") if x)
                c1.caption(f"{facts}　创建于 {when(s.created_at)}　最后修改 {when(s.updated_at)}　状态：{s.state}")
                c2.button("打开", key=f"docs_open_{s.id}", on_click=open_session, args=(s.id,),
                          disabled=s.id == self.sid)
                with c3.popover("重命名"):
                    st.text_input("新名称", value=s.title if s.custom_title else "", key=f"docs_name_{s.id}",
                                  placeholder=s.title, max_chars=80)
                    st.button("保存名称", key=f"docs_rename_{s.id}", on_click=self._rename, args=(s.id,))
                c4.button("删除", key=f"docs_del_{s.id}", on_click=self._ask_delete, args=(s.id,))
                if st.session_state.get("docs_confirm") == s.id:
                    st.warning(f"确定删除文稿《{s.title}》吗？它的要求、对话和全部 {s.versions} 个版本都会删除，"
                               "不能恢复。")
                    y, n, _ = st.columns([1, 1, 4])
                    y.button("确认删除", key=f"docs_del_yes_{s.id}", type="primary",
                             on_click=self._delete, args=(s.id,))
                    n.button("取消", key=f"docs_del_no_{s.id}", on_click=self._ask_delete, args=(None,))

    def _rename(self, sid: str) -> None:
        self.store.rename_session(sid, st.session_state.get(f"docs_name_{sid}", ""))

    @staticmethod
    def _ask_delete(sid: str | None) -> None:
        st.session_state.docs_confirm = sid

    def _delete(self, sid: str) -> None:
        st.session_state.docs_confirm = None
        if sid == self.sid:  # the open 文稿 goes: continue in a new one with the same unit/year
            new_document(self.store, sid)
        self.store.delete_session(sid)
