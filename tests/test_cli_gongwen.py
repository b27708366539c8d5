"""The `gongwen` console script as installed into the venv (pyproject [project.scripts]), run as a
real process from a directory outside the checkout."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from openai_stub import ScriptedOpenAIServer
from rag.config import PROJECT_ROOT
from test_drafting_contract import Model
from test_langchain import data_dir, stub_env  # noqa: F401 - data_dir is a fixture

GONGWEN = Path(sys.executable).parent / "gongwen"
REQUEST = {"genre": "工作计划", "section": "主要任务", "unit": "榆川县卫生健康局", "year": 2025,
           "facts": ["新建县域医学影像中心1个", "实现乡镇卫生院远程影像诊断全覆盖",
                     "培训基层影像技师60人次"],
           "length_chars": [300, 800]}
DRAFT = "一、主要任务\n\n（一）建设县域影像中心。新建县域医学影像中心2个，实现乡镇卫生院远程影像诊断全覆盖。\n"


@pytest.fixture
def elsewhere(tmp_path) -> Path:
    """An empty working directory outside the checkout, with the request and a draft in it."""
    cwd = tmp_path / "work"
    cwd.mkdir()
    (cwd / "request.json").write_text(json.dumps(REQUEST, ensure_ascii=False), encoding="utf-8")
    (cwd / "draft.md").write_text(DRAFT, encoding="utf-8")
    return cwd


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(GONGWEN), *args], cwd=cwd, env=env or dict(os.environ), capture_output=True,
                          text=True, timeout=600)


def test_gongwen_is_installed_as_a_console_script():
    assert GONGWEN.is_file() and os.access(GONGWEN, os.X_OK)


def test_help_lists_the_commands(elsewhere):
    proc = run(["--help"], elsewhere)
    assert proc.returncode == 0, proc.stderr
    for command in ("draft", "plan", "search", "ingest", "model", "check", "evals"):
        assert f"    {command} " in proc.stdout
    assert run([], elsewhere).stdout == proc.stdout
    evals = run(["evals", "--help"], elsewhere)
    assert evals.returncode == 0 and "    check " in evals.stdout and "    run " in evals.stdout
    draft = run(["draft", "--help"], elsewhere)
    assert all(option in draft.stdout for option in ("--request", "--json", "--plan", "--resume"))


def test_a_usage_error_is_said_in_chinese_with_status_2(elsewhere):
    for args in (["draft"], ["写稿"], ["evals"]):
        proc = run(args, elsewhere)
        assert proc.returncode == 2 and "参数错误" in proc.stderr and "Traceback" not in proc.stderr


def test_draft_json_works_from_another_directory(elsewhere, data_dir):
    with ScriptedOpenAIServer([Model()], repeat_last=True) as stub:
        proc = run(["draft", "--request", "request.json", "--json"], elsewhere, stub_env(data_dir, stub))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["draft"].startswith("一、主要任务") and not out["partial"]
    assert all(fact in out["draft"] for fact in REQUEST["facts"])
    assert out["sources"] and all(s["genre"] == "工作计划" for s in out["sources"])
    assert sorted(p.name for p in elsewhere.iterdir()) == ["draft.md", "request.json"]


def test_search_json_works_from_another_directory(elsewhere, data_dir):
    env = {**os.environ, "GONGWEN_DATA_DIR": str(data_dir)}
    proc = run(["search", "远程影像诊断", "--genre", "工作计划", "-k", "3", "--json"], elsewhere, env)
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)
    assert len(hits) == 3 and all(h["genre"] == "工作计划" and h["article_id"] for h in hits)


@pytest.mark.parametrize("command", [["check"], ["evals", "check"]])
def test_check_prints_what_evals_check_prints(elsewhere, data_dir, command):
    env = {**os.environ, "GONGWEN_DATA_DIR": str(data_dir)}
    args = ["draft.md", "--request", "request.json", "--json"]
    module = subprocess.run([sys.executable, "-m", "evals", "check", *args], cwd=elsewhere, env=env,
                            capture_output=True, text=True, timeout=300)
    proc = run([*command, *args], elsewhere, env)
    assert proc.returncode == module.returncode == 0, proc.stderr
    assert proc.stdout == module.stdout
    verdict = json.loads(proc.stdout)   # the draft says 2 centres where the facts say 1
    assert not verdict["passed"] and any(v["rule"].startswith("FACT-") for v in verdict["violations"])


def test_evals_run_scores_the_labelled_drafts(elsewhere):
    module = subprocess.run([sys.executable, "-m", "evals", "run", "--no-copy"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=300)
    proc = run(["evals", "run", "--no-copy"], elsewhere)
    assert proc.returncode == module.returncode and proc.stdout == module.stdout and proc.stdout
