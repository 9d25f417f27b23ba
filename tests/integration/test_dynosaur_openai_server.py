"""Dynosaur through the OpenAI-compatible backend, against a real llama.cpp server (the bundled model)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import run_cli
from instructkit.llm.local import embedded_model_path

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path_factory.mktemp("srv") / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(embedded_model_path()),
                             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096"],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, "llama.cpp server exited"
            try:
                if httpx.get(url + "/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "llama.cpp server not ready in 90 s"
            time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_dynosaur_over_openai_compatible_server(server_url, tmp_path):
    out = tmp_path / "srv"
    r = run_cli("dynosaur", ROOT / "examples" / "sentence_pairs", "--out", out, "--rows", "6",
                "--modes", "aware", "--model", f"openai:smollm2@{server_url}", "--quiet")
    assert r.returncode == 0, r.stderr
    m = json.loads((out / "manifest.json").read_text())
    assert m["this_run"]["usage"]["calls"] == 1 and m["counts"]["tasks_proposed"] >= 1
    tasks = [json.loads(x) for x in (out / "tasks.jsonl").read_text().splitlines()]
    rejected = [json.loads(x) for x in (out / "rejected.jsonl").read_text().splitlines() if x]
    assert len(tasks) + len(rejected) == m["counts"]["tasks_proposed"]
    insts = [json.loads(x) for x in (out / "instances.jsonl").read_text().splitlines() if x]
    assert len(insts) == m["counts"]["instances"]
    assert all(i["meta"]["model"].startswith("openai:") for i in insts)
