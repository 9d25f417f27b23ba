"""--dry-run: the plan per stage, counted with the model's tokenizer; no model call, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _recipe(tmp_path: Path, extra: str = "", verify: bool = False) -> Path:
    p = tmp_path / "r.yaml"
    p.write_text(f"sources: [{EXAMPLES / 'news_topics'}, {EXAMPLES / 'squad_mini'}]\nstages:\n"
                 f"  - dynosaur: {{modes: [aware, unaware], max_tasks: 2, rows: 3, verify: {str(verify).lower()}}}\n"
                 "  - select qdit: {k: 4}\n" + extra, encoding="utf-8")
    return p


def _plan_row(stdout: str, stage_dir: str) -> list[str]:
    return next(ln.split() for ln in stdout.splitlines() if ln.startswith(stage_dir))


def test_recipe_dry_run_counts_calls_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    r = run_cli("run", _recipe(tmp_path), "--out", out, "--dry-run")
    assert r.returncode == 0, r.stderr
    row = _plan_row(r.stdout, "01-dynosaur")
    assert row[1:3] == ["to", "run"] and row[3] == "4"  # 2 datasets x 2 modes
    prompt, completion, at_most = (int(row[i].replace(",", "")) for i in (4, 5, 7))
    assert prompt > 4 * 100 and at_most == prompt + 4 * 400  # DynosaurConfig.max_tokens per call: the bound
    assert 0 < completion < 4 * 400  # the expected answers: shorter than the bound
    assert "prompt: tokenizer" in r.stdout and "nothing was written" in r.stdout
    assert not out.exists()


def test_plan_counts_the_verification_score_calls(tmp_path):
    r = run_cli("run", _recipe(tmp_path, verify=True), "--out", tmp_path / "o", "--dry-run")
    assert r.returncode == 0, r.stderr
    (tmp_path / "off").mkdir()
    off = _plan_row(run_cli("run", _recipe(tmp_path / "off"), "--out", tmp_path / "o", "--dry-run").stdout,
                    "01-dynosaur")
    row = _plan_row(r.stdout, "01-dynosaur")
    # every task asked for (2 datasets x 2 modes x 2 tasks) checked on 3 rows, 2 scorings a row
    most = 2 * 2 * 2 * 3 * 2
    assert f"at most {most}: every task kept" in r.stdout
    assert f"(at most {4 + most})" in r.stdout  # the total's calls: design + every scoring
    assert 4 < int(row[3]) <= 4 + most and int(row[3]) == 4 + int(r.stdout.split(" score calls expected")[0]
                                                                   .rsplit(" ", 1)[1])
    assert int(row[4].replace(",", "")) > int(off[4].replace(",", ""))  # the scorings read prompts
    assert row[5] == off[5]  # and write nothing


def test_unaware_mode_only_halves_the_calls(tmp_path):
    p = _recipe(tmp_path)
    p.write_text(p.read_text().replace("[aware, unaware]", "unaware"))
    r = run_cli("run", p, "--out", tmp_path / "o", "--dry-run")
    assert _plan_row(r.stdout, "01-dynosaur")[3] == "2"


def test_priced_model_gets_a_cost_without_any_call(tmp_path):
    # an OpenAI model at an address where nothing listens: any call would fail, the plan needs none
    p = _recipe(tmp_path)
    p.write_text(p.read_text() + "model: openai:gpt-4o-mini@http://127.0.0.1:9/v1\n")
    r = run_cli("run", p, "--out", tmp_path / "o", "--dry-run")
    assert r.returncode == 0, r.stderr
    row = _plan_row(r.stdout, "01-dynosaur")
    prompt, completion = int(row[4].replace(",", "")), int(row[5].replace(",", ""))
    assert row[6] == f"${(prompt * 0.15 + completion * 0.60) / 1e6:.4f}"
    assert "prompt: chars/4" in r.stdout
    assert not (tmp_path / "o").exists()


def test_dry_run_on_commands_that_call_models(tmp_path):
    out = tmp_path / "d"
    r = run_cli("dynosaur", EXAMPLES / "news_topics", "--out", out, "--modes", "aware", "--no-verify", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert _plan_row(r.stdout, str(out))[3] == "1" and not out.exists()
    r = run_cli("dynosaur", EXAMPLES / "news_topics", "--out", out, "--modes", "aware", "--verify-rows", "2",
                "--dry-run")
    assert "(at most 13)" in r.stdout and not out.exists()  # + 3 tasks x 2 rows x 2 scorings
    r = run_cli("glan", "--out", out, "--disciplines", "Chemistry", "--subject-samples", "2", "--max-subjects", "1",
                "--questions-per-syllabus", "3", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert f"(at most {2 + 2 + 1 + 1 + 3 + 3})" in r.stdout and not out.exists()
    data = tmp_path / "examples.jsonl"
    data.write_text("".join(f'{{"instruction": "Add {i} and 2.", "output": "{i + 2}"}}\n' for i in range(5)))
    r = run_cli("select", "qdit", data, "--k", "3", "--quality", "judge", "--out", out, "--dry-run")
    assert r.returncode == 0, r.stderr
    n = 5
    assert _plan_row(r.stdout, str(out))[3] == str(n) and not out.exists()
    r = run_cli("eval", "local", "--tasks", EXAMPLES / "active" / "task_even_or_odd.json", "--instances", "2",
                "--out", out, "--dry-run")
    assert r.returncode == 0, r.stderr
    assert _plan_row(r.stdout, str(out))[3] == "2" and not out.exists()
    r = run_cli("select", "active", EXAMPLES / "active", "--k", "2", "--instances", "2", "--perturbations", "3",
                "--out", out, "--dry-run")
    assert r.returncode == 0, r.stderr
    assert _plan_row(r.stdout, str(out))[3] == str(10 * 2 * (1 + 3 + 1)) and not out.exists()


@pytest.mark.slow
def test_expected_tokens_are_within_a_quarter_of_a_real_run(tmp_path):
    """A fresh cache: the plan's expected total (calibration prior, verification on) against what the run
    then spends; the upper bound holds too."""
    p = tmp_path / "r.yaml"
    p.write_text(f"sources: [{EXAMPLES / 'review_summaries'}, {EXAMPLES / 'science_mc'}]\nconcurrency: 1\nstages:\n"
                 "  - dynosaur: {modes: aware, max_tasks: 2, rows: 4}\n", encoding="utf-8")
    out = tmp_path / "out"
    plan = run_cli("run", p, "--out", out, "--dry-run")
    assert plan.returncode == 0, plan.stderr
    row = _plan_row(plan.stdout, "01-dynosaur")
    expected, at_most = int(row[4].replace(",", "")) + int(row[5].replace(",", "")), int(row[7].replace(",", ""))
    r = run_cli("run", p, "--out", out, env={"INSTRUCTKIT_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    real = json.loads((out / "manifest.json").read_text())["usage"]
    assert real["score_calls"] > 0  # the verification ran, and the plan counted it
    assert abs(expected - real["total_tokens"]) <= 0.25 * real["total_tokens"], (expected, real)
    assert at_most >= real["total_tokens"]
    # now the stage has data: the plan of the same recipe says it is done, 0 calls
    again = run_cli("run", p, "--out", out, "--dry-run")
    assert _plan_row(again.stdout, "01-dynosaur")[1] == "done"
