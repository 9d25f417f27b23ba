"""The embedded model behind the door: chat, schema-valid JSON, scoring, and the response cache."""

from __future__ import annotations

import asyncio

import pytest

from instructkit.llm import LLM
from instructkit.llm.cache import ResponseCache
from instructkit.llm.usage import UsageLedger

pytestmark = pytest.mark.slow

SCHEMA = {"type": "object", "properties": {"color": {"type": "string", "minLength": 1}}, "required": ["color"]}


def test_embedded_model_chats(local_llm):
    out = asyncio.run(local_llm.chat([{"role": "user", "content": "Say hello."}], max_tokens=16))
    assert out.text.strip() and out.prompt_tokens > 0 and 0 < out.completion_tokens <= 16
    assert not out.cached and local_llm.ledger.calls == 1


def test_embedded_model_returns_schema_valid_json(local_llm):
    out = asyncio.run(local_llm.chat([{"role": "user", "content": "Pick a color. Answer in JSON."}],
                                     schema=SCHEMA, max_tokens=32))
    assert out.parse_error is None, out.text
    assert isinstance(out.parsed["color"], str) and out.parsed["color"]


def test_grammar_keeps_strings_valid_json(local_backend):
    # llama-cpp-python's converter allows raw newlines inside strings (not JSON); ours must not
    gbnf = local_backend._grammar(SCHEMA)._grammar
    assert "\\x00-\\x1F" in gbnf


def test_score_prefers_the_sensible_continuation(local_llm):
    good = asyncio.run(local_llm.score("The capital of France is", " Paris."))
    bad = asyncio.run(local_llm.score("The capital of France is", " banana."))
    assert good.tokens and all(lp <= 0 for lp in good.logprobs)
    assert good.total_logprob > bad.total_logprob


def _run_batch(backend, cache_path, prompts, **kw):
    llm = LLM(backend, cache=ResponseCache(cache_path), ledger=UsageLedger())

    async def go():
        return await asyncio.gather(*[llm.chat([{"role": "user", "content": p}], max_tokens=12, **kw)
                                      for p in prompts])
    return llm, asyncio.run(go())


def test_second_identical_run_makes_no_model_calls(local_backend, tmp_path):
    prompts = ["Name a fruit.", "Name a river.", "Name a tool."]
    first_llm, first = _run_batch(local_backend, tmp_path / "c.sqlite", prompts)
    assert first_llm.ledger.calls == 3 and first_llm.ledger.cache_hits == 0
    again_llm, again = _run_batch(local_backend, tmp_path / "c.sqlite", prompts)  # a new process would do the same
    assert again_llm.ledger.calls == 0 and again_llm.ledger.cache_hits == 3
    assert [o.text for o in again] == [o.text for o in first] and all(o.cached for o in again)
    assert again_llm.ledger.snapshot()["cached_completion_tokens"] == first_llm.ledger.completion_tokens


def test_seeds_and_samples_are_separate_entries(local_backend, tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    llm = LLM(local_backend, cache=cache, ledger=UsageLedger())
    msgs = [{"role": "user", "content": "Write a short sentence about the sea."}]

    async def go():
        by_seed = [await llm.chat(msgs, temperature=1.0, seed=s, max_tokens=10) for s in (1, 2)]
        samples = [await llm.chat(msgs, temperature=1.0, seed=7, sample=i, max_tokens=10) for i in range(10)]
        return by_seed, samples
    by_seed, samples = asyncio.run(go())
    assert len(cache) == 12 and llm.ledger.calls == 12 and llm.ledger.cache_hits == 0
    # the derived seeds really reach the sampler: ten samples are not one text ten times
    assert len({o.text for o in samples}) >= 3
    # and asking again for sample 3 is a cache hit with the same text
    again = asyncio.run(llm.chat(msgs, temperature=1.0, seed=7, sample=3, max_tokens=10))
    assert again.cached and again.text == samples[3].text and len(cache) == 12
