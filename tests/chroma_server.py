"""Store test helpers: a real `chroma run` server on 127.0.0.1 (start, wait for the heartbeat,
stop), and one seed index shared by the store, retrieval and ingest tests.

    with ChromaServer(tmp_path / "chroma") as server:
        settings = Settings(chroma_host=server.host, chroma_port=server.port, ...)
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

CHROMA = Path(sys.executable).parent / "chroma"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ChromaServer:
    def __init__(self, path: Path, startup_timeout: float = 60.0):
        self.path = Path(path)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self.log = self.path.parent / f"chroma-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "ChromaServer":
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [str(CHROMA), "run", "--host", self.host, "--port", str(self.port), "--path", str(self.path)],
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chroma run exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/api/v2/heartbeat", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"chroma run did not answer within {self.startup_timeout} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would: no shutdown work."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self) -> "ChromaServer":
        """Stopped (or killed) and started again on the same port and data path."""
        self.stop()
        return self.start()

    def __enter__(self) -> "ChromaServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":
    with ChromaServer(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/chroma-test")) as server:
        print(f"chroma at {server.url} (Ctrl-C stops)", flush=True)
        try:
            server.process.wait()
        except KeyboardInterrupt:
            print("stopping chroma", flush=True)


# ---------------------------------------------------------------- one seed index per test session

_seed_data_dir: Path | None = None


def seed_data_dir(tmp_path_factory) -> Path:
    """A data dir with the committed seed corpus indexed, built once per session (~1–2 min).

    Tests that change the store copy it with `copy_data_dir` first.
    """
    global _seed_data_dir
    if _seed_data_dir is None:
        from rag.config import Settings
        from rag.ingest import ensure_seed_index
        data_dir = tmp_path_factory.mktemp("seed") / "data"
        ensure_seed_index(Settings(data_dir=data_dir, _env_file=None))
        _seed_data_dir = data_dir
    return _seed_data_dir


def copy_data_dir(source: Path, target: Path):
    """Settings on a private copy of a data dir (index, embedding cache, manifest)."""
    import shutil

    from rag.config import Settings
    shutil.copytree(source, target)
    return Settings(data_dir=target, _env_file=None)
