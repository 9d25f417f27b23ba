"""Judge and IFD scorers on the real embedded model (slow, tiny)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from instructkit.llm import LLM
from instructkit.llm.cache import ResponseCache
from instructkit.records import Example
from instructkit.score import score_examples

pytestmark = pytest.mark.slow

EXAMPLES = [
    Example("Add the two numbers.", "2 and 3", "2 + 3 = 5."),
    Example("Name the capital of France.", "", "The capital of France is Paris."),
    Example("Write a haiku about rain.", "", "asdf qwerty zxcv"),
]


def test_judge_scores_are_expected_ratings_and_cached(local_backend, tmp_path):
    llm = LLM(local_backend, cache=ResponseCache(tmp_path / "r.sqlite"))
    rep = score_examples(EXAMPLES, "judge", llm=llm, cache=tmp_path / "scores.sqlite")
    assert rep.scores.shape == (3,)
    assert np.all((rep.scores >= 1.0) & (rep.scores <= 5.0))
    assert llm.ledger.calls == 3
    assert sum(rep.counts.get(m, 0) for m in ("logprobs", "text", "none")) == 3
    # a second run on a fresh door with no response cache: every score comes from the score cache
    llm2 = LLM(local_backend, cache=None)
    again = score_examples(EXAMPLES, "judge", llm=llm2, cache=tmp_path / "scores.sqlite")
    assert llm2.ledger.calls == 0
    assert again.counts["cached"] == 3
    np.testing.assert_array_equal(again.scores, rep.scores)


def test_ifd_is_finite_and_cached(local_backend, tmp_path):
    llm = LLM(local_backend, cache=None)
    rep = score_examples(EXAMPLES[:2], "ifd", llm=llm, cache=tmp_path / "scores.sqlite")
    assert rep.counts.get("score") == 2
    for d, s in zip(rep.details, rep.scores):
        assert math.isfinite(d["ifd"]) and d["ifd"] > 0
        assert d["loss_cond"] > 0 and d["loss_free"] > 0
        assert s == (d["ifd"] if d["ifd"] < 1 else 0.0)
    assert llm.ledger.score_calls == 4
    llm2 = LLM(local_backend, cache=None)
    score_examples(EXAMPLES[:2], "ifd", llm=llm2, cache=tmp_path / "scores.sqlite")
    assert llm2.ledger.calls == 0 and llm2.ledger.score_calls == 0
