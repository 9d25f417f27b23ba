"""Prompt building, label masking, padding and resume bookkeeping of `instructkit train` (no model)."""

from __future__ import annotations

import pytest

from instructkit.errors import UserError
from instructkit.records import Example
from instructkit.loop.train import (IGNORE, TrainConfig, build_features, collate, example_messages,
                               last_complete_checkpoint, load_training_examples)


class CharChatTokenizer:
    """A character-level tokenizer with a ChatML-like template: enough to test masking exactly."""

    eos_token_id = 1  # the "<E>" end-of-turn token
    specials = {"<S>": 0, "<E>": 1}

    def apply_chat_template(self, messages, add_generation_prompt=False, tokenize=False):
        text = "".join(f"<S>{m['role']}\n{m['content']}<E>\n" for m in messages)
        return text + ("<S>assistant\n" if add_generation_prompt else "")

    def __call__(self, text, add_special_tokens=False):
        ids, i = [], 0
        while i < len(text):
            if text[i:i + 3] in self.specials:
                ids.append(self.specials[text[i:i + 3]])
                i += 3
            else:
                ids.append(ord(text[i]) + 10)
                i += 1
        return {"input_ids": ids}


def decode(ids):
    inv = {0: "<S>", 1: "<E>"}
    return "".join(inv.get(i, chr(i - 10) if i >= 10 else "?") for i in ids)


def test_example_messages_join_instruction_and_input_and_keep_system():
    ex = Example(instruction="Add.", input="2 3", output="5", meta={"system": "Be brief."})
    assert example_messages(ex) == [{"role": "system", "content": "Be brief."},
                                    {"role": "user", "content": "Add.\n\n2 3"},
                                    {"role": "assistant", "content": "5"}]
    assert example_messages(Example(instruction="Hi", output="Hello"))[0] == {"role": "user", "content": "Hi"}


def test_labels_cover_exactly_the_answer_and_its_end_token():
    tok = CharChatTokenizer()
    feats, truncated = build_features(tok, Example(instruction="Add.", input="2 3", output="five"), max_len=500)
    assert not truncated
    ids, labels = feats["input_ids"], feats["labels"]
    assert len(ids) == len(labels)
    first = next(i for i, x in enumerate(labels) if x != IGNORE)
    assert decode(ids[:first]).endswith("<S>assistant\n")  # everything before the answer is masked
    assert all(x == IGNORE for x in labels[:first])
    assert decode(labels[first:]) == "five<E>"  # answer + end of turn, not the template's newline
    assert labels[first:] == ids[first:]


def test_truncation_keeps_the_head_and_drops_examples_without_answer_room():
    tok = CharChatTokenizer()
    ex = Example(instruction="Say it.", output="a long answer here")
    full, _ = build_features(tok, ex, max_len=500)
    n_prompt = sum(1 for x in full["labels"] if x == IGNORE)
    cut, truncated = build_features(tok, ex, max_len=n_prompt + 3)
    assert truncated and len(cut["input_ids"]) == n_prompt + 3
    assert decode([x for x in cut["labels"] if x != IGNORE]) == "a l"
    none, truncated = build_features(tok, ex, max_len=n_prompt)
    assert none is None and truncated


def test_collate_pads_to_a_multiple_with_masked_labels():
    batch = [{"input_ids": [5, 6, 7], "labels": [IGNORE, 6, 7]}, {"input_ids": [8], "labels": [8]}]
    out = collate(batch, pad_id=99, multiple=4)
    assert out["input_ids"].shape == (2, 4)
    assert out["input_ids"][1].tolist() == [8, 99, 99, 99]
    assert out["labels"][1].tolist() == [8, IGNORE, IGNORE, IGNORE]
    assert out["labels"][0].tolist() == [IGNORE, 6, 7, IGNORE]
    assert out["attention_mask"].tolist() == [[1, 1, 1, 0], [1, 0, 0, 0]]


def test_fingerprint_tracks_what_changes_the_model_only():
    base = TrainConfig(data="d.jsonl", out="a", steps=10)
    fp = base.fingerprint(["x", "y"])
    assert TrainConfig(data="d.jsonl", out="b", steps=10, save_every=3).fingerprint(["x", "y"]) == fp
    assert TrainConfig(data="d.jsonl", out="a", steps=10, lr=1e-3).fingerprint(["x", "y"]) != fp
    assert base.fingerprint(["x", "z"]) != fp
    assert TrainConfig(data="d", out="o").learning_rate == 2e-4
    assert TrainConfig(data="d", out="o", lora=False).learning_rate == 2e-5


def test_last_complete_checkpoint_skips_and_removes_torn_ones(tmp_path):
    for n, complete in ((2, True), (4, True), (6, False)):
        d = tmp_path / f"checkpoint-{n}"
        d.mkdir()
        if complete:
            (d / "trainer_state.json").write_text("{}")
    assert last_complete_checkpoint(tmp_path).name == "checkpoint-4"
    assert not (tmp_path / "checkpoint-6").exists()
    assert last_complete_checkpoint(tmp_path / "missing") is None


def test_training_examples_drop_empty_answers(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text('{"instruction": "a", "output": "b"}\n{"instruction": "c", "output": "  "}\n')
    kept, dropped = load_training_examples(p)
    assert [e.instruction for e in kept] == ["a"] and dropped == 1
    with pytest.raises(UserError):
        load_training_examples(tmp_path / "missing.jsonl")
