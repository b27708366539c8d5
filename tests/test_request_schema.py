"""One schema for what the user hands in: requests, plans (`rag draft --plan`) and saved drafts
(`rag draft --resume`). Wrong types and out-of-range values get a Chinese message naming the field;
a plan or saved draft made for another request is refused."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date

import pytest

from rag.config import PROJECT_ROOT
from rag.draft import DraftResult
from rag.errors import RequestError
from rag.normalize import parse_request
from rag.plan import PlanItem, PlanPart, ReportPlan, make_plan
from rag.factsheet import analyse_facts
from rag.prompting import genre_guide, requested_parts
from rag.schema import DraftRequest
from rag.validation import LENGTH_RANGE, year_window

THIS_YEAR = date.today().year
REQUEST = {"genre": "工作总结", "section": "全文", "unit": "柳湾县卫生健康局", "year": THIS_YEAR - 1,
           "facts": ["新建标准化村卫生室7个", "孕产妇系统管理率达到93.5%"], "length_chars": [600, 900]}


def refused(data: dict) -> str:
    with pytest.raises(RequestError) as info:
        DraftRequest.validated(data)
    return str(info.value)


# --- the request ---------------------------------------------------------------------------------

@pytest.mark.parametrize("year", [3000, 1900, -5, THIS_YEAR + 2])
def test_a_report_year_outside_the_window_is_refused_naming_the_year(year):
    message = refused({**REQUEST, "year": year})
    assert f"年份 {year}" in message and f"1949–{THIS_YEAR + 1}" in message


def test_a_plan_may_look_five_years_ahead_and_a_summary_one():
    assert year_window("工作计划") == (1949, THIS_YEAR + 5)
    assert year_window("工作总结") == (1949, THIS_YEAR + 1)
    assert DraftRequest.validated({**REQUEST, "genre": "工作计划", "year": THIS_YEAR + 5}).year == THIS_YEAR + 5
    assert "年份" in refused({**REQUEST, "genre": "工作计划", "year": THIS_YEAR + 6})
    assert DraftRequest.validated({**REQUEST, "year": 1949}).year == 1949


@pytest.mark.parametrize("length", [[1e9, 1e12], [10, 40], [900, 600], [600], ["600", 900], [600, 60000], "600-900",
                                    [True, 900]])
def test_a_length_outside_the_range_or_not_two_integers_is_refused(length):
    message = refused({**REQUEST, "length_chars": length})
    assert "length_chars" in message and f"{LENGTH_RANGE[0]}–{LENGTH_RANGE[1]}" in message
    assert "Traceback" not in message and "Input should" not in message


def test_the_bounds_of_the_length_range_are_accepted():
    lo, hi = LENGTH_RANGE
    assert DraftRequest.validated({**REQUEST, "length_chars": [lo, hi]}).length_chars == (lo, hi)


@pytest.mark.parametrize("change,field", [
    ({"facts": "新建村卫生室7个"}, "facts"), ({"facts": [7]}, "facts"), ({"key_figures": [93.5]}, "key_figures"),
    ({"unit": ["柳湾县"]}, "unit"), ({"section": None}, "section"), ({"year": "明年"}, "年份"), ({"year": True}, "年份"),
])
def test_wrong_types_in_a_request_name_the_field(change, field):
    assert field in refused({**REQUEST, **change})


def test_the_normalised_request_still_reads_typed_years_and_traditional_script():
    request = parse_request({**REQUEST, "genre": "工作總結", "year": f"{THIS_YEAR - 1}年"})
    assert (request.genre, request.year) == ("工作总结", THIS_YEAR - 1)


# --- the fingerprint ------------------------------------------------------------------------------

def test_the_fingerprint_follows_what_decides_the_draft_and_nothing_else():
    base = parse_request(REQUEST)
    assert base.fingerprint() == parse_request(dict(REQUEST)).fingerprint()
    assert base.fingerprint() == parse_request({**REQUEST, "notes": "写简洁些", "topic": "基层卫生"}).fingerprint()
    for change in ({"unit": "桃源县卫生健康局"}, {"year": THIS_YEAR - 2}, {"facts": REQUEST["facts"][:1]},
                   {"length_chars": [600, 1000]}, {"section": "存在问题"}):
        assert parse_request({**REQUEST, **change}).fingerprint() != base.fingerprint(), change


def test_a_plan_and_a_result_carry_the_fingerprint_through_json():
    request = parse_request(REQUEST)
    parts = requested_parts(request.genre, request.section)
    plan = make_plan(request, analyse_facts(request, parts), parts, genre_guide(request.genre), title="")
    assert plan.request_fingerprint == request.fingerprint()
    again = ReportPlan.from_dict(json.loads(plan.dumps()))
    assert again == plan
    saved = DraftResult(draft="", plan=plan, partial=True, error="超时").to_json()
    assert saved["request_fingerprint"] == request.fingerprint()
    assert DraftResult.from_json(json.loads(json.dumps(saved, ensure_ascii=False))).request_fingerprint == request.fingerprint()


# --- plans and saved drafts -----------------------------------------------------------------------

def plan_for(request: DraftRequest, **changes) -> dict:
    plan = ReportPlan(genre=request.genre, section=request.section, title="", request_fingerprint=request.fingerprint(),
                      parts=[PlanPart(key="work", title="主要工作及成效", layout="items", number=1, budget=500,
                                      items=[PlanItem(heading="夯实基层卫生基础", fact_ids=[1, 2], budget=500)])])
    return {**plan.to_dict(), **changes}


def _item_change(key, value):
    def change(plan: dict) -> dict:
        plan["parts"][0]["items"][0][key] = value
        return plan
    return change


WRONG_PLANS = {
    "fact id not a number": (_item_change("fact_ids", ["x"]), "fact_ids[0]"),
    "fact ids not a list": (_item_change("fact_ids", 5), "fact_ids"),
    "part not an object": (lambda plan: {**plan, "parts": [1]}, "parts[0]"),
    "budget not a number": (_item_change("budget", "abc"), "budget"),
    "top level a list": (lambda plan: [plan], "JSON 对象"),
    "heading null": (_item_change("heading", None), "heading"),
    "heading blank": (_item_change("heading", "  "), "heading"),
    "unknown layout": (lambda plan: {**plan, "parts": [{**plan["parts"][0], "layout": "poem"}]}, "layout"),
}


@pytest.mark.parametrize("name", list(WRONG_PLANS))
def test_a_plan_with_wrong_types_is_refused_naming_the_field(name):
    change, field = WRONG_PLANS[name]
    with pytest.raises(RequestError) as info:
        ReportPlan.from_dict(change(plan_for(parse_request(REQUEST))))
    assert field in str(info.value) and "None" not in str(info.value)


@pytest.mark.parametrize("saved,field", [
    ({"partial": True, "blocks": [{"key": "work"}]}, "kind"),
    ({"partial": True, "blocks": "work"}, "blocks"),
    ({"partial": "yes"}, "partial"),
    ({"plan": [1, 2]}, "plan"),
])
def test_a_saved_draft_with_wrong_types_is_refused_naming_the_field(saved, field):
    with pytest.raises(RequestError) as info:
        DraftResult.from_json(saved)
    assert field in str(info.value)


# --- the CLI --------------------------------------------------------------------------------------

def run_draft_cli(tmp_path, request: dict, plan=None, resume=None) -> subprocess.CompletedProcess:
    files = {"request.json": request, "plan.json": plan, "partial.json": resume}
    argv = [sys.executable, "-m", "rag", "draft", "--request", str(tmp_path / "request.json")]
    for name, content in files.items():
        if content is not None:
            (tmp_path / name).write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
    if plan is not None:
        argv += ["--plan", str(tmp_path / "plan.json")]
    if resume is not None:
        argv += ["--resume", str(tmp_path / "partial.json")]
    # nothing may be drafted: an unreachable endpoint makes sure no check is skipped by a model answer
    env = {**os.environ, "GONGWEN_DATA_DIR": str(tmp_path / "data"), "GONGWEN_LLM_BASE_URL": "http://127.0.0.1:9/v1"}
    return subprocess.run(argv, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)


def assert_refused(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.startswith("错误：") and proc.stdout == ""
    for word in words:
        assert word in proc.stderr, proc.stderr


@pytest.mark.parametrize("name", ["fact id not a number", "fact ids not a list", "part not an object",
                                  "budget not a number", "top level a list", "heading null"])
def test_cli_refuses_a_plan_with_wrong_types(tmp_path, name):
    change, field = WRONG_PLANS[name]
    proc = run_draft_cli(tmp_path, REQUEST, plan=change(plan_for(parse_request(REQUEST))))
    assert_refused(proc, "提纲", field)


def test_cli_refuses_a_plan_for_another_genre_or_request_or_without_a_fingerprint(tmp_path):
    request = parse_request(REQUEST)
    assert_refused(run_draft_cli(tmp_path, REQUEST, plan=plan_for(request, genre="工作汇报")), "工作汇报·全文", "不符")
    other = parse_request({**REQUEST, "facts": ["新建标准化村卫生室9个", "孕产妇系统管理率达到93.5%"]})
    assert_refused(run_draft_cli(tmp_path, REQUEST, plan=plan_for(other)), "请求指纹不符", "rag plan")
    assert_refused(run_draft_cli(tmp_path, REQUEST, plan=plan_for(request, request_fingerprint="")),
                   "没有请求指纹", "重新生成")
    printed = {"plan": plan_for(request, genre="述职报告"), "facts": {}}   # the whole `rag plan --json` output
    assert_refused(run_draft_cli(tmp_path, REQUEST, plan=printed), "述职报告")


def test_cli_refuses_a_partial_draft_of_another_request(tmp_path):
    other = parse_request({**REQUEST, "unit": "桃源县卫生健康局"})
    partial = DraftResult(draft="一、主要工作及成效", plan=ReportPlan.from_dict(plan_for(other)), partial=True,
                          error="模型超时").to_json()
    assert_refused(run_draft_cli(tmp_path, REQUEST, resume=partial), "未完成草稿", "请求指纹不符", "--resume")
    broken = {**partial, "blocks": [{"key": "title", "sentences": []}]}
    assert_refused(run_draft_cli(tmp_path, REQUEST, resume=broken), "blocks[0].kind")
    assert_refused(run_draft_cli(tmp_path, {**REQUEST, "year": 3000}), "年份 3000")
