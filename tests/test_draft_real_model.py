"""The embedded model (Qwen2.5-Coder-1.5B via llama.cpp) drafting a short plan section end to end.

Slow (minutes on 2 cores): model start, seed index, outline + one call per sub-heading, checks,
repairs. What is asserted is what the pipeline guarantees with this weak model: a non-empty
draft, every fact number present, no number that is not in the facts (FACT-03), and no blocker
after repair. Length and style are not asserted: the 1.5B model does not reliably hit them.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from rag.text import extract_numbers, is_year_token
from rag.config import PROJECT_ROOT, Settings
from rag.draft import draft_report
from rag.textnorm import normalize_for_compare
from rag.normalize import parse_request

pytestmark = pytest.mark.slow

REQUEST = {
    "genre": "工作计划", "section": "主要任务", "unit": "鹤鸣县卫生健康局", "year": 2025,
    "facts": ["16个乡镇卫生院全部建成中医馆，其中4个建成“旗舰中医馆”",
              "65岁以上老年人中医药健康管理率达到75%以上",
              "培养中医师承人员20名，开展西医学习中医培训120人次"],
    "length_chars": [300, 500], "topic": "中医药",
}


@pytest.fixture
def real_settings(tmp_path: Path) -> Settings:
    """A temporary data dir that reuses the project's joined model file when there is one
    (joining and hashing 1.1 GB again per test run would dominate the run time)."""
    data = tmp_path / "data"
    data.mkdir()
    models = PROJECT_ROOT / "data" / "models"
    if models.is_dir():
        os.symlink(models, data / "models")
    return Settings(data_dir=data, _env_file=None)


def _tokens(text: str):
    s = normalize_for_compare(text)
    return [t for t in extract_numbers(s) if not is_year_token(t, s)]


def test_embedded_model_drafts_a_plan_section(real_settings):
    stages: list[str] = []
    result = draft_report(parse_request(REQUEST), real_settings, progress=stages.append)
    print("\n" + result.draft + "\n" + result.summary())
    assert result.draft.strip()
    assert result.draft.startswith("一、主要任务")
    # the embedded model is sent no example passages (Settings.exemplars_per_call says why)
    assert result.evaluation is not None and result.sources == []
    fact_pairs = {t.pair for f in REQUEST["facts"] for t in _tokens(f)}
    draft_tokens = _tokens(result.draft)
    assert fact_pairs <= {t.pair for t in draft_tokens}                     # every fact number
    fact_values = {v for v, _ in fact_pairs}
    assert [t.text for t in draft_tokens if t.canonical not in fact_values] == []   # none invented
    assert "FACT-03" not in result.evaluation.rule_ids()
    assert not result.evaluation.rule_ids(("blocker",)), result.evaluation.to_json()
    assert "正在检查…" in stages
