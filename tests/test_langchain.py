"""The LangChain components (rag/integrations/langchain.py) with real langchain-core objects, the
real seed index in Chroma and the scripted OpenAI server; the README's "From LangChain" snippet is
run as it is written."""
from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from langchain_core.documents import Document

from chroma_server import copy_data_dir, seed_data_dir
from openai_stub import ScriptedOpenAIServer, reply
from rag.config import PROJECT_ROOT, Settings
from rag.corpus import load_chunks
from rag.errors import RequestError
from rag.integrations.langchain import GongwenRetriever, checking_runnable, drafting_runnable
from test_drafting_contract import Model

CLINICS = {"genre": "工作总结", "section": "主要工作及成效", "unit": "柘岭县卫生健康局", "year": 2024,
           "facts": ["新建标准化村卫生室17个", "乡镇卫生院远程心电诊断覆盖率达到88%",
                     "培训乡村医生430人次"],
           "length_chars": [300, 800]}
VACCINES = {"genre": "工作计划", "section": "主要任务", "unit": "苇塘区卫生健康局", "year": 2025,
            "facts": ["新建数字化预防接种门诊4个", "适龄儿童免疫规划疫苗接种率保持在96%以上",
                      "开展接种人员业务培训210人次"],
            "length_chars": [300, 800]}
MENTAL = {"genre": "工作汇报", "section": "全文", "unit": "鹭洲市卫生健康委员会", "year": 2024,
          "facts": ["建成社区心理服务站23个", "严重精神障碍患者规范管理率达到91.4%",
                    "存在问题：专业心理治疗师只有9人", "下半年打算：开通24小时心理援助热线"],
          "length_chars": [400, 1200]}
STREAM_THREAD = "gongwen-draft-stream"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A private copy of the indexed seed corpus: drafts write call logs and caches into it."""
    target = tmp_path_factory.mktemp("langchain") / "data"
    copy_data_dir(seed_data_dir(tmp_path_factory), target)
    return target


@pytest.fixture
def llm():
    with ScriptedOpenAIServer([Model()], repeat_last=True) as stub:
        yield stub


def stub_settings(data_dir: Path, stub) -> Settings:
    return Settings(data_dir=data_dir, llm_base_url=stub.base_url, llm_timeout=10.0, _env_file=None)


def stub_env(data_dir: Path, stub) -> dict[str, str]:
    return {**os.environ, "GONGWEN_DATA_DIR": str(data_dir), "GONGWEN_LLM_BASE_URL": stub.base_url,
            "GONGWEN_LLM_TIMEOUT": "10", "OMP_WAIT_POLICY": "passive"}


def without_timings(result: dict) -> dict:
    """The draft JSON without the wall-clock figures of the run that made it (`usage.seconds`,
    and `first_token_s` and `seconds` of each call): two runs of one draft differ only there."""
    usage = {k: v for k, v in result["usage"].items() if k not in ("seconds", "per_call")}
    usage["per_call"] = [{k: v for k, v in c.items() if k not in ("first_token_s", "seconds")}
                         for c in result["usage"]["per_call"]]
    return {**result, "usage": usage}


def stream_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == STREAM_THREAD]


# --- the retriever ---------------------------------------------------------------------------------

@pytest.mark.parametrize("genre,role", [("工作计划", None), ("述职报告", None), ("工作总结", "存在问题")])
def test_the_retriever_returns_documents_of_its_genre_and_role(data_dir, genre, role):
    retriever = GongwenRetriever(genre=genre, role=role, k=3, settings=Settings(data_dir=data_dir, _env_file=None))
    docs = retriever.invoke("加强基层卫生服务能力建设")
    assert len(docs) == 3 and all(isinstance(d, Document) for d in docs)
    chunks = {f"seed/{c.id}": c for c in load_chunks()}
    for doc in docs:
        meta = doc.metadata
        assert meta["genre"] == genre and (role is None or meta["role"] == role)
        chunk = chunks[meta["chunk_id"]]
        assert doc.id == meta["chunk_id"] and doc.page_content == chunk.text
        assert meta["article_id"] == chunk.article_id and meta["source"] == chunk.source
        assert meta["title"] == chunk.title and meta["section"] == chunk.section
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0


def test_the_retriever_names_the_genres_when_given_an_unknown_one(data_dir):
    retriever = GongwenRetriever(genre="会议纪要", settings=Settings(data_dir=data_dir, _env_file=None))
    with pytest.raises(RequestError, match="可选：工作总结"):
        retriever.invoke("会议")


# --- drafting ----------------------------------------------------------------------------------

def test_the_drafting_runnable_returns_what_rag_draft_json_prints(data_dir, llm, tmp_path):
    request_file = tmp_path / "request.json"
    request_file.write_text(json.dumps(MENTAL, ensure_ascii=False), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "rag", "draft", "--request", str(request_file), "--json"],
                          cwd=PROJECT_ROOT, env=stub_env(data_dir, llm), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    returned = drafting_runnable(stub_settings(data_dir, llm)).invoke(MENTAL)
    assert printed["draft"] and printed["sources"]
    assert without_timings(returned) == without_timings(printed)


def test_stream_yields_the_draft_text_piece_by_piece(data_dir, llm):
    runnable = drafting_runnable(stub_settings(data_dir, llm))
    pieces = list(runnable.stream(CLINICS))
    assert len(pieces) > 1 and all(isinstance(p, str) for p in pieces)
    text = "".join(pieces)
    assert text.startswith("一、主要工作及成效")
    assert "新建标准化村卫生室17个" in text and "培训乡村医生430人次" in text
    assert not stream_threads()


def test_async_stream_yields_the_same_kind_of_pieces(data_dir, llm):
    runnable = drafting_runnable(stub_settings(data_dir, llm))

    async def collect() -> list[str]:
        return [p async for p in runnable.astream(CLINICS)]

    pieces = asyncio.run(collect())
    assert len(pieces) > 1 and all(isinstance(p, str) for p in pieces)
    assert "".join(pieces).startswith("一、主要工作及成效")


def test_a_drafting_error_reaches_the_stream_reader_and_the_thread_ends(data_dir, llm):
    runnable = drafting_runnable(stub_settings(data_dir, llm))
    with pytest.raises(RequestError, match="未知文种"):
        list(runnable.stream({**CLINICS, "genre": "会议纪要"}))
    assert not stream_threads()


def test_closing_a_stream_early_stops_the_draft(data_dir):
    model = Model()
    # a model that types: the draft is still being written when the reader leaves
    with ScriptedOpenAIServer([lambda body: reply(model(body), chunk_delay=0.02)], repeat_last=True) as stub:
        settings = stub_settings(data_dir, stub)
        pieces = drafting_runnable(settings).stream(MENTAL)
        assert next(pieces)
        pieces.close()
        assert not stream_threads()
        calls_when_closed = len(stub.chat_requests)
        whole = drafting_runnable(settings).invoke(MENTAL)["usage"]["calls"]
    assert calls_when_closed < whole


def test_batch_drafts_each_request_from_its_own_facts(data_dir, llm):
    requests = [CLINICS, VACCINES, MENTAL]
    results = drafting_runnable(stub_settings(data_dir, llm)).batch(requests, config={"max_concurrency": 3})
    assert len(results) == 3
    facts = [[f["text"] for f in result["facts"]["facts"]] for result in results]
    for n, (request, result) in enumerate(zip(requests, results)):
        assert result["draft"] and not result["partial"]
        # the product's reading of each fact (a label such as 存在问题： goes) comes from this request
        assert len(facts[n]) == len(request["facts"])
        assert all(text in fact for text, fact in zip(facts[n], request["facts"]))
        assert all(text in result["draft"] for text in facts[n])
        others = [m for m in range(3) if m != n]
        assert not [t for m in others for t in facts[m] if t in result["draft"]]
        assert not [requests[m]["unit"] for m in others if requests[m]["unit"] in result["draft"]]
        assert all(s["genre"] == request["genre"] for s in result["sources"])


# --- checking ----------------------------------------------------------------------------------

DRAFT_TO_CHECK = ("一、主要工作及成效\n\n（一）夯实基层卫生服务网底。新建标准化村卫生室17个，"
                  "培训乡村医生430人次。乡镇卫生院远程心电诊断覆盖率达到95%，全省领先。\n")


def test_the_checking_runnable_returns_what_evals_check_json_prints(data_dir, tmp_path):
    draft_file, request_file = tmp_path / "draft.md", tmp_path / "request.json"
    draft_file.write_text(DRAFT_TO_CHECK, encoding="utf-8")
    request_file.write_text(json.dumps(CLINICS, ensure_ascii=False), encoding="utf-8")
    env = {**os.environ, "GONGWEN_DATA_DIR": str(data_dir)}
    proc = subprocess.run([sys.executable, "-m", "evals", "check", str(draft_file), "--request", str(request_file),
                           "--json"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    returned = checking_runnable(Settings(data_dir=data_dir, _env_file=None)).invoke(
        {"draft": DRAFT_TO_CHECK, "request": CLINICS})
    assert returned == printed
    assert not returned["passed"] and {"FACT-04", "CLAIM-01"} & {v["rule"] for v in returned["violations"]}


def test_the_checking_runnable_says_what_input_it_needs(data_dir):
    with pytest.raises(RequestError, match="draft"):
        checking_runnable(Settings(data_dir=data_dir, _env_file=None)).invoke({"request": CLINICS})


# --- the README --------------------------------------------------------------------------------

def readme_snippet() -> str:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## From LangChain\n.*?^```python\n(.*?)^```", readme, re.S | re.M)
    assert match, "README.md has no python block under '## From LangChain'"
    return match.group(1)


def test_the_readme_langchain_snippet_runs(data_dir, tmp_path):
    model = Model()

    def answer(body: dict) -> str:
        if "把这条事实写成" in body["messages"][-1]["content"]:
            return "家庭医生签约服务覆盖重点人群3.1万人，签约居民获得感进一步增强。"
        return model(body)

    with ScriptedOpenAIServer([answer], repeat_last=True) as stub:
        proc = subprocess.run([sys.executable, "-c", readme_snippet()], cwd=tmp_path, env=stub_env(data_dir, stub),
                              capture_output=True, text=True, timeout=600)
        chain_prompts = [r for r in stub.chat_requests if "把这条事实写成" in r["messages"][-1]["content"]]
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    articles = {c.article_id: c for c in load_chunks()}
    assert all(articles[line.split()[0]].genre == "工作总结" for line in lines[:3])
    assert "家庭医生签约服务覆盖重点人群3.1万人，签约居民获得感进一步增强。" in lines
    # the chain's prompt carried the retrieved exemplars
    assert len(chain_prompts) == 1 and "参考范文的写法：\n" in chain_prompts[0]["messages"][-1]["content"]
    assert "一、主要工作及成效" in lines and "建成村卫生室标准化示范点12个" in proc.stdout
    assert lines[-1] == "检查通过" or lines[-1].startswith("[")
