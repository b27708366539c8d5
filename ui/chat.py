"""The chat and its versions: drafting, revising, repairing and 补充材料 in the background, the
version being written (with 停止), unfinished versions (with 继续起草), hand edits, the elaboration
to confirm (扩写（请核实）: highlighted, 确认 / 删除 each, 删除全部未确认的扩写), copy, downloads
(unconfirmed elaboration highlighted or left out), 恢复此版本 (any earlier finished version made
current again) and the comparison of any two versions.

The current version is the one the last finished run made, or the one 恢复此版本 chose
(SessionStore.current_draft_id); downloads, hand edits, 补充材料, repairs and revisions act on it,
and it is checked against the request the form holds now (a fact added to 事实材料 counts at once).
Every run starts from the version's blocks and plan (its `detail`), so the clerk's own words stay
the clerk's; a run whose result has a part or sub-heading twice is refused and makes no version.

Owns the session-state keys chat_* (edit boxes, material boxes, comparison pickers, export
options) and _chat_action (the button pressed in this run).
"""
from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from typing import Any

import streamlit as st

from evals.copy_index import load_copy_index
from rag import draft as drafting
from rag.compose import Block, render_blocks
from rag.config import Settings
from rag.document import confirm_elaboration, drop_elaboration, elaboration_texts
from rag.errors import RequestError
from rag.export import export_docx, export_markdown, export_text
from rag.library import list_documents, retriever_without
from rag.normalize import draft_intent
from rag.llm import get_llm
from rag.repair import check_blocks
from rag.schema import WHOLE_REPORT, DraftRequest
from rag.sessions import UNFINISHED, DraftVersion, SessionBusy, SessionStore
from rag.text import written_len
from ui import evaluation as evalui
from ui import jobs
from ui.common import (ELABORATION_LABEL, diff_html, highlight_html, run_safely, same_text,
                       version_label)
from ui.form import FormPanel
from rag.plan import ReportPlan
from rag.normalize import parse_request
from ui import plan as planpanel
from ui.record import record_panel
from ui.versioning import (Place, blocks_of, changed_note, droppable, duplicated_headings, elaboration_marks,
                           plan_of, record_of, supply_places, text_without_elaboration, version_facts)

STATE_NOTE = {"streaming": "写作中", "failed": "未完成", "stopped": "已停止", "interrupted": "已中断"}
NOOP_PREFIX = "稿件没有变化"
WHAT_RUNS = {"revise": "修改", "repair": "修复", "fill": "补充材料", "confirm": "确认扩写", "drop": "删除扩写"}
KEEP_ELABORATION = {"标亮": "未确认的扩写以绿色底色标出，定稿前请逐句核实", "不导出": "未确认的扩写不写入下载的文件"}


def export_title(request: dict[str, Any]) -> str | None:
    if request.get("section") == WHOLE_REPORT:
        return f"{request.get('unit', '')}{request.get('year', '')}年{request.get('genre', '')}"
    return None


def merged_sources(sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Passages of the same report and section shown as one source."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for s in sources:
        where = s.get("section") or s.get("role", "")
        key = (str(s.get("title", "")), str(where))
        if key in merged:
            if s.get("text") and s["text"] not in merged[key]["texts"]:
                merged[key]["texts"].append(s["text"])
        else:
            merged[key] = {"title": key[0], "where": key[1], "genre": s.get("genre", ""),
                           "texts": [s.get("text", "")]}
    return list(merged.values())


class ChatPanel:
    def __init__(self, settings: Settings, store: SessionStore, sid: str, form: FormPanel,
                 ensure_seed_index) -> None:
        self.settings, self.store, self.sid, self.form = settings, store, sid, form
        self.ensure_seed_index = ensure_seed_index
        jobs.mark_orphans(store, sid)
        self.versions = store.drafts(sid)
        self._working_id: int | None = None   # set when the page is drawn
        self._several = False                  # more than one finished version: say which is current

    @property
    def working_version(self) -> DraftVersion | None:
        """The current version (恢复此版本 or the last finished run), else the newest complete
        one: what a revision, repair, edit or download starts from."""
        done = [v for v in self.versions if v.text and v.status == "done"]
        current = self.store.current_draft_id(self.sid)
        return next((v for v in done if v.id == current), done[-1] if done else None)

    @staticmethod
    def queue(action: dict[str, Any]) -> None:
        st.session_state._chat_action = action

    # -- drawing -----------------------------------------------------------------------------
    def draw(self) -> None:
        if "_chat_action" not in st.session_state:   # a run started by a button reads the version as it is
            run_safely(self._check_against_form, f"session {self.sid}")
        messages = self.store.messages(self.sid)
        if not messages and not self.versions:
            self._welcome()
        by_id = {v.id: v for v in self.versions}
        latest_id = self.versions[-1].id if self.versions else None
        working_id = self.working_version.id if self.working_version else None
        self._working_id = working_id
        self._several = len([v for v in self.versions if v.text and v.status == "done"]) >= 2
        shown: set[int] = set()
        noop_for = {m.content.split("|", 1)[0] for m in messages if NOOP_PREFIX in m.content}
        for m in messages:
            v = by_id.get(m.draft_id) if m.draft_id else None
            if v is not None and v.id in shown:
                continue
            with st.chat_message(m.role):
                if v is None:
                    st.markdown(m.content.split("|", 1)[-1])
                    continue
                shown.add(v.id)
                if not m.content.startswith((f"第{v.version}版已生成", f"第{v.version}版已停止", "生成中断")):
                    st.markdown(m.content)  # what this run did: the part revised, a hand edit checked
                self._version(v, full=v.id in (latest_id, working_id), actions=v.id == working_id,
                              noop=f"v{v.id}" in noop_for)
        for v in self.versions:  # written now, or left unfinished without a reply
            if v.id not in shown:
                with st.chat_message("assistant"):
                    self._version(v, full=True, actions=v.id == working_id, noop=False)
        if len([v for v in self.versions if v.text]) >= 2:
            self._compare()

        planpanel.draw(self.store, self.sid, self._form_request, has_versions=bool(self.versions),
                       on_draft=lambda: self.queue({"kind": "draft"}),
                       on_make=lambda: self.queue({"kind": "plan"}))
        action = st.session_state.pop("_chat_action", None)
        prompt = st.chat_input("提出修改意见，如“第二部分再精炼一些”“（二）写具体些”；输入“起草”按左侧要求起草")
        if prompt and prompt.strip():
            prompt = prompt.strip()
            action = ({"kind": "draft"} if draft_intent(prompt) is not None
                      else {"kind": "plan"} if re.fullmatch(r"(?:先|请)?(?:看看?|拟|列|给我)?(?:一下)?提纲[。！!]?", prompt)
                      else {"kind": "revise", "instruction": prompt})
        if action:
            run_safely(lambda: self._perform(action), f"session {self.sid}")

    def _check_against_form(self) -> None:
        """The current version checked again, in place, when the form's request has changed since
        its check (a fact added to 事实材料, a new length): its findings are about the facts as
        they are now. Only for the same genre and section: another report is drafted, not checked."""
        v = self.working_version
        request = self._form_request()
        if v is None or request is None or jobs.running(self.sid):
            return
        try:
            checked = parse_request(v.request)
        except RequestError:
            return
        if (request.genre, request.section) != (checked.genre, checked.section) or request == checked:
            return
        ev = check_blocks(blocks_of(v), request, load_copy_index(self.settings)).to_json()
        self.store.update_draft(v.id, text=v.text, evaluation=ev, detail={**v.detail, "rechecked": True},
                                request=request.to_dict())
        self.versions = self.store.drafts(self.sid)

    def _form_request(self) -> DraftRequest | None:
        """The request the sidebar holds now, or None while it is incomplete."""
        try:
            return self.form.state().request()
        except RequestError:   # said when 起草 is pressed; the plan panel only compares with it
            return None

    def _welcome(self) -> None:
        st.info("**三步完成一篇材料**\n\n"
                "1. 在左侧选择文种和起草部分，填写单位、年份和目标字数；\n"
                "2. 把本单位的事实和数字粘贴到“事实材料”（每行一条，可直接从 Excel/Word 粘贴）；\n"
                "3. 点击“起草”。生成后可在下方对话框提出修改意见、直接修改，并导出符合公文格式的 Word 文档。")
        cols = st.columns(2)
        cols[0].button("起草", type="primary", key="chat_draft_main", on_click=self.queue,
                       args=({"kind": "draft"},), width="stretch")
        cols[1].button("先看提纲", key="chat_plan_main", on_click=self.queue, args=({"kind": "plan"},),
                       width="stretch", help="先看事实如何分组、小标题和字数安排，可以修改后再起草。")

    def _version(self, v: DraftVersion, full: bool, actions: bool, noop: bool) -> None:
        if v.status == "streaming":
            if jobs.running(self.sid):
                self._live(v.id)
                return
            # its job ended after this run read the versions (a quick revision or repair): drawn
            # from that read it would stay “写作中” with no live view to refresh it
            st.rerun()
        if not full:
            note = STATE_NOTE.get(v.status)
            st.markdown(f"**{version_label(v)}**　{written_len(v.text)} 字　"
                        + (f":orange[{note}]" if note else evalui.badge(v.evaluation)))
            with st.expander("展开查看这一版"):
                self._version_body(v, actions=False, noop=noop)
            return
        self._version_body(v, actions=actions, noop=noop)

    def _head(self, v: DraftVersion, note: str = "", text: str | None = None) -> None:
        head = f"**{version_label(v)}**　{written_len(v.text if text is None else text)} 字"
        if note:
            head += f'　<span class="gw-state gw-state-{v.status}">{note}</span>'
        if v.id == self._working_id and self._several:
            head += '　<span class="gw-state gw-state-done">当前版本</span>'
        if v.instruction and v.kind in ("revise", "fill"):
            said = "补充的材料" if v.kind == "fill" else "修改意见"
            head += f"　{said}：{html.escape(v.instruction)}"
        st.markdown(head, unsafe_allow_html=True)

    def _live(self, draft_id: int) -> None:
        """The version being written, refreshed every second from the store without rerunning
        the page; when it ends, the page reruns once to show it finished."""
        @st.fragment(run_every=1.0)
        def live() -> None:
            try:
                v = self.store.draft(draft_id)
            except KeyError:  # a run that changed nothing removed its version
                st.rerun()
            job = jobs.running(self.sid)
            if v.status != "streaming" or job is None or job.draft_id != draft_id:
                st.rerun()
            text = job.text or v.text
            self._head(v, "写作中", text)
            st.caption(f"{job.progress}　可以离开或刷新本页，写作不会中断。")
            if text:
                st.markdown(highlight_html(text, [], partial=True), unsafe_allow_html=True)
            st.button("停止", key=f"chat_stop_{draft_id}", on_click=jobs.request_stop, args=(self.sid,),
                      help="停止写作，保留已经写好的部分。")
        live()

    def _version_body(self, v: DraftVersion, actions: bool, noop: bool) -> None:
        self._head(v, STATE_NOTE.get(v.status, ""))
        if v.status in UNFINISHED:
            reason = v.error or "没有写完。"
            if v.status == "failed":
                st.error(f"生成中断：{reason}")
            else:
                st.warning(reason)
            if v.text and v.status == "interrupted":   # the server stopped: what had streamed, unchecked
                st.caption("以下是程序停止前模型已输出的文字，尚未逐句检查；点“继续起草”会重新写这一版。")
            elif v.text:
                st.caption("以下是中断前已写好的部分（已逐句检查），已保存。")
        ev = v.evaluation
        violations = ev.get("violations", []) if ev else []
        alone, attached = evalui.split_notices(v.notices, violations)
        for notice in alone:
            st.info(notice)
        if ev:
            evalui.verdict(ev, v.text, v.request, v.detail)
            if v.detail.get("rechecked"):
                st.caption("已按左侧现在的要求和事实重新检查了这一版（没有生成新版本）。")
        blocks = blocks_of(v) if v.status == "done" and v.text else []
        marks = elaboration_marks(v.text, blocks, version_facts(v)) if blocks else []
        if marks:
            st.caption(f"绿色底色、标着“扩写”的句子是{ELABORATION_LABEL}：模型在事实之外写的做法、原因和成效，"
                       "没有新的数字和名称，但请逐句核实" + ("，在下方确认或删除。" if actions else "。"))
        if v.text:
            st.markdown(highlight_html(v.text, violations, partial=v.status != "done", tip=evalui.tooltip,
                                       elaboration=[(m.start, m.end, m.n) for m in marks]),
                        unsafe_allow_html=True)
        if actions and blocks:
            self._supply(v, blocks)
            self._elaboration(v, blocks, marks)
        evalui.findings(v.text, violations, attached, expanded=actions)
        if v.sources:
            sources = merged_sources(v.sources)
            with st.expander(f"参考的范文（{len(sources)} 篇）"):
                for s in sources:
                    st.markdown(f"**《{s['title']}》** · {s['genre']} · {s['where']}"
                                + (f"（{len(s['texts'])} 段）" if len(s["texts"]) > 1 else ""))
                    text = "……".join(t[:300] for t in s["texts"])
                    st.markdown(f'<div class="gw-src">{html.escape(text[:600])}'
                                f'{"…" if len(text) > 600 else ""}</div>', unsafe_allow_html=True)
        if v.detail:
            record_panel(v.detail, v.request)
        if v.status in UNFINISHED:
            st.button("继续起草", key=f"chat_resume_{v.id}", type="primary", on_click=self.queue,
                      args=({"kind": "resume", "draft_id": v.id},),
                      help="按原来的要求和提纲把这一版写完（已写好的部分保留）。")
        if actions and v.text:
            self._actions(v, violations, noop, blocks, bool(marks))
        elif v.status == "done" and v.text and v.id != self._working_id:
            st.button("恢复此版本", key=f"chat_restore_{v.id}", on_click=self.queue,
                      args=({"kind": "restore", "draft_id": v.id},),
                      help="把这一版设为当前版本：下载、直接修改、修复和修改意见都针对它。不会复制出新版本。")

    def _supply(self, v: DraftVersion, blocks: list[Block]) -> None:
        """补充材料: each paragraph that asks for material, with a box for the clerk's answer."""
        places = supply_places(blocks)
        if not places:
            return
        st.markdown(f"**补充材料**（{len(places)} 处待补充）")
        st.caption("在【待补充】处写几句实际情况（具体做法、数字或典型事例），点“补充”：只改写这一段，"
                   "补充的内容照录，并加进左侧“事实材料”，以后起草也会用到。")
        for n, place in enumerate(places):
            key = f"chat_fill_{v.id}_{n}"
            c1, c2 = st.columns([6, 1], vertical_alignment="bottom")
            c1.text_input(f"{place.label}：{'、'.join(dict.fromkeys(place.asks))}", key=key,
                          placeholder="如：组织专题培训4期，建立周调度机制")
            c2.button("补充", key=f"chat_fill_go_{v.id}_{n}", on_click=self._queue_fill, args=(v.id, key, place),
                      width="stretch")

    def _queue_fill(self, draft_id: int, key: str, place: Place) -> None:
        """on_click of 补充: the answer also goes into 事实材料 (callbacks run before the form is
        drawn, so the box can still change), then 补充材料 runs for that paragraph."""
        ss = st.session_state
        material = planpanel.material_fact(ss.get(key, ""))
        if material:
            ss.form_facts = planpanel.add_fact_line(ss.get("form_facts", ""), material)
            ss[key] = ""
        self.queue({"kind": "fill", "draft_id": draft_id, "at": place.at, "where": place.label,
                    "material": material})

    def _elaboration(self, v: DraftVersion, blocks: list[Block], marks: list) -> None:
        """扩写（请核实）: each unconfirmed stretch with the facts it elaborates, 确认 / 删除 each, and
        删除全部未确认的扩写. A confirmation changes this version in place; a deletion makes one new
        version 删除扩写 (further deletions on it change it in place), so the text before any
        deletion stays in the version list."""
        if not marks:
            return
        facts = {f["id"]: f["text"] for f in (v.detail.get("facts") or {}).get("facts", [])}
        with st.expander(f"{ELABORATION_LABEL}（{len(marks)} 句待确认）", expanded=True):
            for m in marks:
                c1, c2, c3 = st.columns([8, 1, 1], vertical_alignment="center")
                basis = "；".join(facts[i] for i in m.fact_ids if i in facts)
                c1.markdown(f"**扩写{m.n}**　{html.escape(m.text)}"
                            + (f"<br><span style='color:#666;font-size:13px'>依据：{html.escape(basis)}</span>"
                               if basis else ""), unsafe_allow_html=True)
                c2.button("确认", key=f"chat_elab_ok_{v.id}_{m.n}", on_click=self.queue,
                          args=({"kind": "confirm", "draft_id": v.id, "texts": [m.text]},),
                          help="核实无误，保留这句并去掉标记。")
                c3.button("删除", key=f"chat_elab_del_{v.id}_{m.n}", on_click=self.queue,
                          args=({"kind": "drop", "draft_id": v.id, "texts": [m.text]},), disabled=bool(m.fact),
                          help=(f"这句里有事实原文“{m.fact[:30]}”，不能作为扩写删除；要改请用“直接修改这一版”。"
                                if m.fact else "删去这句扩写，其余文字不变。"))
            c1, c2 = st.columns(2)
            c1.button("全部确认", key=f"chat_elab_ok_all_{v.id}", on_click=self.queue,
                      args=({"kind": "confirm", "draft_id": v.id, "texts": None},), width="stretch")
            c2.button("删除全部未确认的扩写", key=f"chat_elab_del_all_{v.id}", on_click=self.queue,
                      args=({"kind": "drop", "draft_id": v.id, "texts": None},), width="stretch",
                      disabled=all(m.fact for m in marks),
                      help="删去这一版所有还没有确认的扩写；含有事实原文的句子不删。")

    def _actions(self, v: DraftVersion, violations: list[dict[str, Any]], noop: bool, blocks: list[Block],
                 unconfirmed: bool) -> None:
        cols = st.columns([1.3, 1, 1, 1, 1])
        with cols[0]:
            st.button("按评估意见修复", key=f"chat_repair_{v.id}",
                      type="primary" if violations and not noop else "secondary",
                      disabled=not violations or noop, width="stretch",
                      on_click=self.queue, args=({"kind": "repair", "draft_id": v.id},),
                      help=("上次修复没有改动这一版，剩下的问题请直接修改或提出修改意见。" if noop
                            else "逐条引用上面的问题，只改有问题的句子。"))
        request = v.request
        title = export_title(request)
        stem = f"{request.get('unit', '')}{request.get('year', '')}年{request.get('genre', '')}-第{v.version}版"
        font_set = "common" if st.session_state.get("chat_export_fonts") == "通用字体" else "gb"
        omit = unconfirmed and st.session_state.get("chat_export_elab") == "不导出"
        text = text_without_elaboration(blocks, version_facts(v)) if omit else v.text
        marked = elaboration_texts(blocks) if unconfirmed and not omit else ()
        with cols[1]:
            st.download_button("下载 Word", data=lambda: export_docx(text, title, font_set, elaboration=marked),
                               file_name=f"{stem}.docx", key=f"chat_docx_{v.id}", on_click="ignore",
                               mime="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                               width="stretch")
        with cols[2]:
            st.download_button("下载 Markdown", data=lambda: export_markdown(text, title, elaboration=marked),
                               file_name=f"{stem}.md", mime="text/markdown", key=f"chat_md_{v.id}",
                               on_click="ignore", width="stretch")
        with cols[3]:
            st.download_button("下载纯文本", data=lambda: export_text(text, title).encode("utf-8-sig"),
                               file_name=f"{stem}.txt", mime="text/plain", key=f"chat_txt_{v.id}",
                               on_click="ignore", width="stretch")
        with cols[4]:
            copy_button(export_text(text, title))
        st.radio("Word 字体", ["公文标准字体", "通用字体"], key="chat_export_fonts", horizontal=True,
                 help="公文标准字体：方正小标宋简体、仿宋_GB2312、楷体_GB2312、黑体（缺字体时自动换用"
                      "华文中宋、仿宋、楷体）；通用字体：华文中宋、仿宋、楷体、黑体（Windows/WPS 自带）。")
        if unconfirmed:
            st.radio("未确认的扩写", list(KEEP_ELABORATION), key="chat_export_elab", horizontal=True,
                     captions=list(KEEP_ELABORATION.values()),
                     help="下载和复制时怎样处理还没有确认的扩写：标亮（Word 中绿色底色，Markdown 中 <mark>），"
                          "或不写入文件（删去的只是下载的文件里的这些句子，这一版不变）。")
        with st.expander("直接修改这一版"):
            st.text_area("稿件全文", value=v.text, key=f"chat_edit_{v.id}", height=360,
                         label_visibility="collapsed")
            st.button("保存为新版本（手工修改）并重新检查", key=f"chat_save_edit_{v.id}",
                      on_click=self._queue_edit, args=(v.id,))

    def _queue_edit(self, draft_id: int) -> None:
        self.queue({"kind": "edit", "draft_id": draft_id,
                    "text": st.session_state.get(f"chat_edit_{draft_id}", "")})

    def _compare(self) -> None:
        usable = [v for v in self.versions if v.text]
        # keyed by the newest version, so a new version brings the default back to the latest two
        newest = usable[-1].id
        with st.expander("版本对比"):
            labels = {v.id: version_label(v) for v in usable}
            ids = [v.id for v in usable]
            c1, c2 = st.columns(2)
            with c1:
                a = st.selectbox("原版本", ids, index=len(ids) - 2, format_func=labels.get,
                                 key=f"chat_cmp_a_{newest}")
            with c2:
                b = st.selectbox("新版本", ids, index=len(ids) - 1, format_func=labels.get,
                                 key=f"chat_cmp_b_{newest}")
            old = next(v for v in usable if v.id == a)
            new = next(v for v in usable if v.id == b)
            body, removed, added = diff_html(old.text, new.text)
            st.caption(f"删去 {removed} 字（红色删除线），新增 {added} 字（绿色）；"
                       f"字数 {written_len(old.text)} → {written_len(new.text)}")
            st.markdown(body, unsafe_allow_html=True)

    # -- actions -----------------------------------------------------------------------------
    def _perform(self, action: dict[str, Any]) -> None:
        kind = action["kind"]
        if kind == "edit":
            self._save_edit(action["draft_id"], action["text"])
            return
        if kind == "restore":
            self._restore(action["draft_id"])
            return
        running = jobs.running(self.sid)
        if running:
            raise SessionBusy(f"第{running.version}版正在写作中，请等它写完或点击“停止”后再"
                              f"{WHAT_RUNS.get(kind, '起草')}。")
        if kind in ("confirm", "drop"):
            self._elaboration_action(kind, action["draft_id"], action["texts"])
            return
        if kind == "fill":
            self._fill(action)
            return
        if kind == "resume":
            self._resume(action["draft_id"])
            return
        if kind == "plan":
            self.ensure_seed_index()
            planpanel.make(self.store, self.sid, self.form.state().request(), self.settings)
            st.rerun()
        latest = self.working_version
        if kind == "revise" and latest is None:
            self.store.add_message(self.sid, "user", action["instruction"])
            self.store.add_message(self.sid, "assistant",
                                   "还没有可修改的稿件。请先在左侧填写要求和事实，再点击“起草”。")
            st.rerun()
        if kind == "repair":
            parent = self.store.draft(action["draft_id"])
            request = parse_request(parent.request)
            user_text = f"按评估意见修复第{parent.version}版"
        else:
            request = self.form.state().request()  # RequestError (shown) when something is missing
            parent = latest if kind == "revise" else None
            user_text = (f"起草：{request.genre} · {request.section}（{request.unit}，{request.year}年，"
                         f"{len(request.facts)} 条事实）" if kind == "draft" else action["instruction"])
        plan, plan_note = planpanel.usable(self.store, self.sid, request) if kind == "draft" else (None, "")
        if plan_note:
            user_text += f"（{plan_note}）"
        self.ensure_seed_index()
        work = self._work(kind, request, parent, action.get("instruction", ""), plan=plan)
        jobs.begin(self.store, lambda: self.store.start_draft(
            self.sid, kind, request.to_dict(), instruction=action.get("instruction", ""),
            parent_id=parent.id if parent else None, exclusive=True, user_message=user_text), work)
        st.rerun()

    def _fill(self, action: dict[str, Any]) -> None:
        """补充材料 for one paragraph of a version: a new version (kind fill) from its blocks and plan."""
        parent = self.store.draft(action["draft_id"])
        current = self.working_version
        if current is not None and current.id != parent.id:
            # a box of the version shown before the page caught up with a newer one: the answer is
            # for the current version, where that place still asks for it
            if not any(p.at == action["at"] for p in supply_places(blocks_of(current))):
                raise RequestError(f"页面刚刚更新，当前版本是第{current.version}版，“{action['where']}”已不需要补充；"
                                   "请看新版本下方的“补充材料”。")
            parent = current
        material = action["material"]
        if not material:
            raise RequestError(f"请先在“{action['where']}”下面的框里写要补充的内容（几句话即可，如具体做法、"
                               "数字或典型事例），再点“补充”。")
        request = parse_request(parent.request)
        # material given before (a run that failed, then a check against the form) is given once
        request = replace(request, facts=[f for f in request.facts if f != material])
        self.ensure_seed_index()
        work = self._work("fill", request, parent, material, at=action["at"], where=action["where"])
        jobs.begin(self.store, lambda: self.store.start_draft(
            self.sid, "fill", request.to_dict(), instruction=material, parent_id=parent.id, exclusive=True,
            user_message=f"补充材料（{action['where']}）：{material}",
            detail={"fill_at": action["at"], "fill_where": action["where"]}), work)
        st.rerun()

    def _elaboration_action(self, kind: str, draft_id: int, texts: list[str] | None) -> None:
        """确认 marks elaboration as the clerk's choice, in place; 删除 takes it out of the text —
        into a new version 删除扩写, or in place when this version is one — and nothing else: a
        span that says a fact word for word is not deleted (it would take the fact with it)."""
        v = self.store.draft(draft_id)
        blocks = blocks_of(v)
        every = texts is None
        if kind == "drop":
            texts = [t for t in droppable(blocks, version_facts(v)) if every or t in texts]
        changed = (confirm_elaboration if kind == "confirm" else drop_elaboration)(blocks, texts)
        if not changed:
            return
        request = parse_request(v.request)
        result = drafting.edit_draft(request, render_blocks(blocks), self.settings, blocks=blocks, plan=plan_of(v))
        detail = {**v.detail, **{k: x for k, x in record_of(result).items()
                                 if k in ("blocks", "sentences", "elaboration")}}
        ev = result.evaluation.to_json()
        what = f"{'确认' if kind == 'confirm' else '删除'}了{'全部' if every else ''} {changed} 句扩写"
        if every and kind == "drop" and elaboration_marks(result.draft, result.blocks):
            what += "（含有事实原文的句子没有删除）"
        if kind == "confirm" or v.kind == "drop":
            self.store.update_draft(v.id, text=result.draft, evaluation=ev, detail=detail)
            self.store.add_message(self.sid, "assistant", f"第{v.version}版{what}（没有生成新版本）。")
        else:
            new = self.store.start_draft(self.sid, "drop", v.request, instruction="删除扩写", parent_id=v.id,
                                         user_message=f"删除第{v.version}版{'全部未确认的' if every else '一句'}扩写")
            self.store.finish_draft(new.id, result.draft, sources=v.sources, notices=[], evaluation=ev,
                                    detail=detail)
            self.store.add_message(self.sid, "assistant",
                                   f"第{new.version}版（删除扩写）：{what}，其余文字不变；删除前的文字仍在第{v.version}版。",
                                   new.id)
        st.rerun()

    def _restore(self, draft_id: int) -> None:
        v = self.store.restore_draft(draft_id)
        self.store.add_message(self.sid, "assistant",
                               f"已恢复第{v.version}版为当前版本（见上方第{v.version}版）：下载、直接修改、修复和"
                               "修改意见都针对这一版；其他版本仍保留，可随时再恢复。")
        st.rerun()

    def _resume(self, draft_id: int) -> None:
        old = self.store.draft(draft_id)
        parent = self.store.draft(old.parent_id) if old.parent_id else None
        request = parse_request(old.request)
        self.ensure_seed_index()
        # a partial draft goes on from its first unfinished part, with the plan it was following;
        # anything else is written again, with the document's plan when it still fits
        resume = drafting.DraftResult.from_json(old.detail) if old.detail.get("partial") else None
        plan = None
        if old.kind == "draft" and (resume is None or resume.plan is None):
            plan, _note = planpanel.usable(self.store, self.sid, request)
        work = self._work(old.kind, request, parent, old.instruction, resume=resume, plan=plan,
                          at=old.detail.get("fill_at", ""), where=old.detail.get("fill_where", ""))
        jobs.begin(self.store, lambda: self.store.restart_draft(draft_id), work)
        st.rerun()

    def _retriever(self):
        excluded = set(self.form.state().excluded)
        if not excluded:
            return None
        chunks = {c for d in list_documents(self.settings) if d.key in excluded for c in d.chunk_ids}
        return retriever_without(self.settings, chunks)

    def _work(self, kind: str, request: DraftRequest, parent: DraftVersion | None,
              instruction: str, resume: "drafting.DraftResult | None" = None,
              plan: "ReportPlan | None" = None, at: str = "", where: str = "") -> jobs.Work:
        """The drafting call for the background thread; everything it needs is built here, in
        the page's thread (models, retriever, imports). A revision, repair or 补充材料 starts from
        the parent version's blocks and plan."""
        settings, store, sid = self.settings, self.store, self.sid
        llm = get_llm(settings)  # shared per configuration; the embedded model starts in the background
        retriever = self._retriever() if kind == "draft" else None
        parent_text = parent.text if parent else ""
        parent_sources = parent.sources if parent else []
        parent_blocks = blocks_of(parent) if parent else None
        parent_plan = plan_of(parent) if parent else None

        def work(on_token, progress) -> jobs.Outcome:
            if kind == "draft":
                result = drafting.draft_report(request, settings, llm=llm, on_token=on_token,
                                               progress=progress, retriever=retriever, resume=resume,
                                               plan=plan)
                if not result.draft and not result.partial:  # nothing usable to draft from
                    raise RequestError("\n".join(result.notices) or "没有生成内容。")
                if result.plan is not None and result.facts is not None:
                    planpanel.remember(store, sid, result.plan, result.facts, request)
                return jobs.Outcome(result.draft, [e.to_dict() for e in result.sources],
                                    list(result.notices), result.evaluation.to_json()
                                    if result.evaluation else None, detail=record_of(result),
                                    partial_error=result.error if result.partial else "")
            if kind == "revise":
                progress("正在修改…")
                result = drafting.revise_draft(request, parent_text, instruction, settings, llm=llm,
                                               on_token=on_token, blocks=parent_blocks, plan=parent_plan)
                if same_text(result.draft, parent_text):
                    return jobs.Outcome(parent_text, keep=False, message=(
                        f"按修改意见“{instruction}”处理后{NOOP_PREFIX}，未生成新版本。"
                        "可以换一种说法，或在“直接修改这一版”里动手改。"))
                return self._checked(result, parent_sources, changed_note(parent_text, result.draft, "修改意见"))
            if kind == "fill":
                progress(f"正在把补充的材料写进“{where}”…")
                result = drafting.fill_paragraph(request, parent_text, at, instruction, settings, llm=llm,
                                                 on_token=on_token, blocks=parent_blocks, plan=parent_plan)
                if same_text(result.draft, parent_text):
                    return jobs.Outcome(parent_text, keep=False, message=(
                        f"补充的材料没有写进“{where}”，{NOOP_PREFIX}，未生成新版本。可以在“直接修改这一版”里写进去。"))
                placed = planpanel.place_material(store, sid, parent_plan, result, at, parent_blocks)
                outcome = self._checked(result, parent_sources, changed_note(parent_text, result.draft, "补充的材料"))
                if placed is not None:
                    outcome.detail["plan"] = placed.to_dict()
                return outcome
            progress("正在按评估意见修复…")
            result = drafting.repair_draft(request, parent_text, settings, llm=llm, on_token=on_token,
                                           blocks=parent_blocks, plan=parent_plan)
            if same_text(result.draft, parent_text):
                left = [evalui.rule_name(v.rule) for v in (result.evaluation.violations
                                                            if result.evaluation else [])]
                rest = f"剩下的问题（{'、'.join(dict.fromkeys(left))}）需要人工修改。" if left else ""
                return jobs.Outcome(parent_text, keep=False, message=(
                    f"v{parent.id}|按评估意见修复第{parent.version}版后{NOOP_PREFIX}，未生成新版本。{rest}"))
            return self._checked(result, parent_sources, "")
        return work

    @staticmethod
    def _checked(result: "drafting.DraftResult", sources: list[dict[str, Any]], message: str) -> jobs.Outcome:
        """A revision's, repair's or 补充材料's result as the outcome to save — unless it holds a part
        or sub-heading twice: then no version is made and the current one stays."""
        twice = duplicated_headings(result.blocks)
        if twice:
            return jobs.Outcome(result.draft, keep=False, message=(
                f"这次的结果里“{'”“'.join(twice)}”出现了两次，保存会打乱稿件的结构，已放弃这次结果，未生成新版本，"
                "当前版本不变。可以换一种说法再试，或在“直接修改这一版”里动手改。"))
        return jobs.Outcome(result.draft, sources, list(result.notices),
                            result.evaluation.to_json() if result.evaluation else None, message=message,
                            detail=record_of(result),
                            request=result.request.to_dict() if result.request is not None else None)

    def _save_edit(self, draft_id: int, text: str) -> None:
        """A hand edit: a new version marked 手工修改, read against the version it started from (the
        words typed are the clerk's: their figures and names count as facts of this version) and
        checked by the same rules."""
        parent = self.store.draft(draft_id)
        if not text.strip():
            raise RequestError("修改后的稿件是空的，未保存。")
        if same_text(text, parent.text):
            st.info("内容没有改动（只增删空行或空格不算改动），未生成新版本。")
            return
        text = text.replace("\r\n", "\n").strip()
        request = parse_request(parent.request)
        result = drafting.edit_draft(request, text, self.settings, blocks=blocks_of(parent), plan=plan_of(parent))
        detail = record_of(result)
        detail["facts"] = detail.get("facts") or parent.detail.get("facts")   # what the spans' fact ids name
        ev = result.evaluation.to_json()
        version = self.store.start_draft(self.sid, "edit", parent.request, parent_id=parent.id,
                                         user_message=f"手工修改第{parent.version}版")
        self.store.finish_draft(version.id, result.draft, sources=parent.sources, notices=[], evaluation=ev,
                                detail=detail)
        verdict = "评估通过" if ev["passed"] else f"评估未通过（{len(ev['violations'])} 处问题）"
        self.store.add_message(self.sid, "assistant",
                               f"第{version.version}版（手工修改）已保存并重新检查：{verdict}。", version.id)
        st.session_state.pop(f"chat_edit_{draft_id}", None)
        st.rerun()


_COPY_HTML = """<html><body style="margin:0">
<button id="b" style="width:100%;height:38px;border:1px solid #d0c8b8;border-radius:8px;background:#fff;
 font-size:15px;font-family:sans-serif;cursor:pointer">复制全文</button>
<script>
const text = TEXT;
const b = document.getElementById("b");
b.onclick = async () => {
  let ok = false;
  try { await navigator.clipboard.writeText(text); ok = true; } catch (e) {
    const t = document.createElement("textarea"); t.value = text; document.body.appendChild(t);
    t.select(); ok = document.execCommand("copy"); t.remove();
  }
  b.textContent = ok ? "已复制" : "复制失败，请手动选择";
  setTimeout(() => { b.textContent = "复制全文"; }, 2000);
};
</script></body></html>"""


def copy_button(text: str) -> None:
    """A 复制全文 button (Streamlit has none in Chinese): the text travels as a JSON string
    inside the frame's script, with “</” escaped so it cannot close the script."""
    payload = json.dumps(text, ensure_ascii=False).replace("</", "<\\/")
    st.iframe(_COPY_HTML.replace("TEXT", payload), height=40)
