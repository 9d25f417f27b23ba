"""Pure unit tests of the LLM door's parsing and bookkeeping: jsonutil, the usage ledger, spec strings, cache keys."""

from __future__ import annotations

import pytest

from instructkit.errors import UserError
from instructkit.llm import parse_spec
from instructkit.llm.cache import ResponseCache, cache_key
from instructkit.llm.jsonutil import extract_json, parse_structured, validate
from instructkit.llm.usage import UsageLedger, price_for

SCHEMA = {"type": "object", "properties": {"name": {"type": "string", "minLength": 1},
                                           "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
                                           "kind": {"enum": ["a", "b"]}},
          "required": ["name"]}


# -- jsonutil -------------------------------------------------------------------------------
def test_extract_plain_fenced_and_prose():
    assert extract_json('{"a": 1}') == {"a": 1}
    assert extract_json('Sure!\n```json\n{"a": [1, 2]}\n```\nHope that helps.') == {"a": [1, 2]}
    assert extract_json("```\n[1, 2]\n```") == [1, 2]
    assert extract_json('Here it is: {"a": {"b": "}"}} and more text {"c": 2}') == {"a": {"b": "}"}}


def test_extract_skips_broken_candidates():
    assert extract_json('{broken {"ok": true}') == {"ok": True}


@pytest.mark.parametrize("text", ["", "no json here", '{"a": ', "```json\n{oops}\n```"])
def test_extract_invalid(text):
    with pytest.raises(ValueError):
        extract_json(text)


def test_validate_and_parse_structured():
    assert validate({"name": "x", "tags": ["t"], "kind": "a"}, SCHEMA) == []
    errs = validate({"tags": ["t", "u", "v"], "kind": "z", "name": ""}, SCHEMA)
    assert any("more than 2" in e for e in errs) and any("not one of" in e for e in errs)
    assert any("shorter than 1" in e for e in errs)
    assert validate({"name": 3}, SCHEMA) == ["$.name: expected string, got int"]
    assert validate(True, {"type": "integer"}) != []  # a bool is not an integer
    value, err = parse_structured('```json\n{"name": "n"}\n```', SCHEMA)
    assert value == {"name": "n"} and err is None
    value, err = parse_structured('{"tags": []}', SCHEMA)
    assert value == {"tags": []} and "missing 'name'" in err
    value, err = parse_structured("nothing", SCHEMA)
    assert value is None and "no JSON" in err


# -- usage ledger ---------------------------------------------------------------------------
def test_ledger_counts_and_cost_with_price():
    led = UsageLedger()
    led.record_call("openai:gpt-4o-mini", 1_000_000, 500_000, cached=False, price_key="gpt-4o-mini")
    led.record_call("openai:gpt-4o-mini", 10, 10, cached=True, price_key="gpt-4o-mini")
    led.record_failure("timeout")
    led.record_retry("rate_limit")
    snap = led.snapshot()
    assert snap["calls"] == 1 and snap["cache_hits"] == 1 and snap["total_tokens"] == 1_500_000
    assert snap["estimated_cost_usd"] == pytest.approx(0.15 + 0.30)  # cache hits cost nothing
    assert snap["failures"] == {"timeout": 1} and snap["retries"] == {"rate_limit": 1}


def test_ledger_no_cost_without_price_and_dated_snapshots():
    led = UsageLedger()
    led.record_call("local", 100, 100, cached=False, price_key=None)
    led.record_call("openai:my-model@http://x", 100, 100, cached=False, price_key="my-model")
    assert led.cost_usd() is None
    assert price_for("gpt-4o-mini-2024-07-18") == price_for("gpt-4o-mini")
    assert price_for("gpt-4o-2024-08-06") == price_for("gpt-4o")


def test_ledger_merge_adds_previous_run():
    a = UsageLedger()
    a.record_call("m", 3, 4, cached=False)
    a.record_failure("server")
    b = UsageLedger()
    b.record_call("m", 1, 1, cached=False)
    b.merge(a.snapshot())
    assert b.calls == 2 and b.prompt_tokens == 4 and b.failures["server"] == 1


# -- spec strings ---------------------------------------------------------------------------
@pytest.mark.parametrize("spec,expected", [
    ("local", ("local", "", None)),
    ("", ("local", "", None)),
    ("local:/m/x.gguf", ("local", "/m/x.gguf", None)),
    ("openai:gpt-4o-mini", ("openai", "gpt-4o-mini", None)),
    ("openai:qwen@http://127.0.0.1:8000/v1", ("openai", "qwen", "http://127.0.0.1:8000/v1")),
    ("hf:/models/x", ("hf", "/models/x", None)),
])
def test_parse_spec(spec, expected):
    assert parse_spec(spec) == expected


@pytest.mark.parametrize("spec", ["gpt-4", "foo:bar", "openai:", "openai:m@127.0.0.1:8000", "local:"])
def test_parse_spec_rejects(spec):
    with pytest.raises(UserError):
        parse_spec(spec)


def test_openai_without_key_for_openai_proper_is_a_user_error(monkeypatch):
    from instructkit.llm.openai import OpenAIBackend

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(UserError, match="OPENAI_API_KEY"):
        OpenAIBackend("gpt-4o-mini")
    b = OpenAIBackend("m", base_url="http://user:pw@127.0.0.1:9/v1")  # local servers need no key
    assert "pw" not in b.info.spec and "pw" not in str(b.info.identity)
    assert b.info.price_key == "m" and b.info.max_concurrency >= 64


# -- cache ----------------------------------------------------------------------------------
def test_cache_keys_and_persistence(tmp_path):
    ident = {"backend": "x"}
    k1 = cache_key(ident, "chat", {"seed": 1}, "t1")
    assert k1 == cache_key(ident, "chat", {"seed": 1}, "t1")
    assert len({k1, cache_key(ident, "chat", {"seed": 2}, "t1"), cache_key(ident, "chat", {"seed": 1}, "t2"),
                cache_key({"backend": "y"}, "chat", {"seed": 1}, "t1")}) == 4
    c = ResponseCache(tmp_path / "c.sqlite")
    c.put(k1, {"text": "é"})
    c.close()
    c2 = ResponseCache(tmp_path / "c.sqlite")
    assert c2.get(k1) == {"text": "é"} and len(c2) == 1 and c2.get("nope") is None
    mode = c2._db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode.lower() == "wal"


# -- scoring helpers shared by the local and hf backends ------------------------------------
def test_continuation_logprobs_is_a_log_softmax_at_the_token():
    import math

    from instructkit.llm.base import continuation_logprobs

    rows = [[1.0, 2.0, 3.0], [1000.0, 0.0, float("-inf")], [0.0, 0.0, float("-inf")]]
    got = continuation_logprobs(rows, [2, 0, 2])
    z = math.log(math.exp(1) + math.exp(2) + math.exp(3))
    assert got[0] == pytest.approx(3.0 - z, abs=1e-12)
    assert got[1] == pytest.approx(0.0, abs=1e-12)  # large logits do not overflow
    assert got[2] == -1e9  # a ruled-out token: finite, so JSON can carry it


def test_fit_context_trims_the_prompt_and_keeps_the_continuation():
    from instructkit.errors import ModelError
    from instructkit.llm.base import fit_context

    assert fit_context([1, 2, 3], 2, 8) == ([1, 2, 3], 2)
    assert fit_context([1, 2, 3, 4, 5, 6], 4, 4) == ([3, 4, 5, 6], 2)
    with pytest.raises(ModelError, match="continuation of 4 tokens exceeds the context \\(4\\)") as e:
        fit_context([1, 2, 3, 4, 5], 1, 4)
    assert e.value.kind == "bad_request"
