"""Saved work of the web page: sessions, the request form, chat messages, every draft version
and its evaluation, in SQLite under the data directory.

Everything is written the moment it exists (the form on every change, a draft row before the
first token, its text while it streams), so a browser refresh, a server restart or a crash
loses nothing. Each browser session is identified by a random id kept in the page URL; one
id never sees another's rows.
"""
from __future__ import annotations

import json
import re
import sqlite3
import time
import uuid
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal

from rag.config import Settings

DraftKind = Literal["draft", "revise", "repair"]
DraftStatus = Literal["streaming", "done", "failed"]
_SESSION_ID = re.compile(r"^[0-9a-f]{32}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
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
    kind TEXT NOT NULL,              -- draft | revise | repair
    instruction TEXT NOT NULL DEFAULT '',
    parent_id INTEGER REFERENCES drafts(id),
    request TEXT NOT NULL,           -- JSON of the DraftRequest used
    text TEXT NOT NULL DEFAULT '',   -- partial while streaming or after a failure
    status TEXT NOT NULL,            -- streaming | done | failed
    error TEXT NOT NULL DEFAULT '',
    sources TEXT NOT NULL DEFAULT '[]',
    notices TEXT NOT NULL DEFAULT '[]',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (session_id, version)
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
    evaluation: dict[str, Any] | None = None   # Evaluation.to_json() when evaluated


@dataclass
class Message:
    id: int
    role: str
    content: str
    draft_id: int | None
    created_at: float


@dataclass
class SessionStore:
    """One SQLite file; a short-lived connection per call, so any thread may use it."""
    path: Path
    _ready: bool = field(default=False, init=False, repr=False)

    @classmethod
    def for_settings(cls, settings: Settings) -> "SessionStore":
        return cls(settings.path("sessions.sqlite"))

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=30)) as conn:
            conn.row_factory = sqlite3.Row
            if not self._ready:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SCHEMA)
                self._ready = True
            with conn:  # one transaction, committed on success
                yield conn

    # -- sessions and the request form -----------------------------------------------------
    def ensure_session(self, session_id: str) -> None:
        now = time.time()
        with self._db() as db:
            db.execute("INSERT OR IGNORE INTO sessions (id, created_at, updated_at) VALUES (?, ?, ?)",
                       (session_id, now, now))

    def save_form(self, session_id: str, form: dict[str, Any]) -> None:
        now = time.time()
        self.ensure_session(session_id)
        with self._db() as db:
            db.execute("INSERT INTO requests (session_id, form, updated_at) VALUES (?, ?, ?) "
                       "ON CONFLICT(session_id) DO UPDATE SET form = excluded.form, "
                       "updated_at = excluded.updated_at",
                       (session_id, json.dumps(form, ensure_ascii=False), now))
            db.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", (now, session_id))

    def load_form(self, session_id: str) -> dict[str, Any] | None:
        with self._db() as db:
            row = db.execute("SELECT form FROM requests WHERE session_id = ?",
                             (session_id,)).fetchone()
        return json.loads(row["form"]) if row else None

    # -- chat ------------------------------------------------------------------------------
    def add_message(self, session_id: str, role: str, content: str,
                    draft_id: int | None = None) -> int:
        self.ensure_session(session_id)
        with self._db() as db:
            cur = db.execute("INSERT INTO messages (session_id, role, content, draft_id, created_at) "
                             "VALUES (?, ?, ?, ?, ?)",
                             (session_id, role, content, draft_id, time.time()))
            return int(cur.lastrowid)

    def messages(self, session_id: str) -> list[Message]:
        with self._db() as db:
            rows = db.execute("SELECT id, role, content, draft_id, created_at FROM messages "
                              "WHERE session_id = ? ORDER BY id", (session_id,)).fetchall()
        return [Message(**dict(r)) for r in rows]

    # -- draft versions --------------------------------------------------------------------
    def start_draft(self, session_id: str, kind: DraftKind, request: dict[str, Any],
                    instruction: str = "", parent_id: int | None = None) -> DraftVersion:
        """A new version row, saved before the first token arrives."""
        self.ensure_session(session_id)
        now = time.time()
        with self._db() as db:
            version = db.execute("SELECT COALESCE(MAX(version), 0) + 1 FROM drafts "
                                 "WHERE session_id = ?", (session_id,)).fetchone()[0]
            cur = db.execute(
                "INSERT INTO drafts (session_id, version, kind, instruction, parent_id, request, "
                "status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'streaming', ?, ?)",
                (session_id, version, kind, instruction, parent_id,
                 json.dumps(request, ensure_ascii=False), now, now))
            draft_id = int(cur.lastrowid)
        return self.draft(draft_id)

    def update_text(self, draft_id: int, text: str) -> None:
        """Partial text while streaming."""
        with self._db() as db:
            db.execute("UPDATE drafts SET text = ?, updated_at = ? WHERE id = ?",
                       (text, time.time(), draft_id))

    def finish_draft(self, draft_id: int, text: str, *, sources: list[dict[str, Any]],
                     notices: list[str], evaluation: dict[str, Any] | None) -> DraftVersion:
        now = time.time()
        with self._db() as db:
            db.execute("UPDATE drafts SET text = ?, status = 'done', sources = ?, notices = ?, "
                       "updated_at = ? WHERE id = ?",
                       (text, json.dumps(sources, ensure_ascii=False),
                        json.dumps(notices, ensure_ascii=False), now, draft_id))
            if evaluation is not None:
                db.execute("INSERT OR REPLACE INTO evaluations (draft_id, passed, score, data, "
                           "created_at) VALUES (?, ?, ?, ?, ?)",
                           (draft_id, int(bool(evaluation["passed"])), float(evaluation["score"]),
                            json.dumps(evaluation, ensure_ascii=False), now))
        return self.draft(draft_id)

    def fail_draft(self, draft_id: int, text: str, error: str) -> DraftVersion:
        """Keep whatever streamed before the failure, with the reason."""
        with self._db() as db:
            db.execute("UPDATE drafts SET text = ?, status = 'failed', error = ?, updated_at = ? "
                       "WHERE id = ?", (text, error, time.time(), draft_id))
        return self.draft(draft_id)

    _SELECT = ("SELECT d.*, e.data AS evaluation FROM drafts d "
               "LEFT JOIN evaluations e ON e.draft_id = d.id ")

    @staticmethod
    def _version(row: sqlite3.Row) -> DraftVersion:
        data = dict(row)
        for key in ("request", "sources", "notices"):
            data[key] = json.loads(data[key])
        data["evaluation"] = json.loads(data["evaluation"]) if data["evaluation"] else None
        data.pop("updated_at")
        return DraftVersion(**data)

    def draft(self, draft_id: int) -> DraftVersion:
        with self._db() as db:
            row = db.execute(self._SELECT + "WHERE d.id = ?", (draft_id,)).fetchone()
        if row is None:
            raise KeyError(draft_id)
        return self._version(row)

    def drafts(self, session_id: str) -> list[DraftVersion]:
        with self._db() as db:
            rows = db.execute(self._SELECT + "WHERE d.session_id = ? ORDER BY d.version",
                              (session_id,)).fetchall()
        return [self._version(r) for r in rows]
