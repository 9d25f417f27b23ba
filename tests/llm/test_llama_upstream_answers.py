"""The door on the answers the upstream llama-server gives (bodies copied from llama.cpp's server source:
``server-http.cpp`` 503 "Loading model"; ``/v1/completions`` ignores ``echo`` and returns the generated
token's logprobs only, as observed), served by the fault-injection server. The real server:
tests/llm/test_llama_upstream.py."""

from __future__ import annotations

import asyncio
import json

import pytest

from instructkit.errors import UnsupportedError
from tests.llm.test_llm_openai_faults import SCHEMA, FaultServer, chat, make_llm

LOADING = {"error": {"message": "Loading model", "type": "unavailable_error", "code": 503}}
# what llama-server answered to {"echo": true, "logprobs": 1, "max_tokens": 1}: no prompt tokens in it
GENERATED_ONLY = {"id": "c1", "object": "text_completion", "created": 0, "model": "m",
                  "choices": [{"index": 0, "text": ".", "finish_reason": "length", "logprobs": {"content": [
                      {"id": 30, "token": ".", "bytes": [46], "logprob": -0.4,
                       "top_logprobs": [{"id": 30, "token": ".", "bytes": [46], "logprob": -0.4}]}]}}],
                  "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}


class UpstreamLike(FaultServer):
    """Adds llama-server's answers: ("loading",) and, on /completions, logprobs of the generated token only."""

    def act(self, h, action, body):
        def send(code: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            h.send_response(code)
            h.send_header("content-type", "application/json; charset=utf-8")
            h.send_header("content-length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)

        if action[0] == "loading":
            return send(503, LOADING)
        if h.path.endswith("/completions") and not h.path.endswith("/chat/completions"):
            return send(200, GENERATED_ONLY)
        return super().act(h, action, body)


@pytest.fixture
def upstream():
    s = UpstreamLike()
    yield s
    s.close()


def test_loading_503_is_retried_until_the_model_answers(upstream):
    upstream.script = [("loading",), ("loading",), ("ok", "hi there")]
    llm = make_llm(upstream, timeout=15.0)  # roomy: the box may be loaded
    out = chat(llm)
    assert out.text == "hi there"
    assert llm.ledger.retries["server"] == 2 and not llm.ledger.failures
    assert len(upstream.requests) == 3


def test_loading_during_schema_discovery_is_not_taken_for_a_refused_format(upstream):
    upstream.script = [("loading",), ("ok", '{"color": "red"}')]
    llm = make_llm(upstream, timeout=15.0)  # roomy: the box may be loaded
    out = chat(llm, schema=SCHEMA)
    assert out.parsed == {"color": "red"}
    assert llm.backend.mode == "json_schema"
    assert not llm.ledger.retries.get("format_rejected") and llm.ledger.retries["server"] == 1
    assert [r["response_format"]["type"] for r in upstream.requests] == ["json_schema", "json_schema"]


def test_score_is_refused_with_the_servers_reason(upstream):
    llm = make_llm(upstream, timeout=15.0)  # roomy: the box may be loaded

    async def go():
        try:
            return await llm.score("The capital of France is", " Paris.")
        finally:
            await llm.aclose()
    with pytest.raises(UnsupportedError, match="no token logprobs for the prompt"):
        asyncio.run(go())
    assert llm.ledger.failures["unsupported"] == 1
