"""``select qdit`` bad input: one line on stderr, exit 2, nothing half-written."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli


@pytest.fixture
def small(tmp_path):
    p = tmp_path / "data.jsonl"
    p.write_text("".join(json.dumps({"instruction": f"task {i}", "output": "ok", "stars": i % 3}) + "\n"
                         for i in range(5)))
    return p


@pytest.mark.parametrize("args,needle", [
    (["missing.jsonl", "--k", "2"], "no such file"),
    (["{small}", "--k", "2", "--engine", "fast"], "--engine"),
    (["{small}", "--k", "2", "--sweep", "0,2"], "--sweep"),
    (["{small}", "--k", "2", "--text", "title"], "--text"),
    (["{small}", "--k", "2", "--quality", "nope"], "'nope'"),
    (["{small}", "--k", "2", "--quality", "reward:/no/such/rm"], "not a local folder"),
])
def test_bad_input_exits_2_with_one_line(small, tmp_path, args, needle):
    out = tmp_path / "run"
    r = run_cli("select", "qdit", *[a.replace("{small}", str(small)) for a in args], "--out", str(out), "--quiet")
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (out / "selected.jsonl").exists()


def test_bad_jsonl_line_names_file_and_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"instruction": "a", "output": "b"}\n{not json\n')
    r = run_cli("select", "qdit", str(p), "--k", "1", "--out", str(tmp_path / "run"), "--quiet")
    assert r.returncode == 2
    assert "bad.jsonl:2" in r.stderr


def test_help_teaches():
    r = run_cli("select", "qdit", "--help")
    assert r.returncode == 0
    assert "--sweep" in r.stdout and "Example" in r.stdout
