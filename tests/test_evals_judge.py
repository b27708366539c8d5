"""The optional LLM judge's prompt and reply parsing (no model needed)."""
from __future__ import annotations

import pytest

from evals.check import evaluate
from evals.judge import build_messages, merge_judgement, parse_judgement
from rag.errors import LLMError
from rag.schema import DraftRequest

REQ = DraftRequest(genre="工作计划", section="全文", unit="江口市卫生健康委员会", year=2025,
                   facts=["孕产妇系统管理率保持在90%以上"], length_chars=(50, 100))
DRAFT = "一、主要任务\n\n（一）孕产妇系统管理率达到90%，我觉得挺好。\n（二）加强管理。\n"


def test_prompt_is_filled_and_chinese():
    messages = build_messages(DRAFT, REQ)
    system = messages[0]["content"]
    assert "江口市卫生健康委员会" in system and "1. 孕产妇系统管理率保持在90%以上" in system
    assert '{"violations": []}' in system and DRAFT in messages[1]["content"]


def test_reply_parsed_and_located_in_draft():
    reply = ('好的。{"violations": [{"rule": "FACT-06", "evidence": "孕产妇系统管理率达到90%", "reason": "丢了“以上”"},'
             '{"rule": "LANG-04", "evidence": "我觉得挺好", "reason": "口语"},'
             '{"rule": "LANG-04", "evidence": "稿中没有的话", "reason": "编的"},'
             '{"rule": "STR-01", "evidence": "加强管理", "reason": "不归评审管"}]}')
    found = parse_judgement(reply, DRAFT)
    assert [(v.rule, DRAFT[v.start:v.end]) for v in found] == [("FACT-06", "孕产妇系统管理率达到90%"),
                                                             ("LANG-04", "我觉得挺好")]
    assert all(v.severity == "minor" and "模型复核" in v.message for v in found)
    merged = merge_judgement(evaluate(DRAFT, REQ), found)
    assert {"FACT-06", "LANG-04"} <= {v.rule for v in merged.violations}


@pytest.mark.parametrize("reply", ["我认为没有问题", '{"violations": "none"}', "{broken json"])
def test_unusable_reply_is_an_llm_error(reply):
    with pytest.raises(LLMError):
        parse_judgement(reply, DRAFT)


def test_cli_judge_through_a_real_openai_protocol_server(tmp_path):
    """`python -m evals check --judge` asks the configured endpoint and merges its findings."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from openai_stub import ScriptedOpenAIServer, reply

    answer = json.dumps({"violations": [{"rule": "LANG-04", "evidence": "挺好", "reason": "口语化"}]},
                        ensure_ascii=False)
    draft = tmp_path / "d.md"
    draft.write_text(DRAFT, encoding="utf-8")
    request = tmp_path / "r.json"
    request.write_text(json.dumps(REQ.to_dict(), ensure_ascii=False), encoding="utf-8")
    with ScriptedOpenAIServer([reply(answer)]) as stub:
        env = {**os.environ, "GONGWEN_DATA_DIR": str(tmp_path / "data"), "GONGWEN_LLM_BASE_URL": stub.base_url,
               "OMP_WAIT_POLICY": "passive"}
        out = subprocess.run([sys.executable, "-m", "evals", "check", str(draft), "--request", str(request),
                              "--json", "--judge", "--no-copy"], cwd=Path(__file__).resolve().parent.parent,
                             env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        judged = [v for v in json.loads(out.stdout)["violations"] if "模型复核" in v["message"]]
        assert [(v["rule"], v["evidence"]) for v in judged] == [("LANG-04", "挺好")]
        sent = stub.chat_requests[0]["messages"]
        assert "江口市卫生健康委员会" in sent[0]["content"] and "我觉得挺好" in sent[1]["content"]
