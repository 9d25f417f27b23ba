"""Quality scorers without a model: rating parsing, columns, the score cache, reward errors."""

from __future__ import annotations

import math

import pytest

from instructkit.errors import UserError
from instructkit.records import Example
from instructkit.score import score_examples
from instructkit.score.cache import ScoreCache, score_key
from instructkit.score.llm_scorers import expected_rating


def test_expected_rating_from_logprobs_uses_first_digit_position():
    top = [{"Rating": -0.1, "I": -2.0, "10": -3.0}, {" 5": math.log(0.5), "4": math.log(0.25), "2": math.log(0.25)}]
    score, info = expected_rating(top, "Rating 5")
    assert score == pytest.approx(4.0)
    assert info["method"] == "logprobs" and info["digit_mass"] == pytest.approx(1.0)


def test_expected_rating_uses_digits_among_alternatives_of_a_wordy_first_token():
    top = [{"A": math.log(0.5), "2": math.log(0.1), "4": math.log(0.1)}, {"5": 0.0}]
    score, info = expected_rating(top, "A short")
    assert score == pytest.approx(3.0)
    assert info["digit_mass"] == pytest.approx(0.2)


def test_expected_rating_renormalizes_over_digits_and_falls_back_to_text():
    score, _ = expected_rating([{"3": math.log(0.3), "x": math.log(0.7)}], "3")
    assert score == pytest.approx(3.0)
    assert expected_rating([{"good": -0.1}], "good, 4 stars") == (4.0, {"method": "text"})
    assert expected_rating([], "no digits here") == (None, {"method": "none"})
    assert expected_rating(None, "9 out of 10")[0] is None  # only 1-5 count


def test_column_scores_and_errors():
    exs = [Example("a", meta={"q": 1}), Example("b", meta={"q": "2.5"})]
    assert score_examples(exs, "q").scores.tolist() == [1.0, 2.5]
    with pytest.raises(UserError, match="'missing'"):
        score_examples(exs, "missing", where="data.jsonl")
    with pytest.raises(UserError, match="example 2"):
        score_examples([Example("a", meta={"q": 1}), Example("b", meta={"q": "high"})], "q")


def test_judge_without_a_model_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="needs a model"):
        score_examples([Example("a")], "judge", llm=None, cache=tmp_path / "s.sqlite")


def test_score_cache_roundtrip(tmp_path):
    c = ScoreCache(tmp_path / "scores.sqlite")
    k1, k2 = score_key(["judge", "v1"], "a", "", "b"), score_key(["judge", "v2"], "a", "", "b")
    assert k1 != k2
    c.put(k1, 3.5, {"method": "logprobs"})
    c.put(k2, None, {"method": "none"})
    c.close()
    got = ScoreCache(tmp_path / "scores.sqlite").get_many([k1, k2, b"x" * 20])
    assert got == {k1: (3.5, {"method": "logprobs"}), k2: (None, {"method": "none"})}


def test_reward_model_must_be_a_loadable_local_folder(tmp_path):
    with pytest.raises(UserError, match="not a local folder"):
        score_examples([Example("a", output="b")], "reward:/nonexistent/rm", cache=tmp_path / "s.sqlite")
    (tmp_path / "rm").mkdir()
    (tmp_path / "rm" / "README").write_text("not a model")
    with pytest.raises(UserError, match="cannot load"):
        score_examples([Example("a", output="b")], f"reward:{tmp_path / 'rm'}", cache=tmp_path / "s.sqlite")
