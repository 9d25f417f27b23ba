"""``instructkit chat`` bad input: exit code 2 and one line, no model needed."""

from __future__ import annotations

import pytest

from conftest import run_cli


@pytest.mark.parametrize("args,needle", [
    (["--model", "gpt-4", "hi"], "model spec 'gpt-4' not understood"),
    (["--model", "openai:m@localhost:8000", "hi"], "must be an http(s) URL"),
    (["--schema", "{not json", "hi"], "--schema: not valid JSON"),
    (["--schema", "@/nonexistent/s.json", "hi"], "file not found"),
    (["--model", "local:/nonexistent/m.gguf", "hi"], "not found"),
])
def test_bad_input_exit_2_one_line(args, needle):
    r = run_cli("chat", *args, timeout=60)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and needle in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_openai_without_key_is_one_line(tmp_path):
    r = run_cli("chat", "--model", "openai:gpt-4o-mini", "hi", env={"OPENAI_API_KEY": ""}, timeout=60)
    assert r.returncode == 2 and "OPENAI_API_KEY" in r.stderr and len(r.stderr.strip().splitlines()) == 1
