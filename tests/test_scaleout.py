"""Two processes share one real `chroma run`: one ingests, the other retrieves; the server is
restarted mid-session and both carry on with nothing lost.

Each worker is this file run as a script; it prints one JSON line per event on stdout.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from chroma_server import ChromaServer, copy_data_dir, seed_data_dir

TOWNS = [f"{a}{b}县" for a in "金银铜铁锡" for b in "川岭"]
REPORT = """{town}卫生健康局2025年工作总结

今年以来，我局在县委、县政府的正确领导下，紧紧围绕全县卫生健康工作目标，扎实推进各项工作，取得了明显成效。现将有关情况总结如下：

一、主要工作及成效
（一）基本公共卫生服务扎实推进。{town}建成“{town}健康驿站”{n}个，为65岁以上老年人开展免费健康体检{n}千人次。
（二）家庭医生签约服务提质扩面。组建家庭医生团队{n}个，为行动不便的签约居民提供上门服务{n}百余人次。
（三）医疗服务能力持续提升。{town}人民医院新增胸痛救治单元，乡镇卫生院开展适宜技术推广培训{n}期。

二、存在的问题
基层卫生人才队伍依然薄弱，部分乡镇卫生院设备老化，群众健康素养水平有待提高。
"""
DEADLINE_S = 300   # a worker gives up on a file or query after this long without success


def _settings(data_dir: str, port: int):
    from rag.config import Settings
    return Settings(data_dir=Path(data_dir), chroma_host="127.0.0.1", chroma_port=port, _env_file=None)


def _emit(**event) -> None:
    print(json.dumps(event, ensure_ascii=False), flush=True)


def _until_done(action, what: str):
    """Run `action` until it succeeds, reporting each StoreError; the retry is the recovery."""
    from rag.store import StoreError
    start = time.monotonic()
    while True:
        try:
            return action()
        except StoreError as e:
            _emit(event="store_error", what=what, message=str(e)[:200])
            if time.monotonic() - start > DEADLINE_S:
                raise
            time.sleep(0.3)


def ingest_worker(data_dir: str, port: int, folder: str) -> None:
    from rag.ingest import ingest_paths
    settings = _settings(data_dir, port)
    for n, town in enumerate(TOWNS, 1):
        path = Path(folder) / f"{n:02d}_{town}.txt"
        path.write_text(REPORT.format(town=town, n=n), encoding="utf-8")
        report = _until_done(lambda: ingest_paths([path], settings), town)
        _emit(event="ingested", town=town, added=report.added, unchanged=report.unchanged)
        time.sleep(0.5)  # leave the restart room to land between files as well as inside one


def retrieve_worker(data_dir: str, port: int, stop_file: str) -> None:
    from rag.retrieve import retrieve_exemplars
    settings = _settings(data_dir, port)
    n = 0
    while not Path(stop_file).exists():
        town = TOWNS[n % len(TOWNS)]
        hits = _until_done(lambda: retrieve_exemplars(f"{town}健康驿站", "工作总结", k=5, settings=settings), town)
        _emit(event="retrieved", town=town, found=any(town in h.text for h in hits))
        n += 1
    # Nothing lost: every report ingested by the other process is found from this one.
    found = {town: any(town in h.text for h in _until_done(
        lambda: retrieve_exemplars(f"{town}健康驿站", "工作总结", k=5, settings=settings), town)) for town in TOWNS}
    _emit(event="final", found=found)


def _events(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def _worker(*args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_WAIT_POLICY": "passive"}
    return subprocess.Popen([sys.executable, __file__, *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=Path(__file__).parent.parent)


def test_two_processes_share_a_server_that_restarts_mid_session(tmp_path_factory, tmp_path):
    from rag.ingest import ensure_seed_index
    from rag.store import open_collection

    with ChromaServer(tmp_path / "server") as server:
        # Private data dirs (manifest, embedding cache) for each process; one shared server.
        ingest_dir = copy_data_dir(seed_data_dir(tmp_path_factory), tmp_path / "ingest")
        retrieve_dir = copy_data_dir(seed_data_dir(tmp_path_factory), tmp_path / "retrieve")
        settings = _settings(str(ingest_dir.data_dir), server.port)
        ensure_seed_index(settings)
        seed_count = open_collection(settings).count()

        folder, stop = tmp_path / "reports", tmp_path / "stop"
        folder.mkdir()
        ingester = _worker("ingest", str(ingest_dir.data_dir), str(server.port), str(folder))
        retriever = _worker("retrieve", str(retrieve_dir.data_dir), str(server.port), str(stop))
        try:
            ingested = 0
            for line in ingester.stdout:  # restart once a few reports are in
                ingested += '"ingested"' in line
                if ingested == 3:
                    break
            server.restart()
            out, err = ingester.communicate(timeout=900)
            assert ingester.returncode == 0, err[-3000:]
            stop.touch()
            r_out, r_err = retriever.communicate(timeout=900)
            assert retriever.returncode == 0, r_err[-3000:]
        finally:
            for p in (ingester, retriever):
                if p.poll() is None:
                    p.kill()
                    p.communicate()

        ingest_events, retrieve_events = _events(out), _events(r_out)
        assert [e["town"] for e in ingest_events if e["event"] == "ingested"] == TOWNS[3:]
        # Both processes met the restart as a StoreError and then carried on.
        assert any(e["event"] == "store_error" for e in ingest_events), out
        assert any(e["event"] == "store_error" for e in retrieve_events), r_out
        assert any(e["event"] == "retrieved" for e in retrieve_events[
            max(i for i, e in enumerate(retrieve_events) if e["event"] == "store_error"):])
        final = next(e for e in retrieve_events if e["event"] == "final")
        assert final["found"] == {town: True for town in TOWNS}
        user = open_collection(settings).get(where={"origin": "user"})["metadatas"]
        assert {m["source"] for m in user} == {p.name for p in folder.iterdir()}
        assert open_collection(settings).count() == seed_count + len(user)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    role, data_dir, port, path = sys.argv[1:5]
    (ingest_worker if role == "ingest" else retrieve_worker)(data_dir, int(port), path)
