"""Drafting end to end against the scripted OpenAI-protocol server (tests/openai_stub.py):
faults, conflicts, repairs and revisions, the CLI. The writing contract itself is tested in
tests/test_drafting_contract.py.

The stub is a real HTTP server; the drafter talks to it through the real LLM client. Exemplars
come from the committed corpus chunks through a small lexical retriever, so these tests do not
need to embed the corpus (the CLI shape test uses the real hybrid index).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rag.text import extract_numbers
from openai_stub import ScriptedOpenAIServer, cut_stream, delay, error, garbage, reply
from rag.config import PROJECT_ROOT, Settings
from rag.corpus import load_chunks
from rag.draft import DraftResult, draft_report, repair_draft, revise_draft
from rag.errors import RequestError
from rag.schema import Exemplar
from rag.textnorm import normalize_for_compare
from rag.normalize import parse_request
from test_drafting_contract import Model

REVIEW = {"genre": "工作汇报", "section": "全文", "unit": "翠峰县卫生健康局", "year": 2024, "topic": "行风",
          "facts": ["1—6月开展医疗机构行风专项检查2轮，覆盖县乡医疗机构27家",
                    "查处收受“红包”、回扣等问题4起，给予党纪政务处分3人",
                    "患者满意度第三方测评得分91.6分，较去年同期提高1.8分",
                    "12345热线涉医投诉办结率100%，群众满意率96.3%",
                    "签订医务人员廉洁从业承诺书1860份",
                    "存在问题：个别医务人员廉洁意识淡薄，过度检查现象仍有发生",
                    "下半年打算：开展“清廉医院”创建，年底前创建示范点5个"],
          "length_chars": [300, 2000]}
TCM_PLAN = {"genre": "工作计划", "section": "主要任务", "unit": "鹤鸣县卫生健康局", "year": 2025, "topic": "中医药",
            "facts": ["16个乡镇卫生院全部建成中医馆，其中4个建成“旗舰中医馆”",
                      "65岁以上老年人中医药健康管理率达到75%以上",
                      "培养中医师承人员20名，开展西医学习中医培训120人次"],
            "length_chars": [150, 900]}
FILLER = "坚持问题导向，完善工作机制，压实工作责任，推动各项措施落地见效"


def corpus_retriever():
    """Exemplars from the committed corpus chunks, ranked by shared character bigrams."""
    chunks = load_chunks()

    def bigrams(s: str) -> set[str]:
        return {s[i:i + 2] for i in range(len(s) - 1)}

    def retrieve(query: str, genre: str, role: str | None, k: int) -> list[Exemplar]:
        q = bigrams(query)
        pool = [c for c in chunks if c.genre == genre and (role is None or c.role == role)]
        pool.sort(key=lambda c: -len(q & bigrams(c.text)))
        return [Exemplar(text=c.text, genre=c.genre, role=c.role, title=c.title, section=c.section,
                         source=c.source, score=1.0, chunk_id=c.id) for c in pool[:k]]
    return retrieve


def fenced(prompt: str, label: str) -> str:
    """The quoted block after 【label】 in a prompt."""
    m = re.search(f"【{label}】[^\n]*\n<<<\n(.*?)\n>>>", prompt, re.S)
    return m.group(1) if m else ""


def fact_lines(prompt: str) -> list[str]:
    return [re.sub(r"^(\[\d+\]|\d+\.) ", "", l) for l in fenced(prompt, "事实").splitlines()
            if l.strip() and l.strip() != "（无）"]


def stub_settings(settings: Settings, stub, **kw) -> Settings:
    return settings.model_copy(update={"llm_base_url": stub.base_url, "llm_timeout": 5.0, **kw})


def numbers_of(text: str) -> set[tuple[str, str]]:
    return {t.pair for t in extract_numbers(normalize_for_compare(text))}


def run_draft(settings: Settings, request: dict, answer, **kw) -> DraftResult:
    with ScriptedOpenAIServer([answer], repeat_last=True) as stub:
        return draft_report(parse_request(request), stub_settings(settings, stub, **kw),
                            retriever=corpus_retriever(), embed=None)


@pytest.mark.parametrize("step", [
    error(401),
    cut_stream(6, "推进中医馆建设，确保按期完成。"),
    garbage("<html>login</html>"),
    delay(3.0, reply("太慢了")),
], ids=["401", "cut-stream", "non-json", "timeout"])
def test_a_model_that_fails_leaves_a_partial_draft_with_a_chinese_error(settings, step):
    model = Model()
    calls = {"n": 0}

    def answer(body):
        calls["n"] += 1
        return step if calls["n"] > 1 else model(body)     # the headings call works, then nothing

    result = run_draft(settings, TCM_PLAN, answer, llm_timeout=1.0)
    assert result.partial and re.search("[\u4e00-\u9fff]", result.error)
    assert result.draft.startswith("一、主要任务") and any("继续起草" in n for n in result.notices)


def test_conflicting_values_are_reported_and_never_drafted(settings):
    model = Model()
    request = {"genre": "工作汇报", "section": "全文", "unit": "枫林县卫生健康局", "year": 2024,
               "length_chars": [300, 2000],
               "facts": ["全县县域内就诊率达到90.2%", "医共体总院向乡镇卫生院下派医师46名", "县域内就诊率为87.5%",
                         "乡镇卫生院门急诊人次同比增长12.4%", "医共体医保基金打包付费结余留用资金1320万元",
                         "下派医师共36名，其中主治以上职称20名"]}
    result = run_draft(settings, request, model)
    assert sum("互相矛盾" in n for n in result.notices) == 2
    for value in ("90.2", "87.5", "46名", "36名"):
        assert value not in result.draft
        assert not any(value in p for p in model.prompts)
    for value in ("12.4%", "1320万元", "20名"):
        assert value in result.draft
    assert "就诊率达到【待核实】" in result.draft and "下派医师【待核实】" in result.draft
    marks = [v for v in result.evaluation.violations if v.rule == "CLEAN-01"]
    assert marks and {v.severity for v in marks} == {"warn"}


def test_a_verify_mark_the_model_puts_elsewhere_is_removed(settings):
    facts = ["全县县域内就诊率达到90.2%", "县域内就诊率为87.5%", "乡镇卫生院门急诊人次同比增长12.4%"]
    model = Model(item=lambda fs, p: "查处违规广告等问题【待核实】件。" + "。".join(fs) + "。")
    request = {**TCM_PLAN, "genre": "工作汇报", "section": "主要工作及成效", "facts": facts, "length_chars": [60, 400]}
    result = run_draft(settings, request, model)
    assert "就诊率达到【待核实】" in result.draft and "违规广告" not in result.draft
    assert any(e.guard == "stray-verify-mark" for e in result.edits)


def test_the_unfinished_sentence_of_a_reply_cut_by_the_token_cap_is_dropped(settings):
    model = Model()

    def answer(body: dict):
        text = model(body)
        if "下的一段正文" in body["messages"][-1]["content"]:
            return reply("积极推进中医药服务。" + text + "积极参加各级卫生部门举办的", finish_reason="length")
        return text

    result = run_draft(settings, TCM_PLAN, answer)
    assert "举办的" not in result.draft
    for fact in TCM_PLAN["facts"]:
        assert numbers_of(fact) <= numbers_of(result.draft)


def test_overlong_draft_is_trimmed_keeping_every_fact(settings):
    ways = ["逐月调度推进", "定期通报进展", "层层压实责任", "加强督导检查", "做好跟踪问效", "抓好问题整改"]
    # every padding sentence restates a fact (anchored, so the contract keeps it): only the
    # length trim can take them out, and it must leave each fact said once
    numbers = ["16个乡镇卫生院", "75%以上", "中医师承人员20名"]
    model = Model(item=lambda fs, p: "。".join(fs) + "。" + "".join(
        f"{w}，确保{n}{w[:2]}见效。" for w in ways for n in numbers if any(n[:4] in f for f in fs)))
    result = run_draft(settings, {**TCM_PLAN, "length_chars": [120, 220]}, model)
    assert len(re.sub(r"\s", "", result.draft)) <= 220
    for fact in TCM_PLAN["facts"]:
        assert numbers_of(fact) <= numbers_of(result.draft)
    assert any(e.guard == "over-length" for e in result.edits)


def test_a_heading_that_copies_the_style_example_is_not_used(settings):
    model = Model()

    def answer(body):
        if "拟小标题" in body["messages"][-1]["content"]:
            return json.dumps(["坚持改革创新，医疗卫生体制改革取得新进展"] * 3, ensure_ascii=False)
        return model(body)

    request = {**TCM_PLAN, "genre": "工作总结", "section": "主要工作及成效", "year": 2024}
    result = run_draft(settings, request, answer)
    assert "医疗卫生体制改革取得新进展" not in result.draft
    assert any(e.guard == "heading-contract" and "写法示例" in e.reason for e in result.edits)


def test_a_fact_whose_quoted_name_the_model_dropped_is_written_in(settings):
    fact = "推广电子健康卡（码）“一码通用”，覆盖全部基层医疗卫生机构"
    model = Model(item=lambda fs, p: "。".join(f.replace("“一码通用”", "通用") for f in fs) + "。")
    result = run_draft(settings, {**TCM_PLAN, "facts": TCM_PLAN["facts"] + [fact]}, model)
    assert "“一码通用”" in result.draft
    assert "FACT-02" not in result.evaluation.rule_ids()


@pytest.mark.parametrize("context", [1200, 4096])
def test_every_writing_call_fits_the_context_dropping_exemplars_first(settings, context):
    from rag.tokens import count_tokens
    many = [Exemplar(text="坚持以人民健康为中心，持续完善基层医疗卫生服务体系。" * 6, genre="工作计划", role="目标任务",
                     title="t", section="", source="s", score=1.0, chunk_id=f"c{i}") for i in range(4)]
    bodies: list[dict] = []
    model = Model()

    def answer(body):
        bodies.append(body)
        return model(body)

    with ScriptedOpenAIServer([answer], repeat_last=True) as stub:
        result = draft_report(parse_request(TCM_PLAN), stub_settings(settings, stub, llm_context_tokens=context),
                              retriever=lambda q, g, r, k: many[:k], embed=None)
    assert not result.partial
    items = [b for b in bodies if "下的一段正文" in b["messages"][-1]["content"]]
    assert items
    for b in items:
        used = sum(count_tokens(m["content"]) for m in b["messages"]) + b["max_tokens"]
        assert used <= context
    shown = [fenced(b["messages"][-1]["content"], "范文片段").count("片段") for b in items]
    assert (max(shown) < 3) if context < 2000 else (min(shown) == 3)


def test_facts_that_cannot_fit_the_context_are_refused_not_cut(settings):
    facts = [f"第{i}项工作：" + "完善基层医疗卫生服务体系建设，" * 8 + f"完成{i}项" for i in range(1, 40)]
    with ScriptedOpenAIServer([Model()], repeat_last=True) as stub:
        with pytest.raises(RequestError) as info:
            draft_report(parse_request({**TCM_PLAN, "facts": facts}),
                         stub_settings(settings, stub, llm_context_tokens=1500), retriever=lambda *a: [], embed=None)
    assert "事实" in str(info.value)


@pytest.mark.parametrize("first_round_helps", [True, False])
def test_repair_quotes_violations_keeps_the_best_version_and_stops_when_a_round_does_not_help(
        settings, first_round_helps):
    request = parse_request({**TCM_PLAN, "length_chars": [400, 600]})
    short = ("一、主要任务\n（一）推进中医馆建设。16个乡镇卫生院全部建成中医馆，其中4个建成“旗舰中医馆”。\n"
             "（二）加强健康管理。65岁以上老年人中医药健康管理率达到75%以上。\n"
             "（三）培养人才。培养中医师承人员20名，开展西医学习中医培训120人次。")
    longer = ["将按照统一标准改造诊疗区和煎药室，配齐中医诊疗设备，推广针灸、推拿、拔罐等适宜技术，"
              "让群众在家门口就能享受到方便、价廉的中医药服务，逐步形成布局合理、特色鲜明的服务网络。",
              "将依托家庭医生签约服务，为辖区老年人提供体质辨识和养生保健指导，建立健康档案并定期随访，"
              "把中医药健康管理融入日常诊疗和公共卫生服务之中，切实提升老年群体的健康获得感。",
              "将完善师带徒管理制度，明确带教老师责任和考核办法，组织学员跟师临诊、整理医案，"
              "同时开展西医人员系统学习中医基础理论和常用方剂，着力打造一支留得住、用得上的基层中医队伍。"]
    worse = "This paragraph is in English 2099."
    writer_answers = iter(longer if first_round_helps else [worse] * 9)
    prompts: list[str] = []

    def answer(body: dict) -> str:
        prompt = body["messages"][-1]["content"]
        prompts.append(prompt)
        assert "[LEN-01]" in prompt                          # the violation is quoted
        original = fenced(prompt, "原文")
        # only the paragraph's own fact: given all, the model pours them into one paragraph
        [own] = fact_lines(prompt)
        assert numbers_of(own) <= numbers_of(original)
        return original + next(writer_answers)

    with ScriptedOpenAIServer([answer], repeat_last=True) as stub:
        result = repair_draft(request, short, stub_settings(settings, stub))
    assert "English" not in result.draft and "2099" not in result.draft
    for fact in TCM_PLAN["facts"]:
        assert numbers_of(fact) <= numbers_of(result.draft)
    kinds = [(r["round"], r["kind"], r["passed"]) for r in result.rounds]
    if first_round_helps:
        assert result.evaluation.passed, result.evaluation.to_json()
        assert kinds[-1] == (1, "llm", True)
    else:
        # a round that made nothing better ends the loop: round 2 would send the same prompts
        assert [k for k in kinds if k[1] == "llm"] == [(1, "llm", False)]
        assert len(prompts) == len(set(prompts)) == 3


def test_a_draft_left_short_tells_the_user_to_add_facts(settings):
    request = parse_request({**TCM_PLAN, "length_chars": [1500, 2000]})
    short = ("一、主要任务\n（一）推进中医馆建设。16个乡镇卫生院全部建成中医馆，其中4个建成“旗舰中医馆”。\n"
             "（二）加强健康管理。65岁以上老年人中医药健康管理率达到75%以上。\n"
             "（三）培养人才。培养中医师承人员20名，开展西医学习中医培训120人次。")

    def unchanged(body: dict) -> str:
        return fenced(body["messages"][-1]["content"], "原文")

    with ScriptedOpenAIServer([unchanged], repeat_last=True) as stub:
        result = repair_draft(request, short, stub_settings(settings, stub))
    assert [v.rule for v in result.evaluation.violations if v.rule == "LEN-01"]
    [advice] = [n for n in result.notices if "少于要求的1500字" in n]
    assert f"{len(TCM_PLAN['facts'])}条事实" in advice and "补充事实" in advice


def test_a_length_repair_lengthens_sub_heading_paragraphs_only(settings):
    request = parse_request({**REVIEW, "length_chars": [900, 1200]})
    title = "翠峰县卫生健康局2024年行风工作汇报"
    opening = "今年以来，我局扎实推进行风建设。现将有关工作情况汇报如下："
    problems = "工作取得了一定成效，但对照上级要求和群众期盼，仍存在一些薄弱环节：个别医务人员廉洁意识淡薄，过度检查现象仍有发生。"
    short = "\n".join([
        title, opening, "一、主要工作及成效",
        "（一）加强监督检查。1—6月开展医疗机构行风专项检查2轮，覆盖县乡医疗机构27家。查处收受“红包”、回扣等问题4起，给予党纪政务处分3人。",
        "（二）坚持群众视角。患者满意度第三方测评得分91.6分，较去年同期提高1.8分。12345热线涉医投诉办结率100%，群众满意率96.3%。签订医务人员廉洁从业承诺书1860份。",
        "二、存在的问题", problems,
        "三、下一步工作打算", "开展“清廉医院”创建，年底前创建示范点5个。"])
    repaired: list[str] = []

    def answer(body: dict) -> str:
        original = fenced(body["messages"][-1]["content"], "原文")
        repaired.append(original)
        return original + "建立问题清单、责任清单和整改清单，实行销号管理，定期通报进展，确保问题见底清零、整改到位。"

    with ScriptedOpenAIServer([answer], repeat_last=True) as stub:
        result = repair_draft(request, short, stub_settings(settings, stub))
    assert repaired and all("查处收受" in r or "满意度第三方" in r for r in repaired)
    lines = [l for l in result.draft.split("\n") if l]
    assert lines[0] == title and lines[1] == opening and problems in lines


def test_revise_rewrites_only_the_named_part(settings):
    draft = ("一、主要任务\n（一）推进中医馆建设。16个乡镇卫生院全部建成中医馆，其中4个建成“旗舰中医馆”。\n"
             "（二）加强健康管理。65岁以上老年人中医药健康管理率达到75%以上。")

    def answer(body: dict) -> str:
        prompt = body["messages"][-1]["content"]
        assert "再精炼一些" in fenced(prompt, "修改意见")
        assert fenced(prompt, "原文").startswith("（二）")
        return "（二）加强健康管理。65岁以上老年人中医药健康管理率达到75%以上，服务更加规范。"

    with ScriptedOpenAIServer([answer], repeat_last=True) as stub:
        request = parse_request({**TCM_PLAN, "facts": TCM_PLAN["facts"][:2], "length_chars": [60, 400]})
        result = revise_draft(request, draft, "（二）加强健康管理再精炼一些", stub_settings(settings, stub))
    lines = [l for l in result.draft.splitlines() if l]
    assert lines[1] == draft.splitlines()[1]
    assert result.draft.endswith("服务更加规范。")
    assert [e.guard for e in result.edits if e.guard == "revision"] == ["revision"]


def test_empty_facts_ask_for_data_without_calling_the_model(settings):
    with ScriptedOpenAIServer([Model()], repeat_last=True) as stub:
        result = draft_report(parse_request({**TCM_PLAN, "genre": "工作总结", "facts": [],
                                                      "section": "主要工作及成效"}),
                              stub_settings(settings, stub), retriever=corpus_retriever())
        assert stub.chat_requests == []
    assert result.draft == "" and result.evaluation is None
    assert "没有提供可用的事实" in result.notices[-1] and "关键数字" in result.notices[-1]


def _run_cli(request: dict, tmp_path: Path, base_url: str) -> subprocess.CompletedProcess:
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request, ensure_ascii=False), encoding="utf-8")
    env = {**os.environ, "GONGWEN_LLM_BASE_URL": base_url, "GONGWEN_DATA_DIR": str(tmp_path / "data"),
           "GONGWEN_LLM_TIMEOUT": "10", "OMP_WAIT_POLICY": "passive"}
    return subprocess.run([sys.executable, "-m", "rag", "draft", "--request", str(path), "--json"],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=900)


def test_cli_empty_facts_exits_1(tmp_path):
    with ScriptedOpenAIServer([Model()], repeat_last=True) as stub:
        proc = _run_cli({**TCM_PLAN, "facts": []}, tmp_path, stub.base_url)
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["draft"] == "" and out["evaluation"] is None and out["sources"] == []


def test_cli_draft_json_shape(tmp_path):
    """Real path: the seed index is built in a fresh data dir and searched (takes a minute)."""
    with ScriptedOpenAIServer([Model()], repeat_last=True) as stub:
        proc = _run_cli(TCM_PLAN, tmp_path, stub.base_url)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) >= {"draft", "sources", "evaluation", "edits", "sentences", "plan", "usage", "partial"}
    assert out["draft"].startswith("一、主要任务") and out["partial"] is False
    assert out["sources"] and {"text", "genre", "role", "source"} <= set(out["sources"][0])
    assert set(out["evaluation"]) == {"passed", "score", "violations"}
    assert "正在检索范文…" in proc.stderr


def test_cli_partial_draft_exits_3_and_prints_what_was_written(tmp_path):
    model = Model()
    calls = {"n": 0}

    def answer(body):
        calls["n"] += 1
        return error(401) if calls["n"] > 1 else model(body)

    with ScriptedOpenAIServer([answer], repeat_last=True) as stub:
        proc = _run_cli(TCM_PLAN, tmp_path, stub.base_url)
    assert proc.returncode == 3, proc.stderr
    out = json.loads(proc.stdout)
    assert out["partial"] is True and out["error"] and out["draft"].startswith("一、主要任务")


def test_repair_trims_a_draft_over_its_range_keeping_every_fact(settings):
    request = parse_request({**TCM_PLAN, "length_chars": [60, 140]})
    padding = ("建立任务台账，逐月调度推进。定期通报各地进展，对滞后的乡镇约谈提醒。"
               "组织专家下沉指导，帮助解决设备和人员难题。把完成情况纳入年度绩效考核。")
    long = ("一、主要任务\n（一）推进中医馆建设。16个乡镇卫生院全部建成中医馆，其中4个建成“旗舰中医馆”。" + padding
            + "\n（二）加强健康管理。65岁以上老年人中医药健康管理率达到75%以上。"
            + "依托家庭医生团队开展体质辨识。把中医药服务写进签约服务包。每季度随访一次并更新档案。")

    def unchanged(body: dict) -> str:
        return fenced(body["messages"][-1]["content"], "原文")

    with ScriptedOpenAIServer([unchanged], repeat_last=True) as stub:
        result = repair_draft(request, long, stub_settings(settings, stub))
    assert len(re.sub(r"\s", "", result.draft)) < len(re.sub(r"\s", "", long))
    for fact in TCM_PLAN["facts"][:2]:
        assert numbers_of(fact) <= numbers_of(result.draft)
