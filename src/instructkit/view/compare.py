"""Compare two runs: their counts side by side, tasks added or removed, records only in one of them."""

from __future__ import annotations

import sqlite3
from typing import Any

from instructkit.view.index import RunIndex
from instructkit.view.pages import flatten


def _only_in(a: RunIndex, b: RunIndex, stream_a: str, stream_b: str, limit: int) -> tuple[list[dict], int]:
    """Records of ``a``'s stream whose id is not in ``b``'s stream (first ``limit``) and how many."""
    db = sqlite3.connect(f"file:{a.path}?mode=ro", uri=True)
    try:
        db.execute("ATTACH DATABASE ? AS other", (f"file:{b.path}?mode=ro",))
        cond = ("FROM main.records r WHERE r.stream=? AND NOT EXISTS (SELECT 1 FROM other.records o "
                "WHERE o.stream=? AND o.id=r.id)")
        n = db.execute(f"SELECT COUNT(*) {cond}", (stream_a, stream_b)).fetchone()[0]
        rows = db.execute(f"SELECT r.rid, r.id, r.title {cond} ORDER BY r.rid LIMIT ?",
                          (stream_a, stream_b, limit)).fetchall()
    finally:
        db.close()
    return [{"rid": r[0], "id": r[1], "title": r[2]} for r in rows], n


def compare(a: RunIndex, b: RunIndex, limit: int = 50) -> dict[str, Any]:
    ca, cb = flatten(a.run.manifest.get("counts") or {}), flatten(b.run.manifest.get("counts") or {})
    counts = [{"key": k, "a": ca.get(k), "b": cb.get(k), "same": ca.get(k) == cb.get(k)}
              for k in list(ca) + [k for k in cb if k not in ca]]
    out: dict[str, Any] = {"a": a.run, "b": b.run, "counts": counts}
    sa, sb = a.run.examples_stream, b.run.examples_stream
    if sa and sb:
        out["records_a"], out["n_records_a"] = _only_in(a, b, sa, sb, limit)
        out["records_b"], out["n_records_b"] = _only_in(b, a, sb, sa, limit)
        out["streams"] = (sa, sb)
    if "tasks" in a.run.streams and "tasks" in b.run.streams:
        out["tasks_removed"], out["n_tasks_removed"] = _only_in(a, b, "tasks", "tasks", limit)
        out["tasks_added"], out["n_tasks_added"] = _only_in(b, a, "tasks", "tasks", limit)
    return out
