"""Dynosaur's semantic verification end to end on the embedded model, through the CLI.

One small run (one example dataset, 8 rows, one mode) with verification on: every kept task carries
its ``validity`` (score, parts, rows), every drop is in rejected.jsonl as ``fails_verification``, the
summary reports kept/dropped, and a re-run from the same cache costs no model call.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import run_cli

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ARGS = ("--rows", "8", "--modes", "aware", "--concurrency", "1", "--verify-rows", "2")


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_verification_records_validity_drops_with_reason_and_reruns_free(tmp_path):
    out = tmp_path / "run"
    r = run_cli("dynosaur", ROOT / "examples" / "news_topics", "--out", out, *ARGS)
    assert r.returncode == 0, r.stderr
    m = json.loads((out / "manifest.json").read_text())
    c = m["counts"]
    tasks = lines(out / "tasks.jsonl")
    dropped = [x for x in lines(out / "rejected.jsonl") if x["reason"] == "fails_verification"]
    assert c["tasks_verified"] == len(tasks) + len(dropped) > 0
    assert c["tasks_failed_verification"] == len(dropped)
    for t in tasks:
        v = t["meta"]["validity"]
        assert v["passed"] and v["score"] >= 0.5 and v["model"] == "local"
        assert set(v["parts"]) == {"likelihood", "kind"} and len(v["rows"]) == 2
    for d in dropped:
        assert d["validity"]["score"] < 0.5 and not d["validity"]["passed"]
    assert f"{len(dropped)} dropped (fails_verification)" in r.stdout
    insts = lines(out / "instances.jsonl")
    assert {i["meta"]["task_id"] for i in insts} == {t["id"] for t in tasks}
    # the same work again from the cache: no model call
    again = tmp_path / "again"
    again.mkdir()
    for f in out.glob("cache.sqlite*"):  # with its WAL, if sqlite left one
        shutil.copy(f, again / f.name)
    r2 = run_cli("dynosaur", ROOT / "examples" / "news_topics", "--out", again, *ARGS)
    assert r2.returncode == 0, r2.stderr
    m2 = json.loads((again / "manifest.json").read_text())
    assert m2["this_run"]["usage"]["calls"] == 0 and m2["this_run"]["usage"]["cache_hits"] > 0
    assert lines(again / "tasks.jsonl") == tasks
