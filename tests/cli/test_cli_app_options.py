"""App-level options, before the command: ``instructkit --quiet CMD`` and ``instructkit --debug CMD``."""

from __future__ import annotations

import json

from conftest import run_cli

ROWS = [{"instruction": "Say hi.", "input": "", "output": "hi"},
        {"instruction": "Say hi.", "input": "", "output": "hi"},
        {"instruction": "Name a color.", "input": "", "output": "red"}]


def _data(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return path


def test_quiet_before_the_command_silences_info_lines_not_the_work(tmp_path):
    data = _data(tmp_path)
    loud = run_cli("dedup", data, "--out", tmp_path / "loud", "--method", "exact")
    quiet = run_cli("--quiet", "dedup", data, "--out", tmp_path / "quiet", "--method", "exact")
    assert loud.returncode == quiet.returncode == 0, (loud.stderr, quiet.stderr)
    assert "kept 2 of 3" in loud.stderr  # the info line the app option must silence
    assert quiet.stderr.strip() == "" and quiet.stdout.strip() == ""
    kept = [json.loads(line)["id"] for line in (tmp_path / "quiet" / "kept.jsonl").read_text().splitlines()]
    assert kept == [json.loads(line)["id"] for line in (tmp_path / "loud" / "kept.jsonl").read_text().splitlines()]
    assert len(kept) == 2


def test_debug_before_the_command_shows_the_traceback_and_debug_logs(tmp_path):
    missing = tmp_path / "nope"
    plain = run_cli("inspect", missing)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert plain.stderr.strip().splitlines() == [f"error: {missing}: no such file or folder; check the path"]
    debug = run_cli("--debug", "inspect", missing)
    assert debug.returncode != 0
    assert "Traceback (most recent call last)" in debug.stderr and "UserError" in debug.stderr
    assert "DEBUG instructkit: instructkit " in debug.stderr  # instructkit's DEBUG log lines are on


def test_the_engine_choice_is_a_debug_log_line(caplog):
    import logging

    import numpy as np

    from instructkit.select.qdit import qdit_select

    X = np.eye(3, dtype=np.float32)
    with caplog.at_level(logging.DEBUG, logger="instructkit"):
        qdit_select(X, None, 1, alpha=0.0)
    assert "qdit: pool 3, k 1, alpha 0, engine auto -> lazy" in caplog.text


def test_debug_after_the_command_still_works_as_the_app_option(tmp_path):
    # commands used to declare --debug themselves; scripts written then keep working (hoisted in main)
    missing = tmp_path / "nowhere"
    res = run_cli("inspect", missing, "--debug")
    assert res.returncode != 0 and "No such option" not in res.stderr
    assert "Traceback (most recent call last)" in res.stderr and "DEBUG instructkit: instructkit " in res.stderr
    plain = run_cli("inspect", missing)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr


def test_debug_after_a_double_dash_is_not_an_option():
    from instructkit.cli.app import _hoist_debug

    assert _hoist_debug(["chat", "--", "--debug"]) == ["chat", "--", "--debug"]
    assert _hoist_debug(["--debug", "inspect", "x"]) == ["--debug", "inspect", "x"]
    assert _hoist_debug(["inspect", "x", "--debug"]) == ["--debug", "inspect", "x"]
