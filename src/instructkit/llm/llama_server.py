"""Start llama-cpp-python's OpenAI-compatible server on 127.0.0.1 (tests, benchmarks, local use).

>>> with llama_server() as url:                                   # doctest: +SKIP
...     llm = open_model(f"openai:smollm2@{url}")
"""

from __future__ import annotations

import contextlib
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
    import httpx

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
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited: {Path(log_file.name).read_text()[-2000:]}")
            try:
                if httpx.get(url + "/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama.cpp server not ready within {ready_timeout:.0f} s")
            time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log_file.close()
        if not log_path:
            Path(log_file.name).unlink(missing_ok=True)
