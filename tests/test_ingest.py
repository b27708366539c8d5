"""Ingesting the user's own files into a real embedded Chroma built from the real seed corpus."""
from __future__ import annotations

import re
from pathlib import Path

import docx
import pytest

from chroma_server import copy_data_dir, seed_data_dir
from evals.copy_index import load_copy_index
from rag.config import Settings
from rag.errors import InputFileError
from rag.ingest import ensure_seed_index, ingest_paths
from rag.library import add_uploads, delete_upload, list_documents
from rag.retrieve import search_passages
from rag.store import open_collection, revision
from rag.textio import MAX_DOCX_MEMBERS, MAX_FILE_BYTES, read_document

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


# ---------------------------------------------------------------- filler, zip bombs, one reading

def test_a_real_report_with_a_junk_tail_is_kept_without_the_tail(settings, tmp_path):
    path = tmp_path / "带尾巴的总结.txt"
    path.write_text(REPORT.replace("青山县", "白石县") + "（" * 100_000, encoding="utf-8")
    report = ingest_paths([path], settings)
    assert (report.added, report.errors) == (1, []), report.summary()
    [(_, notice)] = report.notices
    assert "“（”连续出现 100,000 次" in notice and "已删去" in notice
    stored = open_collection(settings).get(where={"source": "带尾巴的总结.txt"})["documents"]
    assert stored and not any("（（（" in t for t in stored)


def test_a_file_that_is_one_phrase_repeated_is_refused_and_never_indexed(settings, tmp_path):
    before = _state(settings)
    path = tmp_path / "2024年工作计划.txt"
    path.write_text("卫生、" * 30_000, encoding="utf-8")
    report = ingest_paths([path], settings)
    assert not report.changed and "全是同一段文字的反复重复（“卫生、”连续出现 30,000 次）" in report.errors[0][1]
    assert _state(settings) == before
    assert not load_copy_index(settings).longest_match("卫生、" * 20)


def _zip_bomb_docx(path: Path, inflated_bytes: int) -> None:
    """A genuine .docx whose document.xml carries `inflated_bytes` of blanks (they compress ~1000:1)."""
    import zipfile
    plain = path.with_suffix(".plain.docx")
    document = docx.Document()
    document.add_paragraph(REPORT.replace("青山县", "红枫县"))
    document.save(str(plain))
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "word/document.xml":
                data = data.replace(b"<w:body>", b"<w:body>" + b" " * inflated_bytes, 1)
            out.writestr(item, data, compress_type=zipfile.ZIP_DEFLATED)
    plain.unlink()


def test_a_zip_bomb_docx_is_refused_before_it_is_parsed(settings, tmp_path, monkeypatch):
    path = tmp_path / "炸弹.docx"
    _zip_bomb_docx(path, 40 * 1024 * 1024)
    assert path.stat().st_size < 1024 * 1024
    parsed = []
    monkeypatch.setattr(docx, "Document", lambda *a, **k: parsed.append(a))
    report = ingest_paths([path], settings)
    assert not report.changed and parsed == []
    assert re.search(r"解压后有 4\d MB.*超过上限", report.errors[0][1])


def test_a_docx_with_thousands_of_members_is_refused(tmp_path):
    import zipfile
    path = tmp_path / "碎片.docx"
    with zipfile.ZipFile(path, "w") as z:
        for n in range(MAX_DOCX_MEMBERS + 1):
            z.writestr(f"word/media/p{n}.bin", b"")
    with pytest.raises(InputFileError, match="内部文件"):
        read_document(path)


# ---------------------------------------------------------------- uploads (the 范文库 page)

def _upload(settings, name: str, text: str, session: str = "s1"):
    return add_uploads(settings, session, [(name, text.encode("utf-8"))])


def test_a_refused_upload_never_touches_an_accepted_one_of_the_same_name(settings):
    accepted = _upload(settings, "报告.txt", REPORT.replace("青山县", "松涛县"))
    assert accepted.added == 1
    [doc] = [d for d in list_documents(settings) if not d.builtin]
    refused = _upload(settings, "报告.txt", "太短了。")
    assert refused.errors and "内容太短" in refused.errors[0][1]
    [still] = [d for d in list_documents(settings) if not d.builtin]
    assert still.path == doc.path and still.path.is_file() and still.chunk_ids == doc.chunk_ids
    assert "松涛县" in still.path.read_text(encoding="utf-8")
    assert not still.orphaned


def test_two_different_files_of_one_name_are_both_kept(settings):
    _upload(settings, "总结.txt", REPORT.replace("青山县", "松涛县"))
    _upload(settings, "总结.txt", REPORT.replace("青山县", "柳岸县"))
    uploads = [d for d in list_documents(settings) if not d.builtin]
    assert len(uploads) == 2 and len({d.path for d in uploads}) == 2
    assert {d.path.name for d in uploads} == {"总结.txt"} and all(d.session_id == "s1" for d in uploads)
    again = _upload(settings, "总结.txt", REPORT.replace("青山县", "柳岸县"))
    assert again.unchanged == 1 and len([d for d in list_documents(settings) if not d.builtin]) == 2


def test_each_file_of_an_upload_is_read_once(settings, tmp_path, monkeypatch):
    import rag.textio
    document = docx.Document()
    for line in REPORT.replace("青山县", "枫林县").splitlines():
        document.add_paragraph(line)
    document.save(str(tmp_path / "a.docx"))
    reads = []
    real = rag.textio._read_docx
    monkeypatch.setattr(rag.textio, "_read_docx", lambda p: reads.append(p) or real(p))
    report = add_uploads(settings, "s1", [("枫林县总结.docx", (tmp_path / "a.docx").read_bytes())])
    assert report.added == 1 and len(reads) == 1


def test_passages_whose_file_is_gone_are_listed_and_can_be_deleted(settings):
    _upload(settings, "旧报告.txt", REPORT.replace("青山县", "松涛县"))
    [doc] = [d for d in list_documents(settings) if not d.builtin]
    doc.path.unlink()
    [orphan] = [d for d in list_documents(settings) if not d.builtin]
    assert orphan.orphaned and orphan.chunk_ids == doc.chunk_ids
    report = delete_upload(settings, orphan)
    assert report.deleted == 1
    assert not [d for d in list_documents(settings) if not d.builtin] and _user_ids(settings) == []
    assert not load_copy_index(settings).longest_match("为行动不便的签约居民提供上门服务1500余人次，效果很好。")


def test_an_upload_can_be_deleted_whatever_its_name_but_a_built_in_report_cannot(settings):
    builtin = next(d for d in list_documents(settings) if d.builtin)
    _upload(settings, builtin.title + ".txt", REPORT.replace("青山县", "松涛县"))
    [upload] = [d for d in list_documents(settings) if not d.builtin]
    with pytest.raises(InputFileError, match="内置范文不能删除"):
        delete_upload(settings, builtin)
    delete_upload(settings, upload)
    assert not upload.path.exists() and _user_ids(settings) == []
    assert any(d.key == builtin.key for d in list_documents(settings))


def test_deleting_a_file_ingested_from_the_command_line_keeps_the_file(settings, tmp_path):
    path = tmp_path / "我的总结.txt"
    path.write_text(REPORT.replace("青山县", "松涛县"), encoding="utf-8")
    ingest_paths([path], settings)
    [doc] = [d for d in list_documents(settings) if not d.builtin]
    assert doc.path == path and doc.session_id == "" and not doc.orphaned
    delete_upload(settings, doc)
    assert path.is_file() and _user_ids(settings) == []


@pytest.mark.parametrize("name", ["..", ".", "", "   ", "报告", "报告.pdf", "../..", "a/.."],
                         ids=["dotdot", "dot", "empty", "blank", "no-suffix", "pdf", "dotdots", "folder-dotdot"])
def test_upload_names_that_are_no_file_names_are_refused_in_chinese(settings, name):
    report = add_uploads(settings, "s1", [(name, REPORT.encode("utf-8"))])
    assert report.added == 0 and len(report.errors) == 1
    assert "不能用作范文的文件名" in report.errors[0][1]
    assert not list((settings.data_dir / "uploads").rglob("*.*"))


@pytest.mark.parametrize("name,kept", [("报\x00告.txt", "报告.txt"), ("../../etc/报告.txt", "报告.txt"),
                                       ("C:\\文件\\报告.md", "报告.md"), ("a/b/报告.txt", "报告.txt"),
                                       ("长" * 300 + ".txt", "长" * 65 + ".txt")],
                         ids=["nul", "parent-folders", "windows-path", "folders", "too-long"])
def test_odd_upload_names_get_a_safe_stored_name(settings, name, kept):
    report = add_uploads(settings, "s1", [(name, REPORT.replace("青山县", "松涛县").encode("utf-8"))])
    assert report.added == 1, report.summary()
    [doc] = [d for d in list_documents(settings) if not d.builtin]
    assert doc.path.name == kept and doc.path.is_relative_to(settings.data_dir / "uploads" / "s1")
