"""The SQLite session store: versions, 我的文稿 and one draft at a time, on a real file."""
from __future__ import annotations

import threading

import pytest

from rag.sessions import SessionBusy, SessionStore, new_session_id


@pytest.fixture
def store(tmp_path) -> SessionStore:
    return SessionStore(tmp_path / "sessions.sqlite")


def _in_threads(n: int, path, work) -> list[BaseException]:
    """`work(store)` in n threads released together, each with its own store object (as separate
    page runs have); the exceptions they raised."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def worker() -> None:
        own = SessionStore(path)
        barrier.wait()
        try:
            work(own)
        except BaseException as e:  # collected and asserted by the caller
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_concurrent_start_draft_gets_distinct_consecutive_versions(store, tmp_path):
    sid = new_session_id()
    store.ensure_session(sid)
    got: list[int] = []

    def ten_drafts(own: SessionStore) -> None:
        for _ in range(10):
            got.append(own.start_draft(sid, "draft", {"genre": "工作总结"}).version)

    assert _in_threads(16, tmp_path / "sessions.sqlite", ten_drafts) == []
    assert sorted(got) == list(range(1, 161))
    assert [v.version for v in store.drafts(sid)] == list(range(1, 161))


def test_exclusive_start_refuses_while_a_version_is_written(store):
    sid = new_session_id()
    first = store.start_draft(sid, "draft", {}, exclusive=True)
    with pytest.raises(SessionBusy, match="第1版正在写作中"):
        store.start_draft(sid, "draft", {}, exclusive=True)
    store.update_text(first.id, "一、主要工作")
    stopped = store.fail_draft(first.id, "一、主要工作", "已停止", status="stopped")
    assert stopped.status == "stopped" and stopped.text == "一、主要工作"
    assert store.start_draft(sid, "draft", {}, exclusive=True).version == 2
    # another session is not blocked by this one
    assert store.start_draft(new_session_id(), "draft", {}, exclusive=True).version == 1


def test_only_one_of_many_concurrent_exclusive_starts_wins(store, tmp_path):
    sid = new_session_id()
    store.ensure_session(sid)
    started: list[int] = []
    errors = _in_threads(8, tmp_path / "sessions.sqlite",
                         lambda own: started.append(own.start_draft(sid, "draft", {}, exclusive=True).id))
    assert len(started) == 1 and len(errors) == 7 and all(isinstance(e, SessionBusy) for e in errors)


def test_orphaned_streaming_version_becomes_interrupted_and_can_restart(store):
    sid = new_session_id()
    v = store.start_draft(sid, "draft", {})
    store.update_text(v.id, "一、主要工作及成效\n（一）免疫规划")
    live = store.start_draft(new_session_id(), "draft", {})
    assert store.interrupt_orphans(sid, live={live.id}) == [v.id]
    interrupted = store.draft(v.id)
    assert interrupted.status == "interrupted" and interrupted.text.endswith("免疫规划")
    assert store.interrupt_orphans(sid, live=set()) == []
    again = store.restart_draft(v.id)
    assert again.status == "streaming" and again.version == 1 and again.text.endswith("免疫规划")
    # text written after a stop never overwrites it (a late token from the stopped thread)
    store.fail_draft(v.id, "一、主要工作及成效", "已停止", status="stopped")
    store.update_text(v.id, "一、主要工作及成效\n（一）免疫规划扎实推进")
    assert store.draft(v.id).text == "一、主要工作及成效"


def test_session_list_rename_delete(store):
    a, b, blank = new_session_id(), new_session_id(), new_session_id()
    store.save_form(a, {"genre": "工作总结", "section": "全文", "unit": "青山县卫生健康局", "year": 2024,
                        "facts_text": "接种率95%"})
    v = store.start_draft(a, "draft", {"genre": "工作总结"})
    store.finish_draft(v.id, "正文", sources=[], notices=[], evaluation=None)
    store.save_form(b, {"genre": "工作计划", "section": "主要任务", "unit": "东山区卫生健康局", "year": 2025,
                        "facts_text": ""})
    store.ensure_session(blank)
    listed = store.sessions()
    assert [s.id for s in listed] == [b, a]  # newest change first; the untouched one is hidden
    first = listed[1]
    assert first.title == "青山县卫生健康局2024年工作总结" and first.state == "已完成"
    assert (first.unit, first.genre, first.year, first.versions) == ("青山县卫生健康局", "工作总结", 2024, 1)
    assert listed[0].title == "东山区卫生健康局2025年工作计划（主要任务）" and listed[0].state == "未起草"
    assert blank in [s.id for s in store.sessions(include_blank=True)]

    store.rename_session(a, "  年终总结（报局办公室）  ")
    assert store.session(a).title == "年终总结（报局办公室）" and store.session(a).custom_title
    store.rename_session(a, "")
    assert store.session(a).title == "青山县卫生健康局2024年工作总结"

    store.add_message(a, "user", "起草")
    store.delete_session(a)
    assert store.session(a) is None
    assert store.drafts(a) == [] and store.messages(a) == [] and store.load_form(a) is None
    assert store.session(b) is not None


def test_deleting_a_version_that_changed_nothing(store):
    sid = new_session_id()
    v1 = store.start_draft(sid, "draft", {})
    store.finish_draft(v1.id, "正文", sources=[], notices=[], evaluation=None)
    v2 = store.start_draft(sid, "repair", {}, parent_id=v1.id)
    store.add_message(sid, "assistant", "没有需要改的", v2.id)
    store.delete_draft(v2.id)
    assert [v.version for v in store.drafts(sid)] == [1]
    assert store.messages(sid)[-1].draft_id is None
    assert store.start_draft(sid, "revise", {}).version == 2


def test_old_database_without_title_column_is_upgraded(tmp_path):
    import sqlite3
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE sessions (id TEXT PRIMARY KEY, created_at REAL NOT NULL, "
                     "updated_at REAL NOT NULL)")
        conn.execute("INSERT INTO sessions VALUES ('" + "a" * 32 + "', 1, 1)")
    store = SessionStore(path)
    store.rename_session("a" * 32, "旧文稿")
    assert store.session("a" * 32).title == "旧文稿"


def test_the_plan_is_saved_with_the_document_and_goes_with_it(store):
    sid, other = new_session_id(), new_session_id()
    plan = {"plan": {"genre": "工作总结", "parts": [{"key": "work", "items": [{"heading": "健全慢病随访体系"}]}]},
            "facts": {"facts": []}, "request": {"genre": "工作总结", "facts": ["随访高血压患者8120人"]}}
    assert store.load_plan(sid) is None
    store.save_plan(sid, plan)
    assert store.load_plan(sid) == plan and store.load_plan(other) is None
    plan["plan"]["parts"][0]["items"][0]["heading"] = "织密慢病随访网络"   # an edit overwrites
    store.save_plan(sid, plan)
    assert store.load_plan(sid)["plan"]["parts"][0]["items"][0]["heading"] == "织密慢病随访网络"
    # a second store object on the same file (another browser's page run) reads the same plan
    from rag.sessions import SessionStore as Store
    assert Store(store.path).load_plan(sid) == plan
    store.drop_plan(sid)
    assert store.load_plan(sid) is None
    store.save_plan(sid, plan)
    store.delete_session(sid)
    assert store.load_plan(sid) is None


def test_the_current_version_is_the_last_finished_or_the_restored_one(store):
    sid = new_session_id()
    v1 = store.start_draft(sid, "draft", {})
    assert store.current_draft_id(sid) is None
    store.finish_draft(v1.id, "第一稿", sources=[], notices=[], evaluation=None)
    assert store.current_draft_id(sid) == v1.id
    v2 = store.start_draft(sid, "edit", {}, parent_id=v1.id)
    store.finish_draft(v2.id, "第二稿", sources=[], notices=[], evaluation=None)
    assert store.current_draft_id(sid) == v2.id
    assert store.restore_draft(v1.id).text == "第一稿"
    assert store.current_draft_id(sid) == v1.id and len(store.drafts(sid)) == 2
    # a run that fails does not move the current version; one that finishes does
    v3 = store.start_draft(sid, "revise", {}, parent_id=v1.id)
    store.fail_draft(v3.id, "", "模型连接中断")
    assert store.current_draft_id(sid) == v1.id
    store.restart_draft(v3.id)
    store.finish_draft(v3.id, "第三稿", sources=[], notices=[], evaluation=None)
    assert store.current_draft_id(sid) == v3.id
    # a version removed (a run that changed nothing) is never left current
    v4 = store.start_draft(sid, "repair", {}, parent_id=v3.id)
    store.restore_draft(v1.id)
    store.delete_draft(v4.id)
    assert store.current_draft_id(sid) == v1.id


def test_namesake_documents_are_numbered_by_creation_in_my_documents(store, monkeypatch):
    import time as clock
    form = {"genre": "工作总结", "section": "全文", "unit": "柳河县卫生健康局", "year": 2026, "facts_text": "x"}
    ids = [new_session_id() for _ in range(3)]
    for n, sid in enumerate(ids):
        monkeypatch.setattr(clock, "time", lambda n=n: 1_000.0 + n)
        store.save_form(sid, form)
    monkeypatch.undo()
    store.save_form(ids[0], {**form, "notes": "最后改的是最早建的"})   # order of change ≠ order of creation
    titles = {s.id: s.title for s in store.sessions()}
    base = "柳河县卫生健康局2026年工作总结"
    assert [titles[i] for i in ids] == [base, f"{base}（2）", f"{base}（3）"]
    assert [s.created_at for s in sorted(store.sessions(), key=lambda s: s.created_at)] == [1000.0, 1001.0, 1002.0]
    store.rename_session(ids[1], "年终总结（初稿）")
    titles = {s.id: s.title for s in store.sessions()}
    assert titles[ids[1]] == "年终总结（初稿）" and titles[ids[2]] == f"{base}（2）"


def test_old_database_without_plans_or_current_version_is_upgraded(tmp_path):
    import sqlite3
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE sessions (id TEXT PRIMARY KEY, created_at REAL NOT NULL, "
                     "updated_at REAL NOT NULL, title TEXT NOT NULL DEFAULT '')")
        conn.execute("INSERT INTO sessions VALUES ('" + "b" * 32 + "', 1, 1, '')")
    store = SessionStore(path)
    assert store.current_draft_id("b" * 32) is None
    v = store.start_draft("b" * 32, "draft", {})
    store.finish_draft(v.id, "正文", sources=[], notices=[], evaluation=None)
    assert store.current_draft_id("b" * 32) == v.id
    store.save_plan("b" * 32, {"plan": {}})
    assert store.load_plan("b" * 32) == {"plan": {}}
