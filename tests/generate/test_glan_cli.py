"""GLAN end to end through the CLI on the real embedded model (SmolLM2-135M), tiny counts.

One uninterrupted run is shared by the tests; a second run is SIGKILLed mid-way and resumed;
then a discipline is added to the taxonomy and only its subtree is generated.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from instructkit.generate.glan.taxonomy import discipline_id
from instructkit.runs import read_jsonl
from conftest import GLAN_TAXONOMY, GLAN_TINY, cli_env, run_cli

pytestmark = pytest.mark.slow

TAXONOMY, ARGS = GLAN_TAXONOMY, GLAN_TINY  # the shared run (conftest.glan_run) is made with these
CARPENTRY_ID = discipline_id("Vocational Trades", "Construction Trades", "Carpentry")
STAGE_STREAMS = ("subjects_raw", "subjects_extracted", "syllabi_raw", "syllabi", "questions", "answers")


def rows(out: Path, name: str) -> list[dict]:
    p = out / f"{name}.jsonl"
    return list(read_jsonl(p)) if p.exists() else []


def glan_args(out: Path, tax: Path) -> list[str]:
    return ["glan", "--out", str(out), "--taxonomy", str(tax), *ARGS]


@pytest.fixture(scope="module")
def full_run(glan_run):
    return glan_run  # one uninterrupted run per session, shared with test_run_chain


def test_every_stage_produces_records_and_failures_are_recorded(full_run):
    _, _, out = full_run
    man = json.loads((out / "manifest.json").read_text())
    assert man["status"] == "complete" and man["command"] == "glan"
    for name in STAGE_STREAMS:
        assert rows(out, name), f"stage stream {name} is empty"
    assert man["usage"]["calls"] > 0 and man["usage"]["total_tokens"] > 0
    rejected = {r["item_id"] for r in rows(out, "rejected")}
    # nothing silently dropped: every planned node is done, or failed with a record in rejected.jsonl
    for stage, o in man["stages"].items():
        assert o["planned"] == o["done"] + o["failed"] + o["missing"], stage
    for name in ("subjects_extracted", "syllabi", "questions", "answers"):
        for r in rows(out, name):
            if r.get("failure"):
                assert r["id"] in rejected, (name, r["id"])
    assert sum(man["failures"].values()) >= sum(o["failed"] for o in man["stages"].values())
    examples = rows(out, "examples")
    assert len(examples) == man["counts"]["examples"] == man["counts"]["answers"]
    for ex in examples:
        m = ex["meta"]
        assert ex["instruction"].strip() and ex["output"].strip()
        assert m["discipline"] in ("Chemistry", "Carpentry") and m["field"] and m["sub_field"]
        assert m["subject"] and m["concepts"] and m["strategy"] in ("single_session", "two_session")
        assert m["models"] == {"question": "local", "answer": "local"}
    cov = man["coverage"]
    assert cov["key_concepts_total"] >= cov["key_concepts_used"]
    assert sum(cov["questions_per_discipline"].values()) == man["counts"]["questions"]


def carpentry_ids(out: Path, name: str) -> list[str]:
    """Ids of the Carpentry subtree in stream ``name`` (ids do not depend on other disciplines)."""
    recs = rows(out, name)
    if name == "answers":
        qids = {q["id"] for q in rows(out, "questions") if q["discipline_id"] == CARPENTRY_ID}
        return sorted(r["id"] for r in recs if r["question_id"] in qids)
    if name == "examples":
        return sorted(r["id"] for r in recs if r["meta"]["discipline"] == "Carpentry")
    return sorted(r["id"] for r in recs if r["discipline_id"] == CARPENTRY_ID)


def test_killed_run_resumes_to_the_same_ids(full_run):
    base, tax, full = full_run
    out = base / "killed"
    args = [*glan_args(out, tax), "--disciplines", "Carpentry", "--quiet"]  # one discipline: half the cost
    proc = subprocess.Popen([sys.executable, "-m", "instructkit", *args],
                            env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    # kill as soon as the first node is stored: the one point every run passes whatever the
    # model writes (a later trigger may never come when extraction finds nothing)
    try:
        raw = out / "subjects_raw.jsonl"  # polled as bytes: a line may be half-written right now
        while time.time() < deadline and proc.poll() is None and not (raw.exists() and b"\n" in raw.read_bytes()):
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert json.loads((out / "manifest.json").read_text())["status"] == "running"
    assert not rows(out, "answers") and not rows(out, "syllabi")
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    man = json.loads((out / "manifest.json").read_text())
    assert man["runs"] == 2 and man["usage"]["calls"] > 0
    assert carpentry_ids(out, "subjects_raw")
    for name in ("subjects", *STAGE_STREAMS, "examples"):
        assert carpentry_ids(out, name) == carpentry_ids(full, name), name


def test_added_discipline_generates_only_its_subtree(full_run):
    base, tax, full = full_run
    out = base / "grown"
    shutil.copytree(full, out)
    grown = base / "grown.yaml"
    grown.write_text(TAXONOMY.replace("[Chemistry]", "[Chemistry, Optics]"))
    before = {n: rows(out, n) for n in STAGE_STREAMS}
    r = run_cli(*glan_args(out, grown))
    assert r.returncode == 0, r.stderr
    man = json.loads((out / "manifest.json").read_text())
    req = man["requests_by_discipline"]
    assert req["Chemistry"] == 0 and req["Carpentry"] == 0 and req["Optics"] > 0
    this_run = man["this_run"]["usage"]  # usage is the whole directory's (all runs), this_run.usage this run's
    assert this_run["calls"] + this_run["cache_hits"] == req["Optics"]
    assert man["usage"]["calls"] == json.loads((full / "manifest.json").read_text())["usage"]["calls"] + this_run["calls"]
    for name, old in before.items():
        assert rows(out, name)[: len(old)] == old, f"{name}: earlier records changed"
    assert any(r["discipline"] == "Optics" for r in rows(out, "subjects_raw"))
    assert "GLAN" in r.stderr and "examples" in r.stderr  # the printed summary


def test_checks_are_counted_and_rejudged_without_a_call(full_run):
    """The answer checks and the near-duplicate drop on the embedded model's own output: counted in
    the manifest, and re-judged with other settings on the same directory with no model call."""
    base, tax, full = full_run
    man = json.loads((full / "manifest.json").read_text())
    dedup, checks = man["stages"]["questions_dedup"], man["stages"]["answer_checks"]
    rejected = rows(full, "rejected")
    for report, stage in ((dedup, "questions"), (checks, "answers")):
        assert report["planned"] == report["done"] + report["failed"] and report["missing"] == 0
        for reason, n in report["rejected"].items():
            assert sum(r["reason"] == reason and r["stage"] == stage for r in rejected) == n
    assert checks["truncated"] == "keep"  # --max-tokens 96 caps the answer budget: cut answers are kept
    answers = {a["question_id"]: a for a in rows(full, "answers")}
    cut = [e for e in rows(full, "examples") if answers[e["meta"]["question_id"]]["finish_reason"] == "length"]
    assert checks["truncated_kept"] == len(cut)
    assert man["counts"]["answers"] == checks["done"] == man["counts"]["examples"]

    out = base / "strict"
    shutil.copytree(full, out)
    r = run_cli(*glan_args(out, tax), "--truncated-answers", "reject")
    assert r.returncode == 0, r.stderr
    strict = json.loads((out / "manifest.json").read_text())
    assert strict["this_run"]["usage"]["calls"] == 0  # every question was answered before: all cached
    assert strict["stages"]["answer_checks"]["truncated"] == "reject"
    assert strict["counts"]["answers_rejected"].get("answer_truncated", 0) == len(cut)
    assert strict["counts"]["examples"] == man["counts"]["examples"] - len(cut) == len(rows(out, "examples"))
    assert "checks:" in r.stderr  # the printed summary names them
