"""Run directories: streams, torn-line repair, atomic manifest, the lock, rejected items, redaction."""

from __future__ import annotations

import json
import os

import pytest

from instructkit.errors import UserError
from instructkit.runs import JsonlStream, RunDir, atomic_write_json, read_jsonl, redact, register_secret


def test_stream_is_duplicate_free_and_resumes(tmp_path):
    s = JsonlStream(tmp_path / "x.jsonl")
    assert s.append({"id": "a", "v": 1}) and s.append({"id": "b", "v": 2})
    assert not s.append({"id": "a", "v": 99})
    s.close()
    s2 = JsonlStream(tmp_path / "x.jsonl")
    assert "a" in s2 and "b" in s2 and len(s2) == 2
    assert not s2.append({"id": "b", "v": 3}) and s2.append({"id": "c", "v": 3})
    assert [r["id"] for r in s2.records()] == ["a", "b", "c"]
    s2.close()


def test_torn_last_line_is_repaired(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "c", "text": "half wri', encoding="utf-8")
    s = JsonlStream(p)
    assert len(s) == 2 and "c" not in s
    assert s.append({"id": "c", "text": "whole"})
    s.close()
    rows = list(read_jsonl(p))
    assert [r["id"] for r in rows] == ["a", "b", "c"] and rows[-1]["text"] == "whole"


def test_torn_line_without_newline_but_valid_json_is_still_cut(tmp_path):
    # a record is only complete with its newline: '{"id": "b"}' without one may be a prefix of more
    p = tmp_path / "x.jsonl"
    p.write_bytes(b'{"id": "a"}\n{"id": "b"}')
    s = JsonlStream(p)
    assert len(s) == 1
    s.close()
    assert p.read_bytes() == b'{"id": "a"}\n'


def test_atomic_manifest_survives_a_failed_write(tmp_path, monkeypatch):
    p = tmp_path / "manifest.json"
    atomic_write_json(p, {"v": 1})

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_json(p, {"v": 2, "big": "x" * 100_000})
    monkeypatch.undo()
    assert json.loads(p.read_text()) == {"v": 1}  # old content intact, never half-written


def test_rundir_manifest_resume_and_status(tmp_path):
    with RunDir(tmp_path / "r", command="demo", config={"n": 3}, argv=["demo", "--n", "3"]) as run:
        run.stream("items").append({"id": "x"})
        run.reject("y", "too short", stage="filter", length=2)
        run.reject("y", "too short", stage="filter", length=2)  # idempotent
        run.update(counts={"items": 1})
    m = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert m["status"] == "complete" and m["runs"] == 1 and m["counts"] == {"items": 1}
    assert len(list(read_jsonl(tmp_path / "r" / "rejected.jsonl"))) == 1
    with pytest.raises(RuntimeError):
        with RunDir(tmp_path / "r", command="demo") as run:
            assert "x" in run.stream("items")
            raise RuntimeError("crash")
    m = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert m["status"] == "failed" and m["runs"] == 2 and m["created"]


def test_seconds_add_up_over_resumed_runs_and_not_the_time_between(tmp_path, monkeypatch):
    """``seconds`` is the time the runs spent running (each to its last checkpoint), ``this_run.wall_s``
    this run's; the idle hour between two runs counts in neither (``updated - created`` would count it)."""
    import instructkit.runs as runs

    clock = [1000.0]
    monkeypatch.setattr(runs.time, "monotonic", lambda: clock[0])
    with RunDir(tmp_path / "r", command="demo") as run:
        clock[0] += 12.0
        run.finish(counts={"examples": 1}, usage={})
    clock[0] += 3600.0  # an hour with nothing running
    with RunDir(tmp_path / "r", command="demo") as run:
        clock[0] += 5.0
        run.record_usage({})  # a checkpoint, then the run is killed: its 5 s count, the rest is lost
        m = json.loads((tmp_path / "r" / "manifest.json").read_text())
        assert m["seconds"] == 17.0 and m["this_run"]["wall_s"] == 5.0 and m["runs"] == 2
        clock[0] += 1.0
        run.finish(counts={"examples": 1}, usage={}, this_run={"wall_s": 4.5})  # a command that timed itself
    m = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert m["seconds"] == 18.0 and m["this_run"]["wall_s"] == 4.5


def test_rundir_refuses_another_command(tmp_path):
    RunDir(tmp_path / "r", command="a").close()
    with pytest.raises(UserError, match="holds a 'a' run"):
        RunDir(tmp_path / "r", command="b")


def test_lock_prevents_two_runs_on_one_dir(tmp_path):
    first = RunDir(tmp_path / "r", command="demo")
    with pytest.raises(UserError, match="in use"):
        RunDir(tmp_path / "r", command="demo")
    first.close()
    RunDir(tmp_path / "r", command="demo").close()  # free again once closed


def test_out_path_that_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(UserError, match="not a directory"):
        RunDir(f, command="demo")


def test_api_keys_never_reach_the_run_dir(tmp_path):
    key_sk = "sk-proj-AAAAbbbbCCCCdddd1234"
    key_plain = "plainSecretValue42"  # not key-shaped: must be caught by position and registration
    key_reg = "registeredKeyZZ9"
    register_secret(key_reg)
    argv = ["dynosaur", "--model", "openai:m", "--api-key", key_plain, f"--hf-token={key_sk}", "--max-tokens", "64"]
    config = {"api_key": key_plain, "model": {"headers": {"Authorization": f"Bearer {key_sk}"}},
              "note": f"uses {key_reg}", "max_tokens": 64}
    with RunDir(tmp_path / "r", command="demo", config=config, argv=argv) as run:
        run.reject("i1", f"server said 401 for {key_sk}", stage="call", detail=f"key={key_reg}")
        run.update(usage={"prompt_tokens": 12, "completion_tokens": 3}, error=f"bad {key_reg}")
    blob = "".join(p.read_text(errors="replace") for p in (tmp_path / "r").rglob("*") if p.is_file())
    for k in (key_sk, key_plain, key_reg):
        assert k not in blob
    m = json.loads((tmp_path / "r" / "manifest.json").read_text())
    # ordinary counts that merely contain "token" are kept
    assert m["usage"] == {"prompt_tokens": 12, "completion_tokens": 3} and m["config"]["max_tokens"] == 64
    assert m["argv"][-2:] == ["--max-tokens", "64"]


def test_redact_shapes():
    assert redact({"OPENAI_API_KEY": "x", "hf_token": "y", "tokens": 5}) == \
        {"OPENAI_API_KEY": "<redacted>", "hf_token": "<redacted>", "tokens": 5}
    assert redact(["--api-key=abc", "--token", "t0k", "-m", "local"]) == \
        ["--api-key=<redacted>", "--token", "<redacted>", "-m", "local"]
    assert redact("Authorization: Bearer abc.def") == "Authorization: <redacted>"
