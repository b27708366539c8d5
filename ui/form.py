"""The request form in the sidebar: genre, section, unit, year, length, facts, notes.

Owns the session-state keys form_* and _saved_form; the form is saved to the session store on
every change, so a reload or another browser with the same address gets it back.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from evals.facts import find_conflicts, split_instruction
from rag.errors import RequestError
from rag.schema import GENRES, WHOLE_REPORT, DraftRequest
from rag.sessions import SessionStore
from rag.normalize import normalize_facts
from rag.prompting import genre_sections, section_checklist
from rag.normalize import parse_request

OTHER_SECTION = "其他（自行输入）"
MAX_FACTS_CHARS = 20_000   # a request's facts are a few thousand characters at most
MAX_FACT_LINES = 200
LENGTH_BOUNDS = (200, 6000)

def parse_facts(text: str) -> list[str]:
    """Pasted text → the facts the drafter reads (rag.normalize: numbering, bullets, header rows,
    traditional script and punctuation handled once for the CLI, the checker and the page)."""
    return normalize_facts(text).texts


@dataclass
class FormState:
    genre: str = GENRES[0]
    section: str = WHOLE_REPORT
    unit: str = ""
    year: int = field(default_factory=lambda: dt.date.today().year)
    length: tuple[int, int] = (600, 1000)
    facts_text: str = ""
    notes: str = ""
    excluded: list[str] = field(default_factory=list)   # 范文库 reports left out of this 文稿

    def to_dict(self) -> dict[str, Any]:
        return {"genre": self.genre, "section": self.section, "unit": self.unit,
                "year": self.year, "length": list(self.length), "facts_text": self.facts_text,
                "notes": self.notes, "excluded": list(self.excluded)}

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
        if isinstance(data.get("excluded"), list):
            form.excluded = [k for k in data["excluded"] if isinstance(k, str)]
        return form

    def request(self) -> DraftRequest:
        """The drafting request, or a RequestError saying what to fill in."""
        if not self.unit.strip():
            raise RequestError("请在左侧填写“单位名称”，例如“青山县卫生健康局”。")
        if not self.section.strip():
            raise RequestError("请在左侧选择或填写要起草的部分（如“全文”“主要工作及成效”）。")
        facts = parse_facts(self.facts_text)
        if not facts:
            items = "\n".join(f"- {item}" for item in section_checklist(self.genre, self.section))
            raise RequestError(
                f"请先在左侧“事实材料”中填写本单位的具体情况，每行一条（可直接从 Excel 或 Word 粘贴）。"
                f"起草{self.genre}（{self.section}）一般需要：\n{items}\n\n助手只使用您提供的事实和数字，不会编造。")
        if len(facts) > MAX_FACT_LINES:
            raise RequestError(f"事实材料共 {len(facts)} 行，超过 {MAX_FACT_LINES} 行上限，请精简后再起草。")
        return parse_request({
            "genre": self.genre, "section": self.section.strip(), "unit": self.unit.strip(),
            "year": self.year, "facts": facts, "length_chars": list(self.length),
            "notes": self.notes.strip()})


class FormPanel:
    def __init__(self, store: SessionStore, sid: str) -> None:
        self.store, self.sid = store, sid

    # -- state -------------------------------------------------------------------------------
    @staticmethod
    def reset() -> None:
        for key in [k for k in st.session_state if k.startswith("form_") or k == "_saved_form"]:
            del st.session_state[key]

    def load(self) -> None:
        form = FormState.from_dict(self.store.load_form(self.sid) or {})
        ss = st.session_state
        ss.form_genre = form.genre
        options = genre_sections(form.genre)
        ss.form_section_choice = form.section if form.section in options else OTHER_SECTION
        ss.form_section_custom = "" if form.section in options else form.section
        ss.form_unit, ss.form_year = form.unit, form.year
        ss.form_length = form.length
        ss.form_facts, ss.form_notes = form.facts_text, form.notes
        ss.form_excluded = list(form.excluded)
        ss._saved_form = form.to_dict()

    def state(self) -> FormState:
        ss = st.session_state
        choice = ss.get("form_section_choice", WHOLE_REPORT)
        section = ss.get("form_section_custom", "") if choice == OTHER_SECTION else choice
        return FormState(genre=ss.get("form_genre", GENRES[0]), section=section,
                         unit=ss.get("form_unit", ""), year=int(ss.get("form_year", 2024)),
                         length=tuple(ss.get("form_length", (600, 1000))),
                         facts_text=ss.get("form_facts", ""), notes=ss.get("form_notes", ""),
                         excluded=list(ss.get("form_excluded", [])))

    def save_if_changed(self) -> None:
        form = self.state().to_dict()
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
        if ss.get("form_section_choice") not in genre_sections(ss.form_genre):
            ss.form_section_choice = WHOLE_REPORT

    # -- drawing -----------------------------------------------------------------------------
    def draw(self, on_draft: Callable[[], None]) -> None:
        st.markdown("#### 起草要求")
        st.selectbox("文种", GENRES, key="form_genre", on_change=self._on_genre_change)
        genre = st.session_state.form_genre
        st.selectbox("起草部分", genre_sections(genre) + [OTHER_SECTION], key="form_section_choice",
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
        normalized = normalize_facts(st.session_state.get("form_facts", ""))
        facts = normalized.texts
        st.caption(f"已识别 **{len(facts)}** 条事实" if facts else "尚未填写事实")
        if facts:
            with st.expander("查看识别结果"):
                st.dataframe({"序号": list(range(1, len(facts) + 1)), "事实": facts,
                              "原文": [f.original for f in normalized.facts],
                              "处理": ["；".join(f.changes) for f in normalized.facts]},
                             hide_index=True, width="stretch")
                for notice in normalized.notices:
                    st.caption(notice)
            for long_fact in normalized.overlong:
                st.warning(long_fact.message)
            self._fact_warnings(facts)
        section = self.state().section
        if section.strip():
            with st.expander("这一部分需要哪些事实"):
                st.markdown("\n".join(f"- {item}" for item in section_checklist(genre, section)))
        st.text_area("补充要求（可选）", key="form_notes", height=80,
                     placeholder="如：分免疫规划、传染病防控两块写；不写存在问题")
        self.save_if_changed()
        st.button("起草", type="primary", width="stretch", key="draft_sidebar", on_click=on_draft)

    @staticmethod
    def _fact_warnings(facts: list[str]) -> None:
        """What the drafter would set aside, said while the user can still fix the facts."""
        for n, fact in enumerate(facts, 1):
            split = split_instruction(fact)
            if split.pieces:
                rest = "（其余部分照常作为事实）" if split.fact else ""
                st.warning(f"第{n}条像是给助手的指令，起草时不会采用{rest}：“{split.instruction[:40]}”")
        for conflict in find_conflicts(facts):
            st.warning(conflict.message() + "不改的话，草稿中这两个数值都不用，在该处写“【待核实】”。")


def carry_over(form: dict[str, Any] | None) -> dict[str, Any]:
    """新建文稿: a new request that keeps the unit, the year and the genre of the last one."""
    old = FormState.from_dict(form or {})
    return FormState(genre=old.genre, unit=old.unit, year=old.year, length=old.length).to_dict()
