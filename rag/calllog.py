"""Every LLM call, kept in SQLite (`data_dir/llm_calls.sqlite`) in the spirit of simonw/llm's log.

One row per `LLMClient.chat` call: the prompt messages, model, endpoint, purpose, token counts,
latency and outcome (ok / error with the error text). API keys never reach this module: the client
redacts them from anything it passes in; credentials inside URLs and Authorization values (Bearer,
Basic) are redacted here as well, since an endpoint label, an answer or an error text may quote them.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from rag.config import Settings, redact_credentials

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    model TEXT NOT NULL,
    purpose TEXT NOT NULL,
    messages_json TEXT NOT NULL,
    response TEXT NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    usage_source TEXT NOT NULL,
    latency_s REAL NOT NULL,
    finish_reason TEXT,
    attempts INTEGER NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'error')),
    error TEXT
)
"""


@dataclass
class CallRecord:
    endpoint: str                 # label of the endpoint, e.g. "deepseek-chat @ api.deepseek.com"
    model: str
    purpose: str                  # what the caller used it for: "outline", "section", "repair"…
    messages: list[dict]
    response: str                 # the text received (partial when the call failed mid-stream)
    prompt_tokens: int | None
    completion_tokens: int | None
    usage_source: str             # "server" (reported usage) or "estimated" (counted locally)
    latency_s: float
    finish_reason: str | None
    attempts: int                 # HTTP attempts, retries included (rag.llm retries transient faults)
    outcome: str                  # "ok" | "error"
    error: str | None = None
    started_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    id: int | None = None


def _connect(settings: Settings) -> sqlite3.Connection:
    conn = sqlite3.connect(settings.path("llm_calls.sqlite"), timeout=10)
    conn.execute(_SCHEMA)
    return conn


def log_call(settings: Settings, record: CallRecord) -> int:
    """Append one call; returns its row id."""
    row = asdict(record)
    row.pop("id")
    for name in ("endpoint", "response", "error"):
        if row[name] is not None:
            row[name] = redact_credentials(row[name])
    row["messages_json"] = json.dumps(row.pop("messages"), ensure_ascii=False)
    columns = ", ".join(row)
    placeholders = ", ".join(f":{k}" for k in row)
    conn = _connect(settings)
    try:
        with conn:
            cursor = conn.execute(f"INSERT INTO calls ({columns}) VALUES ({placeholders})", row)
        return cursor.lastrowid
    finally:
        conn.close()


def recent_calls(settings: Settings, n: int = 20) -> list[CallRecord]:
    """The last n calls, newest first."""
    conn = _connect(settings)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute("SELECT * FROM calls ORDER BY id DESC LIMIT ?", (n,)).fetchall()
    finally:
        conn.close()
    records = []
    for r in rows:
        data = dict(r)
        data["messages"] = json.loads(data.pop("messages_json"))
        records.append(CallRecord(**data))
    return records
