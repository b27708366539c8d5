"""Putting passages into the store: the committed seed corpus, and the user's own reports.

Both paths are idempotent by content hash: an unchanged file or corpus writes nothing and embeds
nothing (vectors are cached by text hash as well). A changed file replaces its old passages;
`delete=True` removes them. A file that cannot be used gets a Chinese message in
`report.errors`, nothing in the store is touched for it, and the files after it are still
ingested. A file read lossily (a cut-off UTF-16 tail…) is ingested with a line in
`report.notices`. A report containing instruction-like text (evals.facts.split_instruction) is stored
with the `instruction` flag on all its passages: retrieval leaves those out of exemplars unless
asked to keep them. A store fault (Chroma server down) stops the run with a `StoreError` that
says which files were already done; running the same ingest again finishes the rest.

User sources are tracked in a SQLite manifest under the data dir (path → content hash → chunk
ids and article texts), which also feeds the copy index the evaluator checks drafts against.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from evals.copy_index import committed_corpus_docs, rebuild_copy_index
from evals.facts import split_instruction
from rag.chunk import content_hash
from rag.config import Settings
from rag.corpus import CORPUS_DIR, load_chunks, process_document
from rag.embed import get_embedder
from rag.errors import InputFileError, UserFacingError
from rag.schema import Chunk
from rag.store import (StoreError, bump_revision, chunk_metadata, collection_name, delete_ids,
                       open_collection, store_guard, store_location, upsert_chunks)
from rag.textio import DOCUMENT_SUFFIXES, load_document

Progress = Callable[[str], None] | None
Fraction = Callable[[float], None] | None
Requirement = Callable[[str, str], None] | None   # (file name, text) → raises InputFileError

SEED_CHUNKS = CORPUS_DIR / "chunks.jsonl"
SEED_FINGERPRINT_KEY = "seed_fingerprint"
SEED_SOURCES_KEY = "seed_sources"
INSTRUCTION_FLAG = "instruction"   # Chunk.flags: the report holds text addressed to the model


@dataclass
class IngestReport:
    """Counts are of source documents (files); passages are counted separately."""
    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    deleted: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    notices: list[tuple[str, str]] = field(default_factory=list)   # (path, message): used, with a caveat
    passages_written: int = 0
    passages_embedded: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.replaced or self.deleted)

    def summary(self) -> str:
        parts = [f"新增 {self.added} 个", f"更新 {self.replaced} 个", f"未变 {self.unchanged} 个"]
        if self.deleted:
            parts.append(f"删除 {self.deleted} 个")
        text = "范文库：" + "，".join(parts) + f"文件（写入 {self.passages_written} 个段落）。"
        if self.errors:
            text += f"\n{len(self.errors)} 个文件未处理：" + "".join(
                f"\n  - {message}" for _, message in self.errors)
        if self.notices:
            text += "\n请留意：" + "".join(f"\n  - {message}" for _, message in self.notices)
        return text


# ---------------------------------------------------------------- manifest of user sources

@dataclass
class SourceEntry:
    path: str
    name: str
    content_hash: str
    chunk_ids: list[str]
    articles: list[tuple[str, str]]   # (source, text) for the copy index


class Manifest:
    """User files per collection: path → content hash, chunk ids, article texts."""

    def __init__(self, settings: Settings, collection_key: str):
        self._conn = sqlite3.connect(settings.path("ingest_manifest.sqlite"))
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS sources (collection TEXT NOT NULL, path TEXT NOT NULL,"
            " name TEXT NOT NULL, content_hash TEXT NOT NULL, chunk_ids TEXT NOT NULL,"
            " articles TEXT NOT NULL, PRIMARY KEY (collection, path))")
        self._collection = collection_key

    def close(self) -> None:
        self._conn.close()

    def _entries(self, sql: str = "", args: Sequence = ()) -> list[SourceEntry]:
        rows = self._conn.execute(
            "SELECT path, name, content_hash, chunk_ids, articles FROM sources WHERE collection = ?"
            + sql + " ORDER BY path", (self._collection, *args))
        return [SourceEntry(p, n, h, json.loads(ids), [tuple(a) for a in json.loads(arts)])
                for p, n, h, ids, arts in rows]

    def get(self, path: str) -> SourceEntry | None:
        found = self._entries(" AND path = ?", (path,))
        return found[0] if found else None

    def under(self, path: str) -> list[SourceEntry]:
        """The entry for a file path, or every entry below a folder path."""
        prefix = path.rstrip(os.sep) + os.sep
        return [e for e in self._entries() if e.path == path or e.path.startswith(prefix)]

    def all(self) -> list[SourceEntry]:
        return self._entries()

    def put(self, entry: SourceEntry) -> None:
        with self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO sources VALUES (?, ?, ?, ?, ?, ?)",
                (self._collection, entry.path, entry.name, entry.content_hash,
                 json.dumps(entry.chunk_ids), json.dumps(entry.articles, ensure_ascii=False)))

    def remove(self, path: str) -> None:
        with self._conn:
            self._conn.execute("DELETE FROM sources WHERE collection = ? AND path = ?",
                               (self._collection, path))


def _manifest(settings: Settings) -> Manifest:
    key = f"{store_location(settings)}|{collection_name(settings, get_embedder(settings))}"
    return Manifest(settings, key)


def _rebuild_copy_index(settings: Settings, manifest: Manifest, progress: Progress) -> None:
    """The evaluator's copy index covers every article a draft could copy from."""
    docs = committed_corpus_docs()
    docs += [article for entry in manifest.all() for article in entry.articles]
    rebuild_copy_index(settings, docs)
    if progress:
        progress(f"已更新抄袭检查索引（{len(docs)} 篇文章）。")


def _embed_with_progress(settings: Settings, chunks: Sequence[Chunk], progress: Progress,
                         what: str) -> tuple[list[list[float]], int]:
    """Vectors for the chunks and how many had to be computed (not in the cache)."""
    embedder = get_embedder(settings)
    before = embedder.computed

    def on_batch(done: int, total: int) -> None:
        if progress:
            progress(f"{what}：已计算 {done}/{total} 个段落的向量")

    vectors = embedder.embed_passages([c.embed_text for c in chunks], on_batch=on_batch)
    return vectors, embedder.computed - before


# ---------------------------------------------------------------- the committed seed corpus

_seed_lock = threading.Lock()
_fingerprints: dict[tuple, str] = {}


def seed_fingerprint(path: Path = SEED_CHUNKS) -> str:
    """sha256 of the committed chunks file, cached by its size and mtime."""
    if not path.exists():
        raise InputFileError(f"找不到范文语料 {path}，请先运行 python -m rag build-corpus。")
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _fingerprints:
        _fingerprints[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _fingerprints[key]


def ensure_seed_index(settings: Settings, progress: Progress = None,
                      progress_fraction: Fraction = None) -> IngestReport:
    """Index the committed seed chunks unless this exact corpus is already in the store."""
    with _seed_lock:
        collection = open_collection(settings)
        fingerprint = seed_fingerprint()
        metadata = collection.metadata or {}
        if metadata.get(SEED_FINGERPRINT_KEY) == fingerprint:
            return IngestReport(unchanged=int(metadata.get(SEED_SOURCES_KEY, 0)))

        chunks = load_chunks(SEED_CHUNKS)
        ids = [f"seed/{c.id}" for c in chunks]
        with store_guard(store_location(settings), "读取范文库"):
            old = collection.get(where={"origin": "seed"}, include=["documents", "metadatas"])
        old_records = {i: (d, dict(m)) for i, d, m in zip(old["ids"], old["documents"], old["metadatas"])}

        by_source: dict[str, list[int]] = defaultdict(list)
        for n, c in enumerate(chunks):
            by_source[c.source].append(n)
        old_by_source: dict[str, set[str]] = defaultdict(set)
        for i, (_, m) in old_records.items():
            old_by_source[m.get("source", "")].add(i)

        report = IngestReport()
        to_write: list[int] = []
        for source, positions in by_source.items():
            same = (old_by_source.get(source, set()) == {ids[n] for n in positions}
                    and all(old_records[ids[n]] == (chunks[n].text, chunk_metadata(chunks[n], "seed"))
                            for n in positions))
            if same:
                report.unchanged += 1
            else:
                to_write += positions
                if source in old_by_source:
                    report.replaced += 1
                else:
                    report.added += 1
        new_ids = set(ids)
        gone = [i for i in old_records if i not in new_ids]
        report.deleted = len(set(old_by_source) - set(by_source))

        if to_write and progress:
            progress(f"正在建立范文索引（{len(to_write)} 个段落；首次约需 1–2 分钟）…")
        vectors, report.passages_embedded = _embed_with_progress(
            settings, [chunks[n] for n in to_write], progress, "建立范文索引")
        upsert_chunks(collection, [ids[n] for n in to_write], [chunks[n] for n in to_write], vectors, "seed")
        delete_ids(collection, gone)
        report.passages_written = len(to_write)
        bump_revision(collection, **{SEED_FINGERPRINT_KEY: fingerprint,
                                     SEED_SOURCES_KEY: len(by_source)})
        manifest = _manifest(settings)
        try:
            _rebuild_copy_index(settings, manifest, progress)
        finally:
            manifest.close()
        if progress_fraction:
            progress_fraction(1.0)
        if progress and report.changed:
            progress(f"范文索引已就绪：{len(chunks)} 个段落，来自 {len(by_source)} 个语料文件。")
        return report


# ---------------------------------------------------------------- the user's own files

def _is_document(path: Path) -> bool:
    # "~$x.docx" is Word's lock file for an open document, not a report.
    return (path.suffix.lower() in DOCUMENT_SUFFIXES and not path.name.startswith(("~$", "."))
            and path.is_file())


def _expand(paths: Iterable[Path], report: IngestReport) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if _is_document(p))
            if not found:
                report.errors.append((str(path), f"文件夹 {path} 里没有 .txt、.md 或 .docx 文件。"))
            files += found
        elif path.exists():
            files.append(path)
        else:
            report.errors.append((str(path), f"找不到文件：{path}"))
    return list(dict.fromkeys(files))


def user_file_key(path_key: str) -> str:
    """The prefix of a user file's passage ids: `user/<sha256 of its resolved path, 16 hex>`."""
    return "user/" + hashlib.sha256(path_key.encode("utf-8")).hexdigest()[:16]


def _user_chunk_ids(path_key: str, count: int) -> list[str]:
    return [f"{user_file_key(path_key)}/{n:04d}" for n in range(count)]


def user_files(settings: Settings) -> dict[str, Path]:
    """Passage-id prefix → the file it was read from, for every user file in the manifest
    (uploads and files ingested from the command line; the file may since have gone)."""
    manifest = _manifest(settings)
    try:
        return {user_file_key(e.path): Path(e.path) for e in manifest.all()}
    finally:
        manifest.close()


def _ingest_file(path: Path, settings: Settings, collection, manifest: Manifest,
                 report: IngestReport, progress: Progress, require: Requirement) -> None:
    key = str(path.resolve())
    try:
        decoded = load_document(path)
        text = decoded.text
        if require:
            require(path.name, text)
        text_hash = content_hash(text)
        entry = manifest.get(key)
        if entry and entry.content_hash == text_hash:
            report.unchanged += 1
            if progress:
                progress(f"{path.name}：内容未变，跳过。")
            return
        doc = process_document(path.name, text)
        if not doc.chunks:
            raise InputFileError(f"{path.name} 里没有找到可用作范文的段落"
                                 "（内容太短，或不像卫生健康部门的工作材料）。" + "".join(decoded.notices))
    except UserFacingError as e:
        report.errors.append((str(path), str(e)))
        if progress:
            progress(f"跳过 {path.name}：{e}")
        return
    except (ValueError, LookupError, OSError, RecursionError) as e:
        # A file nobody foresaw must not stop the files after it; the message names the fault.
        message = f"{path.name} 读取或解析时出错（{type(e).__name__}: {e}），已跳过。"
        report.errors.append((str(path), message))
        if progress:
            progress(message)
        return

    report.notices += [(str(path), n) for n in decoded.notices]
    instruction = next((split.pieces[0] for t in (text, *(c.text for c in doc.chunks))
                        if (split := split_instruction(t)).pieces), "")
    if instruction:
        for chunk in doc.chunks:
            chunk.flags = sorted({*chunk.flags, INSTRUCTION_FLAG})
        report.notices.append((str(path), f"{path.name} 含有像是对模型下指令的文字（“{instruction[:40]}”），"
                                          "已加入但默认不作为范文使用。"))
    ids = _user_chunk_ids(key, len(doc.chunks))
    vectors, computed = _embed_with_progress(settings, doc.chunks, progress, path.name)
    report.passages_embedded += computed
    upsert_chunks(collection, ids, doc.chunks, vectors, "user")
    if entry:
        delete_ids(collection, sorted(set(entry.chunk_ids) - set(ids)))
    manifest.put(SourceEntry(key, path.name, text_hash, ids, [(a.source, a.text) for a in doc.articles]))
    report.passages_written += len(ids)
    if entry:
        report.replaced += 1
    else:
        report.added += 1
    if progress:
        progress(f"{path.name}：{'已更新' if entry else '已加入'} {len(ids)} 个段落。")


def _delete_path(path: Path, collection, manifest: Manifest, report: IngestReport,
                 progress: Progress) -> None:
    entries = manifest.under(str(path.resolve()))
    if not entries:
        report.errors.append((str(path), f"范文库里没有来自 {path} 的内容，无需删除。"))
        return
    for entry in entries:
        delete_ids(collection, entry.chunk_ids)
        manifest.remove(entry.path)
        report.deleted += 1
        if progress:
            progress(f"已删除 {entry.name} 的 {len(entry.chunk_ids)} 个段落。")


def ingest_paths(paths: Iterable[str | Path], settings: Settings, progress: Progress = None,
                 delete: bool = False, progress_fraction: Fraction = None,
                 require: Requirement = None) -> IngestReport:
    """Add (or with delete=True remove) the user's .txt/.md/.docx files or folders of them.

    `require(name, text)`, if given, sees each file's text as read (once) and raises
    InputFileError to refuse it (the page's upload rules)."""
    ensure_seed_index(settings, progress)
    collection = open_collection(settings)
    manifest = _manifest(settings)
    report = IngestReport()
    done: list[str] = []
    try:
        paths = [Path(p) for p in paths]
        if delete:
            for n, path in enumerate(paths, 1):
                _delete_path(path, collection, manifest, report, progress)
                done.append(path.name)
                if progress_fraction:
                    progress_fraction(n / len(paths))
        else:
            files = _expand(paths, report)
            for n, path in enumerate(files, 1):
                _ingest_file(path, settings, collection, manifest, report, progress, require)
                done.append(path.name)
                if progress_fraction:
                    progress_fraction(n / len(files))
        if report.changed:
            bump_revision(collection)
            _rebuild_copy_index(settings, manifest, progress)
    except StoreError as e:
        if report.changed:  # the manifest already lists them: the copy index must cover them too
            _rebuild_copy_index(settings, manifest, progress)
        finished = f"中断前已处理完 {len(done)} 个文件（{'、'.join(done[:5])}{'等' if len(done) > 5 else ''}），" \
            if done else "还没有文件处理完，"
        raise StoreError(f"{e}\n{finished}再运行一次同样的导入即可补完其余文件（已完成的不会重复写入）。") from e
    finally:
        manifest.close()
    return report


def delete_passages(settings: Settings, chunk_ids: Sequence[str]) -> IngestReport:
    """Remove user passages by id, whether or not their file still exists: the store records,
    every manifest entry that lists one of them, and their articles in the copy index."""
    ids = [i for i in chunk_ids if i.startswith("user/")]
    if len(ids) != len(chunk_ids):
        raise InputFileError("内置范文不能删除；如不想参考它，请在本文稿中“不参考”它。")
    collection = open_collection(settings)
    manifest = _manifest(settings)
    report = IngestReport()
    try:
        wanted = set(ids)
        entries = [e for e in manifest.all() if wanted & set(e.chunk_ids)]
        delete_ids(collection, sorted(wanted.union(*(e.chunk_ids for e in entries))))
        for entry in entries:
            manifest.remove(entry.path)
        report.deleted = max(1, len(entries)) if ids else 0
        if ids:
            bump_revision(collection)
            _rebuild_copy_index(settings, manifest, None)
    finally:
        manifest.close()
    return report
