"""The product as LangChain components (langchain-core only).

- `GongwenRetriever`: the genre-filtered hybrid search of rag.retrieve as a `BaseRetriever`;
  its `Document`s carry article id, chunk id, genre, role, title, section, source file and score.
- `drafting_runnable()`: a request dict (the fields of evals/cases/cases.jsonl) → the JSON
  `rag draft --json` prints (both call rag.service.draft_from_request). `.stream()` yields the
  draft's text as it is written, `.batch()` drafts several requests, each with its own state.
- `checking_runnable()`: `{"draft": text, "request": dict}` → the JSON `evals check --json` prints.

Settings default to the product's own (GONGWEN_* variables, .env, gongwen.toml); pass a
`rag.config.Settings` to use others. Nothing of the app imports this module.
"""
from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_core.runnables.config import run_in_executor

from rag.config import Settings, get_settings
from rag.errors import RequestError

__all__ = ["GongwenRetriever", "DraftingRunnable", "drafting_runnable", "checking_runnable"]


class GongwenRetriever(BaseRetriever):
    """Exemplar passages of one genre (and paragraph role), best first. An unknown genre or role
    raises RequestError with the valid ones; the seed index is built on first use."""

    genre: str
    role: str | None = None
    k: int = 5
    settings: Settings | None = None

    def _get_relevant_documents(self, query: str, *,
                                run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        from rag.retrieve import retrieve_exemplars
        hits = retrieve_exemplars(query, genre=self.genre, role=self.role, k=self.k,
                                  settings=self.settings or get_settings())
        return [Document(page_content=h.text, id=h.chunk_id, metadata={
            "article_id": h.article_id, "chunk_id": h.chunk_id, "genre": h.genre, "role": h.role,
            "title": h.title, "section": h.section, "source": h.source, "score": h.score})
            for h in hits]


class _ReaderGone(BaseException):
    """Raised inside a streaming draft when its reader closed the stream. A BaseException, so no
    `except Exception` on the way (retries, fallbacks) keeps the draft going."""


_DONE = object()


def text_as_written(draft: Callable[[Callable[[str], None]], Any]) -> Iterator[str]:
    """Run `draft(on_token)` in a thread and yield each piece of text it passes to `on_token`.

    An exception of the draft is raised here, after the pieces written before it. Closing the
    generator stops the draft at its next piece of text and waits for the thread to end."""
    pieces: queue.SimpleQueue = queue.SimpleQueue()
    reader_gone = threading.Event()
    failure: list[BaseException] = []

    def on_token(piece: str) -> None:
        if reader_gone.is_set():
            raise _ReaderGone()
        pieces.put(piece)

    def run() -> None:
        try:
            draft(on_token)
        except BaseException as e:   # handed to the reader, which raises it
            failure.append(e)
        finally:
            pieces.put(_DONE)

    # the thread runs in a copy of the caller's context: LangChain's callbacks and rag.llm's
    # hooks reach the calls it makes
    thread = threading.Thread(target=contextvars.copy_context().run, args=(run,),
                              name="gongwen-draft-stream", daemon=True)
    thread.start()
    try:
        while (piece := pieces.get()) is not _DONE:
            yield piece
    finally:
        reader_gone.set()
        thread.join()
    if failure:
        raise failure[0]


class DraftingRunnable(Runnable[dict, dict]):
    """A request dict → the JSON of `rag draft --json`; `.stream()` yields the text as written."""

    name = "gongwen_draft"

    def __init__(self, settings: Settings | None = None):
        self.settings = settings

    def _draft(self, request: Any, on_token: Callable[[str], None] | None = None):
        from rag.service import draft_from_request
        return draft_from_request(request, self.settings or get_settings(), on_token=on_token)

    def invoke(self, input: dict, config: RunnableConfig | None = None, **kwargs: Any) -> dict:
        return self._call_with_config(lambda request: self._draft(request).to_json(), input, config)

    def _stream_text(self, requests: Iterator[dict]) -> Iterator[str]:
        for request in requests:
            yield from text_as_written(lambda on_token: self._draft(request, on_token))

    def stream(self, input: dict, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[str]:
        """The draft's text as it is written: headings, fact sentences, the model's words as they
        arrive. Guards may still drop some of it; `invoke` returns the final draft."""
        yield from self._transform_stream_with_config(iter([input]), self._stream_text, config)

    async def astream(self, input: dict, config: RunnableConfig | None = None,
                      **kwargs: Any) -> AsyncIterator[str]:
        pieces = self.stream(input, config, **kwargs)
        try:
            while (piece := await run_in_executor(config, next, pieces, _DONE)) is not _DONE:
                yield piece
        finally:
            await run_in_executor(config, pieces.close)   # waits for the thread: not on the loop


def drafting_runnable(settings: Settings | None = None) -> DraftingRunnable:
    return DraftingRunnable(settings)


def checking_runnable(settings: Settings | None = None, *, copy: bool = True,
                      judge: bool = False) -> Runnable[dict, dict]:
    """`{"draft": text, "request": dict}` → the checker's JSON (`evals check --json`); `copy`
    and `judge` as the command's `--no-copy` (off) and `--judge`."""
    from rag.normalize import normalize_request
    from rag.service import check_draft

    def check(data: dict) -> dict:
        if not isinstance(data, dict) or not isinstance(data.get("draft"), str) or "request" not in data:
            raise RequestError("检查的输入应为 {\"draft\": 草稿文字, \"request\": 请求（字段同 cases.jsonl）}。")
        request = normalize_request(data["request"]).request
        return check_draft(data["draft"], request, settings or get_settings(), copy=copy, judge=judge).to_json()

    return RunnableLambda(check, name="gongwen_check")
