"""Concurrent drafting sessions against one scripted OpenAI-protocol server: no errors, no cross-talk.

Every session drafts for its own unit with its own facts (numbers no other session uses); the
model's answers stream in small pieces with pauses, so the sessions' streams interleave on the
wire. Sessions share what the app shares: the settings, the data directory (the SQLite call log)
and, within a process, the LLM client. `bench/bench_concurrency.py` runs the same with 20
sessions and prints the timings.
"""
from __future__ import annotations

import multiprocessing
import re
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from openai_stub import ScriptedOpenAIServer, reply
from test_drafting_contract import Model as Writer

from rag.calllog import recent_calls
from rag.config import Settings
from rag.draft import draft_report
from rag.normalize import parse_request

COUNTIES = ["青岚", "白石", "松溪", "临川", "云岭", "梅江", "石门", "桐柏", "柳河", "乌江",
            "丹霞", "黛山", "碧水", "金沙", "玉泉", "雁荡", "沧浪", "凤鸣", "鹿角", "银湖"]


def session_request(i: int) -> dict:
    """Session i's request: its own county and numbers 7i0–7i9 (i < 20) that no other uses."""
    n = 700 + 10 * i
    return {"genre": "工作总结", "section": "全文", "unit": f"{COUNTIES[i]}县卫生健康局", "year": 2025,
            "facts": [f"全县完成村卫生室标准化改造{n + 1}所",
                      f"家庭医生签约服务{n + 2}个团队，覆盖重点人群{n + 3}户",
                      f"开展适龄妇女两癌筛查{n + 4}人",
                      "存在问题：基层医务人员流失较多",
                      f"明年打算：新建{n + 5}个智慧化预约点"],
            "length_chars": [300, 1500], "topic": "基层卫生"}


def own_marks(i: int) -> set[str]:
    n = 700 + 10 * i
    return {COUNTIES[i]} | {str(n + k) for k in range(1, 6)}


def foreign_marks(text: str, i: int, sessions: int) -> set[str]:
    """Units or numbers of the other sessions that appear in session i's draft."""
    found = set()
    for j in range(sessions):
        if j != i:
            found |= {m for m in own_marks(j) if re.search(rf"(?<!\d){m}(?!\d)", text)}
    return found


def streaming_writer():
    """The drafting model of tests/test_drafting_contract.py, streamed in 3-character pieces 2 ms apart."""
    writer = Writer()
    return lambda body: reply(writer(body), chunk_chars=3, chunk_delay=0.002)


def no_exemplars(query: str, genre: str, role: str | None, k: int) -> list:
    return []


@dataclass
class SessionResult:
    index: int
    draft: str
    seconds: float
    error: str | None


def draft_session(i: int, base_url: str, data_dir: str) -> SessionResult:
    """One drafting session (a thread's or a process's work); importable for spawned processes."""
    settings = Settings(data_dir=Path(data_dir), llm_base_url=base_url, llm_model="stub-model",
                        llm_timeout=60, _env_file=None)
    started = time.perf_counter()
    try:
        result = draft_report(parse_request(session_request(i)), settings,
                              retriever=no_exemplars)
    except Exception as e:  # reported per session, so one failure does not hide the others
        return SessionResult(i, "", time.perf_counter() - started, f"{type(e).__name__}: {e}")
    return SessionResult(i, result.draft, time.perf_counter() - started, None)


def run_sessions(sessions: int, base_url: str, data_dir: Path, *, processes: bool) -> list[SessionResult]:
    if processes:
        pool = ProcessPoolExecutor(sessions, mp_context=multiprocessing.get_context("spawn"))
    else:
        pool = ThreadPoolExecutor(sessions)
    with pool:
        futures = [pool.submit(draft_session, i, base_url, str(data_dir)) for i in range(sessions)]
        return [f.result() for f in futures]


def check_sessions(results: list[SessionResult]) -> list[str]:
    """Problems found: errors, drafts missing their own facts, drafts with another's."""
    problems = []
    for r in results:
        if r.error:
            problems.append(f"session {r.index}: {r.error}")
            continue
        missing = {m for m in own_marks(r.index) if m not in r.draft}
        if missing:
            problems.append(f"session {r.index}: own facts missing {sorted(missing)}")
        foreign = foreign_marks(r.draft, r.index, len(results))
        if foreign:
            problems.append(f"session {r.index}: other sessions' facts {sorted(foreign)}")
    return problems


def test_session_marks_do_not_overlap():
    marks = [own_marks(i) for i in range(len(COUNTIES))]
    assert all(not (a & b) for x, a in enumerate(marks) for b in marks[x + 1:])
    # the check can fail: a draft quoting another session's number is caught
    assert foreign_marks("全县完成改造701所，另有712所，白石县。", 0, 3) == {"712", "白石"}


@pytest.mark.parametrize("sessions, processes", [(6, False), (3, True)], ids=["threads", "processes"])
def test_concurrent_sessions_draft_without_errors_or_cross_talk(tmp_path, sessions, processes):
    with ScriptedOpenAIServer([streaming_writer()], repeat_last=True) as stub:
        results = run_sessions(sessions, stub.base_url, tmp_path / "data", processes=processes)
        calls = len(stub.chat_requests)
    assert check_sessions(results) == []
    logged = recent_calls(Settings(data_dir=tmp_path / "data", _env_file=None), 10 * calls)
    assert len(logged) == calls and all(c.outcome == "ok" for c in logged)
    assert {c.id for c in logged} == set(range(1, calls + 1))  # no call log row lost
