"""The door's rules, with a scripted backend (pure unit tests: the backend only plays back answers).

* an answer that fails its schema is asked again (bounded), counted as ``retries.bad_answer``,
  and never cached; a cached one (from an older version) is not replayed;
* an answer cut at ``max_tokens`` is the model's own: cached as it is;
* options are data; limiters bound the calls in flight and may hand a key's answer to a waiter.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import pytest

from instructkit.llm import LLM, ModelOptions, SemaphoreLimiter, open_model
from instructkit.llm.base import ChatRequest, Completion
from instructkit.llm.cache import ResponseCache
from tests.scripted import ScriptedBackend

SCHEMA = {"type": "object", "properties": {"color": {"type": "string"}}, "required": ["color"]}
GOOD = '{"color": "red"}'
GARBAGE = "<html>502 Bad Gateway</html>"


def Scripted(answers, delay: float = 0.0) -> ScriptedBackend:
    """Plays ``answers`` (text or (text, finish_reason)) in order, the last one again and again."""
    return ScriptedBackend(answers, repeat_last=True, delay=delay, usage=(3, 2), identity={"backend": "scripted"})


def ask(llm: LLM, content: str = "colour?", **kw):
    return asyncio.run(llm.chat([{"role": "user", "content": content}], schema=SCHEMA, **kw))


def test_a_garbage_200_is_retried_and_only_the_good_answer_is_cached(tmp_path):
    backend = Scripted([GARBAGE, GOOD])
    llm = LLM(backend, cache=ResponseCache(tmp_path / "c.sqlite"))
    comp = ask(llm)
    assert comp.parsed == {"color": "red"} and comp.parse_error is None
    assert backend.n_calls == 2 and llm.ledger.retries["bad_answer"] == 1
    assert "bad_json" not in llm.ledger.failures
    again = LLM(Scripted([GARBAGE]), cache=ResponseCache(tmp_path / "c.sqlite"))
    assert ask(again).parsed == {"color": "red"} and again.backend.n_calls == 0  # the good one replays


def test_an_answer_bad_every_time_is_returned_with_its_error_but_never_cached(tmp_path):
    backend = Scripted([GARBAGE])
    cache = ResponseCache(tmp_path / "c.sqlite")
    llm = LLM(backend, cache=cache, options=ModelOptions(bad_answer_retries=2))
    comp = ask(llm)
    assert comp.text == GARBAGE and comp.parsed is None and "no JSON" in comp.parse_error
    assert backend.n_calls == 3 and llm.ledger.retries["bad_answer"] == 2 and llm.ledger.failures["bad_json"] == 1
    assert len(cache) == 0
    fixed = LLM(Scripted([GOOD]), cache=cache)  # the next run asks again instead of replaying garbage
    assert ask(fixed).parsed == {"color": "red"} and fixed.backend.n_calls == 1 and len(cache) == 1


def test_a_poisoned_entry_from_an_older_cache_is_asked_again(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    first = LLM(Scripted([GARBAGE]), cache=cache, options=ModelOptions(bad_answer_retries=0))
    ask(first)
    # write the garbage the way an older version did (as a success), under the same key
    from instructkit.llm.cache import cache_key

    req = ChatRequest(messages=(("user", "colour?"),), schema=SCHEMA)
    cache.put(cache_key({"backend": "scripted"}, "chat", req.key_fields(), ""), Completion(text=GARBAGE).to_cache())
    healed = LLM(Scripted([GOOD]), cache=cache)
    comp = ask(healed)
    assert comp.parsed == {"color": "red"} and not comp.cached and healed.backend.n_calls == 1
    assert healed.ledger.cache_hits == 0
    assert ask(LLM(Scripted([GARBAGE]), cache=cache)).cached  # now the good answer is what replays


def test_an_answer_cut_at_max_tokens_is_the_models_own_and_cached(tmp_path):
    backend = Scripted([('{"color": "re', "length")])
    cache = ResponseCache(tmp_path / "c.sqlite")
    comp = ask(LLM(backend, cache=cache))
    assert comp.parse_error and backend.n_calls == 1 and len(cache) == 1


def test_free_text_is_cached_as_it_comes(tmp_path):
    backend = Scripted([GARBAGE])
    llm = LLM(backend, cache=ResponseCache(tmp_path / "c.sqlite"))
    comp = asyncio.run(llm.chat([{"role": "user", "content": "hi"}]))
    assert comp.text == GARBAGE and backend.n_calls == 1 and len(llm.cache) == 1


def test_semaphore_limiter_bounds_calls_in_flight():
    backend = Scripted([GOOD], delay=0.02)
    llm = LLM(backend, options=ModelOptions(concurrency=3))

    async def go():
        await asyncio.gather(*[llm.chat([{"role": "user", "content": f"q{i}"}]) for i in range(12)])
    asyncio.run(go())
    assert backend.n_calls == 12 and backend.peak == 3


def test_a_limiter_that_hands_over_a_key_makes_the_door_read_the_cache(tmp_path):
    """What the Ray gate does when another worker answered the same key while this one waited."""
    cache = ResponseCache(tmp_path / "c.sqlite")
    ask(LLM(Scripted([GOOD]), cache=cache, limiter=SemaphoreLimiter(1)))

    class HandOver:
        def __init__(self):
            self.turns = 0

        @asynccontextmanager
        async def slot(self, key):
            self.turns += 1
            yield False

    backend = Scripted([GARBAGE])
    llm = LLM(backend, cache=cache, limiter=HandOver())
    llm._from_cache = _miss_once(llm._from_cache)  # the first look misses, as if the answer were in flight
    assert ask(llm).parsed == {"color": "red"} and backend.n_calls == 0 and llm.limiter.turns == 1


def _miss_once(real):
    state = {"n": 0}

    def look(*a, **kw):
        state["n"] += 1
        return None if state["n"] == 1 else real(*a, **kw)
    return look


def test_open_model_takes_options_and_the_old_keywords_override_them():
    url = "openai:m@http://127.0.0.1:9/v1"
    llm = open_model(url, options=ModelOptions(concurrency=2, timeout=4, max_retries=1))
    assert (llm.concurrency, llm.backend.timeout, llm.backend.max_retries) == (2, 4.0, 1)
    assert isinstance(llm.limiter, SemaphoreLimiter) and llm.limiter.n == 2
    old = open_model(url, options=ModelOptions(timeout=4), concurrency=5, max_retries=0)
    assert (old.concurrency, old.backend.timeout, old.backend.max_retries) == (5, 4.0, 0)


def test_the_library_never_imports_the_cli():
    import ast
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "src" / "instructkit"
    offenders = []
    for path in src.rglob("*.py"):
        if path.relative_to(src).parts[0] == "cli" or path.name == "__main__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            mod = getattr(node, "module", None) if isinstance(node, ast.ImportFrom) else None
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if any(m and (m == "instructkit.cli" or m.startswith("instructkit.cli.")) for m in [mod, *names]):
                offenders.append(str(path.relative_to(src)))
    assert offenders == []


@pytest.mark.parametrize("path", ["executors/ray_llm.py", "llm/ray_gate.py"])
def test_no_llm_subclass_for_the_gate(path):
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "src" / "instructkit" / path).read_text()
    assert "class GatedLLM" not in text and "(LLM)" not in text
