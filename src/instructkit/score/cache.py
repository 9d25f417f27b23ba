"""Disk cache of quality scores, keyed by scorer identity + example content (like embeddings).

A re-selection with the same scorer never calls a model again. Identity includes the model's
identity and the prompt template version, so a different model or prompt is a different key.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from instructkit.embed import default_cache_dir
from instructkit.sqlite_store import open_sqlite, select_in


def score_key(identity: Any, *content: str) -> bytes:
    blob = json.dumps([identity, *content], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).digest()[:20]


class ScoreCache:
    """SQLite table key → (score, JSON details). ``None`` path = the default cache folder."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_cache_dir() / "scores.sqlite"
        self._lock = threading.Lock()
        self._db = open_sqlite(self.path, "CREATE TABLE IF NOT EXISTS scores "
                                          "(key BLOB PRIMARY KEY, score REAL, details TEXT)")

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, tuple[float | None, dict]]:
        out: dict[bytes, tuple[float | None, dict]] = {}
        with self._lock:
            for k, s, d in select_in(self._db, "SELECT key, score, details FROM scores WHERE key IN ({})", keys):
                out[bytes(k)] = (s, json.loads(d or "{}"))
        return out

    def put(self, key: bytes, score: float | None, details: dict | None = None) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO scores (key, score, details) VALUES (?, ?, ?)",
                             (key, score, json.dumps(details or {}, default=str)))
            self._db.commit()

    def close(self) -> None:
        self._db.close()
