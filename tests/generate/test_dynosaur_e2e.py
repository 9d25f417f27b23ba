"""Dynosaur end to end on the real embedded model, through the CLI as a user runs it.

One reference run (two example datasets, 8 rows each, both modes = 4 model calls) is shared by
the tests below: structure and provenance, dynamic growth (only the new dataset is paid for),
kill -9 while a dataset is in flight, and a crash torn in the middle of a dataset's writes.
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

from conftest import cli_env, run_cli
from instructkit.generate.dynosaur.filter import REASONS
from instructkit.generate.dynosaur.meta import render_value
from instructkit.sources import load_source

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
NEWS, SQUAD, PAIRS = (str(ROOT / "examples" / n) for n in ("news_topics", "squad_mini", "sentence_pairs"))
ARGS = ("--rows", "8", "--concurrency", "1", "--quiet", "--no-verify")  # verification: test_dynosaur_verify_e2e
FILES = ("tasks.jsonl", "instances.jsonl", "rejected.jsonl", "datasets.jsonl")


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def manifest(d: Path) -> dict:
    return json.loads((d / "manifest.json").read_text())


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dyn") / "ref"
    r = run_cli("dynosaur", NEWS, SQUAD, "--out", out, *ARGS)
    assert r.returncode == 0, r.stderr
    return out


def test_structure_provenance_and_counts(reference):
    tasks, insts = lines(reference / "tasks.jsonl"), lines(reference / "instances.jsonl")
    rejected, datasets = lines(reference / "rejected.jsonl"), lines(reference / "datasets.jsonl")
    m = manifest(reference)
    assert [d["dataset"] for d in datasets] == ["news_topics", "squad_mini"]
    c = m["counts"]
    assert c["tasks_proposed"] == c["tasks_kept"] + sum(c["tasks_rejected"].values())
    assert c["tasks_kept"] == len(tasks) and c["instances"] == len(insts) > 0
    assert c["llm_calls"] == 4 and m["this_run"]["usage"]["calls"] == 4
    assert c["tokens_per_instance"] == round(c["tokens"] / c["instances"], 2) and c["tokens"] > 0
    assert c["estimated_cost_usd"] is None  # local model: no price
    assert all(r["reason"] in REASONS and r["stage"] == "task" for r in rejected)
    # every instance belongs to a kept task and is traceable to the row it was made from
    by_id = {t["id"]: t for t in tasks}
    cards = {c.name: c for src in (NEWS, SQUAD) for c in load_source(src, rows=8)}
    assert len({i["id"] for i in insts}) == len(insts)
    for inst in insts:
        t = by_id[inst["meta"]["task_id"]]
        assert inst["instruction"] == t["instruction"]
        card = cards[inst["meta"]["dataset"]]
        row = card.rows[inst["meta"]["row"]]
        assert inst["output"] == render_value(row[t["output_field"]], card.feature(t["output_field"]),
                                              as_output=True)[:2000]
        assert inst["meta"]["license"] == "cc-by-4.0" and inst["meta"]["mode"] in ("aware", "unaware")
    for t in tasks:
        assert t["output_field"] not in t["input_fields"]
        assert 1 <= len(t["demonstrations"]) <= 2
        if t["kind"] == "classification" and t["label_space"]:
            if all(len(x) <= 40 for x in t["label_space"]):
                assert t["instruction"].endswith(f"Answers must be one of: {', '.join(t['label_space'])}.")


def test_report_only_and_growth_pays_only_for_the_new_dataset(reference, tmp_path):
    report = run_cli("dynosaur", "--out", reference)
    assert report.returncode == 0 and "tokens per instance" in report.stdout
    grown = tmp_path / "grown"
    shutil.copytree(reference, grown)
    one_field = tmp_path / "one_field.jsonl"  # only one usable field: skipped with a reason, no call
    one_field.write_text("".join(json.dumps({"id": f"r{i}", "text": f"line {i}"}) + "\n" for i in range(5)))
    r = run_cli("dynosaur", NEWS, SQUAD, PAIRS, one_field, "--out", grown, *ARGS)  # old sources again too
    assert r.returncode == 0, r.stderr
    m = manifest(grown)
    assert m["this_run"]["usage"]["calls"] == 2            # one per mode, new dataset only
    assert m["this_run"]["usage"]["cache_hits"] == 0       # old datasets not even looked up
    assert m["this_run"]["datasets"] == 2 and m["counts"]["datasets_seen"] == 4
    assert m["counts"]["datasets_skipped"] == 1
    assert "1 usable field" in m["counts"]["skipped_datasets"]["one_field/default/train"]
    assert any(x["stage"] == "dataset" and x["dataset"] == "one_field/default/train"
               for x in lines(grown / "rejected.jsonl"))
    for name in FILES:  # the old collection is kept as it was and grows after it
        old, new = lines(reference / name), lines(grown / name)
        assert new[: len(old)] == old
        assert len({x["id"] for x in new}) == len(new)
    assert [d["dataset"] for d in lines(grown / "datasets.jsonl")][-2:] == ["sentence_pairs", "one_field"]
    assert m["usage"]["calls"] == 6  # the whole job's usage: 4 earlier + 2 now


def test_kill_9_mid_run_then_rerun_matches_uninterrupted(reference, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "instructkit", "dynosaur", NEWS, SQUAD, "--out", str(out), *ARGS]
    proc = subprocess.Popen(cmd, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while len(lines(out / "datasets.jsonl")) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # the second dataset's model calls are in flight
    assert proc.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    assert len(lines(out / "datasets.jsonl")) == 1
    r = run_cli("dynosaur", NEWS, SQUAD, "--out", out, *ARGS)
    assert r.returncode == 0, r.stderr
    for name in FILES:
        assert (out / name).read_text() == (reference / name).read_text(), name


def test_crash_torn_inside_a_dataset_resumes_to_the_same_files(reference, tmp_path):
    out = tmp_path / "torn"
    shutil.copytree(reference, out)
    # as if killed while writing the second dataset: its datasets line missing, instances cut mid-line
    ds = (out / "datasets.jsonl").read_text().splitlines(keepends=True)
    (out / "datasets.jsonl").write_text(ds[0])
    inst = (out / "instances.jsonl").read_text().splitlines(keepends=True)
    first_squad = next(i for i, x in enumerate(inst) if '"squad_mini"' in x)
    (out / "instances.jsonl").write_text("".join(inst[: first_squad + 2]) + inst[first_squad + 2][:40])
    r = run_cli("dynosaur", NEWS, SQUAD, "--out", out, *ARGS)
    assert r.returncode == 0, r.stderr
    assert manifest(out)["this_run"]["usage"]["calls"] == 0  # redone from the cache
    for name in FILES:
        assert (out / name).read_text() == (reference / name).read_text(), name
    assert manifest(out)["counts"] == manifest(reference)["counts"]
