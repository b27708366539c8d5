"""The Chroma collection of exemplar passages.

Embedded `PersistentClient` under `data_dir/chroma` by default, or a `chroma run` server via
`HttpClient` when `settings.chroma_host` is set. The collection is always opened with our
embedding function: Chroma's default would download a model and fail offline.

One collection per embedding model (the model id is part of the name), so switching backends
never mixes vector spaces. The collection's metadata carries a `revision` counter that ingest
bumps after every change; retrieval uses it to know when its in-memory BM25 index is stale.

Every call that reaches Chroma runs under `store_guard`: a server that is down, killed mid-call or
restarting becomes a `StoreError` with a Chinese message (never a raw httpx traceback), and the
cached client is dropped so the next call connects afresh.
"""
from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import chromadb
import httpx
import numpy as np
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import ChromaError

from rag.config import Settings
from rag.embed import ChromaEmbeddingFunction, Embedder, get_embedder
from rag.errors import UserFacingError
from rag.schema import Chunk

REVISION_KEY = "revision"


class StoreError(UserFacingError):
    """The vector store cannot be reached, opened, read or written. Retrieval raises it too, so a
    caller holding exemplars from an earlier call can go on with those."""


_clients: dict[tuple, Any] = {}
_clients_lock = threading.Lock()
# Where each open client points (keyed by id of the client's server API, which every Collection
# holds as `_client`), so collection-level calls can name it in their errors.
_locations: dict[int, str] = {}
# What chromadb raises for a server that is down or dies mid-call (httpx transport errors, a
# bare ValueError from HttpClient(), 5xx as ChromaError) and for a broken embedded store.
STORE_FAULTS = (httpx.HTTPError, ChromaError, ConnectionError, OSError)


def forget_clients() -> None:
    """Drop every cached client: the next call builds a new one (and a new connection pool)."""
    with _clients_lock:
        _clients.clear()


def _fault_message(location: str, doing: str, error: BaseException) -> str:
    detail = f"{type(error).__name__}: {error}".strip().rstrip("：:")
    if location.startswith("http"):
        return (f"{doing}时 Chroma 服务 {location} 连接中断或出错（{detail}）。请确认服务已启动（chroma run）；"
                "服务恢复后重试即可，已写入的内容不会丢失。")
    return f"{doing}时内置范文库（{location}）读写出错（{detail}）。请检查磁盘空间和文件权限后重试。"


@contextmanager
def store_guard(location: str, doing: str) -> Iterator[None]:
    """Turn a Chroma fault inside the block into StoreError and drop the cached clients."""
    try:
        yield
    except UserFacingError:
        raise
    except STORE_FAULTS as e:
        forget_clients()
        raise StoreError(_fault_message(location, doing, e)) from e


def _collection_location(collection: Collection) -> str:
    return _locations.get(id(collection._client), "范文库")


def collection_name(settings: Settings, embedder: Embedder) -> str:
    """`<settings.collection>-<model id>` reduced to Chroma's allowed `[a-zA-Z0-9._-]`, 3–512 chars
    (the model id alone is long enough, so a Chinese collection setting still yields a valid name)."""
    raw = f"{settings.collection}-{embedder.model_id}"
    name = re.sub(r"[^a-zA-Z0-9._-]+", "-", raw).strip("-._")
    return re.sub(r"\.{2,}", ".", name)[:512].rstrip("-._")


def store_location(settings: Settings) -> str:
    """Where the collection lives, for messages and cache keys."""
    if settings.chroma_host:
        return f"http://{settings.chroma_host}:{settings.chroma_port}"
    return str(settings.data_dir / "chroma")


def open_client(settings: Settings):
    key = (settings.chroma_host, settings.chroma_port) if settings.chroma_host else (
        str((settings.data_dir / "chroma").resolve()),)
    with _clients_lock:
        if key in _clients:
            return _clients[key]
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    location = store_location(settings)
    if settings.chroma_host:
        try:
            client = chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port,
                                         settings=chroma_settings)
            client.heartbeat()
        except (ValueError, *STORE_FAULTS) as e:  # chromadb raises a bare ValueError when nothing listens
            raise StoreError(f"连接不上 Chroma 服务 {location}：{e}。"
                             "请确认服务已启动（chroma run），或去掉 GONGWEN_CHROMA_HOST 使用内置存储。") from None
    else:
        (settings.data_dir / "chroma").mkdir(parents=True, exist_ok=True)
        with store_guard(location, "打开范文库"):
            client = chromadb.PersistentClient(path=str(settings.data_dir / "chroma"), settings=chroma_settings)
    _locations[id(client._server)] = location
    with _clients_lock:
        return _clients.setdefault(key, client)


def open_collection(settings: Settings) -> Collection:
    """The exemplar collection, created on first use, always with our embedding function."""
    embedder = get_embedder(settings)
    client = open_client(settings)
    with store_guard(store_location(settings), "打开范文库"):
        return client.get_or_create_collection(
            name=collection_name(settings, embedder),
            embedding_function=ChromaEmbeddingFunction(embedder),
            metadata={REVISION_KEY: 0},
            configuration={"hnsw": {"space": "cosine"}},
        )


def revision(collection: Collection) -> int:
    return int((collection.metadata or {}).get(REVISION_KEY, 0))


def bump_revision(collection: Collection, **extra: str | int) -> None:
    """Mark the collection changed; `extra` keys are stored alongside (e.g. the seed fingerprint)."""
    metadata = {k: v for k, v in (collection.metadata or {}).items() if not k.startswith("hnsw:")}
    metadata.update(extra)
    metadata[REVISION_KEY] = revision(collection) + 1
    with store_guard(_collection_location(collection), "更新范文库"):
        collection.modify(metadata=metadata)


def chunk_metadata(chunk: Chunk, origin: str) -> dict[str, str | int | float | bool]:
    """Chroma metadata values must be str/int/float/bool: no None, no lists.

    `origin` is "seed" (the committed corpus) or "user" (files the user ingested).
    """
    return {
        "origin": origin,
        "genre": chunk.genre, "role": chunk.role, "title": chunk.title, "section": chunk.section,
        "source": chunk.source, "article_id": chunk.article_id, "topic": chunk.topic,
        "level": chunk.level, "year": chunk.year if chunk.year is not None else 0,
        "content_hash": chunk.content_hash, "flags": ",".join(chunk.flags),
    }


def chunk_from_record(chunk_id: str, document: str, metadata: dict[str, Any]) -> Chunk:
    return Chunk(
        id=chunk_id, article_id=metadata.get("article_id", ""), text=document,
        title=metadata.get("title", ""), section=metadata.get("section", ""),
        role=metadata.get("role", ""), genre=metadata.get("genre", ""),
        topic=metadata.get("topic", ""), level=metadata.get("level", ""),
        year=metadata.get("year") or None, source=metadata.get("source", ""),
        content_hash=metadata.get("content_hash", ""),
        flags=[f for f in str(metadata.get("flags", "")).split(",") if f],
    )


def upsert_chunks(collection: Collection, ids: Sequence[str], chunks: Sequence[Chunk],
                  embeddings: Sequence[Sequence[float]], origin: str) -> None:
    """Write passages with precomputed vectors, in batches the client accepts."""
    with store_guard(_collection_location(collection), "写入范文库"):
        batch = max(1, min(1000, collection._client.get_max_batch_size()))
        for start in range(0, len(ids), batch):
            end = start + batch
            collection.upsert(
                ids=list(ids[start:end]),
                documents=[c.text for c in chunks[start:end]],
                metadatas=[chunk_metadata(c, origin) for c in chunks[start:end]],
                embeddings=[list(e) for e in embeddings[start:end]],
            )


def delete_ids(collection: Collection, ids: Sequence[str]) -> None:
    with store_guard(_collection_location(collection), "从范文库删除"):
        for start in range(0, len(ids), 1000):
            collection.delete(ids=list(ids[start:start + 1000]))


@dataclass
class Records:
    """Every record of a collection; `embeddings` (n × dim float32) only when asked for."""
    ids: list[str]
    documents: list[str]
    metadatas: list[dict[str, Any]]
    embeddings: np.ndarray | None = None


def all_records(collection: Collection, embeddings: bool = False) -> Records:
    """Every (id, document, metadata[, embedding]) in the collection, paged."""
    records = Records([], [], [])
    vectors: list[np.ndarray] = []
    include = ["documents", "metadatas", *(["embeddings"] if embeddings else [])]
    page = 5000
    offset = 0
    while True:
        with store_guard(_collection_location(collection), "读取范文库"):
            got = collection.get(include=include, limit=page, offset=offset)
        records.ids.extend(got["ids"])
        records.documents.extend(got["documents"] or [])
        records.metadatas.extend(dict(m) for m in (got["metadatas"] or []))
        if embeddings and len(got["ids"]):
            vectors.append(np.asarray(got["embeddings"], dtype=np.float32))
        if len(got["ids"]) < page:
            break
        offset += page
    if embeddings:
        records.embeddings = np.concatenate(vectors) if vectors else np.zeros((0, 0), dtype=np.float32)
    return records
