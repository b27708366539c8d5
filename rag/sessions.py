"""Saved work of the web page: sessions, the request form, the plan (先看提纲, with its edits),
chat messages, every draft version and its evaluation, and which version is current, in SQLite
under the data directory.

Everything is written the moment it exists (the form on every change, a draft row before the
first token, its text while it streams), so a browser refresh, a server restart or a crash
loses nothing. Each 文稿 (session) is identified by a random id kept in the page URL; one id
never sees another's rows except through the 我的文稿 list, which lists every session of this
data directory (the app has no user accounts: one installation is one office's desk).

Writes that read before they write (the next version number, “is a draft already running?”)
run in `BEGIN IMMEDIATE` transactions: with SQLite's default deferred transactions two threads
read the same MAX(version) and one insert fails on UNIQUE(session_id, version).
"""
from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
import uuid
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal

from rag.config import Settings
from rag.errors import UserFacingError

# fill: 补充材料 answered a 【待补充】 place; drop: unconfirmed elaboration (扩写) deleted
DraftKind = Literal["draft", "revise", "repair", "edit", "fill", "drop"]
# streaming: being written now; done; failed: the model or the program failed (reason in
# `error`); stopped: the user pressed 停止; interrupted: the server stopped mid-way.
DraftStatus = Literal["streaming", "done", "failed", "stopped", "interrupted"]
UNFINISHED: tuple[str, ...] = ("failed", "stopped", "interrupted")
_SESSION_ID = re.compile(r"^[0-9a-f]{32}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    title TEXT NOT NULL DEFAULT '',  -- set by 重命名; empty = derived from the request
    current_draft_id INTEGER         -- the version 恢复此版本 or the last finished run made current
);
CREATE TABLE IF NOT EXISTS requests (
    session_id TEXT PRIMARY KEY REFERENCES sessions(id),
    form TEXT NOT NULL,              -- JSON of the sidebar form as typed
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS drafts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    version INTEGER NOT NULL,        -- 1, 2, 3 … within the session
    kind TEXT NOT NULL,              -- draft | revise | repair | edit (手工修改) | fill (补充材料) | drop (删除扩写)
    instruction TEXT NOT NULL DEFAULT '',
    parent_id INTEGER REFERENCES drafts(id),
    request TEXT NOT NULL,           -- JSON of the DraftRequest used
    text TEXT NOT NULL DEFAULT '',   -- partial while streaming or after a failure
    status TEXT NOT NULL,            -- streaming | done | failed | stopped | interrupted
    error TEXT NOT NULL DEFAULT '',
    sources TEXT NOT NULL DEFAULT '[]',
    notices TEXT NOT NULL DEFAULT '[]',
    detail TEXT NOT NULL DEFAULT '{}',  -- plan, facts, edits, sentences, usage, blocks of the draft
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (session_id, version)
);
CREATE TABLE IF NOT EXISTS plans (
    session_id TEXT PRIMARY KEY REFERENCES sessions(id),
    data TEXT NOT NULL,              -- JSON: the plan, the facts it places, the request it was made for
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS evaluations (
    draft_id INTEGER PRIMARY KEY REFERENCES drafts(id),
    passed INTEGER NOT NULL,
    score REAL NOT NULL,
    data TEXT NOT NULL,              -- Evaluation.to_json()
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    role TEXT NOT NULL,              -- user | assistant
    content TEXT NOT NULL,
    draft_id INTEGER REFERENCES drafts(id),
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS drafts_by_session ON drafts(session_id, version);
CREATE INDEX IF NOT EXISTS messages_by_session ON messages(session_id, id);
"""


def new_session_id() -> str:
    return uuid.uuid4().hex


def is_session_id(value: str | None) -> bool:
    """Only ids this module generated are accepted from a URL."""
    return bool(value) and bool(_SESSION_ID.match(value))


class SessionBusy(UserFacingError):
    """A draft is already being written in this session."""


@dataclass
class DraftVersion:
    id: int
    session_id: str
    version: int
    kind: DraftKind
    instruction: str
    parent_id: int | None
    request: dict[str, Any]
    text: str
    status: DraftStatus
    error: str
    sources: list[dict[str, Any]]
    notices: list[str]
    created_at: float
    updated_at: float = 0.0
    evaluation: dict[str, Any] | None = None   # Evaluation.to_json() when evaluated
    # the drafter's record: plan, facts, edits (删改记录), sentences with their origin, usage,
    # and for a partial draft the finished blocks 继续起草 resumes from
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Message:
    id: int
    role: str
    content: str
    draft_id: int | None
    created_at: float


@dataclass
class SessionSummary:
    """One line of 我的文稿."""
    id: str
    title: str             # the name given by 重命名, else derived from the request
    custom_title: bool
    unit: str
    genre: str
    section: str
    year: int | None
    versions: int
    state: str             # 空白 | 未起草 | 写作中 | 已完成 | 已停止 | 已中断 | 未完成
    updated_at: float
    created_at: float = 0.0


STATE_LABEL = {"streaming": "写作中", "done": "已完成", "failed": "未完成", "stopped": "已停止",
               "interrupted": "已中断"}


def derived_title(form: dict[str, Any]) -> str:
    """“青山县卫生健康局2024年工作总结（主要工作及成效）” from the request form."""
    unit, genre = str(form.get("unit") or "").strip(), str(form.get("genre") or "")
    year = form.get("year")
    section = str(form.get("section") or "")
    title = f"{unit}{f'{year}年' if year else ''}{genre}"
    if section and section != "全文":
        title += f"（{section}）"
    return title if unit else (f"未填写单位的{genre}" if genre else "空白文稿")


def _number_namesakes(sessions: list[SessionSummary]) -> None:
    """Two 文稿 of one unit, year and genre get the same derived title: the later ones are
    numbered in the order they were created (“…工作总结（2）”), so 我的文稿 tells them apart."""
    by_title: dict[str, list[SessionSummary]] = {}
    for s in sessions:
        by_title.setdefault(s.title, []).append(s)
    for same in by_title.values():
        if len(same) < 2:
            continue
        for n, s in enumerate(sorted(same, key=lambda x: (x.created_at, x.id))[1:], 2):
            s.title = f"{s.title}（{n}）"


_init_lock = threading.Lock()


@dataclass
class SessionStore:
    """One SQLite file; a short-lived connection per call, so any thread may use it."""
    path: Path
    _ready: bool = field(default=False, init=False, repr=False)

    @classmethod
    def for_settings(cls, settings: Settings) -> "SessionStore":
        return cls(settings.path("sessions.sqlite"))

    def _init(self, conn: sqlite3.Connection) -> None:
        with _init_lock:  # journal_mode and ALTER TABLE must not race each other
            if self._ready:
                return
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            columns = {r[1] for r in conn.execute("PRAGMA table_info(sessions)")}
            if "title" not in columns:  # databases written before 重命名 existed
                conn.execute("ALTER TABLE sessions ADD COLUMN title TEXT NOT NULL DEFAULT ''")
            if "current_draft_id" not in columns:  # databases written before 恢复此版本 existed
                conn.execute("ALTER TABLE sessions ADD COLUMN current_draft_id INTEGER")
            if "detail" not in {r[1] for r in conn.execute("PRAGMA table_info(drafts)")}:
                # databases written before drafts recorded their plan, edits and sentence origins
                conn.execute("ALTER TABLE drafts ADD COLUMN detail TEXT NOT NULL DEFAULT '{}'")
            self._ready = True

    @contextmanager
    def _db(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction; a writing one is IMMEDIATE (write lock taken before the first read)."""
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as conn:
            conn.row_factory = sqlite3.Row
            if not self._ready:
                self._init(conn)
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # -- sessions and the request form -----------------------------------------------------
    @staticmethod
    def _ensure_session(db: sqlite3.Connection, session_id: str, now: float) -> None:
        db.execute("INSERT OR IGNORE INTO sessions (id, created_at, updated_at) VALUES (?, ?, ?)",
                   (session_id, now, now))

    @staticmethod
    def _touch(db: sqlite3.Connection, session_id: str, now: float) -> None:
        db.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", (now, session_id))

    def ensure_session(self, session_id: str) -> None:
        with self._db() as db:
            self._ensure_session(db, session_id, time.time())

    # One JSON document per session in a table of its own: (table, column). Names from this
    # module only, never from input, so they may be formatted into the SQL.
    _FORM, _PLAN = ("requests", "form"), ("plans", "data")

    def _save_document(self, where: tuple[str, str], session_id: str, data: dict[str, Any]) -> None:
        table, column = where
        now = time.time()
        with self._db() as db:
            self._ensure_session(db, session_id, now)
            db.execute(f"INSERT INTO {table} (session_id, {column}, updated_at) VALUES (?, ?, ?) "
                       f"ON CONFLICT(session_id) DO UPDATE SET {column} = excluded.{column}, "
                       "updated_at = excluded.updated_at",
                       (session_id, json.dumps(data, ensure_ascii=False), now))
            self._touch(db, session_id, now)

    def _load_document(self, where: tuple[str, str], session_id: str) -> dict[str, Any] | None:
        table, column = where
        with self._db(write=False) as db:
            row = db.execute(f"SELECT {column} FROM {table} WHERE session_id = ?", (session_id,)).fetchone()
        return json.loads(row[column]) if row else None

    def save_form(self, session_id: str, form: dict[str, Any]) -> None:
        self._save_document(self._FORM, session_id, form)

    def load_form(self, session_id: str) -> dict[str, Any] | None:
        return self._load_document(self._FORM, session_id)

    # -- the plan (先看提纲 / 编辑提纲): part of the document, edits included -----------------
    def save_plan(self, session_id: str, data: dict[str, Any]) -> None:
        """`data`: {"plan": ReportPlan.to_dict(), "facts": FactSheet.to_dict(), "request": the
        DraftRequest.to_dict() it was made for}; written on every edit of the plan."""
        self._save_document(self._PLAN, session_id, data)

    def load_plan(self, session_id: str) -> dict[str, Any] | None:
        return self._load_document(self._PLAN, session_id)

    def drop_plan(self, session_id: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM plans WHERE session_id = ?", (session_id,))

    def rename_session(self, session_id: str, title: str) -> None:
        """An empty title goes back to the one derived from the request."""
        now = time.time()
        with self._db() as db:
            self._ensure_session(db, session_id, now)
            db.execute("UPDATE sessions SET title = ?, updated_at = ? WHERE id = ?",
                       (title.strip()[:80], now, session_id))

    def delete_session(self, session_id: str) -> None:
        """The session and everything in it: form, plan, messages, versions, evaluations."""
        with self._db() as db:
            db.execute("DELETE FROM plans WHERE session_id = ?", (session_id,))
            db.execute("DELETE FROM evaluations WHERE draft_id IN "
                       "(SELECT id FROM drafts WHERE session_id = ?)", (session_id,))
            db.execute("DELETE FROM messages WHERE session_id = ?", (session_id,))
            db.execute("DELETE FROM drafts WHERE session_id = ?", (session_id,))
            db.execute("DELETE FROM requests WHERE session_id = ?", (session_id,))
            db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    def sessions(self, include_blank: bool = False) -> list[SessionSummary]:
        """Every session, the most recently changed first; sessions nobody typed into are left
        out unless `include_blank`."""
        with self._db(write=False) as db:
            rows = db.execute(
                "SELECT s.id, s.title, s.created_at, s.updated_at, r.form, "
                " (SELECT COUNT(*) FROM drafts d WHERE d.session_id = s.id) AS versions, "
                " (SELECT status FROM drafts d WHERE d.session_id = s.id "
                "  ORDER BY d.version DESC LIMIT 1) AS last_status, "
                " (SELECT MAX(updated_at) FROM drafts d WHERE d.session_id = s.id) AS draft_at "
                "FROM sessions s LEFT JOIN requests r ON r.session_id = s.id").fetchall()
        out = []
        for r in rows:
            form = json.loads(r["form"]) if r["form"] else {}
            blank = not r["versions"] and not any(
                str(form.get(k) or "").strip() for k in ("unit", "facts_text", "notes"))
            if blank and not include_blank:
                continue
            year = form.get("year")
            state = (STATE_LABEL.get(r["last_status"], r["last_status"]) if r["versions"]
                     else ("空白" if blank else "未起草"))
            out.append(SessionSummary(
                id=r["id"], title=r["title"] or derived_title(form), custom_title=bool(r["title"]),
                unit=str(form.get("unit") or ""), genre=str(form.get("genre") or ""),
                section=str(form.get("section") or ""),
                year=year if isinstance(year, int) else None, versions=int(r["versions"]),
                state=state, updated_at=max(r["updated_at"], r["draft_at"] or 0),
                created_at=r["created_at"]))
        _number_namesakes(out)
        out.sort(key=lambda s: s.updated_at, reverse=True)
        return out

    def session(self, session_id: str) -> SessionSummary | None:
        return next((s for s in self.sessions(include_blank=True) if s.id == session_id), None)

    # -- chat ------------------------------------------------------------------------------
    def add_message(self, session_id: str, role: str, content: str,
                    draft_id: int | None = None) -> int:
        now = time.time()
        with self._db() as db:
            self._ensure_session(db, session_id, now)
            cur = db.execute("INSERT INTO messages (session_id, role, content, draft_id, created_at) "
                             "VALUES (?, ?, ?, ?, ?)", (session_id, role, content, draft_id, now))
            self._touch(db, session_id, now)
            return int(cur.lastrowid)

    def messages(self, session_id: str) -> list[Message]:
        with self._db(write=False) as db:
            rows = db.execute("SELECT id, role, content, draft_id, created_at FROM messages "
                              "WHERE session_id = ? ORDER BY id", (session_id,)).fetchall()
        return [Message(**dict(r)) for r in rows]

    # -- draft versions --------------------------------------------------------------------
    def start_draft(self, session_id: str, kind: DraftKind, request: dict[str, Any],
                    instruction: str = "", parent_id: int | None = None, *,
                    exclusive: bool = False, user_message: str = "",
                    detail: dict[str, Any] | None = None) -> DraftVersion:
        """A new version row (status streaming), saved before the first token arrives.

        The version number is allocated inside the write lock, so concurrent calls get 1, 2, 3…
        With `exclusive`, a session that already has a version being written raises
        SessionBusy instead (one draft at a time). `user_message`, when given, is saved as the
        user's chat turn in the same transaction; `detail`, what a restart needs to know before
        the run records its own (where 补充材料 goes)."""
        now = time.time()
        with self._db() as db:
            self._ensure_session(db, session_id, now)
            if exclusive:
                running = db.execute("SELECT version FROM drafts WHERE session_id = ? AND "
                                     "status = 'streaming'", (session_id,)).fetchone()
                if running:
                    raise SessionBusy(f"第{running[0]}版正在写作中，请等它写完或点击“停止”后再起草。")
            version = db.execute("SELECT COALESCE(MAX(version), 0) + 1 FROM drafts "
                                 "WHERE session_id = ?", (session_id,)).fetchone()[0]
            if user_message:
                db.execute("INSERT INTO messages (session_id, role, content, draft_id, created_at) "
                           "VALUES (?, 'user', ?, NULL, ?)", (session_id, user_message, now))
            cur = db.execute(
                "INSERT INTO drafts (session_id, version, kind, instruction, parent_id, request, "
                "status, detail, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'streaming', ?, ?, ?)",
                (session_id, version, kind, instruction, parent_id,
                 json.dumps(request, ensure_ascii=False), json.dumps(detail or {}, ensure_ascii=False),
                 now, now))
            draft_id = int(cur.lastrowid)
            self._touch(db, session_id, now)
        return self.draft(draft_id)

    def restart_draft(self, draft_id: int) -> DraftVersion:
        """继续起草: an unfinished version is written again in place (its partial text stays
        until new text arrives). SessionBusy when another version of the session is running."""
        with self._db() as db:
            row = db.execute("SELECT session_id, status FROM drafts WHERE id = ?",
                             (draft_id,)).fetchone()
            if row is None:
                raise KeyError(draft_id)
            running = db.execute("SELECT version FROM drafts WHERE session_id = ? AND "
                                 "status = 'streaming'", (row["session_id"],)).fetchone()
            if running:
                raise SessionBusy(f"第{running[0]}版正在写作中，请等它写完或点击“停止”后再起草。")
            db.execute("UPDATE drafts SET status = 'streaming', error = '', updated_at = ? "
                       "WHERE id = ?", (time.time(), draft_id))
        return self.draft(draft_id)

    def update_text(self, draft_id: int, text: str) -> None:
        """Partial text while streaming."""
        with self._db() as db:
            db.execute("UPDATE drafts SET text = ?, updated_at = ? WHERE id = ? "
                       "AND status = 'streaming'", (text, time.time(), draft_id))

    def finish_draft(self, draft_id: int, text: str, *, sources: list[dict[str, Any]],
                     notices: list[str], evaluation: dict[str, Any] | None,
                     detail: dict[str, Any] | None = None,
                     request: dict[str, Any] | None = None) -> DraftVersion:
        """The version done; `request`, when the run changed it (补充材料 adds a fact)."""
        now = time.time()
        with self._db() as db:
            if request is not None:
                db.execute("UPDATE drafts SET request = ? WHERE id = ?",
                           (json.dumps(request, ensure_ascii=False), draft_id))
            db.execute("UPDATE drafts SET text = ?, status = 'done', error = '', sources = ?, "
                       "notices = ?, detail = ?, updated_at = ? WHERE id = ?",
                       (text, json.dumps(sources, ensure_ascii=False),
                        json.dumps(notices, ensure_ascii=False),
                        json.dumps(detail or {}, ensure_ascii=False), now, draft_id))
            # a finished run is what the next revision, repair or download starts from
            db.execute("UPDATE sessions SET current_draft_id = ? WHERE id = "
                       "(SELECT session_id FROM drafts WHERE id = ?)", (draft_id, draft_id))
            if evaluation is not None:
                db.execute("INSERT OR REPLACE INTO evaluations (draft_id, passed, score, data, "
                           "created_at) VALUES (?, ?, ?, ?, ?)",
                           (draft_id, int(bool(evaluation["passed"])), float(evaluation["score"]),
                            json.dumps(evaluation, ensure_ascii=False), now))
        return self.draft(draft_id)

    def fail_draft(self, draft_id: int, text: str, error: str,
                   status: DraftStatus = "failed", detail: dict[str, Any] | None = None) -> DraftVersion:
        """Keep whatever streamed before the failure (or 停止, or a restart), with the reason; a
        partial draft's `detail` (its finished blocks) lets 继续起草 go on from there."""
        if status not in UNFINISHED:
            raise ValueError(status)
        with self._db() as db:
            if detail is None:
                db.execute("UPDATE drafts SET text = ?, status = ?, error = ?, updated_at = ? "
                           "WHERE id = ?", (text, status, error, time.time(), draft_id))
            else:
                db.execute("UPDATE drafts SET text = ?, status = ?, error = ?, detail = ?, updated_at = ? "
                           "WHERE id = ?", (text, status, error, json.dumps(detail, ensure_ascii=False),
                                            time.time(), draft_id))
        return self.draft(draft_id)

    def update_draft(self, draft_id: int, *, text: str, evaluation: dict[str, Any],
                     detail: dict[str, Any], request: dict[str, Any] | None = None) -> DraftVersion:
        """A finished version changed in place, no new version: its elaboration confirmed or
        deleted (a version made by deleting elaboration takes further deletions), or checked again
        against the request the form holds now (`request`)."""
        now = time.time()
        with self._db() as db:
            row = db.execute("SELECT status FROM drafts WHERE id = ?", (draft_id,)).fetchone()
            if row is None:
                raise KeyError(draft_id)
            if row["status"] != "done":
                raise UserFacingError("这一版没有写完，不能修改；请先点“继续起草”把它写完。")
            db.execute("UPDATE drafts SET text = ?, detail = ?, updated_at = ? WHERE id = ?",
                       (text, json.dumps(detail, ensure_ascii=False), now, draft_id))
            if request is not None:
                db.execute("UPDATE drafts SET request = ? WHERE id = ?",
                           (json.dumps(request, ensure_ascii=False), draft_id))
            db.execute("INSERT OR REPLACE INTO evaluations (draft_id, passed, score, data, created_at) "
                       "VALUES (?, ?, ?, ?, ?)",
                       (draft_id, int(bool(evaluation["passed"])), float(evaluation["score"]),
                        json.dumps(evaluation, ensure_ascii=False), now))
        return self.draft(draft_id)

    def interrupt_orphans(self, session_id: str, live: set[int]) -> list[int]:
        """Versions left `streaming` by a server that stopped mid-way (not in `live`, the ids
        this process is writing) become `interrupted`, keeping their text."""
        with self._db() as db:
            rows = db.execute("SELECT id FROM drafts WHERE session_id = ? AND status = 'streaming'",
                              (session_id,)).fetchall()
            orphans = [r["id"] for r in rows if r["id"] not in live]
            for draft_id in orphans:
                db.execute("UPDATE drafts SET status = 'interrupted', "
                           "error = '写作中途程序停止（如服务重启）', updated_at = ? WHERE id = ?",
                           (time.time(), draft_id))
        return orphans

    def restore_draft(self, draft_id: int) -> DraftVersion:
        """恢复此版本: an earlier finished version becomes the current one again (no copy is
        made: the version list marks which one is current)."""
        with self._db() as db:
            row = db.execute("SELECT session_id, status, text FROM drafts WHERE id = ?",
                             (draft_id,)).fetchone()
            if row is None:
                raise KeyError(draft_id)
            if row["status"] != "done" or not row["text"].strip():
                raise UserFacingError("这一版没有写完，不能设为当前版本；请先点“继续起草”把它写完。")
            db.execute("UPDATE sessions SET current_draft_id = ?, updated_at = ? WHERE id = ?",
                       (draft_id, time.time(), row["session_id"]))
        return self.draft(draft_id)

    def current_draft_id(self, session_id: str) -> int | None:
        """The version made current by 恢复此版本 or by the last finished run (None before any)."""
        with self._db(write=False) as db:
            row = db.execute("SELECT current_draft_id FROM sessions WHERE id = ?", (session_id,)).fetchone()
        return row["current_draft_id"] if row else None

    def delete_draft(self, draft_id: int) -> None:
        """A version that must not stay (a run that produced nothing new) and its messages."""
        with self._db() as db:
            db.execute("UPDATE sessions SET current_draft_id = NULL WHERE current_draft_id = ?", (draft_id,))
            db.execute("DELETE FROM evaluations WHERE draft_id = ?", (draft_id,))
            db.execute("UPDATE messages SET draft_id = NULL WHERE draft_id = ?", (draft_id,))
            db.execute("DELETE FROM drafts WHERE id = ?", (draft_id,))

    _SELECT = ("SELECT d.*, e.data AS evaluation FROM drafts d "
               "LEFT JOIN evaluations e ON e.draft_id = d.id ")

    @staticmethod
    def _version(row: sqlite3.Row) -> DraftVersion:
        data = dict(row)
        for key in ("request", "sources", "notices", "detail"):
            data[key] = json.loads(data[key])
        data["evaluation"] = json.loads(data["evaluation"]) if data["evaluation"] else None
        return DraftVersion(**data)

    def draft(self, draft_id: int) -> DraftVersion:
        with self._db(write=False) as db:
            row = db.execute(self._SELECT + "WHERE d.id = ?", (draft_id,)).fetchone()
        if row is None:
            raise KeyError(draft_id)
        return self._version(row)

    def drafts(self, session_id: str) -> list[DraftVersion]:
        with self._db(write=False) as db:
            rows = db.execute(self._SELECT + "WHERE d.session_id = ? ORDER BY d.version",
                              (session_id,)).fetchall()
        return [self._version(r) for r in rows]
