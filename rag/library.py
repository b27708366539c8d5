"""The 范文库 as the page shows it: the reports in the store, uploads and their removal, and a
retriever that leaves chosen reports out of one draft.

Built on the public functions of rag.store (open_collection, all_records) and rag.ingest
(ingest_paths, with delete=True to remove an upload). Uploaded files are kept under
`data_dir/uploads/<session id>/<file name>`: the folder says which 文稿 added a report, the file's
time when. A user passage's id is `user/<sha256(resolved path)[:16]>/NNNN` (rag.ingest), so a
passage leads back to its file.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rag.config import Settings
from rag.errors import InputFileError, UserFacingError
from rag.ingest import IngestReport, ingest_paths
from rag.schema import Exemplar
from rag.store import all_records, open_collection
from rag.textio import read_document
from rag.textnorm import HAN

# An example report teaches structure and wording; below this many Chinese characters it has
# neither. Counted on the decoded text, so a file's encoding never changes the verdict.
MIN_UPLOAD_HAN = 200
UPLOADS = "uploads"


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


def _path_key(path: Path) -> str:
    """The prefix rag.ingest gives a file's passage ids."""
    return "user/" + hashlib.sha256(str(path.resolve()).encode("utf-8")).hexdigest()[:16]


def upload_dir(settings: Settings, session_id: str) -> Path:
    return settings.data_dir / UPLOADS / session_id


def uploaded_files(settings: Settings) -> dict[str, Path]:
    """key → file, for every file ever uploaded that is still on disk."""
    root = settings.data_dir / UPLOADS
    if not root.is_dir():
        return {}
    return {_path_key(p): p for p in sorted(root.glob("*/*")) if p.is_file()}


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
                session_id=path.parent.name if path else "",
                added_at=path.stat().st_mtime if path else None)
        doc.passages += 1
        doc.chunk_ids.append(chunk_id)
    return sorted(docs.values(), key=lambda d: (not d.builtin, d.genre, d.title))


def check_upload(path: Path) -> str:
    """The file's text, or InputFileError when it cannot serve as an example report."""
    text = read_document(path)
    han = len(re.findall(f"[{HAN}]", text))
    if han < MIN_UPLOAD_HAN:
        raise InputFileError(f"{path.name} 内容太短（{han} 个汉字），作为范文至少需要 {MIN_UPLOAD_HAN} "
                             "个汉字的完整材料。")
    return text


def add_uploads(settings: Settings, session_id: str, files: list[tuple[str, bytes]],
                progress: Callable[[str], None] | None = None,
                progress_fraction: Callable[[float], None] | None = None) -> IngestReport:
    """Save the uploaded files under the session's folder and put the usable ones in the store;
    each refused file has its reason in `report.errors` (as (name, message))."""
    folder = upload_dir(settings, session_id)
    folder.mkdir(parents=True, exist_ok=True)
    refused: list[tuple[str, str]] = []
    accepted: list[Path] = []
    for name, data in files:
        path = folder / Path(name).name
        path.write_bytes(data)
        try:
            check_upload(path)
        except UserFacingError as e:
            refused.append((path.name, str(e)))
            path.unlink()
            continue
        accepted.append(path)
    report = (ingest_paths(accepted, settings, progress=progress, progress_fraction=progress_fraction)
              if accepted else IngestReport())
    for path_text, message in report.errors:  # the store refused it too: no file left behind
        Path(path_text).unlink(missing_ok=True)
    report.errors = refused + [(Path(p).name, m) for p, m in report.errors]
    return report


def delete_upload(settings: Settings, doc: LibraryDoc) -> IngestReport:
    """Remove an uploaded report's passages from the store and its file from the disk."""
    if doc.builtin or doc.path is None:
        raise InputFileError("内置范文不能删除；如不想参考它，请在本文稿中“不参考”它。")
    report = ingest_paths([doc.path], settings, delete=True)
    doc.path.unlink(missing_ok=True)
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
