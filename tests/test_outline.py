"""Outline parsing, validation, deterministic fallback and fact routing (rag/outline.py)."""
from __future__ import annotations

import json

import pytest

from rag.outline import (OutlineError, fallback_outline, parse_outline, route_facts)
from rag.prompting import genre_guide, requested_parts

HC01_FACTS = [
    "全县适龄儿童国家免疫规划疫苗接种率保持在95%以上",
    "全年报告法定传染病12类1386例，报告及时率100%",
    "完成肺结核患者筛查4.6万人，新发现患者92例，成功治疗率93.5%",
    "艾滋病检测8.2万人次，抗病毒治疗覆盖率94.1%",
    "新建标准化预防接种门诊3个（城关镇、石桥镇、龙口乡）",
    "开展“青山健康大讲堂”等健康教育活动126场，受众1.1万人次",
    "县疾控中心通过省级实验室资质复评审，检测项目由186项增至214项",
]


def _answer(items) -> str:
    return json.dumps({"items": items}, ensure_ascii=False)


def test_valid_json_outline_in_a_code_fence_is_parsed():
    text = "好的，提纲如下：\n```json\n" + _answer([
        {"heading": "（一）夯实免疫规划基础，接种服务更加便捷", "facts": [1, 5]},
        {"heading": "强化传染病监测，疫情处置及时有效", "facts": [2, 3, 4]},
        {"heading": "深化健康教育，疾控能力持续提升", "facts": [6, 7]},
    ]) + "\n```"
    outline = parse_outline(text, n_facts=7, min_items=2, max_items=6)
    assert outline.source == "llm"
    assert [i.heading for i in outline.items][0] == "夯实免疫规划基础，接种服务更加便捷"
    assert sorted(i for item in outline.items for i in item.facts) == list(range(7))


@pytest.mark.parametrize("items, why", [
    ([{"heading": "免疫规划工作扎实推进", "facts": [1, 2, 3]},
      {"heading": "传染病防控成效明显", "facts": [3, 4, 5, 6, 7]}], "不止一次"),
    ([{"heading": "免疫规划工作扎实推进", "facts": [1, 2, 3]},
      {"heading": "传染病防控成效明显", "facts": [4, 5, 6]}], "没有分配"),
    ([{"heading": "免疫规划工作扎实推进", "facts": [1, 2, 3, 9]},
      {"heading": "传染病防控成效明显", "facts": [4, 5, 6, 7]}], "不存在"),
    ([{"heading": "全部工作", "facts": [1, 2, 3, 4, 5, 6, 7]}], "小标题有"),
    ([{"heading": "新建门诊5个，服务更便捷", "facts": [1, 2, 3]},
      {"heading": "传染病防控成效明显", "facts": [4, 5, 6, 7]}], "数字"),
    ([{"heading": "免疫规划工作扎实推进", "facts": ["1", "2"]},
      {"heading": "传染病防控成效明显", "facts": [3, 4, 5, 6, 7]}], "整数"),
])
def test_invalid_outlines_are_rejected(items, why):
    with pytest.raises(OutlineError, match=why):
        parse_outline(_answer(items), n_facts=7, min_items=2, max_items=6)


@pytest.mark.parametrize("text", ["", "一、免疫规划\n二、传染病", "{\"items\": 3}", "[1, 2, 3]",
                                  "{not json at all"])
def test_non_json_answers_are_rejected(text):
    with pytest.raises(OutlineError):
        parse_outline(text, n_facts=7, min_items=2, max_items=6)


def test_fallback_groups_by_topic_and_assigns_every_fact_once():
    guide = genre_guide("工作总结")
    outline = fallback_outline(HC01_FACTS, guide.fallback_headings, 2, 6, problem="不是 JSON")
    assert outline.source == "fallback" and outline.problem == "不是 JSON"
    assigned = [i for item in outline.items for i in item.facts]
    assert sorted(assigned) == list(range(len(HC01_FACTS)))
    assert 2 <= len(outline.items) <= 6
    by_fact = {i: item.heading for item in outline.items for i in item.facts}
    assert by_fact[0] == by_fact[4]            # both about vaccination
    assert by_fact[2] == by_fact[3]            # tuberculosis and AIDS
    assert len({item.heading for item in outline.items}) == len(outline.items)
    assert not any(ch.isdigit() for item in outline.items for ch in item.heading)


def test_fallback_splits_one_topic_to_reach_the_minimum():
    facts = ["县中医院创建三级中医医院", "16个乡镇卫生院全部建成中医馆", "每个中医馆开展6类以上中医药适宜技术"]
    outline = fallback_outline(facts, genre_guide("经验交流材料").fallback_headings, 3, 5)
    assert len(outline.items) == 3
    assert sorted(i for item in outline.items for i in item.facts) == [0, 1, 2]


def test_fallback_merges_down_to_the_maximum():
    facts = HC01_FACTS + ["组建区级卫生应急队伍4支", "培养中医师承人员20名", "建成母婴室46个"]
    outline = fallback_outline(facts, genre_guide("工作计划").fallback_headings, 2, 3)
    assert len(outline.items) == 3
    assert sorted(i for item in outline.items for i in item.facts) == list(range(len(facts)))


def test_labelled_facts_are_routed_to_problems_and_next_steps():
    facts = ["全市6个县（市、区）全部建成紧密型县域医共体", "药品耗材集中带量采购落地品种412个",
             "存在问题：医共体内人员统筹使用机制不够健全；基层医务人员数量不足，全市每千人口全科医生数3.1人",
             "2025年计划：推进医共体医保基金打包付费改革，新增家庭医生团队60个"]
    routed = {pf.part.key: pf.facts for pf in route_facts(facts, requested_parts("工作总结", "全文"))}
    assert routed["opening"] == []
    assert routed["work"] == facts[:2]
    assert routed["problems"] == ["医共体内人员统筹使用机制不够健全", "基层医务人员数量不足，全市每千人口全科医生数3.1人"]
    assert routed["next"] == ["推进医共体医保基金打包付费改革，新增家庭医生团队60个"]


def test_plan_budget_goes_to_safeguards_and_section_requests_keep_every_fact():
    facts = ["建成市级全民健康信息平台二期", "信息化建设预算资金2350万元"]
    routed = {pf.part.key: pf.facts for pf in route_facts(facts, requested_parts("工作计划", "全文"))}
    assert routed == {"opening": [], "tasks": facts[:1], "safeguards": facts[1:]}
    # a section request without a problems part still uses the labelled fact (label removed)
    only_work = route_facts(["建成中医馆16个", "不足：人才引进成效不明显"],
                            requested_parts("述职报告", "履职情况"))
    assert [pf.facts for pf in only_work] == [["建成中医馆16个", "人才引进成效不明显"]]


def test_section_names_map_to_parts():
    assert [p.key for p in requested_parts("工作总结", "存在问题及下一步工作打算")] == ["problems", "next"]
    assert [p.role for p in requested_parts("工作计划", "主要任务")] == ["目标任务"]
    assert [p.key for p in requested_parts("述职报告", "全文")] == [
        "salutation", "opening", "work", "problems", "next", "closing"]
    unknown = requested_parts("工作汇报", "医疗服务保障")
    assert [(p.key, p.title) for p in unknown] == [("work", "医疗服务保障")]
