"""active-loop and replay-run end to end on the real bundled model (hf:embedded), tiny budgets."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import cli_env, run_cli

pytestmark = pytest.mark.slow

EX = Path(__file__).resolve().parents[2] / "examples" / "active"
POOL = ["task_animal_group", "task_compare_numbers", "task_country_capital", "task_digit_to_word",
        "task_even_or_odd", "task_plural_noun"]
EVAL = ["task_word_opposite", "task_shout_sentence"]
TINY = ["--steps", "4", "--max-len", "96", "--batch-size", "4", "--lr", "1e-3", "--save-every", "2",
        "--instances", "2", "--perturbations", "2", "--max-tokens", "8",
        "--eval-instances", "2", "--eval-max-tokens", "8", "--demos", "0"]


def _copy(names: list[str], dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for n in names:
        shutil.copy(EX / f"{n}.json", dest)
    return dest


def _loop_args(root: Path, out: Path) -> list:
    return ["active-loop", root / "pool", "--rounds", "2", "--k", "2", "--eval", root / "eval", "--out", out, *TINY]


@pytest.fixture(scope="module")
def loop_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("loop")
    _copy(POOL, root / "pool")
    _copy(EVAL, root / "eval")
    proc = run_cli(*_loop_args(root, root / "run"))
    return {"root": root, "out": root / "run", "proc": proc}


def _lines(path: Path) -> int:
    """Complete (newline-terminated) records: a line torn by the kill is not one."""
    return sum(1 for line in path.read_text().split("\n")[:-1] if line.strip()) if path.is_file() else 0


def test_two_rounds_write_rounds_curve_and_png(loop_run):
    proc, out = loop_run["proc"], loop_run["out"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    curve = json.loads((out / "curve.json").read_text())
    points = curve["strategies"]["uncertainty"]
    assert [p["tasks"] for p in points] == [2, 4]
    assert all(0.0 <= p["rougeL"] <= 100.0 for p in points)
    assert (out / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    r1 = json.loads((out / "uncertainty" / "round_1" / "round.json").read_text())
    r2 = json.loads((out / "uncertainty" / "round_2" / "round.json").read_text())
    assert r1["scored_with"] == "hf:embedded"
    # round 2 scores with the model trained in round 1, and trains from the base on all 4 tasks
    assert r2["scored_with"] == r1["model"] and r2["model"] != r1["model"]
    assert not set(r1["selected"]) & set(r2["selected"]) and set(r1["selected"] + r2["selected"]) <= set(POOL)
    assert r2["train_tasks"] == r1["selected"] + r2["selected"]
    trained = [json.loads(line)["meta"]["task_id"] for line in
               (out / "uncertainty" / "round_2" / "train.jsonl").read_text().splitlines()]
    assert sorted(set(trained)) == sorted(r2["train_tasks"])
    marker = json.loads((out / "uncertainty" / "round_2" / "model" / "instructkit_model.json").read_text())
    assert marker["base"] == "hf:embedded" and marker["steps"] == 4
    scored2 = [json.loads(line)["task_id"] for line in
               (out / "uncertainty" / "round_2" / "select" / "scores.jsonl").read_text().splitlines()]
    assert sorted(scored2) == sorted(set(POOL) - set(r1["selected"]))  # only the remaining tasks
    assert set(r2["eval_tasks"]) == set(EVAL)
    assert "task_" in proc.stdout and "ROUGE-L" in proc.stdout


def test_kill_mid_round_resumes_that_round_with_the_same_selections(loop_run):
    """Round 1 (finished) is carried over; round 2 is killed while scoring, then resumed."""
    assert loop_run["proc"].returncode == 0
    root, ref = loop_run["root"], loop_run["out"]
    out = root / "killed"
    (out / "uncertainty").mkdir(parents=True)
    shutil.copy(ref / "uncertainty" / "loop.json", out / "uncertainty" / "loop.json")
    shutil.copytree(ref / "uncertainty" / "round_1", out / "uncertainty" / "round_1")
    r1_files = [out / "uncertainty" / "round_1" / p for p in
                ("round.json", "model/adapter_model.safetensors", "eval/results.json", "select/scores.jsonl")]
    mtimes = {p: p.stat().st_mtime_ns for p in r1_files}
    scores = out / "uncertainty" / "round_2" / "select" / "scores.jsonl"
    cmd = [sys.executable, "-m", "instructkit", *map(str, _loop_args(root, out)), "--quiet"]
    proc = subprocess.Popen(cmd, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while _lines(scores) < 1:
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        assert time.time() < deadline
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    scored_before = _lines(scores)  # a torn last line is dropped on resume, so count whole lines only
    remaining = len(POOL) - 2
    assert 1 <= scored_before < remaining, "killed too late to test resuming the scoring"
    assert not (out / "uncertainty" / "round_2" / "round.json").exists()

    again = run_cli(*_loop_args(root, out))
    assert again.returncode == 0, again.stderr[-3000:]
    assert "round 1: finished earlier" in again.stderr
    assert {p: p.stat().st_mtime_ns for p in r1_files} == mtimes  # round 1 not redone
    manifest = json.loads((out / "uncertainty" / "round_2" / "select" / "manifest.json").read_text())
    assert manifest["runs"] == 2
    assert manifest["counts"]["scored_now"] == remaining - scored_before  # only the unscored tasks
    assert _lines(scores) == remaining  # no task scored twice
    r2 = json.loads((out / "uncertainty" / "round_2" / "round.json").read_text())
    ref2 = json.loads((ref / "uncertainty" / "round_2" / "round.json").read_text())
    assert r2["selected"] == ref2["selected"] and r2["train_tasks"] == ref2["train_tasks"]
    curve = json.loads((out / "curve.json").read_text())["strategies"]["uncertainty"]
    assert [p["selected"] for p in curve] == [p["selected"] for p in json.loads(
        (ref / "curve.json").read_text())["strategies"]["uncertainty"]]

    # a finished run re-run does nothing but report
    third = run_cli(*_loop_args(root, out))
    assert third.returncode == 0 and third.stderr.count("finished earlier") == 2
    assert json.loads((out / "uncertainty" / "round_2" / "select" / "manifest.json").read_text())["runs"] == 2


def test_replay_run_writes_the_stage_by_eval_table(tmp_path):
    s1 = _copy(["task_animal_group", "task_even_or_odd"], tmp_path / "s1")
    s2 = _copy(["task_plural_noun", "task_digit_to_word"], tmp_path / "s2")
    e1 = _copy(["task_compare_numbers"], tmp_path / "e1")
    e2 = _copy(["task_word_opposite"], tmp_path / "e2")
    out = tmp_path / "cl"
    proc = run_cli("replay-run", s1, s2, "--budget", "1", "--eval-per-stage", e1, e2, "--out", out,
                   "--strategy", "instruction-diverse", "--steps", "3", "--max-len", "96", "--batch-size", "4",
                   "--lr", "1e-3", "--eval-instances", "2", "--eval-max-tokens", "8", "--demos", "0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((out / "results.json").read_text())
    table = res["table"]
    assert len(table) == 2 and table[0][1] is None and all(0 <= v <= 100 for v in (table[0][0], *table[1]))
    assert res["stages"][1]["replayed_tasks"] and set(res["stages"][1]["replayed_tasks"]) <= {
        "task_animal_group", "task_even_or_odd"}
    # stage 2 continued from stage 1's model (merged), not from the base
    marker = json.loads((out / "stage_2" / "model" / "instructkit_model.json").read_text())
    assert marker["base"] == f"hf:{(out / 'stage_1' / 'model').resolve()}"
    md = (out / "table.md").read_text()
    assert "| after stage | eval 1 | eval 2 |" in md and "| after stage |" in proc.stdout
    assert sorted(p.name for p in (out / "stage_2").iterdir() if p.name.startswith("eval_")) == ["eval_1", "eval_2"]
