"""Dynosaur through the OpenAI-compatible backend, against a real llama.cpp server (the bundled model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_dynosaur_over_openai_compatible_server(llama_server, tmp_path):
    out = tmp_path / "srv"
    r = run_cli("dynosaur", ROOT / "examples" / "sentence_pairs", "--out", out, "--rows", "6",
                "--modes", "aware", "--model", f"openai:smollm2@{llama_server}", "--quiet", "--no-verify")
    assert r.returncode == 0, r.stderr
    m = json.loads((out / "manifest.json").read_text())
    assert m["this_run"]["usage"]["calls"] == 1 and m["counts"]["tasks_proposed"] >= 1
    tasks = [json.loads(x) for x in (out / "tasks.jsonl").read_text().splitlines()]
    rejected = [json.loads(x) for x in (out / "rejected.jsonl").read_text().splitlines() if x]
    assert len(tasks) + len(rejected) == m["counts"]["tasks_proposed"]
    insts = [json.loads(x) for x in (out / "instances.jsonl").read_text().splitlines() if x]
    assert len(insts) == m["counts"]["instances"]
    assert all(i["meta"]["model"].startswith("openai:") for i in insts)
