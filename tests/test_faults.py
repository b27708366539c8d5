"""Faults of a hostile world, injected by the scripted OpenAI-protocol server (tests/openai_stub.py).

Each fault is driven through the LLM client (`rag.llm`) and through the command line
(`python -m rag draft --request R.json --json` in a subprocess, GONGWEN_LLM_BASE_URL pointing at
the stub): a transient fault is retried with a notice and the call then succeeds; a lasting one
ends in a clear Chinese error whose `kind` says which fault it was. Also here: credentials in a
base URL never reach stderr or the call log, and the app listens on 127.0.0.1 only.
"""
from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from chroma_server import copy_data_dir, free_port, seed_data_dir
from openai_stub import (ScriptedOpenAIServer, broken_json, cut_stream, delay, empty_answer, garbage,
                         rate_limited, reply, server_error)
from pydantic import SecretStr
from test_drafting_contract import Model as Writer

from rag.config import PROJECT_ROOT, Settings
from rag.errors import LLMError
from rag.llm import LLMClient, RemoteEndpoint
from rag.normalize import parse_request

MESSAGES = [{"role": "user", "content": "请用一句话概括今年家庭医生签约服务的进展。"}]
ANSWER = "家庭医生签约服务稳步推进，重点人群签约率持续提高。"
TIMEOUT = 1.0   # the client's timeout in these tests; the slow faults wait 4 s
CJK = re.compile(r"[\u4e00-\u9fff]")
KEY = "sk-fault-Secret-41c7d2"

# fault name → (step, LLMError.kind when it lasts, retried?)
FAULTS = {
    "cut stream": (cut_stream(6, "一、主要工作。今年以来我局坚持"), "cut", True),
    "empty answer": (empty_answer(), "empty", True),
    "no first token in time": (reply(ANSWER, first_token_delay=4), "timeout", True),
    "no headers in time": (delay(4, reply(ANSWER)), "timeout", True),
    "429 with Retry-After": (rate_limited(0), "rate", True),
    "503": (server_error(503), "server", True),
    "garbage JSON in the stream": (broken_json(), "garbage", False),
    "HTML page": (garbage("<html>请先登录</html>"), "garbage", False),
}
TRANSIENT = [name for name, (_, _, retried) in FAULTS.items() if retried]

REQUEST = {"genre": "工作总结", "section": "全文", "unit": "青岚县卫生健康局", "year": 2025,
           "facts": ["全县完成村卫生室标准化改造37所", "家庭医生签约服务覆盖常住人口41.5%",
                     "开展适龄妇女两癌筛查8260人", "存在问题：基层医务人员流失较多",
                     "明年打算：推进县域医共体建设，实现乡镇全覆盖"],
           "length_chars": [300, 1500], "topic": "基层卫生"}


def make_client(settings: Settings, base_url: str, **overrides) -> LLMClient:
    s = settings.model_copy(update={"llm_base_url": base_url, "llm_model": "stub-model",
                                    "llm_api_key": SecretStr(KEY), "llm_timeout": TIMEOUT,
                                    **overrides})
    return LLMClient(s, RemoteEndpoint(base_url, s.llm_model), api_key=s.llm_api_key,
                     max_retries=3, retry_delay=0.01)


# --- through the LLM client ------------------------------------------------------------------------

@pytest.mark.parametrize("name", TRANSIENT)
def test_transient_fault_is_retried_and_the_call_succeeds(settings, name):
    step, kind, _ = FAULTS[name]
    notices: list[str] = []
    discarded: list[str] = []
    shown: list[str] = []
    with ScriptedOpenAIServer([step, reply(ANSWER)]) as stub:
        client = make_client(settings, stub.base_url)
        result = client.chat(MESSAGES, on_token=shown.append, on_notice=notices.append,
                             on_restart=discarded.append)
        assert len(stub.chat_requests) == 2
    assert result.text == ANSWER and result.attempts == 2
    assert len(notices) == 1 and notices[0].endswith(("（第1次）…", "将重新生成。")), notices
    # the partial text of the cut attempt was streamed, then taken back before the new attempt
    assert "".join(shown) == "".join(discarded) + ANSWER
    assert (result.restarts, bool(discarded)) == ((1, True) if kind == "cut" else (0, False))


@pytest.mark.parametrize("name", list(FAULTS))
def test_lasting_fault_ends_in_a_clear_error_of_its_kind(settings, name):
    step, kind, retried = FAULTS[name]
    notices: list[str] = []
    with ScriptedOpenAIServer([step], repeat_last=True) as stub:
        client = make_client(settings, stub.base_url)
        with pytest.raises(LLMError) as info:
            client.chat(MESSAGES, on_notice=notices.append)
        requests = len(stub.chat_requests)
    err = info.value
    assert err.kind == kind and CJK.search(str(err)) and KEY not in str(err)
    if retried:
        assert requests == err.attempts == client.max_retries + 1
        assert f"已重试 {client.max_retries} 次" in str(err)
        assert [n[n.index("（第"):n.index("次）") + 2] for n in notices] == ["（第1次）", "（第2次）", "（第3次）"]
    else:  # a configuration fault: asking again would not help
        assert requests == err.attempts == 1 and notices == []


# --- through the command line ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def cli_data_dir(tmp_path_factory) -> Path:
    """A private copy of the seed index, so the CLI does not build one per test."""
    target = tmp_path_factory.mktemp("faults") / "data"
    copy_data_dir(seed_data_dir(tmp_path_factory), target)
    return target


def run_cli(tmp_path: Path, data_dir: Path, base_url: str, **env) -> subprocess.CompletedProcess:
    path = tmp_path / "request.json"
    path.write_text(json.dumps(REQUEST, ensure_ascii=False), encoding="utf-8")
    env = {**os.environ, "GONGWEN_LLM_BASE_URL": base_url, "GONGWEN_DATA_DIR": str(data_dir),
           "GONGWEN_LLM_API_KEY": KEY, "GONGWEN_LLM_TIMEOUT": "2", "OMP_WAIT_POLICY": "passive",
           **env}
    return subprocess.run([sys.executable, "-m", "rag", "draft", "--request", str(path), "--json"],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)


def assert_clear_failure(proc: subprocess.CompletedProcess, *phrases: str) -> None:
    """Failed, said so in Chinese (on stderr, or in the JSON of a partial draft), no traceback."""
    assert proc.returncode not in (0, 1), (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    said = proc.stderr + proc.stdout
    for phrase in phrases:
        assert phrase in said, (phrase, proc.stderr)
    assert KEY not in said


def test_cli_rides_out_one_fault_of_each_transient_kind(tmp_path, cli_data_dir):
    writer = Writer()
    faults = [cut_stream(6, "一、主要工作。今年以来我局坚持"), empty_answer(), rate_limited(1),
              server_error(503), reply("迟到的回答", first_token_delay=4)]
    # a draft makes few calls (headings, one paragraph per sub-heading): the first call meets
    # three faults before it succeeds on its last retry, the second call the other two
    script = [*faults[:3], writer, *faults[3:], writer]
    with ScriptedOpenAIServer(script, repeat_last=True) as stub:
        proc = run_cli(tmp_path, cli_data_dir, stub.base_url)
        calls = len(stub.chat_requests)
    assert proc.returncode == 0, proc.stderr
    draft = json.loads(proc.stdout)["draft"]
    assert "8260" in draft and "青岚县" in draft
    assert calls >= len(faults) + 2  # every fault was met
    for notice in ("模型的回答在中途中断", "模型返回了空回答", "模型服务繁忙，按服务要求等待1秒后重试",
                   "模型服务出错（HTTP 503）", "模型迟迟没有输出（超时）"):
        assert notice in proc.stderr, (notice, proc.stderr)
    assert "迟到的回答" not in draft  # the late answer's connection was given up


def test_cli_cut_stream_that_lasts(tmp_path, cli_data_dir):
    with ScriptedOpenAIServer([cut_stream(6)], repeat_last=True) as stub:
        proc = run_cli(tmp_path, cli_data_dir, stub.base_url)
        assert len(stub.chat_requests) == 4  # the first call, retried three times
    assert_clear_failure(proc, "模型的回答在中途被中断", "已重试 3 次", "（第3次）…")


def test_cli_garbage_json_is_not_retried(tmp_path, cli_data_dir):
    with ScriptedOpenAIServer([broken_json()], repeat_last=True) as stub:
        proc = run_cli(tmp_path, cli_data_dir, stub.base_url)
        assert len(stub.chat_requests) == 1
    assert_clear_failure(proc, "不是合法 JSON")


def test_cli_retry_after_beyond_the_maximum(tmp_path, cli_data_dir):
    with ScriptedOpenAIServer([rate_limited(3600)], repeat_last=True) as stub:
        proc = run_cli(tmp_path, cli_data_dir, stub.base_url, GONGWEN_LLM_RETRY_AFTER_MAX="20")
        assert len(stub.chat_requests) == 1
    assert_clear_failure(proc, "要求等待 3600 秒", "20 秒", "GONGWEN_LLM_RETRY_AFTER_MAX")


def test_cli_credentials_in_the_base_url_reach_neither_stderr_nor_the_call_log(tmp_path, cli_data_dir):
    password, token = "Pw-3e9b61f0", "TK-70a2c5d8"
    data_dir = tmp_path / "data"
    copy_data_dir(cli_data_dir, data_dir)
    url = f"http://drafter:{password}@127.0.0.1:{free_port()}/v1?access_token={token}"
    proc = run_cli(tmp_path, data_dir, url)
    # taken out of the URL before the client is built, and said so once
    assert_clear_failure(proc, "无法连接到模型接口 http://127.0.0.1:", "GONGWEN_LLM_API_KEY")
    assert proc.stderr.count("已去掉") == 1
    with sqlite3.connect(data_dir / "llm_calls.sqlite") as conn:
        (last_error,) = conn.execute("SELECT error FROM calls ORDER BY id DESC LIMIT 1").fetchone()
        dump = "\n".join(conn.iterdump())
    assert "无法连接到模型接口 http://127.0.0.1:" in last_error
    for secret in (password, token, KEY):
        assert secret not in proc.stderr + proc.stdout and secret not in dump



def test_cli_a_failed_call_is_counted_in_usage(tmp_path, cli_data_dir):
    writer = Writer()
    with ScriptedOpenAIServer([writer, cut_stream(8, "坚持统筹推进，细化工作措施。全县完成")], repeat_last=True) as stub:
        proc = run_cli(tmp_path, cli_data_dir, stub.base_url)
        calls = len(stub.chat_requests)
    assert proc.returncode == 3, proc.stderr
    usage = json.loads(proc.stdout)["usage"]
    # the opening's overview sentence fails first (it is help: the draft goes on without it), then
    # the first paragraph's call ends the draft as partial; each failed call was tried 4 times
    assert usage["failed_calls"] == 2 and usage["calls"] == 1 and calls == 1 + 4 + 4
    assert usage["completion_tokens"] > sum(c["completion_tokens"] for c in usage["per_call"])


def test_cli_a_stream_that_trickles_on_ends_at_the_total_deadline_as_a_partial_draft(tmp_path, cli_data_dir):
    writer = Writer()
    trickle = reply("坚持统筹推进，细化工作措施。" * 30, chunk_chars=1, chunk_delay=0.3)
    with ScriptedOpenAIServer([writer, trickle], repeat_last=True) as stub:
        proc = run_cli(tmp_path, cli_data_dir, stub.base_url, GONGWEN_LLM_TOTAL_TIMEOUT="3")
        calls = len(stub.chat_requests)
    assert_clear_failure(proc, "总时限 3 秒", "GONGWEN_LLM_TOTAL_TIMEOUT")
    result = json.loads(proc.stdout)
    assert proc.returncode == 3 and result["partial"] and calls == 3     # headings, overview, first paragraph
    assert result["usage"]["failed_calls"] == 2

# --- the app ------------------------------------------------------------------------------------------

def listening_addresses(port: int) -> set[str]:
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True,
                         check=True).stdout
    return {line.split()[3].rsplit(":", 1)[0] for line in out.splitlines() if line.strip()}


def outward_address() -> str | None:
    """This machine's address on its default route (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = s.getsockname()[0]
    return None if address.startswith("127.") else address


def test_plain_streamlit_run_listens_on_loopback_only(tmp_path):
    """`streamlit run app.py` with no address flag, started from another directory."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    env.update(GONGWEN_DATA_DIR=str(tmp_path / "data"), HOME=str(tmp_path))  # no ~/.streamlit
    process = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(PROJECT_ROOT / "app.py"),
                                "--server.port", str(port), "--server.headless", "true"],
                               cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        health = f"http://127.0.0.1:{port}/_stcore/health"
        for _ in range(120):
            try:
                with urllib.request.urlopen(health, timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                assert process.poll() is None, process.stdout.read()
                time.sleep(0.5)
        else:
            pytest.fail("streamlit did not answer its health check")
        assert listening_addresses(port) == {"127.0.0.1"}
        host = outward_address()
        if host is not None:  # the machine's own non-loopback address is refused
            with pytest.raises(OSError), socket.create_connection((host, port), timeout=2):
                pass
    finally:
        process.kill()  # nothing to save: no session was opened
        process.wait()


# --- a draft far larger than any report --------------------------------------------------------

def test_checker_refuses_a_draft_over_the_size_limit(tmp_path):
    from evals.check import MAX_DRAFT_CHARS, evaluate
    from rag.errors import InputFileError

    request = parse_request(REQUEST)
    line = "全县完成村卫生室标准化改造37所，家庭医生签约服务覆盖常住人口41.5%。\n"
    at_limit = (line * (MAX_DRAFT_CHARS // len(line) + 1))[:MAX_DRAFT_CHARS]
    assert evaluate(at_limit, request).violations  # checked (it is far too long: LEN-01)
    with pytest.raises(InputFileError) as info:
        evaluate(at_limit + "。", request)
    assert "超过检查上限" in str(info.value) and f"{MAX_DRAFT_CHARS:,}" in str(info.value)

    draft, request_file = tmp_path / "huge.txt", tmp_path / "request.json"
    draft.write_text(line * (3 * MAX_DRAFT_CHARS // len(line)), encoding="utf-8")
    request_file.write_text(json.dumps(REQUEST, ensure_ascii=False), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "evals", "check", str(draft), "--request", str(request_file),
                           "--no-copy"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "GONGWEN_DATA_DIR": str(tmp_path / "data")})
    assert proc.returncode == 2 and "超过检查上限" in proc.stderr and "Traceback" not in proc.stderr
