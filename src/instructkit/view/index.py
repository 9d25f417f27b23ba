"""The JSONL outputs of a run directory indexed into SQLite (+ FTS5), built once and reused.

Where: ``$INSTRUCTKIT_CACHE/view/<hash of the run dir's real path>.sqlite`` (default
``~/.cache/instructkit/view/``), OUTSIDE the run directory: viewing never writes into a run
(it may be read-only, or held by a running command). The index is rebuilt (into a temporary
file, then renamed over the old one) when any indexed file's size or mtime changes.

Records keep their byte offset in their JSONL file; a page reads only the lines it shows, so a
1M-record run never sits in memory. Lines that are not JSON (a torn last line after a crash)
are skipped and reported per file in ``errors``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from instructkit.view import extract
from instructkit.errors import UserError
from instructkit.view.rundir import RunInfo, load_run

INDEX_VERSION = 8
FILTERS = ("dataset", "task", "kind", "label", "tax", "selected", "reason")
_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE streams(name TEXT PRIMARY KEY, path TEXT, n INTEGER, error TEXT, lo INTEGER, hi INTEGER);
CREATE TABLE records(rid INTEGER PRIMARY KEY, stream TEXT, line INTEGER, off INTEGER, len INTEGER,
  raw TEXT, id TEXT, title TEXT, dataset TEXT, task TEXT, kind TEXT, label TEXT, tax TEXT,
  selected INTEGER, reason TEXT);
CREATE TABLE facets(stream TEXT, col TEXT, value TEXT, n INTEGER);
CREATE VIRTUAL TABLE fts USING fts5(body, content='', tokenize='unicode61');
"""
_INDEXES = [f"CREATE INDEX r_{c} ON records(stream, {c})" for c in ("id", *FILTERS)] + [
    "CREATE INDEX r_any_id ON records(id)"]  # a record's links name ids of any stream


def cache_file(run_path: Path) -> Path:
    root = Path(os.environ.get("INSTRUCTKIT_CACHE", Path.home() / ".cache" / "instructkit"))
    key = hashlib.sha256(str(run_path.resolve()).encode()).hexdigest()[:20]
    return root / "view" / f"{key}.sqlite"


def filter_token(col: str, value: Any) -> str:
    """The word a record's filter value adds to its full-text body ("zq" + 16 hex digits, one token):
    a search with filters is then one FTS5 query, so its cost follows the matches, not the stream."""
    return "zq" + hashlib.blake2b(f"{col}\x00{value}".encode(), digest_size=8).hexdigest()


def _body(rec: dict[str, Any], cols: dict[str, Any]) -> str:
    tags = " ".join(filter_token(c, cols[c]) for c in FILTERS if cols.get(c) is not None)
    return f"{extract.body_text(rec)} {tags}"


def _fingerprint(run: RunInfo, pool: Path | None) -> str:
    files = [(name, str(p), p.stat().st_size, p.stat().st_mtime_ns) for name, p in sorted(run.streams.items())]
    if pool is not None and pool.exists():
        files.append(("pool", str(pool), pool.stat().st_size, pool.stat().st_mtime_ns))
    return json.dumps([INDEX_VERSION, files])


@dataclass
class Line:
    no: int
    off: int
    length: int
    record: dict[str, Any] | None
    error: str | None = None


def iter_lines(path: Path) -> Iterator[Line]:
    """Each non-blank line of a JSONL file with its offset; bad lines come with an error, not a raise."""
    with open(path, "rb") as f:
        off = 0
        for no, raw in enumerate(f, 1):
            length = len(raw)
            if raw.strip():
                err, rec = None, None
                try:
                    rec = json.loads(raw)
                    if not isinstance(rec, dict):
                        err, rec = f"line {no}: a JSON {type(rec).__name__}, not an object", None
                except (json.JSONDecodeError, UnicodeDecodeError) as e:
                    torn = not raw.endswith(b"\n")
                    err = (f"line {no}: torn last line ({length} bytes, no newline): the run was cut off "
                           f"mid-write; re-run its command to resume" if torn else f"line {no}: not JSON ({e})")
                yield Line(no, off, length, rec, err)
            off += length


class RunIndex:
    """The SQLite index of one run directory (read-only once built)."""

    def __init__(self, run: RunInfo, pool: Path | None = None, pool_selected: set[str] | None = None):
        self.run = run
        self.path = cache_file(run.path)
        self.pool = pool
        self.pool_selected = pool_selected or set()
        self.fingerprint = ""
        self.db: sqlite3.Connection | None = None
        self.refresh()

    # -- building -------------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Rebuild when the run's files changed since the index was built; True when it did.

        The run directory is listed again first: a running command adds files and updates its manifest.
        """
        try:
            self.run = load_run(self.run.path)
        except UserError:
            pass  # a manifest caught mid-replace or a folder gone: keep what was read before
        fp = _fingerprint(self.run, self.pool)
        if fp == self.fingerprint and self.db is not None:
            return False
        if self.db is None and self.path.exists():
            db = sqlite3.connect(self.path, check_same_thread=False)
            db.row_factory = sqlite3.Row
            try:
                row = db.execute("SELECT value FROM meta WHERE key='fingerprint'").fetchone()
            except sqlite3.DatabaseError:
                row = None
            if row and row[0] == fp:
                self.db, self.fingerprint = db, fp
                return False
            db.close()
        self._build(fp)
        return True

    def _build(self, fp: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        tmp.unlink(missing_ok=True)
        db = sqlite3.connect(tmp)
        db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + _SCHEMA)
        for name, p in self.run.streams.items():
            self._index_file(db, name, p)
        if self.pool is not None:
            self._index_pool(db)
        for stmt in _INDEXES:
            db.execute(stmt)
        for c in FILTERS:
            db.execute(f"INSERT INTO facets SELECT stream, '{c}', {c}, COUNT(*) FROM records "
                       f"WHERE {c} IS NOT NULL GROUP BY stream, {c}")
        db.execute("ANALYZE")  # row counts per index: without them SQLite may sort a whole stream for one page
        db.execute("INSERT INTO meta VALUES('fingerprint', ?)", (fp,))
        db.commit()
        db.close()
        if self.db is not None:
            self.db.close()
        os.replace(tmp, self.path)
        self.db = sqlite3.connect(self.path, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.fingerprint = fp

    def _insert(self, db: sqlite3.Connection, batch: list[tuple], bodies: list[tuple]) -> None:
        db.executemany("INSERT INTO records VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", batch)
        db.executemany("INSERT INTO fts(rowid, body) VALUES(?,?)", bodies)
        batch.clear()
        bodies.clear()

    def _next_rid(self, db: sqlite3.Connection) -> int:
        return (db.execute("SELECT MAX(rid) FROM records").fetchone()[0] or 0) + 1

    def _index_file(self, db: sqlite3.Connection, name: str, path: Path) -> None:
        rid = first = self._next_rid(db)
        batch: list[tuple] = []
        bodies: list[tuple] = []
        errors: list[str] = []
        n = 0
        for ln in iter_lines(path):
            if ln.record is None:
                errors.append(f"{path.name}: {ln.error}")
                continue
            rec = ln.record
            c = extract.columns(rec)
            batch.append((rid, name, ln.no, ln.off, ln.length, None, extract.record_id(rec, ln.no),
                          extract.title(rec), c["dataset"], c["task"], c["kind"], c["label"], c["tax"],
                          c["selected"], c["reason"]))
            bodies.append((rid, _body(rec, c)))
            rid += 1
            n += 1
            if len(batch) >= 5000:
                self._insert(db, batch, bodies)
        self._insert(db, batch, bodies)
        db.execute("INSERT INTO streams VALUES(?,?,?,?,?,?)",
                   (name, str(path), n, "; ".join(errors[:5]) or None, first, rid - 1))

    def _index_pool(self, db: sqlite3.Connection) -> None:
        """QDIT's input pool (named in its manifest), each record marked selected or not."""
        from instructkit.io import load_examples

        rid = first = self._next_rid(db)
        batch: list[tuple] = []
        bodies: list[tuple] = []
        try:
            examples = load_examples(str(self.pool))
        except Exception as e:  # shown as an error panel: the pool may have moved since the run
            db.execute("INSERT INTO streams VALUES('pool', ?, 0, ?, 0, -1)", (str(self.pool), f"input pool: {e}"))
            return
        for i, ex in enumerate(examples, 1):
            rec = ex.to_dict()
            c = extract.columns(rec)
            batch.append((rid, "pool", i, None, None, json.dumps(rec, ensure_ascii=False), rec["id"],
                          extract.title(rec), c["dataset"], c["task"], c["kind"], c["label"], c["tax"],
                          int(rec["id"] in self.pool_selected), c["reason"]))
            c["selected"] = int(rec["id"] in self.pool_selected)
            bodies.append((rid, _body(rec, c)))
            rid += 1
            if len(batch) >= 5000:
                self._insert(db, batch, bodies)
        self._insert(db, batch, bodies)
        db.execute("INSERT INTO streams VALUES('pool', ?, ?, NULL, ?, ?)", (str(self.pool), len(examples), first, rid - 1))

    # -- reading --------------------------------------------------------------------------------
    def q(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        assert self.db is not None
        return self.db.execute(sql, args).fetchall()

    def streams(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.q("SELECT name, path, n, error FROM streams ORDER BY name")]

    def errors(self) -> list[str]:
        return [r["error"] for r in self.q("SELECT error FROM streams WHERE error IS NOT NULL ORDER BY name")]

    def facets(self, stream: str, limit: int = 200) -> dict[str, list[tuple[str, int]]]:
        out: dict[str, list[tuple[str, int]]] = {c: [] for c in FILTERS}
        for r in self.q("SELECT col, value, n FROM facets WHERE stream=? ORDER BY col, n DESC, value", (stream,)):
            if len(out[r["col"]]) < limit:
                out[r["col"]].append((str(r["value"]), r["n"]))
        return out

    def search(self, stream: str, filters: dict[str, str], text: str = "", page: int = 1,
               size: int = 50, count_cap: int = 100_000) -> tuple[list[dict[str, Any]], int]:
        """One page of a stream's records matching the filters and the words of ``text``; and
        the number of matches (counted up to ``count_cap``)."""
        where: list[str] = []
        args: list[Any] = []
        for col, val in filters.items():
            if col in FILTERS and val not in (None, ""):
                if col == "selected" and val not in ("0", "1"):
                    continue  # a hand-edited URL: ignore what is not a choice
                where.append(f"r.{col} = ?")
                args.append(int(val) if col == "selected" else val)
        offset = (max(page, 1) - 1) * size
        match = fts_query(text)
        span = self.q("SELECT lo, hi FROM streams WHERE name=?", (stream,))
        lo, hi = (span[0]["lo"], span[0]["hi"]) if span else (0, -1)
        if not match and not where:  # a stream is one run of rids: any page is a range, at any depth
            rows = self.q("SELECT * FROM records WHERE rid BETWEEN ? AND ? ORDER BY rid",
                          (lo + offset, min(hi, lo + offset + size - 1)))
            return [dict(r) for r in rows], max(0, hi - lo + 1)
        if not match:
            cond = " AND ".join(["r.stream = ?", *where])
            total = self.q(f"SELECT COUNT(*) FROM (SELECT 1 FROM records r WHERE {cond} LIMIT {count_cap})",
                           (stream, *args))[0][0]
            rows = self.q(f"SELECT r.* FROM records r WHERE {cond} ORDER BY r.rid LIMIT ? OFFSET ?",
                          (stream, *args, size, offset))
            return [dict(r) for r in rows], total
        # a stream's records hold one rid range: FTS5 takes a rowid range directly, so the word
        # lookup runs first and SQLite never probes the full-text index once per record
        # filters join the words as their tokens: one FTS5 query over the stream's rid range
        tags = [filter_token(col, filters[col]) for col in FILTERS if filters.get(col) not in (None, "")
                and (col != "selected" or filters[col] in ("0", "1"))]
        match = " ".join([match, *(f'"{t}"' for t in tags)])
        hits = "SELECT rowid FROM fts WHERE fts MATCH ? AND rowid BETWEEN ? AND ?"
        total = self.q(f"SELECT COUNT(*) FROM ({hits} LIMIT {count_cap})", (match, lo, hi))[0][0]
        rids = self.q(f"{hits} ORDER BY rowid LIMIT ? OFFSET ?", (match, lo, hi, size, offset))
        rows = self.q(f"SELECT * FROM records WHERE rid IN ({','.join('?' * len(rids))}) ORDER BY rid",
                      tuple(r[0] for r in rids))
        return [dict(r) for r in rows], total

    def record(self, rid: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(index row, the record itself read from its line), or None."""
        rows = self.q("SELECT * FROM records WHERE rid=?", (rid,))
        if not rows:
            return None
        row = dict(rows[0])
        return row, self.load(row)

    def load(self, row: dict[str, Any]) -> dict[str, Any]:
        if row["raw"] is not None:
            return json.loads(row["raw"])
        with open(self.run.streams[row["stream"]], "rb") as f:
            f.seek(row["off"])
            return json.loads(f.read(row["len"]))

    def find(self, stream: str, rec_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        rows = self.q("SELECT * FROM records WHERE stream=? AND id=? LIMIT 1", (stream, rec_id))
        return (dict(rows[0]), self.load(dict(rows[0]))) if rows else None

    def iter_stream(self, stream: str, limit: int | None = None, where: str = "", args: tuple = ()
                    ) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        sql = f"SELECT * FROM records WHERE stream=? {where} ORDER BY rid" + (f" LIMIT {int(limit)}" if limit else "")
        for r in self.q(sql, (stream, *args)):
            yield dict(r), self.load(dict(r))

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


def fts_query(text: str) -> str:
    """User words -> an FTS5 query: every word must appear (quoted, so no FTS syntax leaks through)."""
    words = [w for w in text.split() if w.strip('"')]
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)
