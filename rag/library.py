"""The 范文库 as the page shows it: the reports in the store, uploads and their removal, and a
retriever that leaves chosen reports out of one draft.

Built on the public functions of rag.store (open_collection, all_records) and rag.ingest
(ingest_paths; delete_passages to remove an upload). Uploaded files are kept by content under
`data_dir/uploads/<session id>/<sha256 of the bytes, 16 hex>/<file name>`: the first folder says
which 文稿 added a report, the file's time when. Keyed by content, a new upload never overwrites or
removes a file already kept, two different files of one name are both kept, and a refused upload
leaves nothing behind. A user passage's id is `user/<sha256(resolved path)[:16]>/NNNN`
(rag.ingest), so a passage leads back to its file; passages whose file is gone are still listed
and can be deleted. (Files uploaded before content keys sit one level up, `<session id>/<name>`,
and are listed the same way.)
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rag.config import Settings
from rag.errors import InputFileError, UserFacingError
from rag.ingest import IngestReport, delete_passages, ingest_paths, user_file_key, user_files
from rag.schema import Exemplar
from rag.store import all_records, open_collection
from rag.textio import DOCUMENT_SUFFIXES
from rag.textnorm import HAN

# An example report teaches structure and wording; below this many Chinese characters it has
# neither. Counted on the decoded text, so a file's encoding never changes the verdict.
MIN_UPLOAD_HAN = 200
UPLOADS = "uploads"
CONTENT_KEY_HEX = 16
# File systems refuse names over 255 bytes; the stem is shortened to leave room for the suffix.
MAX_NAME_BYTES = 200


@dataclass
class LibraryDoc:
    key: str                  # "seed/<article id>" or "user/<path hash>"
    title: str
    genre: str
    passages: int
    builtin: bool
    path: Path | None = None  # the uploaded file
    session_id: str = ""      # the 文稿 it was uploaded from
    added_at: float | None = None
    chunk_ids: list[str] = field(default_factory=list)

    @property
    def orphaned(self) -> bool:
        """An upload whose passages are in the store but whose file is gone."""
        return not self.builtin and self.path is None


def upload_dir(settings: Settings, session_id: str) -> Path:
    return settings.data_dir / UPLOADS / session_id


def uploaded_files(settings: Settings) -> dict[str, Path]:
    """key → file, for every user file that is still on disk: uploads (the manifest may not list
    one whose ingest was cut short) and files ingested from the command line."""
    root = settings.data_dir / UPLOADS
    found = [*root.glob("*/*/*"), *root.glob("*/*")] if root.is_dir() else []
    files = {user_file_key(str(p.resolve())): p for p in sorted(found) if p.is_file()}
    return {**{k: p for k, p in user_files(settings).items() if p.is_file()}, **files}


def _session_of(settings: Settings, path: Path) -> str:
    """The 文稿 that uploaded the file, "" for a file ingested from elsewhere."""
    try:
        return path.resolve().relative_to((settings.data_dir / UPLOADS).resolve()).parts[0]
    except ValueError:
        return ""


def list_documents(settings: Settings) -> list[LibraryDoc]:
    """Every report in the store: the built-in ones (by article), then uploads (by file)."""
    records = all_records(open_collection(settings))
    ids, metadatas = records.ids, records.metadatas
    files = uploaded_files(settings)
    docs: dict[str, LibraryDoc] = {}
    for chunk_id, meta in zip(ids, metadatas):
        builtin = meta.get("origin") != "user"
        key = f"seed/{meta.get('article_id', '')}" if builtin else chunk_id.rsplit("/", 1)[0]
        doc = docs.get(key)
        if doc is None:
            path = files.get(key)
            doc = docs[key] = LibraryDoc(
                key=key, title=str(meta.get("title") or meta.get("source") or "（无标题）"),
                genre=str(meta.get("genre") or ""), passages=0, builtin=builtin, path=path,
                session_id=_session_of(settings, path) if path else "",
                added_at=path.stat().st_mtime if path else None)
        doc.passages += 1
        doc.chunk_ids.append(chunk_id)
    return sorted(docs.values(), key=lambda d: (not d.builtin, d.genre, d.title))


def require_example(name: str, text: str) -> None:
    """InputFileError when a file's text cannot serve as an example report (ingest's `require`)."""
    han = len(re.findall(f"[{HAN}]", text))
    if han < MIN_UPLOAD_HAN:
        raise InputFileError(f"{name} 内容太短（{han} 个汉字），作为范文至少需要 {MIN_UPLOAD_HAN} "
                             "个汉字的完整材料。")


def safe_upload_name(name: str) -> str:
    """The name an uploaded file is kept under: its last path part, without control characters
    (NUL…), shortened to fit a file system; InputFileError when that is no report file name
    (“..”, “.”, “”, or another suffix than .txt/.md/.docx)."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    stem, suffix = os.path.splitext(base)
    while len(base.encode("utf-8")) > MAX_NAME_BYTES and stem:
        stem = stem[:-1]
        base = stem + suffix
    if not stem.strip(". ") or suffix.lower() not in DOCUMENT_SUFFIXES:
        shown = "".join(ch if unicodedata.category(ch)[0] != "C" else "?" for ch in (name or ""))[:60]
        raise InputFileError(f"文件名“{shown}”不能用作范文的文件名：请上传以 "
                             f"{'、'.join(DOCUMENT_SUFFIXES)} 结尾、有正常名字的文件。")
    return base


def _keep_upload(folder: Path, name: str, data: bytes) -> tuple[Path, bool]:
    """Where the bytes are kept (by content), and whether this call wrote them there."""
    path = folder / hashlib.sha256(data).hexdigest()[:CONTENT_KEY_HEX] / name
    if path.is_file():
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(data)
    partial.replace(path)
    return path, True


def _discard(path: Path) -> None:
    path.unlink(missing_ok=True)
    try:
        path.parent.rmdir()     # its content folder, when nothing else is kept there
    except OSError:
        pass


def add_uploads(settings: Settings, session_id: str, files: list[tuple[str, bytes]],
                progress: Callable[[str], None] | None = None,
                progress_fraction: Callable[[float], None] | None = None) -> IngestReport:
    """Keep the uploaded files under the session's folder, by content, and put the usable ones in
    the store; each refused file has its reason in `report.errors` (as (name, message)) and
    leaves no file behind. Each file is read once (by ingest, with `require_example`)."""
    folder = upload_dir(settings, session_id)
    refused: list[tuple[str, str]] = []
    kept: list[Path] = []
    written: set[Path] = set()
    for name, data in files:
        try:
            path, new = _keep_upload(folder, safe_upload_name(name), data)
        except UserFacingError as e:
            refused.append((name, str(e)))
            continue
        kept.append(path)
        if new:
            written.add(path)
    report = (ingest_paths(kept, settings, progress=progress, progress_fraction=progress_fraction,
                           require=require_example) if kept else IngestReport())
    for path_text, _message in report.errors:
        if Path(path_text) in written:      # refused: no file left behind (one kept before stays)
            _discard(Path(path_text))
    report.errors = refused + [(Path(p).name, m) for p, m in report.errors]
    return report


def delete_upload(settings: Settings, doc: LibraryDoc) -> IngestReport:
    """Remove an uploaded report's passages from the store and its file, if still there, from
    the disk; a built-in report cannot be removed."""
    if doc.builtin:
        raise InputFileError("内置范文不能删除；如不想参考它，请在本文稿中“不参考”它。")
    report = delete_passages(settings, doc.chunk_ids)
    if doc.path is not None and _session_of(settings, doc.path):   # never a file the user keeps elsewhere
        _discard(doc.path)
    return report


Retriever = Callable[[str, str, "str | None", int], list[Exemplar]]


def retriever_without(settings: Settings, excluded_chunks: set[str]) -> Retriever:
    """rag.retrieve's hybrid retrieval, minus the passages of the reports left out of a draft."""
    from rag.retrieve import retrieve_exemplars

    def retrieve(query: str, genre: str, role: str | None, k: int) -> list[Exemplar]:
        found = retrieve_exemplars(query, genre=genre, role=role, k=k + len(excluded_chunks),
                                   settings=settings)
        return [e for e in found if e.chunk_id not in excluded_chunks][:k]
    return retrieve


def when_label(timestamp: float | None) -> str:
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M") if timestamp else ""
