"""Semantic dedup with the real bundled MiniLM embedder on paraphrase pairs."""

from __future__ import annotations

import json

import pytest

from instructkit.clean.dedup import DedupConfig, dedup
from instructkit.records import Example

PARAPHRASES = [
    ("How do I bake chocolate chip cookies at home?", "What is the way to make chocolate chip cookies at home?"),
    ("Explain how photosynthesis works in plants.", "Describe the process by which plants perform photosynthesis."),
    ("Translate 'good morning' into Spanish.", "How do you say 'good morning' in Spanish?"),
    ("List three benefits of regular exercise.", "Name three advantages of exercising regularly."),
    ("Write a Python function that reverses a string.", "Write a function in Python to reverse a string."),
    ("What is the capital of Australia?", "Which city is the capital of Australia?"),
]
OTHERS = ["Summarize the plot of Romeo and Juliet.", "Give me a recipe for vegetable soup.", "Why is the sky blue?",
          "Write a haiku about winter.", "How does a car engine work?", "What are prime numbers?"]


@pytest.mark.slow
def test_semantic_dedup_groups_paraphrases_only(tmp_path, cli):
    exs = [Example(a) for a, _ in PARAPHRASES] + [Example(o) for o in OTHERS] + [Example(b) for _, b in PARAPHRASES]
    r = dedup(exs, DedupConfig(method="semantic", threshold=0.8, fields=["instruction"]))
    n = len(PARAPHRASES)
    assert r.kept == list(range(n + len(OTHERS)))  # every paraphrase dropped, each original kept
    assert [int(r.rep[n + len(OTHERS) + k]) for k in range(n)] == list(range(n))
    assert all(0.8 <= r.similarity[i] <= 1.0 + 1e-6 for i in r.dropped)
    assert r.info["index"] == "flat"

    # the same through the CLI, with quality deciding the kept one
    src = tmp_path / "in.jsonl"
    rows = [Example(a, meta={"quality": 1}).to_dict() for a, _ in PARAPHRASES[:2]] + \
           [Example(b, meta={"quality": 5}).to_dict() for _, b in PARAPHRASES[:2]]
    src.write_text("".join(json.dumps(x) + "\n" for x in rows))
    p = cli("dedup", src, "--out", tmp_path / "o", "--method", "semantic", "--threshold", "0.8", "-q")
    assert p.returncode == 0, p.stderr
    kept = [json.loads(x)["instruction"] for x in (tmp_path / "o" / "kept.jsonl").read_text().splitlines()]
    assert kept == [b for _, b in PARAPHRASES[:2]]
