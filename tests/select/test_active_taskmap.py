"""Task map regions and files from a hand-made scores file."""

from __future__ import annotations

import csv
import json

import pytest

from instructkit.errors import UserError
from instructkit.select.active.taskmap import assign_regions, write_taskmap


def scores_file(path, rows):
    path.write_text("".join(json.dumps({"id": r[0], "task_id": r[0], "kind": "generation", "pu": r[1], "pp": r[2],
                                        "perplexity": 2.0, "n": 3}) + "\n" for r in rows))
    return path


def test_regions_by_median():
    rows = [{"task_id": t, "pu": pu, "pp": pp} for t, pu, pp in
            [("a", 0.30, 0.5), ("b", 0.25, 0.1), ("c", 0.05, 0.9), ("d", 0.02, 0.6), ("e", 0.01, 0.2)]]
    th, reg = assign_regions(rows)
    assert th.pu == 0.05 and th.pp == 0.5 and th.pu_rule == "median"
    assert reg == {"ambiguous": ["a", "b"], "easy": ["c", "d"], "difficult": ["e"]}


def test_regions_with_given_thresholds():
    rows = [{"task_id": "a", "pu": 0.3, "pp": 0.5}, {"task_id": "b", "pu": 0.1, "pp": 0.4}]
    th, reg = assign_regions(rows, pu_threshold=0.5, pp_threshold=0.45)
    assert th.pu_rule == "given" and reg == {"ambiguous": [], "easy": ["a"], "difficult": ["b"]}
    with pytest.raises(UserError):
        assign_regions([])


def test_write_taskmap_files(tmp_path):
    p = scores_file(tmp_path / "scores.jsonl", [("a", 0.3, 0.5), ("b", 0.01, 0.9), ("c", 0.02, 0.1)])
    with open(p, "a") as f:  # an unscorable task is left off the map
        f.write(json.dumps({"id": "z", "task_id": "z", "pu": None, "pp": None, "perplexity": None, "n": 0}) + "\n")
    s = write_taskmap(tmp_path, tmp_path / "out" / "map.png")
    png = tmp_path / "out" / "map.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    table = list(csv.DictReader(open(tmp_path / "out" / "map.csv")))
    assert {r["task_id"]: r["region"] for r in table} == {"a": "ambiguous", "b": "easy", "c": "difficult"}
    assert json.loads((tmp_path / "out" / "map.json").read_text())["counts"] == s["counts"]
    with pytest.raises(UserError, match=".png"):
        write_taskmap(p, tmp_path / "map.jpg")


def test_taskmap_cli(tmp_path, cli):
    p = scores_file(tmp_path / "scores.jsonl", [("a", 0.3, 0.5), ("b", 0.01, 0.9), ("c", 0.02, 0.1)])
    r = cli("taskmap", p, "--out", tmp_path / "m.png", "--pp-threshold", "0.05")
    assert r.returncode == 0, r.stderr
    assert "ambiguous" in r.stdout and "easy" in r.stdout and (tmp_path / "m.png").exists()
    assert json.loads((tmp_path / "m.json").read_text())["counts"] == {"ambiguous": 1, "easy": 2, "difficult": 0}
