"""A finished answer cached under a smaller max_tokens serves a larger one; every other change misses."""

from __future__ import annotations

import asyncio

import pytest

from instructkit.llm.cache import cache_key
from instructkit.records import stable_hash


SHORT = [{"role": "user", "content": "Reply with the single word: yes"}]
LONG = [{"role": "user", "content": "Write a long story about a dragon who learns to bake bread."}]


def ask(llm, msgs, **kw):
    return asyncio.run(llm.chat(msgs, **kw))


@pytest.mark.slow
def test_grown_max_tokens_reuses_a_finished_answer(local_llm):
    first = ask(local_llm, SHORT, max_tokens=48)
    assert first.finish_reason == "stop" and first.completion_tokens < 48
    again = ask(local_llm, SHORT, max_tokens=200)
    assert again.cached and again.text == first.text
    assert local_llm.ledger.calls == 1 and local_llm.ledger.cache_hits == 1
    ask(local_llm, SHORT, max_tokens=32)                     # smaller than the cached budget: a new call
    assert local_llm.ledger.calls == 2
    ask(local_llm, SHORT, max_tokens=200, temperature=0.5)   # other sampling: a new call
    assert local_llm.ledger.calls == 3
    ask(local_llm, SHORT + [{"role": "user", "content": "Please."}], max_tokens=200)  # other messages
    assert local_llm.ledger.calls == 4


@pytest.mark.slow
def test_a_cut_off_answer_is_not_reused(local_llm):
    cut = ask(local_llm, LONG, max_tokens=6)
    assert cut.finish_reason == "length"
    longer = ask(local_llm, LONG, max_tokens=12)
    assert not longer.cached and local_llm.ledger.calls == 2 and longer.completion_tokens > cut.completion_tokens


@pytest.mark.slow
def test_a_cache_written_before_still_hits_on_its_exact_key(local_llm):
    # what the door stored before this change: only the exact key, in the v1 format
    from instructkit.llm.base import ChatRequest

    req = ChatRequest(messages=(("user", SHORT[0]["content"]),), schema=None, temperature=0.0, top_p=1.0,
                      max_tokens=64, seed=0, stop=(), logprobs=0)
    key = stable_hash("llm-cache-v1", local_llm.backend.info.identity, "chat", req.key_fields(), "", length=32)
    assert key == cache_key(local_llm.backend.info.identity, "chat", req.key_fields(), "")
    local_llm.cache.put(key, {"text": "from the old cache", "prompt_tokens": 9, "completion_tokens": 4,
                              "finish_reason": "stop", "top_logprobs": None, "model": "m"})
    got = ask(local_llm, SHORT, max_tokens=64)
    assert got.cached and got.text == "from the old cache" and local_llm.ledger.calls == 0


def test_the_reuse_index_is_beside_the_answers_not_among_them(tmp_path):
    from instructkit.llm.cache import ResponseCache

    c = ResponseCache(tmp_path / "c.sqlite")
    c.put("k100", {"text": "a", "finish_reason": "stop"})
    c.put("k50", {"text": "b", "finish_reason": "stop"})
    c.remember_finished("alias", "k100", 100)
    c.remember_finished("alias", "k50", 50)      # a smaller budget that also finished: serves more requests
    c.remember_finished("alias", "k100", 100)    # never moves back up
    assert len(c) == 2
    assert c.reusable_answer("alias", 49) is None
    assert c.reusable_answer("alias", 50)["text"] == "b" and c.reusable_answer("alias", 4000)["text"] == "b"
