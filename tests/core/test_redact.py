"""Redaction of credentials in URLs and Authorization values (issue 20 item 3), fast and model-free."""

from __future__ import annotations

import base64
import json

import pytest

from conftest import run_cli
from instructkit.redact import redact, register_url_secrets
from instructkit.runs import RunDir
from instructkit.runs import redact as runs_redact


@pytest.mark.parametrize("text,shown", [
    ("openai:m@http://bob:hunter22@127.0.0.1:8080/v1", "openai:m@http://<redacted>@127.0.0.1:8080/v1"),
    ("https://tok3nvalue@api.example.com/v1", "https://<redacted>@api.example.com/v1"),
    ("see http://u:p%40ss@h/v1 and http://plain.example/v1", "see http://<redacted>@h/v1 and http://plain.example/v1"),
    ("Authorization: Basic Ym9iOmh1bnRlcjIy", "Authorization: <redacted>"),
    ("authorization=bearer%20abc.def-ghi", "authorization=<redacted>"),
    ("openai:m@http://127.0.0.1:8080/v1", "openai:m@http://127.0.0.1:8080/v1"),
    ("mail me at bob@example.com", "mail me at bob@example.com"),
])
def test_urls_and_authorization_values(text, shown):
    assert redact(text) == shown


def test_url_credentials_are_registered_raw_decoded_and_base64():
    register_url_secrets("http://carol:s3cr%2Ft-pass@host:1/v1")
    b64 = base64.b64encode(b"carol:s3cr/t-pass").decode()
    assert redact(f"echo {b64} and s3cr/t-pass and s3cr%2Ft-pass") == "echo <redacted> and <redacted> and <redacted>"


def test_runs_re_exports_the_one_redact():
    assert runs_redact is redact


def test_manifest_argv_and_config_hide_url_credentials(tmp_path):
    spec = "openai:m@http://dave:pa55word99@127.0.0.1:9/v1"
    with RunDir(tmp_path / "run", command="demo", config={"model": spec}, argv=["--model", spec]) as run:
        run.update(model=spec)
    text = (tmp_path / "run" / "manifest.json").read_text()
    assert "pa55word99" not in text and "dave" not in text
    assert json.loads(text)["config"]["model"] == "openai:m@http://<redacted>@127.0.0.1:9/v1"


def test_a_bad_spec_error_line_hides_url_credentials():
    r = run_cli("chat", "--model", "openai:m@ftp://erin:topsecret77@host/v1", "hi", timeout=60)
    assert r.returncode == 2 and "topsecret77" not in r.stderr and "<redacted>" in r.stderr, r.stderr
