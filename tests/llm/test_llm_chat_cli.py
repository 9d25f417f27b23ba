"""``instructkit chat`` end to end with the embedded model."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli

pytestmark = pytest.mark.slow


def test_chat_local():
    r = run_cli("chat", "--model", "local", "--max-tokens", "16", "Say hello.")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()
    assert "prompt +" in r.stderr + r.stdout  # the token summary line (suppressed by --quiet)


def test_chat_schema_prints_json(tmp_path):
    schema = {"type": "object", "properties": {"color": {"type": "string"}}, "required": ["color"]}
    (tmp_path / "s.json").write_text(json.dumps(schema))
    r = run_cli("chat", "--quiet", "--max-tokens", "32", "--schema", f"@{tmp_path / 's.json'}",
                "--cache", str(tmp_path / "c.sqlite"), "Pick a color. Answer in JSON.")
    assert r.returncode == 0, r.stderr
    value = json.loads(r.stdout)
    assert isinstance(value["color"], str)
    # the same question again is answered from the cache
    r2 = run_cli("chat", "--max-tokens", "32", "--schema", f"@{tmp_path / 's.json'}",
                 "--cache", str(tmp_path / "c.sqlite"), "Pick a color. Answer in JSON.")
    assert json.loads(r2.stdout.split("\n}")[0] + "\n}") == value and "(cached)" in r2.stdout + r2.stderr


# slow only because of the backoff between the retries of a refused connection
def test_unreachable_server_is_a_clear_model_error():
    r = run_cli("chat", "--model", "openai:m@http://127.0.0.1:9/v1", "hi", timeout=120)
    assert r.returncode != 0 and "cannot connect" in r.stderr and "Traceback" not in r.stderr
