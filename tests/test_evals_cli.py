"""The labelled set and the `python -m evals` command line, run as a real subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evals.copy_index import CopyIndex, committed_corpus_docs
from evals.labelled import DEFAULT_CASES_DIR, format_report, load_labelled, rule_rows, run_labelled

DRAFTS = DEFAULT_CASES_DIR / "drafts"


@pytest.fixture(scope="module")
def results():
    return run_labelled(DEFAULT_CASES_DIR, CopyIndex.build(committed_corpus_docs()))


def test_labelled_set_is_complete():
    drafts = load_labelled()
    assert {d.kind for d in drafts} == {"good", "bad"} and sum(d.kind == "bad" for d in drafts) == 6


def test_bad_drafts_give_exactly_their_labels(results):
    for r in results:
        if r.draft.kind == "bad":
            assert r.reported == set(r.draft.expected), r.draft.name


def test_good_drafts_give_nothing(results):
    for r in results:
        if r.draft.kind == "good":
            assert r.evaluation.violations == [] and r.evaluation.passed, r.draft.name


def test_rule_table(results):
    rows = {row.rule: row for row in rule_rows(results)}
    assert rows["FACT-03"].labelled == 3 and rows["FACT-03"].recall == 1.0
    assert all(row.false_alarms == 0 for row in rows.values())
    report = format_report(results)
    assert "召回率" in report and "HC12.bad.md" in report


def run_cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "GONGWEN_DATA_DIR": str(tmp_path / "data"), "OMP_WAIT_POLICY": "passive"}
    root = Path(__file__).resolve().parent.parent
    return subprocess.run([sys.executable, "-m", "evals", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)


def request_file(tmp_path: Path, case_id: str) -> Path:
    for line in (DEFAULT_CASES_DIR / "cases.jsonl").read_text(encoding="utf-8").splitlines():
        if json.loads(line)["id"] == case_id:
            p = tmp_path / f"{case_id}.json"
            p.write_text(line, encoding="utf-8")
            return p
    raise AssertionError(case_id)


def test_check_json_output_shape(tmp_path):
    out = run_cli("check", str(DRAFTS / "HC12.bad.md"), "--request", str(request_file(tmp_path, "HC12")),
                  "--json", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {"passed", "score", "violations"}
    assert data["passed"] is False and isinstance(data["score"], (int, float))
    assert {v["rule"] for v in data["violations"]} == {"COPY-01", "STR-01", "UNIT-01"}
    for v in data["violations"]:
        assert set(v) == {"rule", "severity", "message", "evidence", "start", "end"}


def test_check_readable_report(tmp_path):
    out = run_cli("check", str(DRAFTS / "HC07.good.md"), "--request", str(request_file(tmp_path, "HC07")),
                  tmp_path=tmp_path)
    assert out.returncode == 0 and "结论：通过" in out.stdout and "未发现问题" in out.stdout
    out = run_cli("check", str(DRAFTS / "HC07.bad.md"), "--request", str(request_file(tmp_path, "HC07")),
                  tmp_path=tmp_path)
    assert "未通过" in out.stdout and "FACT-05" in out.stdout


@pytest.mark.parametrize("problem", ["missing_request", "no_request_arg", "bad_json", "bad_fields",
                                     "empty_draft", "undecodable_draft", "missing_draft"])
def test_user_errors_exit_2_with_chinese_message(tmp_path, problem):
    draft = DRAFTS / "HC07.good.md"
    req = request_file(tmp_path, "HC07")
    if problem == "missing_request":
        args = ["check", str(draft), "--request", str(tmp_path / "nope.json")]
    elif problem == "no_request_arg":
        args = ["check", str(draft)]
    elif problem == "bad_json":
        req.write_text("{genre: 工作计划", encoding="utf-8")
        args = ["check", str(draft), "--request", str(req)]
    elif problem == "bad_fields":
        req.write_text(json.dumps({"genre": "诗歌", "section": "全文", "unit": "x", "year": 2024, "facts": []}),
                       encoding="utf-8")
        args = ["check", str(draft), "--request", str(req)]
    elif problem == "empty_draft":
        empty = tmp_path / "empty.md"
        empty.write_text("  \n\n", encoding="utf-8")
        args = ["check", str(empty), "--request", str(req)]
    elif problem == "undecodable_draft":
        junk = tmp_path / "junk.md"
        junk.write_bytes(b"report \xff\xff\x81\x20 text" * 10)
        args = ["check", str(junk), "--request", str(req)]
    else:
        args = ["check", str(tmp_path / "none.md"), "--request", str(req)]
    out = run_cli(*args, tmp_path=tmp_path)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and out.stdout == ""
    assert any("\u4e00" <= ch <= "\u9fff" for ch in out.stderr)


def test_gbk_draft_is_accepted(tmp_path):
    gbk = tmp_path / "gbk.txt"
    gbk.write_bytes((DRAFTS / "HC07.good.md").read_text(encoding="utf-8").encode("gbk"))
    out = run_cli("check", str(gbk), "--request", str(request_file(tmp_path, "HC07")), "--json",
                  tmp_path=tmp_path)
    assert out.returncode == 0 and json.loads(out.stdout)["passed"] is True


def test_run_command_prints_table(tmp_path):
    out = run_cli("run", tmp_path=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "召回率" in out.stdout and "有阻断/严重误报的 0 篇" in out.stdout


def test_run_command_reports_a_missed_label(tmp_path):
    cases = tmp_path / "cases"
    (cases / "drafts").mkdir(parents=True)
    (cases / "cases.jsonl").write_text((DEFAULT_CASES_DIR / "cases.jsonl").read_text(encoding="utf-8"),
                                       encoding="utf-8")
    (cases / "drafts" / "HC07.bad.md").write_text((DRAFTS / "HC07.good.md").read_text(encoding="utf-8"),
                                                  encoding="utf-8")
    (cases / "drafts" / "HC07.bad.defects.json").write_text('{"rules": ["FACT-05"]}', encoding="utf-8")
    out = run_cli("run", "--cases", str(cases), tmp_path=tmp_path)
    assert out.returncode == 1 and "不符" in out.stdout
