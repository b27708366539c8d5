"""Requests as people type them: one normalisation step where a request enters (rag.normalize)."""
from __future__ import annotations

import json
import re

import pytest

from evals.facts import OVERLONG_FACT_CHARS
from rag.errors import RequestError
from rag.normalize import (PIECE_CHARS, REQUEST_TRADITIONAL_NOTICE, DraftIntent, draft_intent, split_fact,
                           load_request, normalize_facts, normalize_request, split_pasted_facts,
                           strip_list_marker)
from rag.prompting import genre_sections, requested_parts, section_checklist
from rag.schema import DraftRequest
from rag.normalize import parse_request

BASE = {"genre": "工作总结", "section": "全文", "unit": "石桥县卫生健康局", "year": 2024,
        "facts": ["全县新建标准化村卫生室8个", "家庭医生重点人群签约率81.2%"]}


def request(**changes) -> dict:
    return {**BASE, **changes}


# --- traditional script ---

def test_a_traditional_request_is_drafted_in_simplified_script_with_a_notice():
    n = normalize_request(request(genre="工作計劃", section="保障措施", unit="石橋縣衛生健康局",
                                  topic="醫療衛生", facts=["縣財政安排專項經費300萬元", "建立督導考核機制"],
                                  key_figures=["300萬元"]))
    r = n.request
    assert (r.genre, r.section, r.unit, r.topic) == ("工作计划", "保障措施", "石桥县卫生健康局", "医疗卫生")
    assert r.facts == ["县财政安排专项经费300万元", "建立督导考核机制"]
    assert r.key_figures == ["300万元"]
    assert n.notices[0] == REQUEST_TRADITIONAL_NOTICE
    assert n.facts[0].original == "縣財政安排專項經費300萬元" and "繁体改为简体" in n.facts[0].changes


def test_a_simplified_request_passes_unchanged_and_silently():
    n = normalize_request(request())
    assert n.request == DraftRequest.validated(BASE) and n.notices == []


def test_normalising_twice_changes_nothing_more():
    typed = request(genre="工作總結", section="二、存在問題", facts=[
        "1、全縣開展義診２０場, 服務群眾3000人次", "序号\t工作内容\t完成情况", "1\t健康讲座\t举办12场", ""])
    once = normalize_request(typed)
    twice = normalize_request(once.request)
    assert twice.request == once.request and twice.notices == []


# --- numbering and bullets ---

@pytest.mark.parametrize("typed,marker", [
    ("1. 全县新建村卫生室8个", "1."), ("1、全县新建村卫生室8个", "1、"), ("①全县新建村卫生室8个", "①"),
    ("（1）全县新建村卫生室8个", "（1）"), ("(1)全县新建村卫生室8个", "(1)"), ("一、全县新建村卫生室8个", "一、"),
    ("（三）全县新建村卫生室8个", "（三）"), ("- 全县新建村卫生室8个", "-"), ("• 全县新建村卫生室8个", "•"),
    ("第一，全县新建村卫生室8个", "第一，"), ("3) 全县新建村卫生室8个", "3)"), ("⑫全县新建村卫生室8个", "⑫"),
    ("１．全县新建村卫生室8个", "1."),
])
def test_pasted_numbering_and_bullets_are_removed(typed, marker):
    got = normalize_facts([typed])
    assert got.texts == ["全县新建村卫生室8个"]
    assert f"去掉编号“{marker}”" in got.facts[0].changes
    assert any("去掉编号" in n for n in got.notices)


@pytest.mark.parametrize("fact", [
    "12家医院完成信息化改造", "2024年完成职工体检3000人", "1.5万人参加筛查", "3月15日启用新门诊楼",
    "1、2号病区完成改造", "一、二级医院全部接入平台", "5G急救车投入使用", "1+1+N签约团队覆盖全镇",
    "一是加强队伍建设", "-5℃以下天气启动寒潮预案", "+8%的增幅高于上年",
])
def test_numbers_that_start_a_fact_stay(fact):
    assert strip_list_marker(fact) == (fact, "")
    assert normalize_facts([fact]).texts == [fact]


def test_numbering_before_a_year_is_a_marker():
    assert normalize_facts(["1、2023年建成胸痛中心"]).texts == ["2023年建成胸痛中心"]


# --- pasted text, spreadsheets ---

def test_a_pasted_paragraph_is_split_at_full_stops_and_semicolons():
    text = "全年接种疫苗5.2万剂次。新建村卫生室6个；培训乡村医生180人次。开展“健康小屋”试点，设点3处"
    assert split_pasted_facts(text) == ["全年接种疫苗5.2万剂次", "新建村卫生室6个", "培训乡村医生180人次",
                                        "开展“健康小屋”试点，设点3处"]
    got = normalize_facts(text)
    assert len(got.facts) == 4 and got.notices == ["第1行有4句，已拆成4条事实。"]


def test_a_labelled_paragraph_keeps_its_label_on_every_piece():
    assert split_pasted_facts("存在问题：村医老龄化。设备老旧；经费不足") == ["存在问题：村医老龄化；设备老旧；经费不足"]


def test_a_quoted_sentence_end_does_not_split_a_fact():
    assert split_pasted_facts("推行“先诊疗。后付费”模式，惠及1200人") == ["推行“先诊疗。后付费”模式，惠及1200人"]


@pytest.mark.parametrize("header", ["序号\t工作内容\t完成情况\t备注", "序号，工作内容，完成情况，备注",
                                    "指标\t目标值\t完成值", "编号,项目名称,责任单位,完成时限"])
def test_spreadsheet_header_rows_are_dropped_with_a_notice(header):
    got = normalize_facts(header + "\n1\t慢病随访\t随访高血压患者4200人\t\n2\t健康讲座\t举办讲座36场\t超额完成")
    assert got.texts == ["慢病随访，随访高血压患者4200人", "健康讲座，举办讲座36场，超额完成"]
    assert any(n.startswith("第1行是表头") and n.endswith("已忽略。") for n in got.notices)
    assert any("去掉序号列" in n for n in got.notices) and any("合并为一句" in n for n in got.notices)


def test_a_row_of_real_content_is_not_taken_for_a_header():
    assert normalize_facts(["家庭医生签约，签约率80%，完成"]).texts == ["家庭医生签约，签约率80%，完成"]


def test_full_width_digits_and_ascii_punctuation_are_normalised():
    got = normalize_facts(["全区开展义诊２０场,服务群众１．２万人次(含老年人)", "ＣＭＩ值达到０．９８"])
    assert got.texts == ["全区开展义诊20场，服务群众1.2万人次（含老年人）", "CMI值达到0.98"]
    assert {c for f in got.facts for c in f.changes} >= {"全角数字、字母改为半角", "标点、空格改为中文公文写法"}


def test_empty_and_repeated_facts_are_dropped_with_notices():
    got = normalize_facts(["新建村卫生室6个", "  ", "新建村卫生室6个。", "2.", "培训乡村医生180人次"])
    assert got.texts == ["新建村卫生室6个", "培训乡村医生180人次"]
    assert "第3条与第1条相同，已去掉重复的一条。" in got.notices
    assert "第2、4条没有内容（空白或只有编号），已忽略。" in got.notices


def test_every_changed_fact_is_named_in_a_notice():
    typed = ["1. 開展義診20場", "序号\t内容", "培训乡医180人次,考核合格率98%", "培训乡医180人次，考核合格率98%"]
    got = normalize_facts(typed)
    named = {int(n) for notice in got.notices for n in re.findall(r"(?<=[第、])(\d+)(?=[、条])", notice)}
    assert {1, 2, 3, 4} <= named


# --- overlong facts ---

LEDGER = ("全年开展公共场所卫生监督检查，覆盖住宿、美容美发、沐浴等场所。" * 3
          + "3月对城区42家宾馆开展专项检查，发现问题17处，已全部整改。"
          + "组织从业人员培训，强调持证上岗的重要性，推动行业自律。" * 4
          + "6月对游泳场所水质抽检58份，合格率96.6%。"
          + "开展“清洁城乡”专项行动，联合多部门推进。"
          + "各单位高度重视，认真部署，狠抓落实，确保各项工作有序推进。" * 5)


def test_an_overlong_fact_is_flagged_with_its_length():
    assert len(LEDGER) > OVERLONG_FACT_CHARS
    got = normalize_request(request(facts=["新建村卫生室6个", LEDGER]))
    assert [o.line for o in got.overlong] == [2]
    assert any(n.startswith(f"第2条事实有{len(LEDGER):,}字，是一份台账或成段材料，起草时按句拆成多条事实") for n in got.notices)


def test_a_record_becomes_one_fact_per_sentence_with_nothing_lost():
    pieces = [p.text for p in split_fact(LEDGER).pieces]
    sentences = {s for s in re.split("。", LEDGER) if s}
    assert set(pieces) == sentences                 # every sentence, each once, none cut
    assert "3月对城区42家宾馆开展专项检查，发现问题17处，已全部整改" in pieces
    assert "各单位高度重视，认真部署，狠抓落实，确保各项工作有序推进" in pieces   # no figure, still a fact


def test_splitting_never_cuts_inside_brackets():
    record = ("各单位认真落实安全生产责任制，压实主体责任。" * 8
              + "全年排查隐患120处（其中一般隐患115处；较大隐患5处），已整改118处。"
              + "各单位认真落实安全生产责任制，压实主体责任。" * 4)
    pieces = [p.text for p in split_fact(record).pieces]
    assert "全年排查隐患120处（其中一般隐患115处；较大隐患5处），已整改118处" in pieces


def test_a_record_without_full_stops_is_cut_between_whole_clauses():
    record = "，".join(f"{m}月检查医疗机构{m + 10}家次" if m % 3 == 0 else f"各单位落实安全生产责任制{m}项"
                      for m in range(1, 40))
    pieces = [p.text for p in split_fact(record).pieces]
    assert len(pieces) > 5 and all(len(p) <= PIECE_CHARS for p in pieces)
    clauses = [c for p in pieces for c in p.split("，")]
    assert clauses == record.split("，")


# --- genre, section, year ---

def test_genre_aliases_and_numbered_sections_are_understood():
    n = normalize_request(request(genre="述职", section="三、存在不足", year="２０２４年"))
    assert (n.request.genre, n.request.section, n.request.year) == ("述职报告", "存在不足", 2024)
    assert "文种“述职”按“述职报告”起草。" in n.notices
    assert "起草部分“三、存在不足”按“存在不足”处理。" in n.notices


def test_an_unknown_genre_or_section_is_refused_with_the_valid_ones():
    with pytest.raises(RequestError, match="未知文种“年报”，可选：工作总结、工作计划"):
        normalize_request(request(genre="年报"))
    with pytest.raises(RequestError) as e:
        normalize_request(request(genre="工作计划", section="存在问题"))
    assert str(e.value) == f"工作计划没有“存在问题”这一部分，可选：{'、'.join(genre_sections('工作计划'))}。"


def test_the_api_drafts_an_unknown_section_as_the_body_part():
    n = normalize_request(request(section="疾病预防控制工作"), allow_custom_section=True)
    assert n.request.section == "疾病预防控制工作" and "不是工作总结的固定部分" in n.notices[-1]
    assert parse_request(request(section="疾病预防控制工作")).section == "疾病预防控制工作"


def test_facts_given_as_one_text_are_split():
    n = normalize_request(request(facts="新建村卫生室6个。培训乡村医生180人次"))
    assert n.request.facts == ["新建村卫生室6个", "培训乡村医生180人次"]


def test_request_files_load_normalised_and_unknown_sections_exit_2(tmp_path, capsys):
    from evals.__main__ import main as evals_main
    from rag.__main__ import main as rag_main
    path = tmp_path / "req.json"
    path.write_text(json.dumps(request(genre="工作總結", facts=["①全縣新建村衛生室8個"]), ensure_ascii=False),
                    encoding="utf-8")
    loaded = load_request(path)
    assert (loaded.request.genre, loaded.request.facts) == ("工作总结", ["全县新建村卫生室8个"])
    assert load_request(path).request == loaded.request
    draft = tmp_path / "draft.md"
    draft.write_text("全县新建村卫生室8个。\n", encoding="utf-8")
    assert evals_main(["check", str(draft), "--request", str(path), "--no-copy"]) == 0
    assert REQUEST_TRADITIONAL_NOTICE in capsys.readouterr().err
    path.write_text(json.dumps(request(section="下一步工作思路", genre="工作计划"), ensure_ascii=False),
                    encoding="utf-8")
    for main, argv in ((evals_main, ["check", str(draft), "--request", str(path)]),
                       (rag_main, ["draft", "--request", str(path)])):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "工作计划没有“下一步工作思路”这一部分，可选：全文、主要任务" in err and "Traceback" not in err



@pytest.mark.parametrize("year", ["3000年", "１９００", -5])
def test_a_typed_year_outside_the_window_is_refused_after_normalising(year):
    with pytest.raises(RequestError) as e:
        normalize_request(request(year=year))
    assert "年份" in str(e.value) and "1949–" in str(e.value)


def test_a_length_of_absurd_size_is_refused_naming_the_field():
    with pytest.raises(RequestError) as e:
        normalize_request(request(length_chars=[1e9, 1e12]))
    assert "length_chars" in str(e.value) and "50–50000" in str(e.value)

# --- sections of each genre ---

@pytest.mark.parametrize("genre,section,keys", [
    ("工作总结", "存在不足", ["problems"]), ("工作总结", "下一步工作打算", ["next"]),
    ("工作计划", "保障措施", ["safeguards"]), ("工作汇报", "下一步打算", ["next"]),
    ("工作汇报", "基本情况", ["basics"]), ("工作汇报", "主要做法及成效", ["work"]),
    ("述职报告", "履职情况", ["work"]), ("述职报告", "存在不足", ["problems"]),
    ("述职报告", "存在的不足及今后打算", ["problems", "next"]),
    ("经验交流材料", "基本情况", ["basics"]), ("经验交流材料", "主要做法", ["work"]),
    ("经验交流材料", "主要做法及成效", ["work"]), ("经验交流材料", "下一步工作思路", ["next"]),
])
def test_every_section_users_ask_for_is_defined_for_its_genre(genre, section, keys):
    assert section in genre_sections(genre)
    parts = requested_parts(genre, section)
    assert [p.key for p in parts] == keys
    assert section_checklist(genre, section)
    if keys == ["problems"]:
        assert parts[0].lead and parts[0].title == section   # the grounding filter applies


def test_the_whole_report_checklist_covers_every_part():
    items = section_checklist("述职报告", "全文")
    assert "任职岗位和分工" in items and any("不足" in i for i in items) and any("打算" in i for i in items)


# --- chat ---

@pytest.mark.parametrize("message,intent", [
    ("起草", DraftIntent()), ("请起草", DraftIntent()), ("重新起草。", DraftIntent()),
    ("起草全文", DraftIntent(section="全文")), ("起草工作計劃", DraftIntent(genre="工作计划")),
    ("請幫我起草一份述職報告", DraftIntent(genre="述职报告")),
    ("帮我写一份石桥县卫生健康局2024年工作总结", DraftIntent(genre="工作总结")),
    ("起草经验交流材料全文", DraftIntent(genre="经验交流材料", section="全文")),
    ("起草存在不足部分", DraftIntent(section="存在不足")),
])
def test_draft_requests_in_chat_are_recognised(message, intent):
    assert draft_intent(message) == intent


@pytest.mark.parametrize("message", ["第二部分再精炼一些", "第一段写得更简洁", "把开头改成两句话", "谢谢",
                                     "重写第三部分", "写得再具体一点", "补充一些数字"])
def test_revision_instructions_are_not_draft_requests(message):
    assert draft_intent(message) is None
