"""revision_target: the line range a follow-up instruction is about."""
from __future__ import annotations

import pytest

from rag.targets import revision_target

SECTION = """一、主要工作及成效
（一）妇幼健康服务持续加强。孕产妇系统管理率达到93%。
全县开展两癌筛查1.2万人。
（二）慢性病管理扎实推进。高血压患者规范管理率达到68%。
（三）卫生应急能力稳步提升。组织应急演练6次。"""

WHOLE = """东山区卫生健康局2023年工作总结
2023年，我局在区委、区政府的领导下，扎实推进各项工作，现将有关情况总结如下：
一、主要工作及成效
（一）妇幼健康服务持续加强。孕产妇系统管理率达到93%。
（二）慢性病管理扎实推进。高血压患者规范管理率达到68%。
二、存在的问题
基层医务人员数量不足，信息化水平有待提高。
三、2024年工作打算
一是继续加强妇幼健康服务；二是推进慢性病综合防控示范区建设。
特此报告。"""


def _part(draft: str, instruction: str) -> list[str]:
    start, end = revision_target(draft, instruction)
    return draft.split("\n")[start:end]


def test_second_part_of_a_section_draft_is_its_second_subheading():
    assert _part(SECTION, "第二部分再精炼一些") == ["（二）慢性病管理扎实推进。高血压患者规范管理率达到68%。"]


def test_second_part_of_a_whole_report_is_its_second_top_heading():
    assert _part(WHOLE, "第二部分写得具体些") == ["二、存在的问题", "基层医务人员数量不足，信息化水平有待提高。"]


@pytest.mark.parametrize("instruction", ["（二）再具体些", "(二)太长了", "把第（二）条压缩"])
def test_a_quoted_marker_names_that_heading(instruction):
    part = _part(SECTION, instruction)
    assert part[0].startswith("（二）") and len(part) == 1


def test_a_marker_block_runs_to_the_next_heading_of_its_rank():
    assert _part(SECTION, "（一）补充一些成效") == [
        "（一）妇幼健康服务持续加强。孕产妇系统管理率达到93%。", "全县开展两癌筛查1.2万人。"]


def test_a_heading_named_by_its_words():
    assert _part(WHOLE, "存在问题写实一些")[0] == "二、存在的问题"
    assert _part(WHOLE, "慢性病管理那段多写点做法")[0].startswith("（二）慢性病管理")


def test_last_and_nth_paragraph():
    assert _part(WHOLE, "最后一段删掉") == ["特此报告。"]
    assert _part(WHOLE, "第一段更简洁") == [WHOLE.split("\n")[1]]  # the title is not a paragraph
    assert _part(WHOLE, "开头写得更有气势")[0].startswith("2023年，我局")


def test_last_part():
    assert _part(WHOLE, "最后一部分补充保障措施")[0] == "三、2024年工作打算"


def test_an_instruction_naming_nothing_covers_the_whole_draft():
    for instruction in ("整体再精炼一些", "语气更正式", "第九部分改一下"):
        assert revision_target(WHOLE, instruction) == (0, len(WHOLE.split("\n")))


def test_a_draft_without_headings():
    text = "我局扎实推进各项工作。\n全年完成筛查1万人。"
    assert revision_target(text, "第二部分精炼") == (0, 2)
    assert revision_target(text, "第二段精炼") == (1, 2)


def test_numbers_in_the_instruction_are_not_markers():
    # “95.5” and “2024年” are not the heading “5.” or a part number
    assert revision_target(SECTION, "接种率写成95.5%") == (0, len(SECTION.split("\n")))


def test_keep_other_parts_undoes_changes_outside_the_range():
    from rag.targets import keep_other_parts
    old = SECTION.split("\n")
    start, end = revision_target(SECTION, "第二部分再精炼一些")
    # the pipeline revised （二） and also touched （一） and （三）
    new = [old[0], old[1].replace("93%", "93%以上"), old[2], "（二）慢性病管理扎实推进。",
           old[4].replace("6次", "6次，效果良好")]
    merged = keep_other_parts(SECTION, "\n".join(new), start, end).split("\n")
    assert merged == [old[0], old[1], old[2], "（二）慢性病管理扎实推进。", old[4]]


def test_keep_other_parts_when_the_whole_text_was_rewritten():
    from rag.targets import keep_other_parts
    start, end = revision_target(SECTION, "（一）补充一些成效")
    merged = keep_other_parts(SECTION, "全部重写成一段话。", start, end).split("\n")
    old = SECTION.split("\n")
    assert merged == [old[0], "全部重写成一段话。", old[3], old[4]]


def test_keep_other_parts_keeps_a_sentence_added_inside_the_range():
    from rag.targets import keep_other_parts
    start, end = revision_target(SECTION, "（一）补充一些成效")
    old = SECTION.split("\n")
    new = old[:3] + ["新增一句成效。"] + old[3:]
    assert keep_other_parts(SECTION, "\n".join(new), start, end) == "\n".join(new)
    assert keep_other_parts(SECTION, SECTION, 0, len(old)) == SECTION
