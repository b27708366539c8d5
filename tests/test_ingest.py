"""Ingesting the user's own files into a real embedded Chroma built from the real seed corpus."""
from __future__ import annotations


import docx
import pytest

from chroma_server import copy_data_dir, seed_data_dir
from evals.copy_index import load_copy_index
from rag.config import Settings
from rag.ingest import ensure_seed_index, ingest_paths
from rag.retrieve import search_passages
from rag.store import open_collection, revision
from rag.textio import MAX_FILE_BYTES, read_document

REPORT = """青山县卫生健康局2023年工作总结

今年以来，我局在县委、县政府的正确领导下，紧紧围绕全县卫生健康工作目标，扎实推进各项工作，取得了明显成效。现将有关情况总结如下：

一、主要工作及成效
（一）基本公共卫生服务扎实推进。全县建立居民电子健康档案12万份，建档率达到85%；为3200名65岁以上老年人开展免费健康体检。
（二）家庭医生签约服务提质扩面。组建家庭医生团队46个，重点人群签约率达到72%，为行动不便的签约居民提供上门服务1500余人次。
（三）医疗服务能力持续提升。县人民医院新增血液透析中心，乡镇卫生院开展适宜技术推广培训8期，培训基层医务人员420人次。

二、存在的问题
基层卫生人才队伍依然薄弱，部分乡镇卫生院设备老化，群众健康素养水平有待提高。
"""
CHANGED = REPORT.replace("血液透析中心", "胸痛救治单元").replace("8期", "10期")


@pytest.fixture
def settings(tmp_path_factory, tmp_path) -> Settings:
    """A private copy of the session's seed index."""
    return copy_data_dir(seed_data_dir(tmp_path_factory), tmp_path / "data")


def _state(settings: Settings) -> tuple[int, int, list[str]]:
    collection = open_collection(settings)
    return collection.count(), revision(collection), sorted(collection.get(include=[])["ids"])


def _user_ids(settings: Settings) -> list[str]:
    return [i for i in _state(settings)[2] if i.startswith("user/")]


def test_seed_index_is_idempotent(settings):
    count, rev, _ = _state(settings)
    report = ensure_seed_index(settings)
    assert report.unchanged >= 1 and not report.changed and report.passages_written == 0
    assert _state(settings)[:2] == (count, rev)


def test_same_file_twice_is_unchanged_and_not_reembedded(settings, tmp_path):
    path = tmp_path / "总结.txt"
    path.write_text(REPORT, encoding="utf-8")
    first = ingest_paths([path], settings)
    assert (first.added, first.errors) == (1, [])
    assert first.passages_written == len(_user_ids(settings)) > 0
    before = _state(settings)

    second = ingest_paths([path], settings)
    assert (second.added, second.replaced, second.unchanged) == (0, 0, 1)
    assert second.passages_written == second.passages_embedded == 0
    assert _state(settings) == before
    assert "未变 1 个" in second.summary()


def test_changed_file_replaces_its_passages(settings, tmp_path):
    path = tmp_path / "总结.txt"
    path.write_text(REPORT, encoding="utf-8")
    ingest_paths([path], settings)
    path.write_text(CHANGED, encoding="utf-8")
    report = ingest_paths([path], settings)
    assert (report.replaced, report.added) == (1, 0)
    texts = [h.text for h in search_passages("胸痛救治单元 血液透析中心", settings, k=10)
             if h.source == "总结.txt"]
    assert any("胸痛救治单元" in t for t in texts)
    assert not any("血液透析中心" in t for t in texts)
    assert len(open_collection(settings).get(where={"source": "总结.txt"})["ids"]) == len(_user_ids(settings))


def test_delete_removes_a_files_passages(settings, tmp_path):
    seed_count = _state(settings)[0]
    path = tmp_path / "总结.txt"
    path.write_text(REPORT, encoding="utf-8")
    ingest_paths([path], settings)
    report = ingest_paths([path], settings, delete=True)
    assert report.deleted == 1 and not report.errors
    assert _user_ids(settings) == [] and _state(settings)[0] == seed_count
    again = ingest_paths([path], settings, delete=True)
    assert again.deleted == 0 and "没有来自" in again.errors[0][1]


def test_gbk_file_and_folder(settings, tmp_path):
    folder = tmp_path / "范文"
    (folder / "子目录").mkdir(parents=True)
    (folder / "gbk.txt").write_bytes(REPORT.encode("gbk"))
    (folder / "子目录" / "b.md").write_text(CHANGED.replace("青山县", "绿水县"), encoding="utf-8")
    (folder / "说明.pdf").write_bytes(b"%PDF-1.4")
    fractions: list[float] = []
    messages: list[str] = []
    report = ingest_paths([folder], settings, progress=messages.append, progress_fraction=fractions.append)
    assert (report.added, report.errors) == (2, [])
    assert fractions[-1] == 1.0 and any("已加入" in m for m in messages)
    gbk_texts = open_collection(settings).get(where={"source": "gbk.txt"})["documents"]
    assert any("组建家庭医生团队46个" in t for t in gbk_texts)


def test_docx_is_ingested(settings, tmp_path):
    path = tmp_path / "报告.docx"
    document = docx.Document()
    for line in REPORT.replace("血液透析中心", "儿童友好门诊").splitlines():
        document.add_paragraph(line)
    document.save(str(path))
    assert "儿童友好门诊" in read_document(path)
    report = ingest_paths([path], settings)
    assert report.added == 1, report.summary()
    stored = open_collection(settings).get(where={"source": "报告.docx"}, include=["documents", "metadatas"])
    assert any("儿童友好门诊" in t for t in stored["documents"])
    assert {m["title"] for m in stored["metadatas"]} == {"青山县卫生健康局2023年工作总结"}


@pytest.mark.parametrize("name,content,message", [
    ("empty.txt", b"", "空文件"),
    ("binary.txt", b"\x00\x01\x02PK\x00" * 100, "二进制"),
    ("latin.txt", bytes(range(0x80, 0x100)) * 20, "编码无法识别"),
    ("fake.docx", b"not a zip file at all", "不是有效的 Word 文档"),
    ("notes.pdf", b"%PDF-1.4", "不支持的文件类型"),
    ("short.txt", "你好".encode("utf-8"), "没有找到可用作范文的段落"),
])
def test_unusable_files_leave_store_untouched(settings, tmp_path, name, content, message):
    before = _state(settings)
    path = tmp_path / name
    path.write_bytes(content)
    report = ingest_paths([path], settings)
    assert not report.changed
    assert len(report.errors) == 1 and message in report.errors[0][1]
    assert _state(settings) == before


def test_huge_file_is_refused(settings, tmp_path):
    before = _state(settings)
    path = tmp_path / "huge.txt"
    with open(path, "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)
    report = ingest_paths([path, tmp_path / "missing.txt"], settings)
    messages = sorted(m for _, m in report.errors)
    assert messages[0].startswith("huge.txt 太大") and messages[1].startswith("找不到文件")
    assert _state(settings) == before


def test_copy_index_covers_user_articles(settings, tmp_path):
    path = tmp_path / "总结.txt"
    path.write_text(REPORT, encoding="utf-8")
    ingest_paths([path], settings)
    match = load_copy_index(settings).longest_match("为行动不便的签约居民提供上门服务1500余人次，效果很好。")
    assert match and match.source == "总结.txt"
    ingest_paths([path], settings, delete=True)
    assert not load_copy_index(settings).longest_match("为行动不便的签约居民提供上门服务1500余人次，效果很好。")
