"""Round bookkeeping, learning-curve building, replay-run table and argument pairing (no model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from instructkit.cli.loop import split_stage_args
from instructkit.errors import UserError
from instructkit.loop.active_loop import LoopConfig
from instructkit.loop.replay_run import format_table
from instructkit.loop.rounds import (
    RoundPaths, build_curve, check_settings, existing_rounds, round_state, selected_ids, write_curve,
)
from tests.conftest import run_cli


def _finish_step(rp: RoundPaths, step: str, status: str = "complete") -> None:
    if step == "selected":
        rp.select.mkdir(parents=True, exist_ok=True)
        (rp.select / "manifest.json").write_text(json.dumps({"status": status}))
        rp.selected.write_text('{"task_id": "t1"}\n{"task_id": "t2"}\n')
        rp.selected_examples.write_text("")
    elif step == "trained":
        rp.model.mkdir(parents=True, exist_ok=True)
        (rp.model / "instructkit_model.json").write_text("{}")
    elif step == "evaluated":
        rp.eval.mkdir(parents=True, exist_ok=True)
        (rp.eval / "manifest.json").write_text(json.dumps({"status": status}))
        (rp.eval / "results.json").write_text("{}")


def _record(out: Path, strategy: str, r: int, tasks: list[str], rouge: float) -> None:
    rp = RoundPaths.of(out, strategy, r)
    rp.root.mkdir(parents=True, exist_ok=True)
    rp.record.write_text(json.dumps({"round": r, "selected": tasks[-2:], "train_tasks": tasks,
                                     "train_examples": 8 * len(tasks),
                                     "eval": {"rougeL": rouge, "exact_match_classification": None}}))


def test_round_state_follows_the_files_each_step_writes_last(tmp_path):
    rp = RoundPaths.of(tmp_path, "uncertainty", 2)
    assert rp.number == 2 and rp.root == tmp_path / "uncertainty" / "round_2"
    assert not any(round_state(rp).values())
    _finish_step(rp, "selected", status="running")  # killed while scoring: not done
    assert round_state(rp)["selected"] is False
    _finish_step(rp, "selected")
    _finish_step(rp, "trained")
    assert round_state(rp) == {"selected": True, "trained": True, "evaluated": False, "finished": False}
    _finish_step(rp, "evaluated", status="failed")
    assert round_state(rp)["evaluated"] is False
    _finish_step(rp, "evaluated")
    rp.record.write_text("{}")
    assert all(round_state(rp).values())
    assert selected_ids(rp.selected) == ["t1", "t2"]


def test_existing_rounds_are_numeric_and_ignore_other_folders(tmp_path):
    s = tmp_path / "random"
    for name in ("round_10", "round_2", "round_1", "roundabout", "round_x"):
        (s / name).mkdir(parents=True)
    (s / "round_3").write_text("a file, not a round")
    assert existing_rounds(s) == [1, 2, 10]
    assert existing_rounds(tmp_path / "missing") == []


def test_settings_are_recorded_once_and_a_mismatch_is_refused(tmp_path):
    cfg = LoopConfig(tasks=["pool"], eval_tasks=["ev"], out=str(tmp_path), k=2, rounds=2, steps=6)
    check_settings(tmp_path, cfg.settings())
    more_rounds = LoopConfig(tasks=["pool"], eval_tasks=["ev"], out=str(tmp_path), k=2, rounds=5, steps=6)
    check_settings(tmp_path, more_rounds.settings())  # more rounds extend a run: allowed
    other = LoopConfig(tasks=["pool"], eval_tasks=["ev"], out=str(tmp_path), k=3, rounds=2, steps=6)
    with pytest.raises(UserError, match=r"other settings \(k\)"):
        check_settings(tmp_path, other.settings())


def test_curve_has_one_line_per_strategy_and_only_finished_rounds(tmp_path):
    _record(tmp_path, "uncertainty", 1, ["a", "b"], 20.0)
    _record(tmp_path, "uncertainty", 2, ["a", "b", "c", "d"], 30.5)
    _record(tmp_path, "random", 1, ["e", "f"], 18.0)
    _finish_step(RoundPaths.of(tmp_path, "random", 2), "selected")  # unfinished: not a point
    curve = build_curve(tmp_path)
    assert set(curve["strategies"]) == {"uncertainty", "random"}
    unc = curve["strategies"]["uncertainty"]
    assert [(p["round"], p["tasks"], p["rougeL"]) for p in unc] == [(1, 2, 20.0), (2, 4, 30.5)]
    assert [p["tasks"] for p in curve["strategies"]["random"]] == [2]
    written = write_curve(tmp_path)
    assert written == json.loads((tmp_path / "curve.json").read_text())
    png = (tmp_path / "learning_curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000


def test_curve_of_an_empty_dir_is_empty_but_still_drawn(tmp_path):
    assert write_curve(tmp_path)["strategies"] == {}
    assert (tmp_path / "learning_curve.png").is_file()


def test_replay_table_rows_are_stages_and_columns_eval_sets():
    stages = [{"stage": 1, "rougeL": {"1": 40.0}}, {"stage": 2, "rougeL": {"1": 30.0, "2": 50.0}}]
    lines = format_table(stages, 2).splitlines()
    assert lines[0] == "| after stage | eval 1 | eval 2 | mean (seen) |"
    assert lines[2] == "| 1 | 40.00 |  | 40.00 |"
    assert lines[3] == "| 2 | 30.00 | 50.00 | 40.00 |"


def test_eval_sets_pair_with_stages_in_both_spellings():
    s, e = [Path("s1"), Path("s2"), Path("s3")], [Path("e1"), Path("e2"), Path("e3")]
    assert split_stage_args(s, e) == (["s1", "s2", "s3"], ["e1", "e2", "e3"])  # the flag repeated
    assert split_stage_args(s + e[1:], e[:1]) == (["s1", "s2", "s3"], ["e1", "e2", "e3"])  # listed after it
    with pytest.raises(UserError, match="cannot pair up"):
        split_stage_args(s, e[:2])


EX = Path(__file__).resolve().parents[2] / "examples" / "active"


def test_cli_refuses_eval_tasks_that_are_training_tasks(tmp_path):
    proc = run_cli("active-loop", EX / "task_even_or_odd.json", EX / "task_plural_noun.json", "--rounds", "1",
                   "--k", "1", "--eval", EX / "task_plural_noun.json", "--out", tmp_path / "o")
    assert proc.returncode == 2
    assert "task_plural_noun are also training tasks" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()  # refused before anything was written


def test_cli_refuses_an_unknown_strategy_and_unpaired_eval_sets(tmp_path):
    proc = run_cli("active-loop", EX, "--rounds", "1", "--k", "1", "--eval", EX / "task_plural_noun.json",
                   "--out", tmp_path / "o", "--strategy", "cleverest")
    assert proc.returncode == 2 and "--strategy cleverest" in proc.stderr
    proc = run_cli("replay-run", EX / "task_even_or_odd.json", EX / "task_plural_noun.json", "--budget", "1",
                   "--eval-per-stage", EX / "task_word_opposite.json", "--out", tmp_path / "r")
    assert proc.returncode == 2 and "cannot pair up" in proc.stderr
    assert not (tmp_path / "r").exists()


def test_no_replay_plan_trains_each_stage_on_its_own_tasks_only(tmp_path):
    from instructkit.loop.replay_run import ReplayRunConfig, _plan

    cfg = ReplayRunConfig(stages=[str(EX / "task_even_or_odd.json"), str(EX / "task_plural_noun.json")],
                          eval_sets=["e1", "e2"], out=str(tmp_path), budget=1, strategy="none")
    _plan(cfg, tmp_path / "plan", argv=[])
    for t, task in ((1, "task_even_or_odd"), (2, "task_plural_noun")):
        rows = [json.loads(line) for line in (tmp_path / "plan" / f"stage_{t}" / "train.jsonl").read_text().splitlines()]
        assert rows and {r["meta"]["task_id"] for r in rows} == {task}
        assert (tmp_path / "plan" / f"stage_{t}" / "replay_tasks.jsonl").read_text() == ""


@pytest.mark.parametrize("command", ["active-loop", "replay-run"])
def test_shared_train_eval_options_reach_the_config(command, monkeypatch):
    """Both commands take --steps .. --seed through one helper: defaults and given values land in the config."""
    from dataclasses import fields

    from typer.testing import CliRunner

    import instructkit.loop.active_loop as al
    import instructkit.loop.replay_run as rr
    from instructkit.cli import app
    from instructkit.loop.settings import TrainEvalSettings

    got = []
    monkeypatch.setattr(al, "run_active_loop", lambda cfg, argv=None: got.append(cfg) or {"rounds": []})
    monkeypatch.setattr(rr, "run_replay_stages", lambda cfg, argv=None: got.append(cfg) or {"markdown": ""})
    head = (["active-loop", "pool", "--rounds", "2", "--k", "1", "--eval", "ev"] if command == "active-loop"
            else ["replay-run", "s1", "s2", "--budget", "1", "--eval-per-stage", "e1", "e2"])
    given = ["--steps", "7", "--epochs", "1.5", "--full", "--lr", "0.01", "--max-len", "64", "--batch-size", "2",
             "--save-every", "3", "--eval-instances", "4", "--eval-max-tokens", "9", "--demos", "0",
             "--task-field", "tid", "--seed", "5"]
    for extra in ([], given):
        res = CliRunner().invoke(app, [*head, "--out", "o", "-q", *extra])
        assert res.exit_code == 0, res.output
    default, custom = got
    assert {f.name: getattr(default, f.name) for f in fields(TrainEvalSettings)} == vars(TrainEvalSettings())
    assert (custom.steps, custom.epochs, custom.lora, custom.lr, custom.max_len, custom.batch_size,
            custom.save_every, custom.eval_instances, custom.eval_max_tokens, custom.demos, custom.task_field,
            custom.seed) == (7, 1.5, False, 0.01, 64, 2, 3, 4, 9, 0, "tid", 5)
