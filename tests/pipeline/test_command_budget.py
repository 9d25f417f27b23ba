"""--max-cost / --max-tokens-total on the single commands: a clean stop before a call would pass the budget
(manifest stopped: budget, exit 3), and a re-run with a higher budget continues without redoing a call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ENV = {"INSTRUCTKIT_THREADS": "1"}


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def plan_row(stdout: str, out: Path) -> list[int]:
    """calls, prompt, completion (expected) and the at-most tokens of a one-command plan."""
    row = next(ln.split() for ln in stdout.splitlines() if ln.startswith(str(out)))
    return [int(row[i].replace(",", "")) for i in (3, 4, 5, 7)]


def test_a_budget_needs_the_local_executor(tmp_path):
    r = run_cli("dynosaur", EXAMPLES / "news_topics", "--out", tmp_path / "d", "--executor", "ray",
                "--max-cost", "1")
    assert r.returncode == 2 and "--executor local" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "d").exists()


def test_every_model_command_takes_the_budget_options():
    for cmd in (["dynosaur"], ["glan"], ["select", "qdit"], ["select", "active"], ["eval"]):
        r = run_cli(*cmd, "--help")
        assert "--max-cost" in r.stdout and "--max-tokens-total" in r.stdout, cmd


@pytest.mark.slow
def test_dynosaur_stops_at_the_budget_and_continues(tmp_path):
    out = tmp_path / "d"
    args = [EXAMPLES / "news_topics", EXAMPLES / "squad_mini", "--out", out, "--modes", "aware", "--max-tasks", "1",
            "--rows", "3", "--no-verify", "--concurrency", "1"]
    calls, prompt, _, _ = plan_row(run_cli("dynosaur", *args, "--dry-run").stdout, out)
    assert calls == 2
    limit = int(1.5 * (prompt / 2 + 400))  # one call's worst case fits, a second one's does not
    r = run_cli("dynosaur", *args, "--max-tokens-total", limit, env=ENV)
    assert r.returncode == 3, r.stderr[-2000:]
    m = manifest(out)
    assert m["status"] == "stopped" and m["stopped"] == "budget" and "budget" in r.stderr
    assert 0 < m["usage"]["total_tokens"] <= limit and m["usage"]["calls"] == 1
    assert (out / "datasets.jsonl").read_text().count("\n") == 1
    r = run_cli("dynosaur", *args, "--max-tokens-total", 10**6, env=ENV)
    assert r.returncode == 0, r.stderr[-2000:]
    m = manifest(out)
    assert m["status"] == "complete" and not m.get("stopped")
    assert m["this_run"]["usage"]["calls"] == 1 and m["this_run"]["usage"]["cache_hits"] == 0  # nothing redone
    assert m["usage"]["calls"] == 2 and (out / "datasets.jsonl").read_text().count("\n") == 2


@pytest.mark.slow
def test_glan_stops_at_the_budget_and_continues(tmp_path):
    out = tmp_path / "g"
    args = ["--out", out, "--disciplines", "Chemistry", "--subject-samples", "1", "--max-subjects", "1",
            "--max-sessions", "5", "--questions-per-syllabus", "1", "--max-tokens", "64", "--concurrency", "1"]
    _, prompt, completion, _ = plan_row(run_cli("glan", *args, "--dry-run").stdout, out)
    limit = (prompt + completion) // 2
    r = run_cli("glan", *args, "--max-tokens-total", limit, env=ENV)
    assert r.returncode == 3, r.stderr[-2000:]
    m = manifest(out)
    assert m["status"] == "stopped" and m["stopped"] == "budget"
    first = m["usage"]["calls"]
    assert 0 < first and m["usage"]["total_tokens"] <= limit
    assert m["this_run"]["usage"]["failures"].get("budget")
    r = run_cli("glan", *args, "--max-tokens-total", 10**6, env=ENV)
    assert r.returncode in (0, 3), r.stderr[-2000:]  # 3 only if the tiny model's syllabus is unusable
    m = manifest(out)
    assert not m.get("stopped") and not m["this_run"]["usage"]["failures"].get("budget")
    assert m["this_run"]["usage"]["cache_hits"] == 0 and m["this_run"]["usage"]["calls"] > 0  # nothing redone
    assert m["usage"]["calls"] == first + m["this_run"]["usage"]["calls"]


@pytest.mark.slow
def test_qdit_judge_stops_at_the_budget_and_keeps_its_scores(tmp_path):
    data = tmp_path / "examples.jsonl"
    data.write_text("".join(json.dumps({"instruction": f"Add {i} and {i + 3}.", "output": str(2 * i + 3)}) + "\n"
                            for i in range(6)))
    out = tmp_path / "q"
    args = ["select", "qdit", data, "--k", "3", "--quality", "judge", "--out", out, "--concurrency", "1"]
    calls, prompt, completion, _ = plan_row(run_cli(*args, "--dry-run").stdout, out)
    assert calls == 6
    limit = (prompt + completion) // 2
    env = {**ENV, "INSTRUCTKIT_CACHE": str(tmp_path / "cache")}  # judge scores are also kept there: start empty
    r = run_cli(*args, "--max-tokens-total", limit, env=env)
    assert r.returncode == 3, r.stderr[-2000:]
    m = manifest(out)
    assert m["status"] == "stopped" and m["stopped"] == "budget" and not (out / "selected.jsonl").exists()
    first = m["usage"]["calls"]
    assert 0 < first < 6 and m["usage"]["total_tokens"] <= limit
    r = run_cli(*args, "--max-tokens-total", 10**6, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    m = manifest(out)
    assert m["status"] == "complete" and not m.get("stopped")
    assert m["this_run"]["usage"]["calls"] == 6 - first  # the scores made before the stop were kept
    assert (out / "selected.jsonl").read_text().count("\n") == 3


@pytest.mark.slow
def test_eval_stops_at_the_budget_and_continues(tmp_path):
    out = tmp_path / "e"
    args = ["eval", "local", "--tasks", EXAMPLES / "active" / "task_even_or_odd.json", "--eval-instances", "3",
            "--max-tokens", "16", "--concurrency", "1", "--out", out]
    calls, prompt, _, _ = plan_row(run_cli(*args, "--dry-run").stdout, out)
    assert calls == 3
    limit = int(2.2 * (prompt / 3 + 16))  # one answer's worst case fits, all three do not
    r = run_cli(*args, "--max-tokens-total", limit, env=ENV)
    assert r.returncode == 3, r.stderr[-2000:]
    m = manifest(out)
    first = m["usage"]["calls"]
    assert m["status"] == "stopped" and m["stopped"] == "budget" and 1 <= first < 3
    assert m["usage"]["total_tokens"] <= limit
    r = run_cli(*args, "--max-tokens-total", 10**6, env=ENV)
    assert r.returncode == 0, r.stderr[-2000:]
    m = manifest(out)
    assert m["status"] == "complete" and m["this_run"]["usage"]["calls"] == 3 - first  # nothing redone
    assert m["this_run"]["usage"]["cache_hits"] == 0
