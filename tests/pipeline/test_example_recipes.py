"""The shipped example recipes run on the embedded model, and re-run with 0 model calls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

pytestmark = pytest.mark.slow
RECIPES = Path(__file__).resolve().parents[2] / "examples" / "recipes"
ENV = {"INSTRUCTKIT_THREADS": "1"}


@pytest.mark.parametrize("name,fmt_key", [("glan-to-sharegpt.yaml", "conversations"),
                                          ("dynosaur-to-messages.yaml", "messages")])
def test_example_recipe_runs_and_reruns_free(name, fmt_key, tmp_path):
    out = tmp_path / "out"
    r = run_cli("run", RECIPES / name, "--out", out, env=ENV, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "complete" and m["usage"]["calls"] > 0
    rows = [json.loads(ln) for ln in (out / m["outputs"]["examples"]).read_text().splitlines()]
    assert rows and all(fmt_key in row for row in rows)
    r = run_cli("run", RECIPES / name, "--out", out, env=ENV)
    assert r.returncode == 0, r.stderr[-2000:]
    again = json.loads((out / "manifest.json").read_text())
    assert again["this_run"]["usage"]["calls"] == 0 and again["this_run"]["usage"]["cache_hits"] == 0


def test_glan_target_grows_until_enough_or_the_cap(tmp_path):
    out = tmp_path / "g"
    r = run_cli("glan", "--out", out, "--disciplines", "Chemistry", "--subject-samples", "1", "--max-subjects", "1",
                "--max-sessions", "5", "--questions-per-syllabus", "1", "--max-tokens", "96",
                "--target", "2", "--max-calls", "9", env=ENV, timeout=900)
    m = json.loads((out / "manifest.json").read_text())
    # the cap may refuse calls of a half-done round: then the run says stopped (budget) and exits 3
    assert m["status"] in ("complete", "stopped"), r.stderr[-2000:]
    assert r.returncode == (3 if m["status"] == "stopped" else 0), r.stderr[-2000:]
    assert m["status"] == "complete" or (m["stopped"] == "budget" and m["target"]["stopped"] == "max_calls")
    t = m["target"]
    assert t["calls"] <= 9 and t["calls"] == m["usage"]["calls"]
    assert t["reached"] == (t["accepted"] >= 2) and t["stopped"] in (None, "max_calls", "8 rounds")
    assert t["written"] == min(2, t["accepted"]) == len((out / "target.jsonl").read_text().splitlines())
    assert m["runs"] >= 2 or t["reached"]  # a round that fell short asked for more nodes
    assert m["outputs"]["examples"] == "target.jsonl"
