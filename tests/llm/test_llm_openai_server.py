"""The OpenAI-compatible backend against a real llama.cpp server (llama-cpp-python's, the bundled model).

The server is started once per session on 127.0.0.1 and always terminated. A small counting proxy
in front of it measures how many requests are really in flight, to check the door's semaphore.
"""

from __future__ import annotations

import asyncio
import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import httpx
import pytest

from instructkit.errors import UnsupportedError
from instructkit.llm import LLM, open_model
from instructkit.llm.usage import UsageLedger

pytestmark = pytest.mark.slow

SCHEMA = {"type": "object", "properties": {"color": {"type": "string"}}, "required": ["color"]}


class CountingProxy:
    """Forwards requests to the server and records the most requests in flight at once (and every
    status code the server answered, in order)."""

    def __init__(self, target: str):
        t = urlsplit(target)
        self.host, self.port = t.hostname, t.port
        self.inflight = self.max_inflight = self.total = 0
        self.statuses: list[int] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with outer.lock:
                    outer.inflight += 1
                    outer.total += 1
                    outer.max_inflight = max(outer.max_inflight, outer.inflight)
                try:
                    conn = http.client.HTTPConnection(outer.host, outer.port, timeout=120)
                    conn.request("POST", self.path, body, {"content-type": "application/json"})
                    resp = conn.getresponse()
                    data = resp.read()
                    conn.close()
                    outer.statuses.append(resp.status)
                finally:
                    with outer.lock:
                        outer.inflight -= 1
                self.send_response(resp.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}{urlsplit(target).path}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def run(llm: LLM, coro_factory):
    async def go():
        try:
            return await coro_factory()
        finally:
            await llm.aclose()
    return asyncio.run(go())


def test_chat(llama_server):
    llm = open_model(f"openai:smol@{llama_server}", timeout=60, max_retries=1)
    out = run(llm, lambda: llm.chat([{"role": "user", "content": "Say hello."}], max_tokens=16, logprobs=2))
    assert out.text.strip() and out.prompt_tokens > 5 and 0 < out.completion_tokens <= 16
    assert out.top_logprobs and len(out.top_logprobs) == out.completion_tokens
    assert all(v <= 0 for alt in out.top_logprobs for v in alt.values())
    assert llm.ledger.calls == 1 and llm.ledger.completion_tokens == out.completion_tokens


def test_structured_output_falls_back_and_validates(llama_server):
    llm = open_model(f"openai:smol@{llama_server}", timeout=60, max_retries=1)

    async def go():
        msgs = [{"role": "user", "content": "Pick a color. Answer in JSON."}]
        first = await llm.chat(msgs, schema=SCHEMA, max_tokens=32)
        second = await llm.chat([{"role": "user", "content": "Name a fruit and its color."}], schema=SCHEMA,
                                max_tokens=32)
        return first, second
    first, second = run(llm, go)
    # llama-cpp-python rejects json_schema; the backend must fall back (once) and still constrain
    assert llm.backend.mode == "json_object"
    assert llm.ledger.retries["format_rejected"] == 1
    for out in (first, second):
        assert out.parse_error is None, out.text
        assert isinstance(out.parsed, dict) and isinstance(out.parsed["color"], str)


@pytest.mark.parametrize("limit", [2, 5])
def test_concurrency_bounded_by_the_semaphore(llama_server, limit):
    proxy = CountingProxy(llama_server)
    try:
        llm = open_model(f"openai:smol@{proxy.url}", concurrency=limit, timeout=120, max_retries=0)
        n = 6
        outs = run(llm, lambda: asyncio.gather(*[
            llm.chat([{"role": "user", "content": f"Count to {i + 2}."}], max_tokens=6) for i in range(n)]))
    finally:
        proxy.close()
    assert len(outs) == n and all(o.text for o in outs) and proxy.total == n
    assert proxy.max_inflight <= limit
    # the server answers one request at a time, so requests queue: the bound is actually reached
    assert proxy.max_inflight >= min(limit, 3)
    assert llm.ledger.calls == n and not llm.ledger.failures


def test_score_is_correct_or_refused(llama_server, local_backend):
    """Echoed prompt logprobs are used only when they line up with the true ones (checked against
    the embedded model: the same GGUF in-process); otherwise score refuses clearly."""
    prompt, cont = "The capital of France is", " Paris, a large city."
    truth = asyncio.run(LLM(local_backend).score(prompt, cont))
    raw = httpx.post(f"{llama_server}/completions", json={
        "model": "x", "prompt": prompt + cont, "echo": True, "logprobs": 1, "max_tokens": 1,
        "temperature": 0}, timeout=60).json()["choices"][0]["logprobs"]
    n = len(truth.logprobs)
    tail = [v for v in raw["token_logprobs"][:len(raw["token_logprobs"]) - 1][-n:]]
    server_is_right = all(abs(a - b) < 0.05 for a, b in zip(tail, truth.logprobs))

    ledger = UsageLedger()
    llm = open_model(f"openai:smol@{llama_server}", ledger=ledger, timeout=60, max_retries=1)
    if server_is_right:
        got = run(llm, lambda: llm.score(prompt, cont))
        assert got.tokens == truth.tokens
        assert got.logprobs == pytest.approx(truth.logprobs, abs=0.05)
    else:
        with pytest.raises(UnsupportedError, match="shifted by one"):
            run(llm, lambda: llm.score(prompt, cont))
        assert ledger.failures["unsupported"] == 1
