"""The language model's state in the sidebar, in plain words: which model and whether it
answers. Addresses and protocol details go in a folded 技术细节 for whoever maintains it."""
from __future__ import annotations

import html

import streamlit as st

from rag.config import Settings
from rag.errors import UserFacingError
from rag.llm import get_llm

STATE = {"ready": "就绪", "starting": "启动中", "unreachable": "无法连接"}


def plain_name(label: str, settings: Settings) -> str:
    """“已配置接口 deepseek-chat @ api.deepseek.com” → “外部模型服务（deepseek-chat）”."""
    if label.startswith("已配置接口"):
        return f"外部模型服务（{settings.llm_model}）"
    return label


def model_status(settings: Settings) -> None:
    """While the embedded model starts, this part refreshes itself every few seconds."""
    try:
        status = get_llm(settings).status()
    except UserFacingError as e:
        st.error(f"语言模型：{e}")
        return
    if status.state == "starting":
        st.fragment(lambda: _show(settings), run_every=3)()
    else:
        _show(settings, status)


def _show(settings: Settings, status=None) -> None:
    if status is None:
        try:
            status = get_llm(settings).status()
        except UserFacingError as e:
            st.error(f"语言模型：{e}")
            return
    state = STATE.get(status.state, status.state)
    st.markdown(f'**语言模型** <span class="gw-state gw-state-{html.escape(status.state)}">{state}</span>'
                f'<br><span class="gw-model">{html.escape(plain_name(status.label, settings))}</span>',
                unsafe_allow_html=True)
    if status.state == "unreachable":
        st.error("无法连接语言模型，暂时不能起草；已填写的内容会保存。请确认模型服务已启动，"
                 "或联系维护人员。")
        with st.expander("技术细节（给维护人员）"):
            st.caption(status.detail)
    elif status.state == "starting":
        st.caption("内置模型正在启动，首次启动约需一分钟；可以先填写要求。")
