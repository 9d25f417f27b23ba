"""``openai-batch:`` specs, the batch price, and the batch records (no server: the end-to-end tests are
tests/llm/test_batch_jobs.py, against tests/batch_emulator.py and a real llama.cpp server)."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli
from instructkit.errors import UserError
from instructkit.llm import open_model, parse_spec
from instructkit.llm.batch_store import BatchStore
from instructkit.llm.check import check_spec
from instructkit.llm.usage import UsageLedger, price_for


def test_spec_parses_like_openai():
    assert parse_spec("openai-batch:gpt-4o-mini@http://127.0.0.1:9/v1") == \
        ("openai-batch", "gpt-4o-mini", "http://127.0.0.1:9/v1")
    with pytest.raises(UserError, match="missing model name after 'openai-batch:'"):
        parse_spec("openai-batch:")
    with pytest.raises(UserError, match="needs an API key"):
        check_spec("openai-batch:gpt-4o-mini", env={})
    check_spec("openai-batch:m@http://127.0.0.1:9/v1", env={})


def test_backend_shares_the_cache_identity_and_is_not_throttled():
    direct = open_model("openai:m@http://127.0.0.1:9/v1", concurrency=2)
    batch = open_model("openai-batch:m@http://127.0.0.1:9/v1", concurrency=2)
    assert batch.spec == "openai-batch:m@http://127.0.0.1:9/v1"
    assert batch.backend.info.identity == direct.backend.info.identity  # one model, one cache entry per request
    assert batch.backend.info.price_key == "batch:m"
    assert batch.backend.info.can_score is False  # echoed-logprob scoring is not a batch request
    assert direct.limiter.n == 2 and batch.limiter.n > 10_000  # collection must see the whole stage


def test_batch_rate_is_half_the_list_price_unless_given(monkeypatch):
    assert price_for("batch:gpt-4o") == (1.25, 5.0)
    assert price_for("batch:unknown-model") is None
    monkeypatch.setitem(__import__("instructkit.llm.usage", fromlist=["x"]).BATCH_PRICES, "gpt-4o", (1.0, 4.0))
    assert price_for("batch:gpt-4o") == (1.0, 4.0)
    direct, batch = UsageLedger(), UsageLedger()
    direct.record_call("openai:gpt-4o-mini", 1_000_000, 1_000_000, False, "gpt-4o-mini")
    batch.record_call("openai-batch:gpt-4o-mini", 1_000_000, 1_000_000, False, "batch:gpt-4o-mini")
    assert direct.cost_usd() == pytest.approx(0.75) and batch.cost_usd() == pytest.approx(0.375)


def test_store_adopts_the_newest_batch_that_may_hold_an_answer(tmp_path):
    store = BatchStore.beside(tmp_path / "cache.sqlite")
    assert store.path == tmp_path / "batches.json" and store.live_batch_for("a") is None
    store.record("b1", status="in_progress", custom_ids=["a", "b"])
    store.record("b2", status="completed", custom_ids=["c"])
    assert (store.live_batch_for("a"), store.live_batch_for("c")) == ("b1", "b2")
    store.record("b1", status="expired")
    store.record("b3", status="validating", custom_ids=["b"])  # "b" resent after the expiry
    assert store.live_batch_for("a") is None and store.live_batch_for("b") == "b3"
    store.record("b3", status="cancelling")
    assert store.live_batch_for("b") is None
    assert set(json.loads(store.path.read_text())) == {"b1", "b2", "b3"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left behind


def test_store_that_is_not_json_is_one_clear_error(tmp_path):
    (tmp_path / "batches.json").write_text("{torn")
    with pytest.raises(UserError, match="cannot read the batch records"):
        BatchStore(tmp_path / "batches.json").load()


def test_batches_commands_refuse_bad_input_in_one_line(tmp_path):
    r = run_cli("batches", "list", str(tmp_path))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no batches.json" in r.stderr
    r = run_cli("batches", "cancel", "batch_x", "--base-url", "http://127.0.0.1:9/v1", env={"OPENAI_API_KEY": ""})
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "cannot connect" in r.stderr
