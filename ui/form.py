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

from evals.facts import FactConflict
from rag.errors import RequestError
from rag.factsheet import SPARE, FactSheet, analyse_facts
from rag.schema import GENRES, WHOLE_REPORT, DraftRequest
from rag.sessions import SessionStore
from rag.normalize import NormalizedFacts, normalize_facts
from rag.prompting import genre_sections, requested_parts, section_checklist
from rag.normalize import parse_request
from rag.text import extract_numbers, is_year_token
from rag.textnorm import normalize_for_compare
from ui.plan import KIND_LABEL

OTHER_SECTION = "其他（自行输入）"
MAX_FACTS_CHARS = 20_000   # a request's facts are a few thousand characters at most
MAX_FACT_LINES = 200
LENGTH_BOUNDS = (200, 6000)

def default_year(genre: str, today: dt.date | None = None) -> int:
    """The year a report written today is about: a 工作计划 plans next year from October on (plans
    are drafted in the fourth quarter), this year before; every other genre reports on this year,
    except in January, when year-end summaries of last year are still being written."""
    today = today or dt.date.today()
    if genre == "工作计划":
        return today.year + 1 if today.month >= 10 else today.year
    return today.year - 1 if today.month == 1 else today.year


def parse_facts(text: str) -> list[str]:
    """Pasted text → the facts the drafter reads (rag.normalize: numbering, bullets, header rows,
    traditional script and punctuation handled once for the CLI, the checker and the page)."""
    return normalize_facts(text).texts


@dataclass
class FormState:
    genre: str = GENRES[0]
    section: str = WHOLE_REPORT
    unit: str = ""
    year: int = field(default_factory=lambda: default_year(GENRES[0]))
    length: tuple[int, int] = (600, 1000)
    facts_text: str = ""
    notes: str = ""
    excluded: list[str] = field(default_factory=list)   # 范文库 reports left out of this 文稿
    confirmed: list[str] = field(default_factory=list)  # facts naming another place, confirmed as the unit's

    def to_dict(self) -> dict[str, Any]:
        return {"genre": self.genre, "section": self.section, "unit": self.unit,
                "year": self.year, "length": list(self.length), "facts_text": self.facts_text,
                "notes": self.notes, "excluded": list(self.excluded), "confirmed": list(self.confirmed)}

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
        for name in ("excluded", "confirmed"):
            if isinstance(data.get(name), list):
                setattr(form, name, [k for k in data[name] if isinstance(k, str)])
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
        if self.length[0] > self.length[1]:
            raise RequestError(f"目标字数的下限（{self.length[0]}字）大于上限（{self.length[1]}字），请在左侧改正。")
        return parse_request({
            "genre": self.genre, "section": self.section.strip(), "unit": self.unit.strip(),
            "year": self.year, "facts": facts, "length_chars": list(self.length),
            "notes": self.notes.strip(), "confirmed_facts": list(self.confirmed)})


def analyse_form(form: FormState) -> tuple[NormalizedFacts, FactSheet]:
    """The facts as the drafter will read them, while the clerk is still typing: cleaned lines,
    then typed facts (records split, another place's facts held, conflicts found). A form not yet
    complete (no unit) is analysed all the same; nothing is refused here."""
    normalized = normalize_facts(form.facts_text)
    section = form.section.strip() or WHOLE_REPORT
    request = DraftRequest(genre=form.genre, section=section, unit=form.unit.strip(), year=form.year,
                           facts=normalized.texts, length_chars=form.length,
                           confirmed_facts=list(form.confirmed))
    return normalized, analyse_facts(request, requested_parts(form.genre, section))


def settle_conflict(facts_text: str, normalized: NormalizedFacts, sheet: FactSheet,
                    conflict: FactConflict, keep_id: int) -> str:
    """事实材料 with a conflict settled in favour of fact `keep_id`: every other fact of the
    conflict loses its line (or its sentence) when the conflicting value is all the figures it
    gives, and otherwise has that value replaced by the kept one. Nothing else changes."""
    lines = facts_text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if keep_id - 1 not in conflict.fact_indexes:
        return facts_text
    keep, right = keep_id - 1, conflict.value_text(keep_id - 1)
    dropped: set[int] = set()
    for index, text in zip(conflict.fact_indexes, conflict.facts):
        fact = sheet.facts[index]
        if index == keep or not fact.source:
            continue
        typed = normalized.facts[fact.source - 1]
        norm = normalize_for_compare(text)
        wrong_text = conflict.value_text(index)
        wrong = next(t for t in extract_numbers(norm) if norm[t.start:t.end] == wrong_text)
        others = [t for t in extract_numbers(norm) if t is not wrong and not is_year_token(t, norm)]
        alone = sum(f.source == fact.source for f in sheet.facts) == 1   # not a piece of a record
        line = lines[typed.line - 1]
        at = line.find(typed.original)
        if not others and alone and sum(f.line == typed.line for f in normalized.facts) == 1:
            dropped.add(typed.line - 1)
        elif not others and alone and at >= 0:
            end = at + len(typed.original)
            end += line[end:end + 1] in "。；;"
            lines[typed.line - 1] = (line[:at] + line[end:]).strip("。；;，, \u3000")
        else:
            base, region = (at, typed.original) if at >= 0 else (0, line)
            hit = next((t for t in extract_numbers(region) if t.pair == wrong.pair), None)
            if hit:
                lines[typed.line - 1] = line[:base + hit.start] + right + line[base + hit.end:]
    return "\n".join(line for n, line in enumerate(lines) if n not in dropped)


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
        ss.form_length_min, ss.form_length_max = form.length
        ss.form_facts, ss.form_notes = form.facts_text, form.notes
        ss.form_excluded = list(form.excluded)
        ss.form_confirmed = list(form.confirmed)
        ss._saved_form = form.to_dict()

    @staticmethod
    def state() -> FormState:
        ss = st.session_state
        choice = ss.get("form_section_choice", WHOLE_REPORT)
        section = ss.get("form_section_custom", "") if choice == OTHER_SECTION else choice
        return FormState(genre=ss.get("form_genre", GENRES[0]), section=section,
                         unit=ss.get("form_unit", ""), year=int(ss.get("form_year", 2024)),
                         length=(int(ss.get("form_length_min", 600)), int(ss.get("form_length_max", 1000))),
                         facts_text=ss.get("form_facts", ""), notes=ss.get("form_notes", ""),
                         excluded=list(ss.get("form_excluded", [])),
                         confirmed=list(ss.get("form_confirmed", [])))

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
        if ss.get("form_year") in {default_year(g) for g in GENRES}:   # a year nobody typed follows the genre
            ss.form_year = default_year(ss.form_genre)

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
        low, high = st.columns(2)
        low.number_input("最少字数", min_value=LENGTH_BOUNDS[0], max_value=LENGTH_BOUNDS[1], step=50,
                         key="form_length_min", help="目标字数的下限（不计空白）。")
        high.number_input("最多字数", min_value=LENGTH_BOUNDS[0], max_value=LENGTH_BOUNDS[1], step=50,
                          key="form_length_max", help="目标字数的上限（不计空白）。")
        st.text_area(
            "事实材料（每行一条）", key="form_facts", height=220, on_change=self._guard_facts_size,
            placeholder="可直接从 Excel 或 Word 粘贴，例如：\n全县适龄儿童免疫规划疫苗接种率保持在95%以上\n"
                        "全年报告法定传染病12类1386例，报告及时率100%",
            help="每行一条事实。粘贴时自动去掉制表符、项目符号和编号。助手只使用这里的数字。")
        refused = st.session_state.pop("_facts_refused", None)
        if refused:
            st.error(f"粘贴的内容太大（{refused:,} 字），超过 {MAX_FACTS_CHARS:,} 字上限，未采用；"
                     "已保留原来的内容。请只粘贴本次需要的事实。")
        normalized, sheet = analyse_form(self.state())
        if normalized.facts:
            held = f"，另有 {len(sheet.held)} 条待确认" if sheet.held else ""
            held += f"，台账中另有 {len(sheet.spare)} 条因字数所限未写入" if sheet.spare else ""
            st.caption(f"已识别 **{len(sheet.facts)}** 条事实{held}")
            with st.expander("查看识别结果"):
                self._show_facts(normalized, sheet)
            for long_fact in normalized.overlong:
                st.warning(long_fact.message)
            self._fact_warnings(normalized, sheet)
        else:
            st.caption("尚未填写事实")
        section = self.state().section
        if section.strip():
            with st.expander("这一部分需要哪些事实"):
                st.markdown("\n".join(f"- {item}" for item in section_checklist(genre, section)))
        st.text_area("补充要求（可选）", key="form_notes", height=80,
                     placeholder="如：分免疫规划、传染病防控两块写；不写存在问题")
        self.save_if_changed()
        st.button("起草", type="primary", width="stretch", key="draft_sidebar", on_click=on_draft)

    @staticmethod
    def _show_facts(normalized: NormalizedFacts, sheet: FactSheet) -> None:
        """Every fact as the drafter reads it: typed, where it comes from (a record's pieces say
        so), what cleaning changed, and what is held back or set aside."""
        rows = sheet.facts + sheet.held + sheet.spare
        split = {f.source for f in rows if sum(g.source == f.source for g in rows) > 1}

        def origin(f) -> str:
            if not f.source:
                return "关键数字"
            return f"第{f.source}条" + ("拆出" if f.source in split else "")

        def handled(f) -> str:
            said = list(normalized.facts[f.source - 1].changes) if 0 < f.source <= len(normalized.facts) else []
            if f.place:
                said.append(f"写的是{f.place}的情况，待确认")
            if f.flag == SPARE:
                said.append("台账内容较多，因字数所限未写入草稿")
            return "；".join(said)
        st.dataframe({"序号": [f.id for f in rows], "事实": [f.text for f in rows],
                      "类别": [KIND_LABEL.get(f.kind, f.kind) for f in rows],
                      "来自": [origin(f) for f in rows], "原文": [f.original for f in rows],
                      "处理": [handled(f) for f in rows]}, hide_index=True, width="stretch")
        for notice in dict.fromkeys(normalized.notices + sheet.notices):
            st.caption(notice)

    @staticmethod
    def _fact_warnings(normalized: NormalizedFacts, sheet: FactSheet) -> None:
        """What the drafter would set aside, hold back or withhold, said while the clerk can still
        fix the facts: each conflict with both facts and a one-click choice, each fact naming
        another place with 确认属于本单位."""
        for f in sheet.ignored:
            rest = "（其余部分照常作为事实）" if f.text.strip() != f.original.strip() else ""
            st.warning(f"第{f.id}条像是给助手的指令，起草时不会采用{rest}：“{f.text[:40]}”")
        for k, c in enumerate(sheet.conflicts):
            members = sheet.conflict_facts(c)
            st.warning(c.message([f.source for f in members])
                       + "不改的话，草稿中这些数值都不用，在该处写“【待核实】”。哪一条是对的？")
            for f in members:
                st.button(f"以第{f.source}条为准（{c.value_text(f.id - 1)}）", key=f"form_settle_{k}_{f.id}",
                          on_click=FormPanel._settle, args=(c.values, c.unit, f.id))
        for f in sheet.held:
            st.warning(f"第{f.source}条写的是{f.place}的情况，是否属于本单位？确认前不写入草稿：“{f.text[:40]}”")
            st.button("确认属于本单位", key=f"form_confirm_{f.id}", on_click=FormPanel._confirm, args=(f.text,))

    @staticmethod
    def _settle(values: tuple[str, ...], unit: str, keep_id: int) -> None:
        """on_click of 以第N条为准: the facts box with the other facts of that conflict mended."""
        ss = st.session_state
        normalized, sheet = analyse_form(FormPanel.state())
        conflict = next((c for c in sheet.conflicts if (c.values, c.unit) == (values, unit)), None)
        if conflict is not None:
            ss.form_facts = settle_conflict(ss.get("form_facts", ""), normalized, sheet, conflict, keep_id)

    @staticmethod
    def _confirm(text: str) -> None:
        """on_click of 确认属于本单位: the fact goes into the draft from now on."""
        ss = st.session_state
        ss.form_confirmed = list(dict.fromkeys(list(ss.get("form_confirmed", [])) + [text]))


def carry_over(form: dict[str, Any] | None) -> dict[str, Any]:
    """新建文稿: a new request that keeps the unit, the year and the genre of the last one."""
    old = FormState.from_dict(form or {})
    return FormState(genre=old.genre, unit=old.unit, year=old.year, length=old.length).to_dict()
