"""The strong-model replay (bench/strong_replay.py): its server answers the product's writing calls
with the sentences of a hand-written good draft about the facts each call names. Made-up request
and draft; the tasks are rendered from the product's own prompt files."""
from __future__ import annotations

import json
import sys

from openai_stub import ScriptedOpenAIServer
from rag.config import PROJECT_ROOT
from rag.llm import LLMClient, RemoteEndpoint
from rag.prompting import fact_lines, render

sys.path.insert(0, str(PROJECT_ROOT / "bench"))
from strong_replay import GoodDraft, Replayer, answer, recognise_call  # noqa: E402

FACTS = ["全县新建村级健康小屋12个，配备自助体检设备",
         "开展健康讲座86场，覆盖群众5400人次",
         "为独居老人安装紧急呼叫设备230台"]
GOOD = """一、主要工作及成效

（一）建设健康小屋。我局统筹村级阵地资源，推动健康服务向村一级延伸。全县新建村级健康小屋12个，配备自助体检设备。群众在村里就能自测血压、血糖。

（二）普及健康知识。开展健康讲座86场，覆盖群众5400人次。讲座内容贴近群众需求。为独居老人安装紧急呼叫设备230台，遇到紧急情况可一键求助。
"""


def writing_call(task: str) -> list[dict[str, str]]:
    """Messages shaped as the product sends them: every fact in the shared prefix, then the task."""
    prefix = render("context", genre="工作总结", unit="示例县卫生健康局", year=2024, voice="",
                    facts=fact_lines(enumerate(FACTS, 1)))
    return [{"role": "system", "content": "你是公文写作助手。"},
            {"role": "user", "content": prefix + "\n\n" + task}]


def item_task(heading: str, ids: list[int]) -> str:
    return render("task_item", part_title="主要工作及成效", heading=heading, chars=200,
                  fact_refs="".join(f"[{i}]" for i in ids), fact_list=fact_lines((i, FACTS[i - 1]) for i in ids),
                  guide="", exemplars="（无）")


def test_an_item_call_gets_the_sentences_of_its_own_facts_with_their_elaboration(settings):
    good = GoodDraft.parse(GOOD, FACTS)
    with ScriptedOpenAIServer([Replayer(good)], repeat_last=True) as server:
        client = LLMClient(settings, RemoteEndpoint(server.base_url, "replay"), api_key=settings.llm_api_key,
                           retry_delay=0.0)
        first = client.chat(writing_call(item_task("建设健康小屋", [1])), max_tokens=400).text
        second = client.chat(writing_call(item_task("普及健康知识", [3])), max_tokens=400).text
    assert first == ("我局统筹村级阵地资源，推动健康服务向村一级延伸。全县新建村级健康小屋12个，配备自助体检设备。"
                     "群众在村里就能自测血压、血糖。")
    # the lecture fact is listed in the prefix of every call, but this call does not name it
    assert second == "为独居老人安装紧急呼叫设备230台，遇到紧急情况可一键求助。"


def test_an_answer_over_the_token_cap_is_cut_like_a_real_model(settings):
    good = GoodDraft.parse(GOOD, FACTS)
    with ScriptedOpenAIServer([Replayer(good)], repeat_last=True) as server:
        client = LLMClient(settings, RemoteEndpoint(server.base_url, "replay"), api_key=settings.llm_api_key,
                           retry_delay=0.0)
        result = client.chat(writing_call(item_task("建设健康小屋", [1])), max_tokens=10)
    assert result.finish_reason == "length" and 0 < len(result.text) < 30


def test_a_headings_call_gets_the_heading_of_the_paragraph_holding_each_group():
    task = render("task_headings", part_title="主要工作及成效", heading_style="",
                  groups=f"第1组：{FACTS[1]}；{FACTS[2]}\n第2组：{FACTS[0]}")
    good = GoodDraft.parse(GOOD, FACTS)
    call = recognise_call(task, good.marks)
    assert call.kind == "headings" and call.groups == [[2, 3], [1]]
    assert json.loads(answer(call, task, good)) == ["普及健康知识", "建设健康小屋"]


def test_a_rewrite_request_gets_nothing_back():
    task = render("task_reask", heading="建设健康小屋", fact_refs="[1]", fact_list="[1] 全县新建健康小屋12个",
                  sentences="1. 全县新建健康小屋。（问题：缺数字）")
    good = GoodDraft.parse(GOOD, FACTS)
    call = recognise_call(task, good.marks)
    assert call.kind == "reask" and answer(call, task, good) == ""


def test_a_problems_call_whose_guide_quotes_our_lead_in_is_a_problems_call():
    task = render("task_part", part_title="存在的不足", chars=90, fact_refs="[3]", fact_list="[3] 全科医生仅12人",
                  guide="以“回顾一年来的工作，还存在一些不足：”开头，再用“一是……；二是……”写不足。",
                  item_guide="每条先照抄问题。")
    good = GoodDraft.parse(GOOD, FACTS)
    call = recognise_call(task, good.marks)
    assert call.kind == "part" and call.part == "problems"


def test_a_part_of_sub_headed_measures_asked_as_one_part_is_answered_with_all_of_them():
    good = GoodDraft.parse(GOOD + "\n\n二、下一步工作打算\n\n（一）扩大健康小屋覆盖。推动健康小屋向偏远村延伸。\n\n"
                                  "（二）提升健康教育实效。办好健康讲座，丰富宣传形式。", FACTS)
    text = good.part_text("next")
    assert "推动健康小屋向偏远村延伸" in text and "办好健康讲座" in text
