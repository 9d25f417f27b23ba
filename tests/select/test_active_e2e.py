"""Active-IT end to end on the real embedded model: score 8 tasks, select, re-select, resume, task map."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "active"
SMALL = ["--instances", "2", "--perturbations", "2", "--max-tokens", "16"]


def rows(path):
    return [json.loads(line) for line in open(path) if line.strip()]


@pytest.mark.slow
def test_score_select_reselect_resume_and_map(tmp_path, cli):
    files = sorted(EXAMPLES.glob("*.json"))[:8]
    src = tmp_path / "tasks"
    src.mkdir()
    for f in files:
        shutil.copy(f, src / f.name)
    out = tmp_path / "round1"
    r = cli("select", "active", src, "--k", "4", "--cls-ratio", "0.5", "--out", out, "--model", "local", *SMALL)
    assert r.returncode == 0, r.stderr
    scores = rows(out / "scores.jsonl")
    assert len(scores) == 8 and {s["task_id"] for s in scores} == {f.stem for f in files}
    for s in scores:
        assert s["n"] == 2 and all(math.isfinite(s[k]) for k in ("pu", "pp", "perplexity"))
        assert 0 <= s["pu"] <= 1 and 0 < s["pp"] <= 1 and s["perplexity"] >= 1
        # PU and PP are what the formula gives on the stored p_{i,k}
        assert s["pu"] == pytest.approx(sum(abs(p[0] - q) for p in s["p"] for q in p[1:]) / 4, abs=1e-5)
        assert s["pp"] == pytest.approx(sum(p[0] for p in s["p"]) / 2, abs=1e-5)
    sel = rows(out / "selected.jsonl")
    assert len(sel) == 4 and sum(s["kind"] == "classification" for s in sel) == 2
    by_kind = {}
    for s in scores:
        by_kind.setdefault(s["kind"], []).append(s["pu"])
    for kind in ("classification", "generation"):  # the top-2 PU of each kind were taken
        assert sorted((s["pu"] for s in sel if s["kind"] == kind), reverse=True) == \
            pytest.approx(sorted(by_kind[kind], reverse=True)[:2])
    ex = rows(out / "selected_examples.jsonl")
    assert len(ex) == 4 * 8 and {e["meta"]["task_id"] for e in ex} == {s["task_id"] for s in sel}
    man = json.loads((out / "manifest.json").read_text())
    assert man["status"] == "complete" and man["counts"]["scored_now"] == 8 and man["usage"]["calls"] > 0

    # another strategy on the same OUT: no re-scoring, no model call
    r = cli("select", "active", src, "--k", "3", "--strategy", "high-perplexity", "--out", out, *SMALL)
    assert r.returncode == 0, r.stderr
    man = json.loads((out / "manifest.json").read_text())
    assert man["counts"]["scored_now"] == 0 and len(rows(out / "scores.jsonl")) == 8
    top = sorted(scores, key=lambda s: -s["perplexity"])[:3]
    assert [s["task_id"] for s in rows(out / "selected.jsonl")] == [s["task_id"] for s in top]

    # a run killed mid-way (3 rows kept + a torn line) resumes to the same scores
    out2 = tmp_path / "killed"
    out2.mkdir()
    shutil.copy(out / "cache.sqlite", out2 / "cache.sqlite")
    lines = (out / "scores.jsonl").read_text().splitlines(keepends=True)
    (out2 / "scores.jsonl").write_text("".join(lines[:3]) + lines[3][:40])
    r = cli("select", "active", src, "--k", "4", "--cls-ratio", "0.5", "--out", out2, *SMALL)
    assert r.returncode == 0, r.stderr
    again = {s["task_id"]: s for s in rows(out2 / "scores.jsonl")}
    assert len(again) == 8 and all(again[s["task_id"]]["p"] == s["p"] for s in scores)
    assert [s["task_id"] for s in rows(out2 / "selected.jsonl")] == [s["task_id"] for s in sel]

    # the map of those scores
    r = cli("taskmap", out / "scores.jsonl", "--out", tmp_path / "map.png")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "map.png").read_bytes()[:4] == b"\x89PNG"
    regions = json.loads((tmp_path / "map.json").read_text())["regions"]
    assert sum(len(v) for v in regions.values()) == 8 and len(regions["ambiguous"]) == 4

    # selection from a scores file alone, excluding round 1's picks
    r = cli("select", "active", src, "--k", "2", "--scores", out / "scores.jsonl", "--exclude",
            out / "selected.jsonl", "--out", tmp_path / "round2")
    assert r.returncode == 0, r.stderr
    r2 = rows(tmp_path / "round2" / "selected.jsonl")
    assert len(r2) == 2 and not {s["task_id"] for s in r2} & {s["task_id"] for s in rows(out / "selected.jsonl")}
