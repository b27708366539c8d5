"""The Chroma collection of exemplar passages.

Embedded `PersistentClient` under `data_dir/chroma` by default, or a `chroma run` server via
`HttpClient` when `settings.chroma_host` is set. The collection is always opened with our
embedding function: Chroma's default would download a model and fail offline.

One collection per embedding model (the model id is part of the name), so switching backends
never mixes vector spaces. The collection's metadata carries a `revision` counter that ingest
bumps after every change; retrieval uses it to know when its in-memory BM25 index is stale.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import chromadb
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings as ChromaSettings

from rag.config import Settings
from rag.embed import ChromaEmbeddingFunction, Embedder, get_embedder
from rag.errors import UserFacingError
from rag.schema import Chunk

REVISION_KEY = "revision"


class StoreError(UserFacingError):
    """The vector store cannot be reached or opened."""


_clients: dict[tuple, Any] = {}


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
    if key in _clients:
        return _clients[key]
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_host:
        try:
            client = chromadb.HttpClient(host=settings.chroma_host, port=settings.chroma_port,
                                         settings=chroma_settings)
            client.heartbeat()
        except Exception as e:  # chromadb raises bare ValueError/httpx errors for an unreachable server
            raise StoreError(f"连接不上 Chroma 服务 {store_location(settings)}：{e}。"
                             "请确认服务已启动（chroma run），或去掉 GONGWEN_CHROMA_HOST 使用内置存储。") from None
    else:
        (settings.data_dir / "chroma").mkdir(parents=True, exist_ok=True)
        client = chromadb.PersistentClient(path=str(settings.data_dir / "chroma"), settings=chroma_settings)
    _clients[key] = client
    return client


def open_collection(settings: Settings) -> Collection:
    """The exemplar collection, created on first use, always with our embedding function."""
    embedder = get_embedder(settings)
    client = open_client(settings)
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
    for start in range(0, len(ids), 1000):
        collection.delete(ids=list(ids[start:start + 1000]))


def all_records(collection: Collection) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """Every (id, document, metadata) in the collection, paged."""
    ids: list[str] = []
    documents: list[str] = []
    metadatas: list[dict[str, Any]] = []
    page = 5000
    offset = 0
    while True:
        got = collection.get(include=["documents", "metadatas"], limit=page, offset=offset)
        ids.extend(got["ids"])
        documents.extend(got["documents"] or [])
        metadatas.extend(dict(m) for m in (got["metadatas"] or []))
        if len(got["ids"]) < page:
            return ids, documents, metadatas
        offset += page
