"""Dynosaur, GLAN and ``select qdit --quality judge`` end to end through the upstream ``llama-server``
(4 parallel slots, the bundled model), via the CLI with 4 requests in flight. Tiny counts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from instructkit.runs import read_jsonl
from tests.conftest import run_cli

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_dynosaur_one_task(upstream_server, tmp_path):
    out = tmp_path / "dyn"
    r = run_cli("dynosaur", ROOT / "examples" / "sentence_pairs", "--out", out, "--rows", "6", "--modes", "aware",
                "--max-tasks", "1", "--model", f"openai:smol@{upstream_server}", "--concurrency", "4",
                "--no-verify", "--quiet")
    assert r.returncode == 0, r.stderr
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "complete" and m["usage"]["calls"] >= 1 and not m["usage"].get("failures")
    tasks = list(read_jsonl(out / "tasks.jsonl"))
    rejected = list(read_jsonl(out / "rejected.jsonl")) if (out / "rejected.jsonl").exists() else []
    assert len(tasks) + len(rejected) == m["counts"]["tasks_proposed"] >= 1
    insts = list(read_jsonl(out / "instances.jsonl")) if (out / "instances.jsonl").exists() else []
    assert len(insts) == m["counts"]["instances"]
    assert all(i["meta"]["model"].startswith("openai:smol@") for i in insts)


def test_glan_tiny(upstream_server, tmp_path):
    tax = tmp_path / "tax.yaml"
    tax.write_text("Vocational Trades:\n  Construction Trades: [Carpentry]\n")
    out = tmp_path / "glan"
    r = run_cli("glan", "--out", out, "--taxonomy", tax, "--subject-samples", "1", "--max-subjects", "1",
                "--max-sessions", "2", "--questions-per-syllabus", "1", "--max-tokens", "64", "--seed", "3",
                "--model", f"openai:smol@{upstream_server}", "--concurrency", "4", "--quiet")
    assert r.returncode == 0, r.stderr
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "complete" and m["usage"]["calls"] > 0
    answers = list(read_jsonl(out / "answers.jsonl"))
    assert answers, "no answers were generated"
    assert m["usage"]["completion_tokens"] > 0


def test_select_qdit_with_the_judge(upstream_server, tmp_path):
    topics = ["baking bread", "sorting a list in Python", "the French revolution", "prime numbers"]
    rows = [{"instruction": f"Explain {topics[i % 4]} (variant {i}).", "input": "",
             "output": f"A short note on {topics[i % 4]}."} for i in range(12)]
    pool = tmp_path / "alpaca.json"
    pool.write_text(json.dumps(rows))
    out = tmp_path / "sel"
    r = run_cli("select", "qdit", pool, "--k", "4", "--quality", "judge", "--model",
                f"openai:smol@{upstream_server}", "--concurrency", "4", "--text", "instruction+input",
                "--out", out, "--quiet", env={"INSTRUCTKIT_CACHE": str(tmp_path / "cache")})
    assert r.returncode == 0, r.stderr
    sel = list(read_jsonl(out / "selected.jsonl"))
    assert sorted(s["meta"]["qdit"]["rank"] for s in sel) == [1, 2, 3, 4]
    assert all(1.0 <= s["meta"]["qdit"]["quality"] <= 5.0 for s in sel)
    assert json.loads((out / "manifest.json").read_text())["usage"]["calls"] == 12
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scores"].get("logprobs", 0) >= 1, summary["scores"]
