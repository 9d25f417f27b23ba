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


class ResponseCache:
    """``get(key)`` / ``put(key, value)`` of JSON values, persisted in one SQLite file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = open_sqlite(self.path, "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT "
                               "NOT NULL, created REAL DEFAULT (unixepoch('subsec')))", synchronous="NORMAL")

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM responses WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        blob = json.dumps(value, ensure_ascii=False)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO responses (key, value) VALUES (?, ?)", (key, blob))
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
