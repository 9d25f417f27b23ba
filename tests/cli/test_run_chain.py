"""Run directories hand over to the next command: REAL run directories made by the commands, each
step given only the previous step's directory (no file named inside it), on the embedded model.

dynosaur -> dedup -> decontaminate -> select qdit -> export -> train, and glan -> select qdit -> export.
Also: ``usage`` is all runs and ``this_run.usage`` this run, for resumed qdit and eval runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
NEWS = ROOT / "examples" / "news_topics"
EVEN_ODD = ROOT / "examples" / "active" / "task_even_or_odd.json"
ENV = {"INSTRUCTKIT_THREADS": "1"}


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def manifest(d: Path) -> dict:
    return json.loads((d / "manifest.json").read_text())


def ok(*args, env=None):
    r = run_cli(*args, env={**ENV, **(env or {})})
    assert r.returncode == 0, (args, r.stderr[-3000:])
    return r


def examples_of(run: Path, name: str) -> list[dict]:
    m = manifest(run)
    assert m["status"] == "complete" and m["outputs"]["examples"] == name, m.get("outputs")
    return lines(run / name)


def test_dynosaur_dedup_decontaminate_qdit_export_train(tmp_path):
    dyn = tmp_path / "dyn"
    # --no-verify: the hand-over is under test here; verification has its own (test_dynosaur_verify_e2e)
    ok("dynosaur", NEWS, "--rows", "8", "--modes", "aware", "--max-tasks", "2", "--concurrency", "1",
       "--no-verify", "--out", dyn, "--quiet")
    instances = examples_of(dyn, "instances.jsonl")
    assert manifest(dyn)["outputs"]["tasks"] == "tasks.jsonl"
    assert len(instances) == manifest(dyn)["counts"]["instances"] > 0

    dd = tmp_path / "dedup"
    ok("dedup", dyn, "--method", "exact", "--out", dd)  # a Dynosaur run dir: reads instances, not datasets
    kept = examples_of(dd, "kept.jsonl")
    assert manifest(dd)["counts"]["input"] == len(instances) and {e["id"] for e in kept} <= {e["id"] for e in instances}

    # an evaluation set that holds one kept example's input: those examples must go
    bench = tmp_path / "bench.jsonl"
    leaked = kept[0]["input"] or kept[0]["instruction"]
    bench.write_text(json.dumps({"question": leaked}) + "\n")
    clean_dir = tmp_path / "clean"
    ok("decontaminate", dd, "--against", bench, "--ngram", "8", "--out", clean_dir)
    clean = examples_of(clean_dir, "clean.jsonl")
    c = manifest(clean_dir)["counts"]
    assert c["input"] == len(kept) and c["contaminated"] >= 1 and len(clean) == len(kept) - c["contaminated"]
    assert kept[0]["id"] not in {e["id"] for e in clean}

    q = tmp_path / "qdit"
    k = min(3, len(clean))
    ok("select", "qdit", clean_dir, "--k", str(k), "--out", q, "--quiet")
    selected = examples_of(q, "selected.jsonl")
    assert len(selected) == k and manifest(q)["counts"]["pool"] == len(clean)
    assert {e["id"] for e in selected} <= {e["id"] for e in clean}

    data = tmp_path / "train.jsonl"
    ok("export", q, "--format", "messages", "--out", data)
    exported = lines(data)
    assert [m["messages"][-1]["content"] for m in exported] == [e["output"] for e in selected]

    model = tmp_path / "model"
    ok("train", data, "--out", model, "--steps", "2", "--max-len", "256", "--batch-size", "2", "--save-every", "2")
    m = manifest(model)
    assert m["status"] == "complete" and m["counts"]["steps"] == 2 and m["outputs"]["model"] == "."
    assert (model / "adapter_config.json").is_file()


def test_glan_qdit_export(glan_run, tmp_path):
    glan = glan_run[2]  # the session's GLAN run directory, made by the CLI on the embedded model (conftest.py)
    examples = examples_of(glan, "examples.jsonl")
    assert examples and all(e["meta"]["method"] == "glan" for e in examples)
    assert (glan / "answers.jsonl").is_file()  # what today's reader tripped over

    q = tmp_path / "qdit"
    ok("select", "qdit", glan, "--k", "1", "--out", q, "--quiet")
    selected = examples_of(q, "selected.jsonl")
    assert len(selected) == 1 and selected[0]["id"] in {e["id"] for e in examples}

    out = tmp_path / "alpaca.json"
    ok("export", q, "--format", "alpaca", "--out", out)
    rows = json.loads(out.read_text())
    assert [r["instruction"] for r in rows] == [selected[0]["instruction"]]


def test_resumed_qdit_and_eval_report_usage_of_all_runs(tmp_path):
    env = {"INSTRUCTKIT_CACHE": str(tmp_path / "cache")}
    pool = [{"instruction": f"Name a use of {w}.", "output": f"{w} is useful."} for w in
            ("salt", "rope", "glass", "paper")]
    data = tmp_path / "pool.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in pool[:3]))
    q = tmp_path / "qdit"
    args = ("select", "qdit", data, "--k", "2", "--quality", "judge", "--model", "local", "--out", q, "--quiet")
    ok(*args, env=env)
    first = manifest(q)["usage"]["calls"]
    assert first == manifest(q)["this_run"]["usage"]["calls"] == 3
    data.write_text("".join(json.dumps(r) + "\n" for r in pool))  # one more example: one more judge call
    ok(*args, env=env)
    m = manifest(q)
    assert m["this_run"]["usage"]["calls"] == 1 and m["usage"]["calls"] == first + 1 and m["runs"] == 2

    ev = tmp_path / "eval"
    base = ("eval", "local", "--tasks", EVEN_ODD, "--out", ev, "--demos", "0", "--max-tokens", "8", "--quiet")
    ok(*base, "--instances", "2")
    assert manifest(ev)["usage"]["calls"] == 2 and manifest(ev)["outputs"]["results"] == "results.json"
    ok(*base, "--instances", "3")
    m = manifest(ev)
    assert m["this_run"]["usage"]["calls"] == 1 and m["usage"]["calls"] == 3 and m["status"] == "complete"
