"""Drafting in a background thread, so the page can be reloaded, left or used while a version is
written, and a 停止 can end it.

The registry is per server process (module state survives Streamlit's reruns); the session
store holds the truth a reloaded page reads: the version row, its text as it arrives, its
status. A version `streaming` in the store but not in this registry was left by a server that
stopped: the page marks it 已中断 (SessionStore.interrupt_orphans).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rag.errors import LLMError, UserFacingError
from rag.sessions import DraftVersion, SessionStore

log = logging.getLogger("gongwen.app")

SAVE_EVERY_S = 0.5
STOPPED_MESSAGE = "已停止：保留了停止前写好并检查过的部分。"
STOPPED_EMPTY = "已停止：停止前还没有写好的部分。"


class DraftStopped(LLMError):
    """Raised inside the drafting call when 停止 is pressed. An LLMError of a kind never retried,
    so the drafter ends the draft as it ends one cut short by a model fault: it returns the
    finished, checked blocks as a partial result. The text streamed so far is the model's raw
    answer, which the guards have not checked; a stopped version never keeps it."""

    def __init__(self) -> None:
        super().__init__(STOPPED_MESSAGE, kind="other")


@dataclass
class Outcome:
    """What a drafting run produced; `message` is the chat reply, `keep=False` drops the
    version (a run that changed nothing)."""
    text: str
    sources: list[dict] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    evaluation: dict | None = None
    message: str = ""
    keep: bool = True
    detail: dict = field(default_factory=dict)   # the drafter's record (plan, edits, sentences…)
    request: dict | None = None                  # the version's request when the run changed it (补充材料)
    partial_error: str = ""                      # set: the run ended early, `text` is what was finished


@dataclass
class Job:
    session_id: str
    draft_id: int
    version: int
    stop: threading.Event = field(default_factory=threading.Event)
    kind: str = "draft"
    progress: str = "正在准备…"
    parts: list[str] = field(default_factory=list)
    thread: threading.Thread | None = None

    @property
    def text(self) -> str:
        return "".join(self.parts)


_jobs: dict[str, Job] = {}
_lock = threading.Lock()
# Held from writing a version row until its job is registered, and while looking for orphans,
# so another tab's page run never takes a row just created for a starting job for an orphan.
_starting = threading.Lock()


def mark_orphans(store: SessionStore, session_id: str) -> None:
    with _starting:
        store.interrupt_orphans(session_id, live_draft_ids())


def begin(store: SessionStore, new_version: Callable[[], DraftVersion], work: "Work") -> Job:
    """Write the version row (`new_version()`, which may raise SessionBusy) and start its job."""
    with _starting:
        return start(store, new_version(), work)


def running(session_id: str) -> Job | None:
    """The session's job from registration until its end state is written."""
    with _lock:
        return _jobs.get(session_id)


def live_draft_ids() -> set[int]:
    with _lock:
        return {j.draft_id for j in _jobs.values()}


def request_stop(session_id: str) -> bool:
    job = running(session_id)
    if job:
        job.stop.set()
    return job is not None


def wait(session_id: str | None = None, timeout: float = 600) -> None:
    """Until the session's job (or every job) has ended; for tests and shutdown."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with _lock:
            threads = [j.thread for sid, j in _jobs.items()
                       if j.thread and (session_id is None or sid == session_id)]
        alive = [t for t in threads if t.is_alive()]
        if not alive:
            return
        alive[0].join(max(0.0, end - time.monotonic()))
    raise TimeoutError("drafting did not end in time")


Work = Callable[[Callable[[str], None], Callable[[str], None]], Outcome]


def start(store: SessionStore, version: DraftVersion, work: Work) -> Job:
    """Run `work(on_token, progress)` for a version row already in the store (status streaming).
    Tokens are saved every half second; the end state is written whatever happens."""
    job = Job(version.session_id, version.id, version.version, kind=version.kind)
    # What the version showed before this run (a resumed partial draft's checked text): a run that
    # ends without a checked result of its own leaves it there. The tokens streamed meanwhile are
    # the model's raw answer, unchecked, and never become a version's text.
    before = version.text

    def on_token(piece: str) -> None:
        if job.stop.is_set():
            raise DraftStopped()
        job.parts.append(piece)
        now = time.monotonic()
        if now - on_token.saved > SAVE_EVERY_S:  # type: ignore[attr-defined]
            store.update_text(job.draft_id, job.text)
            on_token.saved = now  # type: ignore[attr-defined]
    on_token.saved = 0.0  # type: ignore[attr-defined]

    def progress(message: str) -> None:
        # Once a draft has written its first piece, only on_token stops it: that is inside the
        # drafter's writing loop, which keeps the finished blocks. A stop raised from its final
        # check (after the loop) would lose every block, so there the draft simply finishes.
        if job.stop.is_set() and not (job.kind == "draft" and job.parts):
            raise DraftStopped()
        job.progress = message

    def body() -> None:
        sid, did = job.session_id, job.draft_id
        try:
            outcome = work(on_token, progress)
        except DraftStopped:   # stopped before any checked text existed
            if job.kind == "draft":   # kept, so 继续起草 can write it
                message = STOPPED_MESSAGE if before.strip() else STOPPED_EMPTY
                store.fail_draft(did, before, message, status="stopped")
                store.add_message(sid, "assistant", f"第{job.version}版{message}", did)
            else:                     # a revision or repair half done is no version at all
                store.delete_draft(did)
                what = {"revise": "修改", "fill": "补充材料"}.get(job.kind, "修复")
                store.add_message(sid, "assistant", f"已停止{what}，未生成新版本，当前版本不变。")
            return
        except UserFacingError as e:
            store.fail_draft(did, before, str(e))
            store.add_message(sid, "assistant", f"生成中断：{e}", did)
            return
        except Exception:
            log.exception("drafting failed (session %s, version %s)", sid, job.version)
            reason = "程序内部错误，详情已记录在日志（data/logs/app.log）中。"
            store.fail_draft(did, before, reason)
            store.add_message(sid, "assistant", f"生成中断：{reason}", did)
            return
        if not outcome.keep:
            store.delete_draft(did)
            store.add_message(sid, "assistant", outcome.message)
            return
        if outcome.partial_error and job.stop.is_set():
            message = STOPPED_MESSAGE if outcome.text.strip() else STOPPED_EMPTY
            store.fail_draft(did, outcome.text, message, status="stopped", detail=outcome.detail)
            store.add_message(sid, "assistant", f"第{job.version}版{message}", did)
            return
        if outcome.partial_error:
            store.fail_draft(did, outcome.text, outcome.partial_error, detail=outcome.detail)
            store.add_message(sid, "assistant", f"第{job.version}版没有写完（{outcome.partial_error}），"
                                                "已保留写好的部分，可以点“继续起草”接着写。", did)
            return
        store.finish_draft(did, outcome.text, sources=outcome.sources, notices=outcome.notices,
                           evaluation=outcome.evaluation, detail=outcome.detail, request=outcome.request)
        store.add_message(sid, "assistant", outcome.message or f"第{job.version}版已生成。", did)

    def guarded() -> None:
        try:
            body()
        except Exception:  # the store itself failed: the row stays `streaming` → 已中断 later
            log.exception("could not record the end of a draft (session %s)", job.session_id)
        finally:
            with _lock:
                if _jobs.get(job.session_id) is job:
                    del _jobs[job.session_id]

    job.thread = threading.Thread(target=guarded, name=f"draft-{job.session_id[:8]}", daemon=True)
    with _lock:
        _jobs[job.session_id] = job
    job.thread.start()
    return job
