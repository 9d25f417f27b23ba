"""The transformers backend on the real bundled model: hf:embedded chat, logprobs, JSON and score."""

from __future__ import annotations

import asyncio
import math

import pytest

pytestmark = pytest.mark.slow

MSGS = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def hf_llm():
    from instructkit.llm import open_model

    return open_model("hf:embedded")  # no cache: every call below reaches the model


def test_hf_embedded_chat_is_greedy_deterministic_with_top_logprobs(hf_llm):
    a = asyncio.run(hf_llm.chat(MSGS, max_tokens=16, logprobs=3))
    b = asyncio.run(hf_llm.chat(MSGS, max_tokens=16))
    assert a.text.strip() and a.text == b.text
    assert "Paris" in a.text
    assert 0 < a.completion_tokens <= 16 and a.prompt_tokens > 5
    assert len(a.top_logprobs) == a.completion_tokens
    for alts in a.top_logprobs:
        assert len(alts) == 3 and all(math.isfinite(v) and v <= 0 for v in alts.values())
    s1 = asyncio.run(hf_llm.chat(MSGS, max_tokens=12, temperature=1.0, seed=7))
    s2 = asyncio.run(hf_llm.chat(MSGS, max_tokens=12, temperature=1.0, seed=7))
    assert s1.text == s2.text  # seeded sampling repeats
    stopped = asyncio.run(hf_llm.chat(MSGS, max_tokens=16, stop=["Paris"]))
    assert "Paris" not in stopped.text and stopped.finish_reason == "stop"


def test_hf_schema_answer_is_prefilled_and_validated(hf_llm):
    schema = {"type": "object", "properties": {"color": {"type": "string"}}, "required": ["color"]}
    comp = asyncio.run(hf_llm.chat([{"role": "user", "content": "What color is the sky?"}], schema=schema,
                                   max_tokens=30))
    assert comp.text.startswith("{")
    assert comp.parse_error is None, comp.text
    assert isinstance(comp.parsed["color"], str) and comp.parsed["color"]


def test_hf_score_agrees_with_llama_cpp_on_the_same_model(hf_llm, local_backend):
    from instructkit.llm import LLM

    local = LLM(local_backend)
    cont = "The capital of France is Paris."
    for prompt in (MSGS, "Question: What is the capital of France?\nAnswer: "):
        h = asyncio.run(hf_llm.score(prompt, cont))
        ll = asyncio.run(local.score(prompt, cont))
        assert h.tokens == ll.tokens and len(h.tokens) >= 6
        assert all(math.isfinite(x) and x <= 0 for x in h.logprobs)
        # same weights (the float32 copy of the Q4_1 GGUF) on two runtimes: close, not identical
        assert abs(h.mean_logprob - ll.mean_logprob) < 0.3, (h.logprobs, ll.logprobs)
    worse = asyncio.run(hf_llm.score(MSGS, "The capital of France is Berlin."))
    assert worse.total_logprob < asyncio.run(hf_llm.score(MSGS, cont)).total_logprob
