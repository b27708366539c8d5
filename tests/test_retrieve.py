"""Hybrid retrieval on the real seed corpus, embedded Chroma and a real `chroma run` server."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from chroma_server import ChromaServer, copy_data_dir, seed_data_dir
from rag.config import PROJECT_ROOT, Settings
from rag.corpus import load_chunks
from rag.errors import RequestError
from rag.ingest import ensure_seed_index, ingest_paths
from rag.retrieve import (DUPLICATE_JACCARD, bigram_jaccard, char_bigrams, retrieve_exemplars,
                          search_passages)
from rag.schema import GENRES, ROLES

# (query, genre the user is drafting, topic the query is about or "" when it names none)
QUERIES = [
    ("双拥工作总结 拥军优属 走访慰问", "工作总结", "双拥"),
    ("双拥工作计划 拥军优属", "工作计划", "双拥"),
    ("双拥工作汇报 军民鱼水", "工作汇报", "双拥"),
    ("述职 各位领导", "述职报告", "双拥"),
    ("新农合 参合率", "工作总结", ""),
    ("下一步工作打算", "工作总结", ""),
    ("经验交流 完善服务 宣传", "经验交流材料", "学习实践科学发展观"),
    ("学习实践科学发展观活动 经验", "经验交流材料", "学习实践科学发展观"),
    ("纠风 行风建设 汇报", "工作汇报", "纠风行风"),
    ("2024年工作计划 目标任务", "工作计划", ""),
    ("年终工作总结 取得成绩", "工作总结", ""),
    ("工作谋划 重点任务 进一步提升", "工作计划", ""),
    ("公共卫生服务 成效 工作总结", "工作总结", ""),
    ("医德医风 行风评议", "工作汇报", "纠风行风"),
    ("保障措施 加强组织领导 计划", "工作计划", ""),
]


@pytest.fixture(scope="module")
def seed_settings(tmp_path_factory) -> Settings:
    return Settings(data_dir=seed_data_dir(tmp_path_factory), _env_file=None)


@pytest.fixture(scope="module")
def seed_topics() -> dict[str, str]:
    return {f"seed/{c.id}": c.topic for c in load_chunks()}


def _precision(settings: Settings, topics: dict[str, str], filtered: bool) -> tuple[float, float]:
    """Mean precision@5 over QUERIES: (genre match, genre-or-topic match as in offline-parts.md)."""
    genre_hits = relevant_hits = 0.0
    for query, genre, topic in QUERIES:
        hits = search_passages(query, settings, genre=genre if filtered else None, k=5)
        assert len(hits) == 5, query
        genre_hits += sum(h.genre == genre for h in hits) / 5
        relevant_hits += sum(h.genre == genre or (bool(topic) and topics[h.chunk_id] == topic) for h in hits) / 5
    return genre_hits / len(QUERIES), relevant_hits / len(QUERIES)


def test_query_set_covers_all_genres():
    assert len(QUERIES) >= 12
    assert {g for _, g, _ in QUERIES} == set(GENRES)


def test_genre_filter_gives_full_precision(seed_settings, seed_topics):
    genre_p, _ = _precision(seed_settings, seed_topics, filtered=True)
    assert genre_p == 1.0


def test_unfiltered_precision(seed_settings, seed_topics):
    genre_p, relevant_p = _precision(seed_settings, seed_topics, filtered=False)
    print(f"unfiltered precision@5: genre {genre_p:.2f}, genre-or-topic {relevant_p:.2f}")
    # Measured 0.65 / 0.76 on the committed corpus; without the filter, titles such as
    # “卫生局年终工作总结” over a 工作计划 article mislead both rankers. The product always filters.
    assert genre_p >= 0.6
    assert relevant_p >= 0.7


def test_retrieve_exemplars_fields_and_role_filter(seed_settings):
    hits = retrieve_exemplars("加强组织领导 落实责任", "工作计划", role="目标任务", k=4, settings=seed_settings)
    assert 1 <= len(hits) <= 4
    for h in hits:
        assert (h.genre, h.role) == ("工作计划", "目标任务")
        assert h.text and h.title and h.source and h.chunk_id.startswith("seed/")
        assert set(h.to_dict()) >= {"text", "genre", "role", "title", "section", "source", "score", "chunk_id"}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_traditional_query_is_converted(seed_settings):
    simplified = retrieve_exemplars("双拥工作 拥军优属", "工作总结", settings=seed_settings)
    traditional = retrieve_exemplars("雙擁工作 擁軍優屬", "工作总结", settings=seed_settings)
    assert [h.chunk_id for h in traditional] == [h.chunk_id for h in simplified]


def test_results_have_no_near_duplicates(seed_settings):
    for query, genre, _ in QUERIES:
        hits = retrieve_exemplars(query, genre, k=8, settings=seed_settings)
        for i, a in enumerate(hits):
            for b in hits[i + 1:]:
                assert bigram_jaccard(a.text, b.text) <= DUPLICATE_JACCARD


def test_unknown_genre_and_role_are_request_errors(seed_settings):
    with pytest.raises(RequestError, match="未知文种.*工作总结、工作计划"):
        retrieve_exemplars("双拥", "通知", settings=seed_settings)
    with pytest.raises(RequestError, match="未知段落角色"):
        retrieve_exemplars("双拥", "工作总结", role="附件", settings=seed_settings)
    with pytest.raises(RequestError, match="不能为空"):
        retrieve_exemplars(" ，。 ", "工作总结", settings=seed_settings)


def test_char_bigrams():
    assert char_bigrams("新农合，参合率") == ["新农", "农合", "参合", "合率"]
    assert char_bigrams("雙擁 A") == ["双拥", "a"]


def test_duplicate_user_copy_is_collapsed_and_new_text_is_found(seed_settings, tmp_path):
    settings = copy_data_dir(seed_settings.data_dir, tmp_path / "data")
    seed = next(c for c in load_chunks() if c.genre == "述职报告" and len(c.text) > 150)
    before = search_passages(seed.text[:40], settings, k=5)
    assert f"seed/{seed.id}" in [h.chunk_id for h in before]

    # A user's file repeating a seed passage verbatim, plus a term found nowhere in the seeds.
    copy = tmp_path / "述职.txt"
    copy.write_text(f"{seed.title}\n\n各位领导、各位同志：\n\n今年以来，我局在县委、县政府领导下抓好卫生健康"
                    f"和双拥工作。\n\n{seed.text}\n\n一、主要工作\n今年我局牵头建成蓝湾镇智慧随访平台，"
                    "为全县慢性病患者完成随访三千余人次。\n", encoding="utf-8")
    report = ingest_paths([copy], settings)
    assert report.added == 1, report.summary()

    after = search_passages(seed.text[:40], settings, k=5)
    near_copies = [h for h in after if bigram_jaccard(h.text, seed.text) > DUPLICATE_JACCARD]
    assert len(near_copies) == 1
    found = search_passages("蓝湾镇智慧随访平台", settings, k=3)
    assert "蓝湾镇智慧随访平台" in found[0].text and found[0].source == "述职.txt"


def _cli(args: list[str], data_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "GONGWEN_DATA_DIR": str(data_dir), "OMP_WAIT_POLICY": "passive"}
    return subprocess.run([sys.executable, "-m", "rag", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_cli_search_json(seed_settings):
    done = _cli(["search", "新农合 参合率", "--genre", "工作总结", "-k", "3", "--json"], seed_settings.data_dir)
    assert done.returncode == 0, done.stderr
    hits = json.loads(done.stdout)
    assert len(hits) == 3
    for h in hits:
        assert {"text", "genre", "role", "title", "section", "source", "score"} <= set(h)
        assert h["genre"] == "工作总结" and h["role"] in ROLES


def test_cli_builds_index_on_first_use(seed_settings, tmp_path):
    # Embeddings come from a copy of the session cache; the Chroma index itself is new.
    shutil.copytree(seed_settings.data_dir, tmp_path / "data",
                    ignore=shutil.ignore_patterns("chroma", "ingest_manifest.sqlite*"))
    done = _cli(["search", "述职 各位领导", "--genre", "述职报告", "--json"], tmp_path / "data")
    assert done.returncode == 0, done.stderr
    assert "范文索引" in done.stderr
    assert all(h["genre"] == "述职报告" for h in json.loads(done.stdout))


def test_cli_unknown_genre_exits_2_in_chinese(tmp_path):
    done = _cli(["search", "双拥", "--genre", "通知", "--json"], tmp_path / "data")
    assert done.returncode == 2
    assert "未知文种" in done.stderr and "工作总结" in done.stderr
    assert "Traceback" not in done.stderr


def test_chroma_server_backend(seed_settings, seed_topics, tmp_path):
    with ChromaServer(tmp_path / "server") as server:
        local = copy_data_dir(seed_settings.data_dir, tmp_path / "data")
        settings = local.model_copy(update={"chroma_host": server.host, "chroma_port": server.port})
        report = ensure_seed_index(settings)
        assert report.added >= 1 and report.passages_embedded == 0  # vectors from the cache
        assert ensure_seed_index(settings).passages_written == 0
        genre_p, _ = _precision(settings, seed_topics, filtered=True)
        assert genre_p == 1.0
        assert (tmp_path / "server" / "chroma.sqlite3").exists()
