"""Every export format reads back into the same examples; trainers' loaders accept them."""

from __future__ import annotations

import json

import pytest

from instructkit.export import export_examples, user_turn
from instructkit.io import load_examples
from instructkit.records import Example


def sample() -> list[Example]:
    return [
        Example("Classify the sentiment.", "I loved it!", "positive",
                meta={"method": "dynosaur", "model": "local", "quality": 0.8,
                      "source": {"dataset": "imdb", "config": "plain_text", "split": "train", "row": 3,
                                 "license": "other"}}),
        Example("Para one.\n\nPara two, still the instruction.", "input\n\nwith a blank line", "out",
                meta={"method": "glan", "taxonomy": ["Math", "Algebra"], "model": "openai:gpt-4o-mini"}),
        Example("Say hello in French.", "", "Bonjour", meta={"system": "You are a translator.", "score": 7}),
        Example("Unicode ✓ — “quotes” and emoji 🙂", "", "ok"),
        Example("Custom id kept", "", "yes", id="my-own-id-001"),
    ]


CASES = [("alpaca", "out.json"), ("alpaca", "out.jsonl"), ("sharegpt", "out.json"),
         ("sharegpt", "out.jsonl"), ("messages", "out.jsonl"), ("messages", "out.json"), ("hf", "hfdir")]


@pytest.mark.parametrize("fmt, name", CASES)
def test_round_trip_same_examples(tmp_path, fmt, name):
    exs = sample()
    out = export_examples(exs, fmt, tmp_path / name)
    back = load_examples(out)
    assert [b.to_dict() for b in back] == [e.to_dict() for e in exs]


@pytest.mark.parametrize("fmt, name", CASES[:-1])
def test_cli_round_trip_and_plain_rows(tmp_path, cli, fmt, name):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(e.to_dict()) + "\n" for e in sample()))
    out = tmp_path / name
    p = cli("export", src, "--format", fmt, "--out", out, "--quiet")
    assert p.returncode == 0, p.stderr
    assert [e.to_dict() for e in load_examples(out)] == [e.to_dict() for e in sample()]
    plain = tmp_path / ("plain" + out.suffix)
    assert cli("export", src, "--format", fmt, "--out", plain, "--no-meta", "-q").returncode == 0
    text = plain.read_text()
    assert '"meta"' not in text and "my-own-id-001" not in text
    back = load_examples(plain)
    # without meta the content survives and ids are recomputed from content; a chat turn cannot tell
    # an instruction's own blank line from the instruction/input separator without the id
    assert [(user_turn(b), b.output) for b in back] == [(user_turn(e), e.output) for e in sample()]
    assert back[0].id == sample()[0].id
    if fmt == "alpaca":
        assert [(b.instruction, b.input) for b in back] == [(e.instruction, e.input) for e in sample()]


def test_format_shapes(tmp_path):
    exs = sample()
    rows = [json.loads(x) for x in export_examples(exs, "messages", tmp_path / "m.jsonl").read_text().splitlines()]
    assert rows[0]["messages"] == [{"role": "user", "content": "Classify the sentiment.\n\nI loved it!"},
                                   {"role": "assistant", "content": "positive"}]
    assert rows[2]["messages"][0] == {"role": "system", "content": "You are a translator."}
    sg = json.loads(export_examples(exs, "sharegpt", tmp_path / "s.json").read_text())
    assert [t["from"] for t in sg[2]["conversations"]] == ["system", "human", "gpt"]
    al = json.loads(export_examples(exs, "alpaca", tmp_path / "a.json").read_text())
    assert isinstance(al, list) and al[0]["instruction"] == "Classify the sentiment." and al[0]["input"] == "I loved it!"
    sysd = [json.loads(x) for x in export_examples(exs, "messages", tmp_path / "m2.jsonl", system="Be brief.")
            .read_text().splitlines()]
    assert sysd[0]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sysd[2]["messages"][0]["content"] == "You are a translator."  # the example's own wins


def test_messages_load_with_datasets(tmp_path):
    import datasets

    path = export_examples(sample(), "messages", tmp_path / "train.jsonl")
    ds = datasets.load_dataset("json", data_files=str(path), split="train")
    assert ds.num_rows == 5
    assert ds[0]["messages"][-1] == {"role": "assistant", "content": "positive"}
    assert ds[2]["messages"][0]["role"] == "system"


def test_hf_folder_loads_and_has_card(tmp_path):
    import datasets

    out = export_examples(sample(), "hf", tmp_path / "ds", name="demo-set")
    ds = datasets.load_from_disk(str(out))
    assert ds.num_rows == 5 and ds.column_names == ["id", "instruction", "input", "output", "meta"]
    pq = datasets.load_dataset("parquet", data_files=str(out / "data" / "train.parquet"), split="train")
    assert pq["instruction"] == ds["instruction"]
    card = (out / "README.md").read_text()
    front = card.split("---")[1]
    import yaml

    meta = yaml.safe_load(front)
    assert meta["pretty_name"] == "demo-set" and meta["configs"][0]["data_files"][0]["path"] == "data/train.parquet"
    assert meta["license"] == "other" and "dynosaur" in meta["tags"] and "glan" in meta["tags"]
    assert "| imdb (plain_text) | 1 | other |" in card
    assert "openai:gpt-4o-mini" in card and "- examples: 5" in card
    # exporting again replaces the earlier export in one move
    export_examples(sample()[:2], "hf", out)
    assert datasets.load_from_disk(str(out)).num_rows == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_card_names_the_run_it_came_from(tmp_path, cli):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(e.to_dict()) + "\n" for e in sample() + sample()[:2]))
    assert cli("dedup", src, "--out", tmp_path / "dd", "--method", "exact", "-q").returncode == 0
    p = cli("export", tmp_path / "dd", "--format", "hf", "--out", tmp_path / "hf", "-q")
    assert p.returncode == 0, p.stderr
    card = (tmp_path / "hf" / "README.md").read_text()
    assert "instructkit dedup" in card and '"dropped": 2' in card


def test_export_refuses_bad_targets(tmp_path, cli):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(Example("a", "", "b").to_dict()) + "\n")
    p = cli("export", src, "--format", "alpaca", "--out", tmp_path / "x.txt")
    assert p.returncode == 2 and ".json" in p.stderr and "Traceback" not in p.stderr
    p = cli("export", src, "--format", "yaml", "--out", tmp_path / "x.json")
    assert p.returncode == 2 and "--format" in p.stderr
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    p = cli("export", src, "--format", "hf", "--out", busy)
    assert p.returncode == 2 and (busy / "keep.txt").read_text() == "mine"
    assert sorted(x.name for x in busy.iterdir()) == ["keep.txt"]
