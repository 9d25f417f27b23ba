"""--target N on generators: keep going until N records passed every filter, at most --max-calls calls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

pytestmark = pytest.mark.slow
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ENV = {"INSTRUCTKIT_THREADS": "1"}
SOURCES = [EXAMPLES / d for d in ("news_topics", "squad_mini", "review_summaries")]
ARGS = ["--modes", "aware", "--max-tasks", "1", "--rows", "4", "--concurrency", "1",
        "--no-verify"]  # these tests count task-design calls: one per dataset


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def test_dynosaur_target_stops_once_enough_instances_passed(tmp_path):
    out = tmp_path / "d"
    r = run_cli("dynosaur", *SOURCES, "--out", out, *ARGS, "--target", "3", env=ENV)
    assert r.returncode == 0, r.stderr[-2000:]
    m = manifest(out)
    t = m["target"]
    assert t["reached"] and t["accepted"] >= 3 and t["written"] == 3
    assert len((out / "target.jsonl").read_text().splitlines()) == 3
    assert m["outputs"]["examples"] == "target.jsonl"
    datasets = [json.loads(ln) for ln in (out / "datasets.jsonl").read_text().splitlines()]
    # it stopped at the first dataset that took it past the target: the ones before fell short
    assert len(datasets) < 3 and sum(d.get("instances", 0) for d in datasets[:-1]) < 3
    assert t["calls"] == len(datasets) and t["rejected"] == len((out / "rejected.jsonl").read_text().splitlines())
    assert "instances accepted" in r.stdout


def test_max_calls_is_a_hard_cap_over_all_runs(tmp_path):
    out = tmp_path / "d"
    r = run_cli("dynosaur", *SOURCES, "--out", out, *ARGS, "--target", "1000", "--max-calls", "1", env=ENV)
    # the cap refused the next dataset's call: the run stopped at its budget (exit 3), resumable
    assert r.returncode == 3 and "raise --max-calls" in r.stderr, r.stderr[-2000:]
    assert manifest(out)["status"] == "stopped" and manifest(out)["stopped"] == "budget"
    t = manifest(out)["target"]
    assert t["calls"] == 1 and not t["reached"] and t["stopped"] == "max_calls"
    assert len((out / "datasets.jsonl").read_text().splitlines()) == 1
    r = run_cli("dynosaur", *SOURCES, "--out", out, *ARGS, "--target", "1000", "--max-calls", "1", env=ENV)
    t = manifest(out)["target"]
    assert t["calls"] == 1 and t["calls_this_run"] == 0  # the cap counts the earlier run's call
    r = run_cli("dynosaur", *SOURCES, "--out", out, *ARGS, "--target", "1000", "--max-calls", "2", env=ENV)
    t = manifest(out)["target"]
    assert t["calls"] == 2 and t["calls_this_run"] == 1
    assert len((out / "datasets.jsonl").read_text().splitlines()) == 2
