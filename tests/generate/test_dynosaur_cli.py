"""``instructkit dynosaur`` argument and input errors (no model is loaded for any of these)."""

from __future__ import annotations

from conftest import run_cli


def test_help_teaches_with_an_example():
    r = run_cli("dynosaur", "--help")
    assert r.returncode == 0
    for word in ("--modes", "--rows", "--max-tasks", "Example: instructkit dynosaur", "grow"):
        assert word in r.stdout


def test_bad_source_exits_2_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    r = run_cli("dynosaur", tmp_path / "no_such_dataset.jsonl", "--out", out)
    assert r.returncode == 2
    assert "no_such_dataset" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


def test_bad_file_content_exits_2(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\nnot json\n')
    r = run_cli("dynosaur", bad, "--out", tmp_path / "run")
    assert r.returncode == 2 and "bad.jsonl" in r.stderr


def test_bad_modes_exit_2(tmp_path):
    r = run_cli("dynosaur", "examples/news_topics", "--modes", "aware,clever", "--out", tmp_path / "r")
    assert r.returncode == 2 and "--modes" in r.stderr


def test_report_without_a_run_exits_2(tmp_path):
    r = run_cli("dynosaur", "--out", tmp_path / "nothing")
    assert r.returncode == 2 and "give SOURCE" in r.stderr
