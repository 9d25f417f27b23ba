"""Reward-model scorer on a tiny sequence-classification model built locally (no download; slow)."""

from __future__ import annotations

import numpy as np
import pytest

from instructkit.records import Example
from instructkit.score import score_examples

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_reward_model(tmp_path_factory):
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "add", "the", "numbers", "5", "2", "3", "paris", "capital"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]")
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=64, num_labels=1)
    path = tmp_path_factory.mktemp("rm")
    BertForSequenceClassification(cfg).save_pretrained(path)
    fast.save_pretrained(path)
    return path


def test_reward_scores_are_finite_distinct_and_cached(tiny_reward_model, tmp_path):
    exs = [Example("add the numbers", "2 3", "5"), Example("the capital", "", "paris"), Example("add", "", "3")]
    rep = score_examples(exs, f"reward:{tiny_reward_model}", cache=tmp_path / "s.sqlite")
    assert np.isfinite(rep.scores).all() and len(set(rep.scores.round(6))) > 1
    again = score_examples(exs, f"reward:{tiny_reward_model}", cache=tmp_path / "s.sqlite")
    assert again.counts["cached"] == 3
    np.testing.assert_allclose(again.scores, rep.scores)
