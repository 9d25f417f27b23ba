"""A recipe end to end on the embedded model: run, re-run at 0 calls, edit a stage, kill -9 mid-stage."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import cli_env, run_cli

pytestmark = pytest.mark.slow
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ENV = {"INSTRUCTKIT_THREADS": "1"}


def write_recipe(folder: Path, k: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    srcs = ", ".join(str(EXAMPLES / d) for d in ("news_topics", "squad_mini", "review_summaries"))
    p = folder / "recipe.yaml"
    p.write_text(f"sources: [{srcs}]\nmodel: local\nconcurrency: 1\nstages:\n"
                 "  - dynosaur: {modes: aware, max_tasks: 1, rows: 8, verify: false}\n"  # counts design calls exactly
                 "  - dedup: {method: exact}\n"
                 f"  - select qdit: {{k: {k}}}\n"
                 "  - export: {format: messages}\n", encoding="utf-8")
    return p


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("recipe")
    recipe, out = write_recipe(root), root / "out"
    r = run_cli("run", recipe, "--out", out, env=ENV)
    assert r.returncode == 0, r.stderr[-2000:]
    return recipe, out


def test_recipe_runs_every_stage_into_ordinary_run_dirs(reference):
    recipe, out = reference
    m = manifest(out)
    assert m["command"] == "run" and m["status"] == "complete"
    assert [s["dir"] for s in m["stages"]] == ["01-dynosaur", "02-dedup", "03-select-qdit", "04-export"]
    assert all(s["status"] == "complete" for s in m["stages"])
    assert m["stages"][0]["usage"]["calls"] == 3 and m["usage"]["calls"] == 3  # one design call per dataset
    assert m["usage"]["total_tokens"] > 0
    for s in m["stages"]:  # each an ordinary run directory its command can reopen
        assert json.loads((out / s["dir"] / "manifest.json").read_text())["command"] == s["stage"]
    lines = (out / "04-export" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    pool = json.loads((out / "03-select-qdit" / "manifest.json").read_text())["counts"]["pool"]
    assert pool >= 4, "too few instances for the edit test"
    assert len(lines) == 3 and all(json.loads(ln)["messages"][-1]["role"] == "assistant" for ln in lines)
    assert m["outputs"]["examples"] == "04-export/train.jsonl"
    assert (out / "recipe.yaml").is_file()
    # the export is readable by any command that reads examples
    assert run_cli("export", out / "04-export", "--format", "alpaca", "--out", out.parent / "a.json").returncode == 0


def test_rerun_costs_zero_calls(reference):
    recipe, out = reference
    before = (out / "04-export" / "train.jsonl").read_bytes()
    r = run_cli("run", recipe, "--out", out, env=ENV)
    assert r.returncode == 0, r.stderr[-2000:]
    m = manifest(out)
    assert m["this_run"]["usage"]["calls"] == 0 and m["this_run"]["usage"]["cache_hits"] == 0
    assert (out / "04-export" / "train.jsonl").read_bytes() == before


def test_editing_a_stage_reruns_it_and_later_ones_only(reference, tmp_path):
    recipe, out = reference
    import shutil

    work = tmp_path / "out"
    shutil.copytree(out, work)
    old = manifest(work)
    edited = write_recipe(tmp_path / "edited", k=4)
    r = run_cli("run", edited, "--out", work, env=ENV)
    assert r.returncode == 0, r.stderr[-2000:]
    m = manifest(work)
    assert m["this_run"]["usage"]["calls"] == 0  # dynosaur is unchanged: not even a cache lookup
    assert m["stages"][0] == old["stages"][0] and m["stages"][1] == old["stages"][1]
    assert m["stages"][2]["fingerprint"] != old["stages"][2]["fingerprint"]
    assert len((work / "04-export" / "train.jsonl").read_text().splitlines()) == 4
    aside = sorted(p.name for p in work.iterdir() if ".old-" in p.name)
    assert aside == [f"03-select-qdit.old-{old['stages'][2]['fingerprint']}",
                     f"04-export.old-{old['stages'][3]['fingerprint']}"]
    assert len((work / aside[1] / "train.jsonl").read_text().splitlines()) == 3  # kept, not deleted


def test_kill_9_mid_stage_resumes_to_the_same_output(reference, tmp_path):
    _, ref_out = reference
    recipe, out = write_recipe(tmp_path / "r"), tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "instructkit", "run", str(recipe), "--out", str(out)],
                            env=cli_env(ENV), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = out / "01-dynosaur" / "datasets.jsonl"
    deadline = time.time() + 400
    while time.time() < deadline and proc.poll() is None:
        if done.is_file() and done.read_text().count("\n") >= 1:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the recipe finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert manifest(out)["status"] == "running"
    n_done = done.read_text().count("\n")
    assert 1 <= n_done < 3
    # a dry run on the half-done directory: plans only what is left, from the answers seen so far,
    # and leaves every file (the cache included) as it was
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    plan = run_cli("run", recipe, "--out", out, "--dry-run", env=ENV)
    assert plan.returncode == 0, plan.stderr
    row = next(ln for ln in plan.stdout.splitlines() if ln.startswith("01-dynosaur"))
    assert row.split()[3] == str(3 - n_done) and "completion: observed mean" in row
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    r = run_cli("run", recipe, "--out", out, env=ENV)
    assert r.returncode == 0, r.stderr[-2000:]
    m = manifest(out)
    assert m["status"] == "complete"
    resumed = m["this_run"]["usage"]
    assert resumed["calls"] + resumed["cache_hits"] == 3 - n_done  # finished datasets: not even looked up
    assert m["stages"][0]["usage"]["calls"] >= 3 - n_done
    ids = [json.loads(ln)["id"] for ln in (out / "01-dynosaur" / "instances.jsonl").read_text().splitlines()]
    assert len(ids) == len(set(ids))
    assert (out / "04-export" / "train.jsonl").read_bytes() == (ref_out / "04-export" / "train.jsonl").read_bytes()


def test_budget_stops_cleanly_and_a_higher_budget_continues(reference, tmp_path):
    _, ref_out = reference
    recipe, out = write_recipe(tmp_path / "r"), tmp_path / "out"
    per_call = manifest(ref_out)["usage"]["total_tokens"] / 3
    r = run_cli("run", recipe, "--out", out, "--max-tokens-total", str(int(per_call * 2.2)), env=ENV)
    assert r.returncode == 3, r.stderr[-2000:]
    m = manifest(out)
    assert m["status"] == "stopped" and m["stopped"] == "budget"
    assert m["stages"][0]["status"] == "stopped" and len(m["stages"]) == 1
    assert m["usage"]["total_tokens"] <= per_call * 2.2
    n_done = (out / "01-dynosaur" / "datasets.jsonl").read_text().count("\n")
    assert 1 <= n_done < 3 and not (out / "02-dedup").exists()
    r = run_cli("run", recipe, "--out", out, "--max-tokens-total", "1000000", env=ENV)
    assert r.returncode == 0, r.stderr[-2000:]
    m = manifest(out)
    assert m["status"] == "complete" and m["stopped"] is None
    resumed = m["this_run"]["usage"]
    assert resumed["calls"] == 3 - n_done and resumed["cache_hits"] == 0  # nothing redone
    assert (out / "04-export" / "train.jsonl").read_bytes() == (ref_out / "04-export" / "train.jsonl").read_bytes()


def test_dry_run_prompt_tokens_match_the_real_run(reference, tmp_path):
    recipe, ref_out = reference
    r = run_cli("run", recipe, "--out", tmp_path / "fresh", "--dry-run")
    assert r.returncode == 0, r.stderr
    row = next(ln.split() for ln in r.stdout.splitlines() if ln.startswith("01-dynosaur"))
    calls, prompt, completion, at_most = (int(row[i].replace(",", "")) for i in (3, 4, 5, 7))
    real = manifest(ref_out)["stages"][0]["usage"]
    assert calls == real["calls"] == 3
    assert abs(prompt - real["prompt_tokens"]) <= 0.05 * real["prompt_tokens"]  # the GGUF's own tokenizer
    assert at_most - prompt >= real["completion_tokens"]  # max_tokens: an upper bound
    # the expected total (a fresh cache: the calibration prior) within 25% of the real run's
    assert abs(prompt + completion - real["total_tokens"]) <= 0.25 * real["total_tokens"]
    assert not (tmp_path / "fresh").exists()
