"""Deterministic clean-up of model output (rag/postprocess.py)."""
from __future__ import annotations

import pytest

from rag.postprocess import clean_paragraph, heading_rank, renumber_enumerations, restore_fact_terms


def test_markdown_chat_and_punctuation_are_removed():
    raw = ("好的，以下是根据您的要求撰写的工作总结：\n"
           "```markdown\n"
           "## 一、主要工作及成效\n"
           "**(一)免疫规划**\n"
           "- 全县接种率保持在95%以上,报告及时率100%!\n"
           "```\n"
           "希望这份总结对您有帮助。\n")
    assert clean_paragraph(raw) == "全县接种率保持在95%以上，报告及时率100%。"


def test_chat_sentence_inside_a_line_is_cut_but_the_rest_kept():
    out = clean_paragraph("全县建成中医馆16个。以上就是本节内容，如需修改请告诉我。")
    assert out == "全县建成中医馆16个。"


def test_decimals_and_body_lines_are_not_headings():
    assert heading_rank("1.5万人次参加培训") is None
    assert heading_rank("2024年，全县……") is None
    assert heading_rank("一是加强领导") is None
    assert heading_rank("（二）坚持检查常态")[:2] == (2, 2)


def test_traditional_and_fullwidth_digits_are_normalized():
    out = clean_paragraph("县中醫院完成評審，覆蓋率達到９５％。")
    assert out == "县中医院完成评审，覆盖率达到95%。"


def test_shortened_fact_terms_are_restored():
    facts = ["全区孕产妇死亡率为0，婴儿死亡率2.1‰", "孕产妇系统管理率94.6%"]
    text = "全区孕妇死亡率为0，孕妇系统管理率94.6%。"
    assert restore_fact_terms(text, facts) == "全区孕产妇死亡率为0，孕产妇系统管理率94.6%。"
    # a shortening that is itself in the facts is left alone
    assert restore_fact_terms("婴儿死亡率2.1‰", facts) == "婴儿死亡率2.1‰"
    # HC08: the unit's own name and ordinary phrases are not “shortenings” of 区级卫生应急队伍
    text = "星湖区卫生健康局2025年应急工作计划。全区卫生应急工作，组建卫生应急队伍4支。"
    assert restore_fact_terms(text, ["组建区级卫生应急队伍4支、队员120人"]) == text


def test_clean_paragraph_drops_model_headings_and_joins_lines():
    raw = "（一）推动县中医院提档升级\n**支持**县中医院创建三级中医医院,\n确保2025年完成评审申报"
    assert clean_paragraph(raw, heading="推动县中医院提档升级") == \
        "支持县中医院创建三级中医医院，确保2025年完成评审申报。"


def test_clean_paragraph_is_idempotent():
    raw = "## 一、工作\n(一)  甲 乙,丙 全年3次\n\n\n(二)丁 推进 "
    once = clean_paragraph(raw)
    assert clean_paragraph(once) == once
    assert "  " not in once and not once.endswith(" ")


def test_bracket_label_lines_from_the_model_are_dropped():
    raw = "【主要任务】\n\n加强中医馆建设，推动中医药服务向基层延伸"
    assert clean_paragraph(raw, heading="加强中医馆建设") == "推动中医药服务向基层延伸。"
    assert clean_paragraph("【正文】推进各项工作") == "推进各项工作。"


def test_exemplar_masking_keeps_function_words_and_unit_leaders():
    from rag.prompting import UnitVoice, mask_exemplar
    voice = UnitVoice(self_ref="我局", level_word="全县", leaders="县委、县政府", level="县")
    masked = mask_exemplar("2023年以来，全市卫生工作在市委市政府的正确领导下，白沙镇新建卫生院2个。", voice)
    assert masked == "〔数〕年以来，全县卫生工作在县委、县政府的正确领导下，〔地〕新建卫生院〔数〕个。"


@pytest.mark.parametrize("raw, expected", [
    # a label of our task's wording before a sentence (the sentence itself is the guards' to judge)
    ("将要做的事：推进中医馆建设。16个乡镇卫生院全部建成中医馆。", "推进中医馆建设。16个乡镇卫生院全部建成中医馆。"),
    # prompts/extend.md asks for 措施、机制、方法 and 对群众和工作的作用; the model wrote them as labels
    ("这些工作具体是如何做的：制定并实施数据安全管理制度。方法：定期开展安全检查。"
     "对群众的作用：提高医疗服务效率。对群众和工作的作用：减少重复检查。",
     "制定并实施数据安全管理制度。定期开展安全检查。提高医疗服务效率。减少重复检查。"),
])
def test_prompt_echoes_and_labels_are_dropped(raw, expected):
    assert clean_paragraph(raw) == expected


def test_a_prompts_instructions_echoed_around_an_answer_are_dropped_and_logged():
    from rag.factsheet import Fact
    from rag.guards import GuardRunner, ReplyContext
    fact = Fact(1, "16个乡镇卫生院全部建成中医馆", "", "plan")
    runner = GuardRunner()
    raw = ("下面这段工作计划文字经过检查发现了问题，请逐条改正，输出改好的这段文字。>><<<"
           "推进16个乡镇卫生院全部建成中医馆。事实中的数字成效：覆盖16个乡镇。直接输出改好的这段文字。")
    spans = runner.read_reply(raw, ReplyContext(facts=[fact], all_facts=[fact], year=2025, future=True))
    assert "".join(s.text for s in spans) == "推进16个乡镇卫生院全部建成中医馆。"
    assert {e.guard for e in runner.edits} >= {"prompt-echo"}


@pytest.mark.parametrize("lead", ["这一段工作具体是如何做的，", "这项工作具体是怎么做的：", "具体措施包括，"])
def test_our_prompts_question_echoed_as_a_lead_goes_and_the_answer_stays(lead):
    from rag.guards import strip_label_lead
    assert strip_label_lead(lead + "制定夜间巡查制度。") == "制定夜间巡查制度。"


def test_enumerations_are_counted_in_order_within_a_paragraph():
    assert renumber_enumerations("工作中还存在一些问题：三是基层医务人员数量不足；四是机制不够健全。") == \
        "工作中还存在一些问题：一是基层医务人员数量不足；二是机制不够健全。"
    assert renumber_enumerations("一是加强培训；三是完善机制。一是另起一组；二是照常开展督导检查。") == \
        "一是加强培训；二是完善机制。一是另起一组；二是照常开展督导检查。"


def test_lines_the_model_broke_a_paragraph_into_stay_separate_sentences():
    raw = "每个中医馆能规范开展6类以上中医药适宜技术\n65岁以上老年人中医药健康管理率达到75%以上"
    assert clean_paragraph(raw) == "每个中医馆能规范开展6类以上中医药适宜技术。65岁以上老年人中医药健康管理率达到75%以上。"


def test_a_salutation_inside_a_body_paragraph_is_removed():
    raw = "尊敬的青山县卫生健康局党组书记、局长：我将进一步加强基层医疗机构运行监管。各位领导：推动人才引进。"
    assert clean_paragraph(raw) == "我将进一步加强基层医疗机构运行监管。推动人才引进。"


def test_sentences_copied_from_the_exemplars_fail_the_contract_but_the_users_wording_passes():
    from rag.factsheet import Fact
    from rag.guards import ReplyContext, failed_guard

    fact = Fact(1, "新建标准化预防接种门诊3个（城关镇、石桥镇、龙口乡）", "", "achievement")
    ctx = ReplyContext(facts=[fact], all_facts=[fact], year=2024,
                       exemplars=["全年霍乱零发病，市中西医结合医院主体已完工。", "新建标准化预防接种门诊若干个。"])
    assert failed_guard("市中西医结合医院主体已完工。", ctx).id == "exemplar-echo"
    assert failed_guard("新建标准化预防接种门诊3个。", ctx) is None
    assert failed_guard("坚持预防为主，扎实开展预防接种工作。", ctx) is None


def test_role_labels_inline_list_markers_and_invented_document_titles_are_removed():
    facts = ["牵头制定《鹤鸣县健康村镇建设三年行动方案（2024—2026年）》"]
    text = ("主要工作及成效深化结核病防治。做法不断完善。巩固新农合制度。四、加强公共卫生体系建设。六。"
            "制定并实施《健康知识普及计划》。牵头制定《鹤鸣县健康村镇建设三年行动方案（2024—2026年）》。")
    assert clean_paragraph(text, facts=facts) == (
        "深化结核病防治。做法不断完善。巩固新农合制度。加强公共卫生体系建设。"
        "牵头制定《鹤鸣县健康村镇建设三年行动方案（2024—2026年）》。")


@pytest.mark.parametrize("raw, clean", [
    ("我们采取了以下措施：组建专业团队：成立了由医生、护士组成的管理团队。",
     "组建专业团队，成立了由医生、护士组成的管理团队。"),
    ("以下是我局履职尽责的几个方面：我局高度重视理论学习。", "我局高度重视理论学习。"),
    ("全年工作如下：一是加强领导，压实责任。", "全年工作如下：一是加强领导，压实责任。"),
    ("扎实推进各项工作。现将2024年工作总结如下：", "扎实推进各项工作。现将2024年工作总结如下："),
])
def test_a_list_formatted_inside_a_paragraph_reads_as_prose(raw, clean):
    assert clean_paragraph(raw) == clean


def test_the_models_own_sub_heading_lines_go_but_its_listed_facts_stay():
    raw = "（一）加强疫苗接种管理。我局严格按照程序接种。\n（三）加强疾病防控工作。\n1. 16个乡镇卫生院全部建成中医馆\n二、做法"
    assert clean_paragraph(raw) == "加强疫苗接种管理。我局严格按照程序接种。16个乡镇卫生院全部建成中医馆。"


def test_a_shorter_word_away_from_any_figure_is_not_taken_for_a_shortened_fact_term():
    facts = ["全区65岁及以上老年人健康管理2.31万人"]
    text = "我局坚持以老年人健康需求为导向，全区老年健康服务体系不断完善。"
    assert restore_fact_terms(text, facts) == text


def test_the_domains_own_words_are_no_echo_of_our_instructions():
    from rag.prompting import echoes_prompt
    assert not echoes_prompt("下一步，将持续推动全县卫生健康系统行风建设再上新台阶。")
    assert echoes_prompt("事实中的数字、名称照抄，不写事实以外的数字。")
