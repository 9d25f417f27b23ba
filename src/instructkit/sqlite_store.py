"""The SQLite set-up every on-disk cache shares (responses, embeddings, quality scores).

One file per store, WAL journal so several processes can read while one writes, and a
connection usable from any thread (each store guards it with its own lock).

>>> import tempfile, pathlib
>>> db = open_sqlite(pathlib.Path(tempfile.mkdtemp()) / "sub" / "t.sqlite", "CREATE TABLE IF NOT EXISTS t (k TEXT)")
>>> db.execute("PRAGMA journal_mode").fetchone()[0]
'wal'
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any


def open_sqlite(path: str | Path, schema_sql: str, *, synchronous: str | None = None) -> sqlite3.Connection:
    """Open (creating its folder and ``schema_sql``'s table if needed) the SQLite file at ``path``.

    ``synchronous``: a ``PRAGMA synchronous`` level (e.g. ``"NORMAL"``); ``None`` keeps SQLite's
    default. The 60 s timeout lets a writer wait out another process's write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False, timeout=60)
    db.execute("PRAGMA journal_mode=WAL")
    if synchronous is not None:
        db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute(schema_sql)
    db.commit()
    return db


def select_in(db: sqlite3.Connection, query: str, keys: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
    """Rows of ``query`` for ``keys``, whose ``{}`` stands for the ``IN (...)`` placeholders.

    Asked 500 keys at a time: SQLite caps the number of ``?`` in one statement.
    """
    for i in range(0, len(keys), 500):
        chunk = list(keys[i:i + 500])
        yield from db.execute(query.format(",".join("?" * len(chunk))), chunk)
