"""Facts read right (made-up facts throughout): two facts conflict only for the same measure,
place or group, period and kind of figure; a pasted record becomes the facts it holds, each with
its month or place; a fact telling another county's figures waits for the clerk; labels and
numbering never reach a fact's text."""
from __future__ import annotations

import re
from dataclasses import replace

import pytest

from evals.facts import classify_facts, find_conflicts, foreign_places
from rag.factsheet import FOREIGN_SCOPE, PLAN, PROBLEM, VERIFY_MARK, analyse_facts
from rag.normalize import PIECE_CHARS, normalize_request, parse_request
from rag.prompting import requested_parts
from rag.textnorm import normalize_for_compare
from ui.form import FormState, analyse_form, settle_conflict

UNIT = "清河县卫生健康局"


def conflicts(facts: list[str], year: int = 2024) -> list[tuple[str, ...]]:
    return [c.values for c in find_conflicts(facts, unit=UNIT, year=year)]


def sheet_of(facts: list[str], genre: str = "工作总结", section: str = "全文", year: int = 2024, **extra):
    request = parse_request({"genre": genre, "section": section, "unit": UNIT, "year": year,
                             "facts": facts, "length_chars": [1500, 2200], **extra})
    return analyse_facts(request, requested_parts(request.genre, request.section))


# --- conflicts: the same measure, place or group, period and kind -------------------------------

@pytest.mark.parametrize("facts,year", [
    (["新建标准化村卫生室14所", "2025年计划新建标准化村卫生室9所"], 2024),        # result vs plan
    (["2022年全县产前筛查率71.3%", "2023年全县产前筛查率78.9%"], 2023),          # two years
    (["城区儿童眼保健覆盖率93.1%", "农村儿童眼保健覆盖率84.6%"], 2024),          # two places
    (["男性高血压患者规范管理率66.2%", "女性高血压患者规范管理率71.8%"], 2024),   # two groups
    (["公立医院门诊均次费用236元", "民营医院门诊均次费用198元"], 2024),          # two groups
    (["上半年肺结核患者成功治疗率89%", "肺结核患者成功治疗率93%"], 2024),         # half-year vs year
    (["高血压患者血压控制率达到58.1%", "高血压患者血压控制率由49.7%提高到58.1%"], 2024),   # baseline
    (["适龄妇女两癌筛查率86.5%", "力争适龄妇女两癌筛查率达到90%"], 2024),       # target
    (["孕产妇系统管理率96.1%，比上年提高1.2个百分点",                           # two changes of
      "0—6岁儿童健康管理率94.3%，比上年提高2.5个百分点"], 2024),                # two measures
])
def test_figures_of_another_place_period_or_kind_are_two_facts(facts, year):
    assert conflicts(facts, year) == []


def test_the_units_own_scope_word_is_no_scope_of_its_own():
    assert conflicts(["全县产前筛查率78.9%", "产前筛查率76.2%"]) == [("78.9", "76.2")]


def test_a_result_and_a_plan_keep_their_figures_in_the_draft():
    sheet = sheet_of(["新建标准化村卫生室14所", "下步打算：新建标准化村卫生室9所"])
    assert not sheet.conflicts
    texts = {f.text: (f.kind, f.part) for f in sheet.facts}
    assert texts == {"新建标准化村卫生室14所": ("achievement", "work"), "新建标准化村卫生室9所": (PLAN, "next")}


def test_a_true_conflict_is_withheld_in_both_facts_and_named_in_the_notice():
    sheet = sheet_of(["全县产前筛查率78.9%", "新生儿听力筛查率78.9%", "据妇幼年报，产前筛查率76.2%"])
    assert [c.values for c in sheet.conflicts] == [("78.9", "76.2")]
    texts = [f.text for f in sheet.facts]
    assert texts[0] == f"全县产前筛查率{VERIFY_MARK}" and texts[2] == f"据妇幼年报，产前筛查率{VERIFY_MARK}"
    assert texts[1] == "新生儿听力筛查率78.9%"      # the same value for another measure stays
    notice = next(n for n in sheet.notices if n.startswith("事实互相矛盾"))
    assert "第1条“全县产前筛查率78.9%”" in notice and "第3条“据妇幼年报，产前筛查率76.2%”" in notice
    assert sheet.to_dict()["conflicts"] == [{"fact_ids": [1, 3], "values": ["78.9", "76.2"], "unit": "%"}]


def test_the_checker_reads_conflicts_the_same_way():
    from evals.context import CheckContext
    request = parse_request({"genre": "工作总结", "section": "全文", "unit": UNIT, "year": 2023,
                             "facts": ["2022年全县产前筛查率71.3%", "2023年全县产前筛查率78.9%"]})
    assert CheckContext("全县产前筛查率78.9%。", request).conflicts == []


# --- a record becomes facts ----------------------------------------------------------------------

LEDGER = "\n".join([
    "清河县2024年基层卫生人才培训工作台账（按月汇总）",
    "1月：组织乡村医生岗前培训2期，培训63人次；开展村医执业资格考前辅导1期。",
    "2月：选派乡镇卫生院骨干医师到县人民医院进修12人，进修期为6个月；组织全科医生线上培训1期。",
    "3月：举办基层中医适宜技术推广班3期，培训村医118人次，考核合格率96.6%。",
    "4月：开展基层急诊急救技能竞赛，参赛队伍16支，评选优秀个人9名；部分乡镇卫生院尚未配备培训用模拟人。",
    "5月：组织公共卫生服务项目业务培训，覆盖全县18个乡镇卫生院和246个村卫生室，培训412人次。",
    "全年合计：全年培训基层卫生人员1287人次；组织进修38人。",
    "下步打算：一是建设县级基层卫生人才实训基地1个；二是开展村医学历提升教育50人。",
    "备注：以上数据来自各乡镇卫生院月报。",
])


def test_a_ledger_becomes_facts_each_keeping_its_month():
    sheet = sheet_of([LEDGER, "全县新建标准化村卫生室14所"], key_figures=["全年培训基层卫生人员1287人次"])
    texts = [f.text for f in sheet.facts]
    assert "1月，组织乡村医生岗前培训2期，培训63人次" in texts
    assert "1月，开展村医执业资格考前辅导1期" in texts          # the second sentence keeps its month
    assert "3月，举办基层中医适宜技术推广班3期，培训村医118人次，考核合格率96.6%" in texts
    assert all(len(t) <= PIECE_CHARS + len("12月，") for t in texts)
    assert "全年培训基层卫生人员1287人次" in "".join(texts)       # the key figure is among the facts
    assert not any("台账" in t or "月报" in t for t in texts)     # title and note set aside, said so
    assert any("是标题、表头或说明" in n and "工作台账" in n for n in sheet.notices)
    assert any(n.startswith("第1条拆成了") for n in sheet.notices)
    assert {f.source for f in sheet.facts} == {1, 2}


def test_a_ledger_too_long_for_the_asked_length_is_written_from_its_totals_and_one_piece_per_work():
    months = "\n".join(f"{m}月：组织消防应急演练{m + 2}次；检查医疗机构{10 + m}家次，发现隐患{20 + m}处。"
                       for m in range(1, 13))
    ledger = "青禾县2025年安全检查台账\n" + months + "\n全年合计：检查医疗机构222家次，发现隐患318处。"
    request = parse_request({"genre": "工作总结", "section": "主要工作及成效", "unit": UNIT, "year": 2025,
                             "facts": [ledger, "签订安全生产责任书40份"], "length_chars": [400, 600],
                             "key_figures": ["开展消防应急演练90次"]})
    sheet = analyse_facts(request, requested_parts(request.genre, request.section))
    texts = [f.text for f in sheet.facts]
    assert "签订安全生产责任书40份" in texts and "开展消防应急演练90次" in texts     # typed facts, key figures
    assert any("检查医疗机构222家次" in t for t in texts)                          # the total
    assert sum(len(t) for t in texts) <= 300
    assert sum("消防应急演练" in t for t in texts) <= 2          # not the same drill month after month
    assert sheet.spare and all(f.flag == "spare" for f in sheet.spare)
    whole = analyse_facts(replace(request, length_chars=(4000, 6000)), requested_parts(request.genre, request.section))
    assert not whole.spare and len(sheet.facts) + len(sheet.spare) == len(whole.facts)   # the rest is listed
    assert any("未写入草稿" in n for n in sheet.notices)


def test_a_long_ledger_writes_each_months_work_before_its_details():
    works = ["开展节前安全大检查，由分管领导带队分3组", "启动燃气管道专项排查，逐一查看阀门和报警器",
             "组织危化品库房专项检查，推行双人双锁", "开展电动车违规充电整治，清理楼道充电点",
             "围绕防汛排查地下室和屋顶防水", "启动实验室生物安全检查，核查病原微生物备案"]
    rows = "\n".join(f"{m}月：{w}，检查{10 + m}家次；发现隐患{20 + m}处，"
                     f"整改资金用于更换灭火器和应急灯；参加人员共计{40 + m}人。"
                     for m, w in enumerate(works, 1))
    ledger = "石桥县2025年安全检查台账\n" + rows + "\n全年合计：检查医疗机构93家次，发现隐患141处。"
    request = parse_request({"genre": "工作总结", "section": "主要工作及成效", "unit": UNIT, "year": 2025,
                             "facts": [ledger], "length_chars": [300, 400]})
    sheet = analyse_facts(request, requested_parts(request.genre, request.section))
    texts = [f.text for f in sheet.facts]
    leads = [t for t in texts if any(w[:6] in t for w in works)]
    details = [t for t in texts if "整改资金用于" in t or "参加人员" in t]
    # a month's work says what was done; its figures and details are what is left out first
    assert len(leads) >= 5 and len(leads) > 2 * len(details)
    assert sheet.spare


def test_a_records_totals_label_is_not_written_but_a_topic_label_stays():
    ledger = ("青禾县2025年督查台账\n督查方式：采取明察暗访，乡镇卫生院每季度至少自查1次。\n"
              + "\n".join(f"{m}月：督查卫生院{m + 3}家，发现问题{m + 8}个。" for m in range(1, 13))
              + "\n全年合计：督查卫生院114家，发现问题174个。")
    texts = [f.text for f in sheet_of([ledger]).facts]
    assert "全年合计督查卫生院114家，发现问题174个" in texts and not any("合计：" in t for t in texts)
    assert any(t.startswith("督查方式：") for t in texts)


def test_a_long_ledgers_sub_headings_are_its_kinds_of_work_not_its_months():
    from rag.plan import make_plan
    from rag.prompting import genre_guide
    works = ["开展节前安全大检查，由分管领导带队分3组", "启动燃气管道专项排查，逐一查看阀门和报警器",
             "组织消防应急演练4次，参演职工120人", "举办安全管理人员培训班2期，培训86人次",
             "开展电动车违规充电专项整治，清理楼道充电点", "对卫生院配电房开展巡查，检查9家次",
             "组织夜间疏散演练1次，参演医护人员60人", "开展警示教育和咨询宣传，发放资料900份",
             "启动实验室生物安全专项检查，核查备案", "联合执法大队抽查民营医院7家次"]
    rows = "\n".join(f"{m}月：{w}。" for m, w in enumerate(works, 1))
    ledger = "石桥县2025年安全台账\n" + rows + "\n全年合计：检查医疗机构93家次，发现隐患255处。"
    request = parse_request({"genre": "工作总结", "section": "主要工作及成效", "unit": UNIT, "year": 2025,
                             "facts": [ledger, "签订安全生产责任书40份"], "length_chars": [800, 1200]})
    parts = requested_parts(request.genre, request.section)
    sheet = analyse_facts(request, parts)
    plan = make_plan(request, sheet, parts, genre_guide(request.genre), title="")
    items = [it for p in plan.parts for it in p.items]
    drills = [it for it in items if any("演练" in sheet.by_id(i).text for i in it.fact_ids)]
    special = [it for it in items if any("专项" in sheet.by_id(i).text for i in it.fact_ids)]
    assert len(drills) == 1 and len(special) == 1          # one kind of work, one sub-heading
    assert "演练" in drills[0].heading and "专项" in special[0].heading
    training = next(it for it in items if any("培训班" in sheet.by_id(i).text for i in it.fact_ids))
    assert "责任书" not in training.heading     # a typed fact among them does not name their work
    assert not any(re.search(r"\d月", it.heading) for it in items)


def test_a_ledger_that_fits_is_written_whole():
    assert not sheet_of([LEDGER]).spare


def test_ledger_pieces_are_typed_like_any_fact():
    sheet = sheet_of([LEDGER])
    kinds = {f.text: (f.kind, f.part) for f in sheet.facts}
    assert kinds["4月，部分乡镇卫生院尚未配备培训用模拟人"] == (PROBLEM, "problems")
    assert kinds["建设县级基层卫生人才实训基地1个"] == (PLAN, "next")       # label and 一是 gone
    assert kinds["开展村医学历提升教育50人"] == (PLAN, "next")
    assert not sheet.conflicts      # 63人次 in 1月 and 412人次 in 5月 are two months, not a conflict


def test_a_key_figure_no_piece_holds_becomes_a_fact_of_its_own():
    sheet = sheet_of([LEDGER], key_figures=["累计培训村医骨干200人"])
    assert sheet.facts[-1].text == "累计培训村医骨干200人" and sheet.facts[-1].source == 0
    assert any("关键数字“累计培训村医骨干200人”" in n for n in sheet.notices)


def test_a_table_run_pasted_as_one_fact_reads_each_row_under_its_header():
    table = "乡镇\t行政村（个）\t签约率（%）\n青禾镇\t12\t46\n柳塘乡\t9\t51.5"
    sheet = sheet_of([table])
    assert [f.text for f in sheet.facts] == ["青禾镇：行政村12个，签约率46%", "柳塘乡：行政村9个，签约率51.5%"]


def test_a_place_label_stays_on_every_piece_so_a_short_one_reads_as_a_fact():
    sheet = sheet_of(["青禾镇：行政村12个。家庭医生签约率46%"])
    assert [f.text for f in sheet.facts] == ["青禾镇：行政村12个", "青禾镇：家庭医生签约率46%"]


# --- another unit's figures ----------------------------------------------------------------------

NEIGHBOUR_FACTS = [
    "全县家庭医生签约率55.4%，比全市平均高4.1个百分点",
    "邻县石门县家庭医生签约率52.3%",
    "石门县在全市家庭医生签约服务考核中排名第一",
    "签约率高于石门县3.1个百分点",
    "新建省级卫生乡镇2个（青禾镇、柳塘乡）",
]


def test_a_neighbour_countys_figures_are_held_until_confirmed():
    sheet = sheet_of(NEIGHBOUR_FACTS)
    assert [(f.source, f.flag, f.place) for f in sheet.held] == [(2, FOREIGN_SCOPE, "石门县"), (3, FOREIGN_SCOPE, "石门县")]
    assert [f.source for f in sheet.facts] == [1, 4, 5]     # comparisons and the unit's towns stay
    assert "第2条写的是石门县的情况，是否属于本单位？" in "\n".join(sheet.notices)
    confirmed = sheet_of(NEIGHBOUR_FACTS, confirmed_facts=["邻县石门县家庭医生签约率52.3%"])
    assert [f.source for f in confirmed.held] == [3] and 2 in [f.source for f in confirmed.facts]


def test_the_checker_does_not_ask_for_a_held_facts_figures():
    request = parse_request({"genre": "工作总结", "section": "全文", "unit": UNIT, "year": 2024,
                             "facts": NEIGHBOUR_FACTS})
    classes = classify_facts(request)
    assert classes.foreign == NEIGHBOUR_FACTS[1:3] and NEIGHBOUR_FACTS[1] not in classes.mandatory


def test_confirmation_survives_into_the_request():
    got = normalize_request({"genre": "工作总结", "section": "全文", "unit": UNIT, "year": 2024,
                             "facts": NEIGHBOUR_FACTS, "confirmed_facts": ["鄰縣石門縣家庭醫生簽約率52.3%"]})
    assert got.request.confirmed_facts == ["邻县石门县家庭医生签约率52.3%"]
    assert got.request.to_dict()["confirmed_facts"] == ["邻县石门县家庭医生签约率52.3%"]


@pytest.mark.parametrize("unit,text,flagged", [
    ("清河县卫生健康局", "石门县卫生健康局家庭医生签约率52.3%", True),
    ("清河县卫生健康局", "2024年，石门县新建村卫生室8所", True),
    ("清河县卫生健康局", "获评岫州市卫生健康工作先进单位", False),      # the city that appraises
    ("清河县卫生健康局", "岫州市平均签约率40%，全县高出5个百分点", False),
    ("清河县卫生健康局", "与石门县签订医联体合作协议", False),
    ("清河县卫生健康局", "联合县教育局开展学生视力筛查2.1万人", False),   # 县教育局: the unit's own county
    ("岫州市卫生健康委员会", "石门县家庭医生签约率52.3%", False),          # a county of the city
    ("清河县青禾镇卫生院", "柳塘镇卫生院门诊量3.2万人次", True),           # another town, for a town
    ("清河县青禾镇卫生院", "清河县家庭医生签约率55%", False),              # the town's own county
])
def test_only_a_place_of_the_units_rank_or_above_as_subject_is_questioned(unit, text, flagged):
    assert bool(foreign_places(normalize_for_compare(text), unit)) is flagged


# --- labels and numbering never reach a fact's text ----------------------------------------------

@pytest.mark.parametrize("typed,texts,kind", [
    ("今后：2026年推动建设智慧卫生监督平台", ["2026年推动建设智慧卫生监督平台"], PLAN),
    ("下步打算：一是新建社区心理服务站3个；二是培训心理咨询员40人",
     ["新建社区心理服务站3个", "培训心理咨询员40人"], PLAN),
    ("存在问题：1.基层儿科医生不足；2.村医年龄偏大", ["基层儿科医生不足", "村医年龄偏大"], PROBLEM),
    ("2025年打算：（一）创建省级健康乡镇3个；（二）开展控烟执法检查200家次",
     ["创建省级健康乡镇3个", "开展控烟执法检查200家次"], PLAN),
    ("今后打算：第一，建成县域心电诊断中心；第二，远程会诊覆盖全部乡镇卫生院",
     ["建成县域心电诊断中心", "远程会诊覆盖全部乡镇卫生院"], PLAN),
    ("下半年：一是完成老年人健康体检2.4万人；二是推进家庭病床服务",
     ["完成老年人健康体检2.4万人", "推进家庭病床服务"], PLAN),
])
def test_labels_and_numbering_are_stripped_from_the_fact_text(typed, texts, kind):
    sheet = sheet_of([typed])
    assert [f.text for f in sheet.facts] == texts
    assert {f.kind for f in sheet.facts} == {kind}
    assert all(typed.endswith(f.original) or f.original in typed for f in sheet.facts)


def test_a_word_that_starts_like_a_marker_is_kept():
    sheet = sheet_of(["存在问题：第一批家庭医生团队人员流失较多"])
    assert [f.text for f in sheet.facts] == ["第一批家庭医生团队人员流失较多"]


# --- the form: both facts of a conflict, one click; a neighbour's fact, one click --------------

FORM_FACTS = ("1. 全县产前筛查率78.9%，筛查孕妇3120人\n"
              "新建标准化村卫生室14所\n"
              "据妇幼年报，产前筛查率76.2%\n")


def form(text: str = FORM_FACTS, **kw) -> FormState:
    return FormState(genre="工作总结", section="全文", unit=UNIT, year=2024, facts_text=text, **kw)


def test_settling_a_conflict_removes_the_wrong_line_and_nothing_else():
    normalized, sheet = analyse_form(form())
    conflict = sheet.conflicts[0]
    kept = settle_conflict(FORM_FACTS, normalized, sheet, conflict, keep_id=1)
    assert kept == "1. 全县产前筛查率78.9%，筛查孕妇3120人\n新建标准化村卫生室14所\n"
    assert not analyse_form(form(kept))[1].conflicts


def test_settling_a_conflict_edits_the_value_of_a_line_that_says_more():
    normalized, sheet = analyse_form(form())
    kept = settle_conflict(FORM_FACTS, normalized, sheet, sheet.conflicts[0], keep_id=3)
    assert kept == ("1. 全县产前筛查率76.2%，筛查孕妇3120人\n新建标准化村卫生室14所\n"
                    "据妇幼年报，产前筛查率76.2%\n")
    assert not analyse_form(form(kept))[1].conflicts


def test_the_form_request_carries_the_confirmed_facts():
    text = "全县家庭医生签约率55.4%\n邻县石门县家庭医生签约率52.3%"
    assert len(analyse_form(form(text))[1].held) == 1
    confirmed = form(text, confirmed=["邻县石门县家庭医生签约率52.3%"])
    assert not analyse_form(confirmed)[1].held
    assert confirmed.request().confirmed_facts == ["邻县石门县家庭医生签约率52.3%"]
    assert FormState.from_dict(confirmed.to_dict()).confirmed == ["邻县石门县家庭医生签约率52.3%"]


# --- the page (Streamlit AppTest, as in tests/test_app.py) ---------------------------------------

from tests.test_app import app_env, data_dir, fill_request, llm_stub, open_page  # noqa: E402,F401  (fixtures)

PAGE_FACTS = ("全县产前筛查率78.9%，筛查孕妇3120人\n新建标准化村卫生室14所\n"
              "据妇幼年报，产前筛查率76.2%\n邻县石门县家庭医生签约率52.3%\n")


def test_the_page_shows_both_facts_of_a_conflict_and_settles_it_in_one_click(app_env):
    at = open_page()
    fill_request(at, PAGE_FACTS)
    warnings = [w.value for w in at.warning]
    assert any("事实互相矛盾" in w and "第1条" in w and "第3条" in w for w in warnings), warnings
    assert {b.label for b in at.button} >= {"以第1条为准（78.9%）", "以第3条为准（76.2%）", "确认属于本单位"}
    next(b for b in at.button if b.label == "以第3条为准（76.2%）").click().run()
    assert at.text_area(key="form_facts").value == (
        "全县产前筛查率76.2%，筛查孕妇3120人\n新建标准化村卫生室14所\n"
        "据妇幼年报，产前筛查率76.2%\n邻县石门县家庭医生签约率52.3%\n")
    assert not any("事实互相矛盾" in w.value for w in at.warning)


def test_the_page_holds_a_neighbours_fact_until_the_clerk_confirms_it(app_env):
    from tests.test_app import _store
    at = open_page()
    fill_request(at, PAGE_FACTS)
    assert any("第4条写的是石门县的情况，是否属于本单位？" in w.value for w in at.warning)
    assert "已识别 **3** 条事实，另有 1 条待确认" in "\n".join(c.value for c in at.caption)
    table = at.dataframe[0].value
    assert list(table["类别"])[:3] == ["成绩", "成绩", "成绩"] and "写的是石门县的情况，待确认" in list(table["处理"])
    next(b for b in at.button if b.label == "确认属于本单位").click().run()
    assert not any("石门县的情况" in w.value for w in at.warning)
    assert _store(app_env).load_form(at.query_params["s"])["confirmed"] == ["邻县石门县家庭医生签约率52.3%"]


def test_a_ledger_rows_work_said_without_its_month_is_said():
    from rag.text import contains_fact
    piece = "7月，开展冷链设备专项检查，重点查看冰箱温度记录，检查11家次"
    assert contains_fact("开展冷链设备专项检查，重点查看冰箱温度记录，检查11家次。", piece)
    assert not contains_fact("开展冷链设备专项检查，重点查看冰箱温度记录。", piece)       # its figure is not
    assert contains_fact("7月，建立冷链温度台账。", "7月，建立冷链温度台账")
    # a year is no row's month: two years' figures stay two facts
    assert not contains_fact("全县接种率96.1%。", "2023年全县接种率95.4%")


@pytest.mark.parametrize("fact", ["城乡结合部垃圾清运不及时，群众投诉较多", "农村卫生厕所普及率81.2%，仍低于全省平均水平",
                                  "抽查病历900份，甲级病历率86.1%，低于全市平均水平", "慢病随访经费仅12万元，难以覆盖全部村"])
def test_a_shortfall_against_a_benchmark_or_a_duty_is_a_problem(fact):
    assert sheet_of([fact]).facts[0].kind == PROBLEM
