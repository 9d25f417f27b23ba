"""``instructkit select qdit`` end to end: real minilm embedder, real embedded model as judge (slow)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow

TOPICS = ["baking bread", "sorting a list in Python", "the French revolution", "prime numbers", "tennis rules"]


@pytest.fixture
def pool(tmp_path):
    rows = []
    for i in range(30):
        t = TOPICS[i % len(TOPICS)]
        rows.append({"instruction": f"Explain {t} (variant {i}).", "input": "", "output": f"A short note on {t}.",
                     "stars": (i * 7) % 5 + 1})
    p = tmp_path / "alpaca.json"
    p.write_text(json.dumps(rows))
    return p


def read_jsonl(p):
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


def test_select_with_column_quality_and_sweep(pool, tmp_path):
    out = tmp_path / "run"
    env = {"INSTRUCTKIT_CACHE": str(tmp_path / "cache")}
    r = run_cli("select", "qdit", pool, "--k", "5", "--quality", "stars", "--out", out,
                "--sweep", "0,0.5,1", "--order", "selection", env=env)
    assert r.returncode == 0, r.stderr
    sel = read_jsonl(out / "selected.jsonl")
    assert [s["meta"]["qdit"]["rank"] for s in sel] == [1, 2, 3, 4, 5]
    assert len({s["id"] for s in sel}) == 5
    summary = json.loads((out / "summary.json").read_text())
    assert summary["engine"] == "lazy" and summary["k"] == 5
    # diversity only at α=0 covers at least what quality-only does; quality-only is best on quality
    sweep = {row["alpha"]: row for row in summary["sweep"]}
    assert sweep[0.0]["diversity"] >= sweep[1.0]["diversity"]
    assert sweep[1.0]["mean_quality"] == 5.0 >= summary["qdit"]["mean_quality"]
    assert summary["quality_only"]["mean_quality"] == 5.0
    assert (out / "sweep.png").stat().st_size > 1000
    assert (out / "sweep.csv").read_text().startswith("alpha,objective,diversity")
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"
    # re-running the same command resumes to the same result
    r2 = run_cli("select", "qdit", pool, "--k", "5", "--quality", "stars", "--out", out,
                 "--sweep", "0,0.5,1", "--order", "selection", "--quiet", env=env)
    assert r2.returncode == 0, r2.stderr
    assert read_jsonl(out / "selected.jsonl") == sel


def test_select_with_judge_on_the_embedded_model(pool, tmp_path):
    out = tmp_path / "run"
    env = {"INSTRUCTKIT_CACHE": str(tmp_path / "cache")}
    r = run_cli("select", "qdit", pool, "--k", "4", "--quality", "judge", "--model", "local",
                "--text", "instruction+input", "--out", out, env=env)
    assert r.returncode == 0, r.stderr
    sel = read_jsonl(out / "selected.jsonl")
    ids = [s["meta"]["qdit"]["rank"] for s in sel]
    assert sorted(ids) == [1, 2, 3, 4]
    assert all(1.0 <= s["meta"]["qdit"]["quality"] <= 5.0 for s in sel)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["usage"]["calls"] == 30
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scores"]["cached"] == 0
    r2 = run_cli("select", "qdit", pool, "--k", "4", "--quality", "judge", "--model", "local",
                 "--text", "instruction+input", "--out", tmp_path / "run2", "--quiet", env=env)
    assert r2.returncode == 0, r2.stderr
    assert json.loads((tmp_path / "run2" / "summary.json").read_text())["scores"]["cached"] == 30


def test_approx_engine_reports_its_objective_against_exact_greedy(pool, tmp_path):
    out = tmp_path / "run"
    env = {"INSTRUCTKIT_CACHE": str(tmp_path / "cache")}
    r = run_cli("select", "qdit", pool, "--k", "6", "--quality", "stars", "--engine", "approx",
                "--approx-check", "20", "--out", out, env=env)
    assert r.returncode == 0, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["engine"] == "approx"
    c = summary["approx_check"]
    assert c["subsample"] == 20 and c["k"] == 4  # round(6 · 20 / 30)
    assert 0 < c["approx_objective"] <= c["exact_objective"] * 1.05
    assert c["ratio"] == c["approx_objective"] / c["exact_objective"]
    assert "approx vs exact greedy on 20 random examples" in r.stdout + r.stderr
    r0 = run_cli("select", "qdit", pool, "--k", "6", "--engine", "approx", "--approx-check", "0",
                 "--out", tmp_path / "run0", "--quiet", env=env)
    assert r0.returncode == 0, r0.stderr
    assert "approx_check" not in json.loads((tmp_path / "run0" / "summary.json").read_text())
