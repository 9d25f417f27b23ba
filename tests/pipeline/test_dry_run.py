"""--dry-run: the plan per stage, counted with the model's tokenizer; no model call, nothing written."""

from __future__ import annotations

from pathlib import Path

from conftest import run_cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _recipe(tmp_path: Path, extra: str = "") -> Path:
    p = tmp_path / "r.yaml"
    p.write_text(f"sources: [{EXAMPLES / 'news_topics'}, {EXAMPLES / 'squad_mini'}]\nstages:\n"
                 "  - dynosaur: {modes: [aware, unaware], max_tasks: 2, rows: 3}\n"
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
    prompt, completion = int(row[4].replace(",", "")), int(row[5].replace(",", ""))
    assert prompt > 4 * 100 and completion == 4 * 400  # DynosaurConfig.max_tokens per call
    assert "prompt: tokenizer" in r.stdout and "nothing was written" in r.stdout
    assert not out.exists()


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
    r = run_cli("dynosaur", EXAMPLES / "news_topics", "--out", out, "--modes", "aware", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert _plan_row(r.stdout, str(out))[3] == "1" and not out.exists()
    r = run_cli("glan", "--out", out, "--disciplines", "Chemistry", "--subject-samples", "2", "--max-subjects", "1",
                "--questions-per-syllabus", "3", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert _plan_row(r.stdout, str(out))[3] == str(2 + 2 + 1 + 1 + 3 + 3) and not out.exists()
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
