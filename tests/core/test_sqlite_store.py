"""The shared SQLite set-up of the on-disk caches (responses, embeddings, scores)."""

from __future__ import annotations

from instructkit.sqlite_store import open_sqlite, select_in


def test_open_creates_folder_table_and_wal(tmp_path):
    path = tmp_path / "a" / "b" / "store.sqlite"
    db = open_sqlite(path, "CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT)", synchronous="NORMAL")
    assert path.is_file()
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    db.execute("INSERT INTO t VALUES (1, 'x')")
    db.commit()
    db.close()
    again = open_sqlite(path, "CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT)")  # table kept
    assert again.execute("SELECT v FROM t").fetchall() == [("x",)]


def test_select_in_asks_past_the_variable_limit(tmp_path):
    db = open_sqlite(tmp_path / "s.sqlite", "CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT)")
    db.executemany("INSERT INTO t VALUES (?, ?)", [(i, str(i)) for i in range(0, 2600, 2)])
    rows = dict(select_in(db, "SELECT k, v FROM t WHERE k IN ({})", list(range(2600))))
    assert rows == {i: str(i) for i in range(0, 2600, 2)}
    assert list(select_in(db, "SELECT k FROM t WHERE k IN ({})", [])) == []
