"""The viewer's index and run-dir checks on hand-written run directories (no model, no browser)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from instructkit.errors import UserError
from instructkit.view import plots
from instructkit.view.index import cache_file, fts_query
from instructkit.view.load import open_run_index
from instructkit.view.rundir import load_run


@pytest.fixture(autouse=True)
def view_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTRUCTKIT_CACHE", str(tmp_path / "cache"))


def make_run(root: Path, n: int = 120, command: str = "dynosaur") -> Path:
    run = root / "run"
    run.mkdir()
    (run / "manifest.json").write_text(json.dumps({"command": command, "status": "complete",
                                                   "counts": {"instances": n}}))
    with open(run / "instances.jsonl", "w") as f:
        for i in range(n):
            ds = ["news", "squad", "pairs"][i % 3]
            kind = "classification" if i % 2 else "generation"
            f.write(json.dumps({"id": f"ex{i}", "instruction": f"Task {i % 7} about {'zebra' if i % 10 == 0 else 'cat'}",
                                "input": f"row {i}", "output": ["yes", "no"][i % 2],
                                "meta": {"dataset": ds, "task_id": f"t{i % 7}", "kind": kind, "row": i}}) + "\n")
    with open(run / "rejected.jsonl", "w") as f:
        for i in range(9):
            f.write(json.dumps({"id": f"r{i}", "item_id": f"p{i}", "reason": ["too_short", "bad_label"][i % 2 == 0],
                                "stage": "task"}) + "\n")
    return run


def test_filters_search_and_paging_match_the_file(tmp_path):
    run = make_run(tmp_path)
    idx = open_run_index(run)
    rows = [json.loads(x) for x in (run / "instances.jsonl").read_text().splitlines()]
    rows_page1, total = idx.search("instances", {"dataset": "squad", "kind": "classification"}, "", 1, 10)
    want = [r["id"] for r in rows if r["meta"]["dataset"] == "squad" and r["meta"]["kind"] == "classification"]
    assert total == len(want) and [r["id"] for r in rows_page1] == want[:10]
    page2, _ = idx.search("instances", {"dataset": "squad", "kind": "classification"}, "", 2, 10)
    assert [r["id"] for r in page2] == want[10:20]
    last, n_all = idx.search("instances", {}, "", 3, 50)  # no filter: a page is a rid range; 120 -> 20 on page 3
    assert n_all == 120 and [r["id"] for r in last] == [r["id"] for r in rows[100:]]
    assert idx.search("instances", {}, "", 4, 50) == ([], 120)
    hits, n = idx.search("instances", {}, "zebra", 1, 50)
    assert n == sum("zebra" in r["instruction"] for r in rows) == len(hits) > 0
    both, nb = idx.search("instances", {"kind": "generation", "dataset": "news"}, "zebra", 1, 50)
    want_both = [r["id"] for r in rows if "zebra" in r["instruction"] and r["meta"]["kind"] == "generation"
                 and r["meta"]["dataset"] == "news"]
    assert nb == len(want_both) > 0 and [r["id"] for r in both] == want_both
    assert idx.search("instances", {"kind": "nope"}, "zebra") == ([], 0)
    # a record comes back from its byte offset exactly as written
    row, rec = idx.record(hits[0]["rid"])
    assert rec == next(r for r in rows if r["id"] == row["id"])
    facets = idx.facets("rejected")
    assert dict(facets["reason"]) == {"bad_label": 5, "too_short": 4}
    assert dict(idx.facets("instances")["task"])["t0"] == sum(r["meta"]["task_id"] == "t0" for r in rows)


def test_index_lives_outside_the_run_and_is_rebuilt_when_a_file_changes(tmp_path):
    run = make_run(tmp_path, n=10)
    before = sorted(os.listdir(run))
    idx = open_run_index(run)
    assert run.resolve() not in cache_file(run).parents and cache_file(run).exists()
    assert sorted(os.listdir(run)) == before  # nothing written into the run directory
    with open(run / "instances.jsonl", "a") as f:
        f.write(json.dumps({"id": "late", "instruction": "a late arrival", "meta": {}}) + "\n")
    assert idx.refresh() is True
    assert idx.search("instances", {}, "arrival")[1] == 1
    assert idx.refresh() is False
    (run / "tasks.jsonl").write_text(json.dumps({"id": "t9", "instruction": "a task written later"}) + "\n")
    assert idx.refresh() is True and idx.search("tasks", {}, "later")[1] == 1  # a new file is picked up
    idx.close()
    again = open_run_index(run)  # a second viewer reuses the built index
    assert again.search("instances", {}, "")[1] == 11


def test_not_a_run_corrupt_manifest_and_torn_line_are_one_line_user_errors(tmp_path):
    with pytest.raises(UserError, match="no such directory"):
        load_run(tmp_path / "nope")
    (tmp_path / "plain").mkdir()
    with pytest.raises(UserError, match="not a run directory"):
        load_run(tmp_path / "plain")
    run = make_run(tmp_path, n=5)
    with open(run / "instances.jsonl", "a") as f:
        f.write('{"id": "torn", "instr')
    with pytest.raises(UserError, match=r"instances.jsonl: line 6: torn last line"):
        open_run_index(run)
    lenient = open_run_index(run, strict=False)
    assert lenient.search("instances", {}, "")[1] == 5 and "torn" in lenient.errors()[0]
    (run / "manifest.json").write_text('{"command": "dyn')
    with pytest.raises(UserError, match="corrupt manifest"):
        load_run(run)


def test_safe_file_refuses_everything_outside_the_run(tmp_path):
    run = make_run(tmp_path, n=1)
    (tmp_path / "secret.txt").write_text("s")
    (run / "plot.png").write_bytes(b"\x89PNG")
    (run / "link.png").symlink_to(tmp_path / "secret.txt")
    info = load_run(run)
    assert info.safe_file("plot.png") == (run / "plot.png").resolve()
    for bad in ("../secret.txt", "/etc/passwd", "link.png", ".lock", "a/../../secret.txt", "", "x\x00y"):
        assert info.safe_file(bad) is None, bad
    assert info.images == ["link.png", "plot.png"]  # listed, but the link is still never served


def test_fts_query_quotes_user_words(tmp_path):
    assert fts_query('cat "dog" NEAR(') == '"cat" """dog""" "NEAR("'
    idx = open_run_index(make_run(tmp_path, n=5))
    for q in ('"', "AND", "a*", "NEAR(x y)", "-", "col:val"):
        idx.search("instances", {}, q)  # FTS syntax in a query is taken as words, never an SQL error


def test_map_projection_and_svg_escape_titles():
    X = plots.hashed_tfidf(["red apples", "green apples", "fast cars", "slow cars"])
    assert X.shape == (4, 512) and abs(float((X[0] ** 2).sum()) - 1) < 1e-5
    xy = plots.pca_2d(X)
    assert xy.shape == (4, 2)
    # the two apple texts sit closer to each other than to the car texts
    d = lambda a, b: float(((xy[a] - xy[b]) ** 2).sum())  # noqa: E731
    assert d(0, 1) < d(0, 2) and d(2, 3) < d(1, 3)
    svg = plots.scatter_svg(xy, [0, 1, 0, 1], ["<script>x</script>", "a&b", "c", "d"], ["sel", "<b>"])
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&lt;b&gt;" in svg


def test_qdit_map_projects_the_cached_embeddings_and_falls_back_to_text(tmp_path):
    import numpy as np

    from instructkit.embed import EmbeddingCache, resolve_embedder
    from instructkit.view.methods import qdit_map

    texts = {"a": "alpha one", "b": "beta two", "c": "gamma three", "d": "delta four"}
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps({"id": k, "instruction": t, "output": "x"}) + "\n" for k, t in texts.items()))
    run = tmp_path / "qdit"
    run.mkdir()
    config = {"input": str(pool), "embedder": "minilm", "text": "instruction"}
    (run / "manifest.json").write_text(json.dumps({"command": "select qdit", "status": "complete", "config": config}))
    (run / "selected.jsonl").write_text("".join(json.dumps({"id": k, "instruction": texts[k], "output": "x",
                                                            "meta": {"qdit": {"rank": i}}}) + "\n"
                                                for i, k in enumerate("ac")))
    # a and b point one way, c and d the other: the words alone say nothing of that
    vecs = {"a": [1, 0, 0], "b": [0.95, 0.05, 0], "c": [0, 0, 1], "d": [0.05, 0, 0.95]}
    identity = resolve_embedder("minilm")[0]
    cache = EmbeddingCache(tmp_path / "cache" / "embeddings.sqlite")
    cache.put_many([(EmbeddingCache.key(identity, texts[k]), np.array(v, dtype=np.float32)) for k, v in vecs.items()])
    cache.close()
    svg, note = qdit_map(open_run_index(run))
    assert "embeddings QDIT selected on" in note and "2 selected and 2 unselected" in note
    import re

    x = {title: float(cx) for cx, title in re.findall(r'<circle cx="([\d.]+)"[^>]*><title>([^<]+)</title>', svg)}
    assert abs(x["alpha one"] - x["beta two"]) < 60 and abs(x["gamma three"] - x["delta four"]) < 60
    assert abs(x["alpha one"] - x["gamma three"]) > 400  # the two groups at the two ends of the first axis
    config["embedder"] = "st:another-model"  # vectors of another embedder are not these: back to the text map
    (run / "manifest.json").write_text(json.dumps({"command": "select qdit", "status": "complete", "config": config}))
    _, note = qdit_map(open_run_index(run))
    assert "hashed TF-IDF" in note and "4 of 4 vectors are not in the embedding cache" in note
