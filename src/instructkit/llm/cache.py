"""Content-addressed response cache: SQLite in WAL mode, safe across processes and restarts.

Key = hash of (backend identity, request fields, template version). Failed calls are never cached.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from instructkit.records import stable_hash
from instructkit.sqlite_store import open_sqlite


def cache_key(identity: dict[str, Any], kind: str, fields: dict[str, Any], template: str = "") -> str:
    return stable_hash("llm-cache-v1", identity, kind, fields, template, length=32)


def any_max_tokens_key(identity: dict[str, Any], fields: dict[str, Any], template: str = "") -> str:
    """The key of a request with ``max_tokens`` left out: it points at an answer that finished on its own
    (``finish_reason == "stop"``) under some ``max_tokens``, which a larger ``max_tokens`` would not change.
    A separate entry beside the exact one, so caches written before it keep hitting on their exact keys."""
    rest = {k: v for k, v in fields.items() if k != "max_tokens"}
    return stable_hash("llm-cache-v1", identity, "chat-any-max-tokens", rest, template, length=32)


class ResponseCache:
    """``get(key)`` / ``put(key, value)`` of JSON values, persisted in one SQLite file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = open_sqlite(self.path, "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT "
                               "NOT NULL, created REAL DEFAULT (unixepoch('subsec')))", synchronous="NORMAL")
        # answers that finished on their own, by request-without-max_tokens (see any_max_tokens_key)
        self._db.execute("CREATE TABLE IF NOT EXISTS finished (key TEXT PRIMARY KEY, max_tokens INTEGER NOT NULL, "
                         "answer_key TEXT NOT NULL)")
        self._db.commit()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM responses WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        blob = json.dumps(value, ensure_ascii=False)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO responses (key, value) VALUES (?, ?)", (key, blob))
            self._db.commit()

    def reusable_answer(self, alias: str, max_tokens: int) -> dict[str, Any] | None:
        """A finished answer cached under a ``max_tokens`` no larger than this one, or None."""
        with self._lock:
            row = self._db.execute("SELECT max_tokens, answer_key FROM finished WHERE key=?", (alias,)).fetchone()
        if row is None or int(row[0]) > max_tokens:
            return None
        answer = self.get(row[1])
        return answer if answer is not None and answer.get("finish_reason") == "stop" else None

    def remember_finished(self, alias: str, key: str, max_tokens: int) -> None:
        """Point ``alias`` at ``key`` unless it already points at an answer under a smaller ``max_tokens``."""
        with self._lock:
            self._db.execute("INSERT INTO finished (key, max_tokens, answer_key) VALUES (?, ?, ?) ON CONFLICT(key) "
                             "DO UPDATE SET max_tokens=excluded.max_tokens, answer_key=excluded.answer_key "
                             "WHERE excluded.max_tokens < finished.max_tokens", (alias, max_tokens, key))
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
