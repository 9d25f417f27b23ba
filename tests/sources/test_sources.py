"""Sources: local HF-style folders with cards, JSONL/CSV/Parquet files, type inference, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from instructkit.errors import UserError
from instructkit.sources import expand_sources, load_source
from instructkit.sources.cardfile import parse_card_text

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

CARD = """---
pretty_name: Tiny Reviews
license: mit
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*.jsonl
  - split: test
    path: test.jsonl
dataset_info:
  features:
  - name: text
    dtype: string
  - name: label
    dtype:
      class_label:
        names:
          '0': negative
          '1': positive
  - name: answers
    sequence:
    - name: text
      dtype: string
    - name: answer_start
      dtype: int32
  - name: tags
    sequence: string
  - name: photo
    dtype: image
  splits:
  - name: train
    num_examples: 3
  - name: test
    num_examples: 1
---

# Dataset Card for Tiny Reviews

- **Homepage:** [example.org](https://example.org)

## Dataset Summary

Short **product** reviews, each with a [sentiment](https://example.org/s) label.

Collected for `unit tests`.

## Licensing

MIT.
"""


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def hf_folder(tmp_path: Path) -> Path:
    d = tmp_path / "tiny_reviews"
    d.mkdir()
    (d / "README.md").write_text(CARD, encoding="utf-8")
    ans = {"text": ["fine"], "answer_start": [0]}
    write_jsonl(d / "data" / "train-00000.jsonl", [
        {"text": "great kettle", "label": 1, "answers": ans, "tags": ["home"], "photo": None},
        {"text": "broke in a week", "label": "negative", "answers": ans, "tags": [], "photo": None}])
    write_jsonl(d / "data" / "train-00001.jsonl", [
        {"text": "does the job", "label": 1, "answers": ans, "tags": ["a", "b"], "photo": None}])
    write_jsonl(d / "test.jsonl", [{"text": "meh", "label": 0, "answers": ans, "tags": [], "photo": None}])
    return d


# --- local HF-style folder -------------------------------------------------------------------

def test_folder_with_card(hf_folder: Path):
    (card,) = load_source(str(hf_folder))
    assert card.name == "tiny_reviews" and card.pretty_name == "Tiny Reviews"
    assert card.license == "mit"
    assert card.split == "train" and card.splits == ["train", "test"]
    assert card.num_rows == 3 and len(card.rows) == 3
    assert card.description.startswith("Short product reviews, each with a sentiment label.")
    assert "Homepage" not in card.description and "**" not in card.description and "MIT." not in card.description
    types = {f.name: f.dtype for f in card.features}
    assert types == {"text": "string", "label": "ClassLabel", "answers": "dict", "tags": "list<string>",
                     "photo": "image"}
    label = card.feature("label")
    assert label.label_names == ["negative", "positive"] and label.is_classlabel
    # ClassLabel values stay ids; a label name in the data is mapped to its id
    assert [r["label"] for r in card.rows] == [1, 0, 1]
    photo = card.feature("photo")
    assert not photo.usable and "image" in photo.reason
    assert [f.name for f in card.usable_features] == ["text", "label", "answers", "tags"]


def test_folder_split_and_rows(hf_folder: Path):
    (card,) = load_source(str(hf_folder), split="test")
    assert card.split == "test" and [r["text"] for r in card.rows] == ["meh"]
    (card,) = load_source(str(hf_folder), rows=2)
    assert len(card.rows) == 2 and card.num_rows == 3
    with pytest.raises(UserError, match="no split 'dev'.*train, test"):
        load_source(str(hf_folder), split="dev")


def test_folder_configs_from_subfolders_and_card(tmp_path: Path):
    d = tmp_path / "multi"
    write_jsonl(d / "easy" / "train.jsonl", [{"q": "1+1", "a": 2}])
    write_jsonl(d / "easy" / "validation.jsonl", [{"q": "2+2", "a": 4}])
    write_jsonl(d / "hard" / "test.jsonl", [{"q": "17*23", "a": 391}])
    cards = load_source(str(d))
    assert [(c.config, c.split, c.splits) for c in cards] == [
        ("easy", "train", ["train", "validation"]), ("hard", "test", ["test"])]
    assert cards[0].feature("a").dtype == "int64"
    (hard,) = load_source(str(d), config="hard")
    assert hard.rows == [{"q": "17*23", "a": 391}]
    with pytest.raises(UserError, match="no config 'medium'"):
        load_source(str(d), config="medium")
    # declared configs in a card win over folder names
    (d / "README.md").write_text("---\nconfigs:\n- config_name: all\n  data_files: '*/*.jsonl'\n---\nMaths.\n")
    (card,) = load_source(str(d))
    assert card.config == "all" and card.num_rows == 3 and card.description == "Maths."
    (d / "README.md").write_text("---\nconfigs:\n- config_name: hard_only\n  data_dir: hard\n---\n")
    (card,) = load_source(str(d))
    assert (card.config, card.split, card.num_rows) == ("hard_only", "test", 1)


def test_card_declares_missing_data_file(tmp_path: Path):
    d = tmp_path / "ds"
    write_jsonl(d / "train.jsonl", [{"x": "a"}])
    (d / "README.md").write_text("---\nconfigs:\n- config_name: default\n  data_files:\n"
                                 "  - split: train\n    path: train.jsonl\n  - split: test\n    path: test.jsonl\n---\n")
    with pytest.raises(UserError, match=r"split 'test' needs data file 'test.jsonl'"):
        load_source(str(d))
    (d / "README.md").write_text("---\ndataset_info:\n  splits:\n  - name: validation\n---\n")
    with pytest.raises(UserError, match="split 'validation' is declared"):
        load_source(str(d))


def test_card_bad_yaml(tmp_path: Path):
    d = tmp_path / "ds"
    write_jsonl(d / "train.jsonl", [{"x": "a"}])
    (d / "README.md").write_text("---\nlicense: [mit\npretty_name: x\n---\nText\n")
    with pytest.raises(UserError, match=r"README.md: the card's YAML front matter is invalid"):
        load_source(str(d))


def test_description_prose_cleanup():
    text = ("---\nlicense: x\n---\n# Title\n\n<!-- hidden -->\n| a | b |\n|---|---|\n\n```\ncode\n```\n\n"
            "First *italic* and `code` and ![img](x.png) words.\n\n[More Information Needed]\n\nSecond.\n")
    assert parse_card_text(text).description == "First italic and code and words.\n\nSecond."


# --- single files ----------------------------------------------------------------------------

def test_jsonl_type_inference_and_unusable(tmp_path: Path):
    f = write_jsonl(tmp_path / "mixed.jsonl", [
        {"s": "a", "i": 1, "fl": 1, "b": True, "ls": ["x"], "li": [1, 2], "d": {"k": "v", "n": [1]},
         "deep": {"a": {"b": 1}}, "lod": [{"a": 1}], "img": {"bytes": None, "path": "p.png"},
         "aud": {"array": [0.1], "sampling_rate": 16000}, "none": None, "mix": "x"},
        {"s": "b", "i": 2, "fl": 2.5, "b": False, "ls": [], "li": [], "d": {"k": "w"},
         "deep": {"a": {"b": 2}}, "lod": [], "img": None, "aud": None, "none": None, "mix": 3},
    ])
    (card,) = load_source(str(f))
    assert card.name == "mixed" and card.split == "train" and card.description == ""
    got = {x.name: (x.dtype, x.usable) for x in card.features}
    assert got == {"s": ("string", True), "i": ("int64", True), "fl": ("float64", True), "b": ("bool", True),
                   "ls": ("list<string>", True), "li": ("list<int64>", True), "d": ("dict", True),
                   "deep": ("dict", False), "lod": ("list<dict>", False), "img": ("image", False),
                   "aud": ("audio", False), "none": ("null", False), "mix": ("string", True)}
    reasons = {x.name: x.reason for x in card.features if not x.usable}
    assert "nested too deeply" in reasons["deep"] and "list of dicts" in reasons["lod"]
    assert "audio" in reasons["aud"]


def test_sidecar_description_and_flag(tmp_path: Path):
    f = write_jsonl(tmp_path / "qa.jsonl", [{"question": "Why?", "answer": "Because."}])
    assert load_source(str(f))[0].description == ""
    (tmp_path / "qa.description.txt").write_text("Questions with short answers.\n")
    assert load_source(str(f))[0].description == "Questions with short answers."
    assert load_source(str(f), description="Given.")[0].description == "Given."
    # an .md sidecar is a card: it may declare ClassLabel names and a license for a bare file
    (tmp_path / "qa.jsonl.md").write_text("---\nlicense: cc0-1.0\ndataset_info:\n  features:\n"
                                          "  - name: answer\n    dtype:\n      class_label:\n"
                                          "        names: [Because., No.]\n---\nA card for one file.\n")
    (card,) = load_source(str(f))
    assert card.description == "A card for one file." and card.license == "cc0-1.0"
    assert card.feature("answer").label_names == ["Because.", "No."] and card.rows[0]["answer"] == 0


def test_csv_types(tmp_path: Path):
    f = tmp_path / "scores.csv"
    f.write_text('text,stars,score,ok,zip\n"Good, really",5,0.9,true,0123\nBad,1,,false,0456\n', encoding="utf-8")
    (card,) = load_source(str(f))
    assert {x.name: x.dtype for x in card.features} == {"text": "string", "stars": "int64", "score": "float64",
                                                        "ok": "bool", "zip": "string"}
    assert card.rows[0] == {"text": "Good, really", "stars": 5, "score": 0.9, "ok": True, "zip": "0123"}
    assert card.rows[1]["score"] is None


def test_parquet_with_hf_features(tmp_path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"sentence": ["a cat", "a dog", "a cow"], "label": [0, 2, 1],
                      "choices": [["x", "y"], ["z"], []], "blob": [b"\x00", b"\x01", b"\x02"]})
    hf = {"info": {"features": {
        "sentence": {"dtype": "string", "_type": "Value"},
        "label": {"names": ["cat", "cow", "dog"], "_type": "ClassLabel"},
        "choices": {"feature": {"dtype": "string", "_type": "Value"}, "_type": "Sequence"},
        "blob": {"dtype": "binary", "_type": "Value"}}}}
    table = table.replace_schema_metadata({b"huggingface": json.dumps(hf).encode()})
    d = tmp_path / "animals" / "data"
    d.mkdir(parents=True)
    pq.write_table(table, d / "train-00000-of-00001.parquet")
    (card,) = load_source(str(tmp_path / "animals"), rows=2)
    assert card.num_rows == 3 and len(card.rows) == 2 and card.rows[1]["label"] == 2
    assert card.feature("label").label_names == ["cat", "cow", "dog"]
    assert card.feature("choices").dtype == "list<string>"
    blob = card.feature("blob")
    assert blob.dtype == "binary" and not blob.usable and "binary" in blob.reason
    # a bare parquet file without HF metadata: types inferred from arrow values
    pq.write_table(pa.table({"n": [1, 2], "t": ["a", None]}), tmp_path / "plain.parquet")
    (plain,) = load_source(str(tmp_path / "plain.parquet"))
    assert [(x.name, x.dtype) for x in plain.features] == [("n", "int64"), ("t", "string")]


@pytest.mark.parametrize("content, match", [
    ("", r"bad\.jsonl: file is empty"),
    ('{"a": 1}\n{"a": 2,\n', r"bad\.jsonl:2: not valid JSON"),
    ('{"a": 1}\n[1, 2]\n', r"bad\.jsonl:2: expected one JSON object per line"),
    ("\n\n", r"bad\.jsonl: has no rows"),
])
def test_bad_jsonl(tmp_path: Path, content: str, match: str):
    f = tmp_path / "bad.jsonl"
    f.write_text(content)
    with pytest.raises(UserError, match=match):
        load_source(str(f))


def test_other_bad_inputs(tmp_path: Path):
    (tmp_path / "h.csv").write_text("a,b\n")
    with pytest.raises(UserError, match=r"h\.csv: has no rows"):
        load_source(str(tmp_path / "h.csv"))
    (tmp_path / "x.xlsx").write_text("nope")
    with pytest.raises(UserError, match=r"unknown file type '\.xlsx'"):
        load_source(str(tmp_path / "x.xlsx"))
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(UserError, match=r"bad\.parquet: not a readable Parquet file"):
        load_source(str(tmp_path / "bad.parquet"))
    with pytest.raises(UserError, match="no such file or folder"):
        load_source(str(tmp_path / "missing.jsonl"))
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(UserError, match="no data files"):
        load_source(str(tmp_path / "empty_dir"))
    f = write_jsonl(tmp_path / "lab" / "train.jsonl", [{"t": "a", "y": "maybe"}])
    (f.parent / "README.md").write_text("---\ndataset_info:\n  features:\n  - name: t\n    dtype: string\n"
                                        "  - name: y\n    dtype:\n      class_label:\n        names: [no, yes]\n---\n")
    with pytest.raises(UserError, match=r"train\.jsonl: row 1: 'y' value 'maybe' is not one of its label names"):
        load_source(str(f.parent))


# --- expand_sources --------------------------------------------------------------------------

def test_expand_sources(tmp_path: Path):
    write_jsonl(tmp_path / "coll" / "a" / "train.jsonl", [{"x": "1"}])
    (tmp_path / "coll" / "b").mkdir(parents=True)
    (tmp_path / "coll" / "b" / "README.md").write_text("---\nlicense: mit\n---\n")
    (tmp_path / "coll" / "notes").mkdir()
    f = write_jsonl(tmp_path / "one.jsonl", [{"x": "1"}])
    lst = tmp_path / "list.txt"
    lst.write_text(f"# my sources\none.jsonl\n\ncoll  # a folder of datasets\nsome/hub_name\n{f}\n")
    got = expand_sources([str(lst)])
    assert got == [str(tmp_path / "one.jsonl"), str(tmp_path / "coll" / "a"), str(tmp_path / "coll" / "b"),
                   "some/hub_name"]
    # a dataset folder is itself, not its subfolders
    assert expand_sources([str(tmp_path / "coll" / "a")]) == [str(tmp_path / "coll" / "a")]
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(UserError, match="lists no sources"):
        expand_sources([str(tmp_path / "empty.txt")])


# --- the shipped examples --------------------------------------------------------------------

def test_examples_all_load():
    names = [Path(s).name for s in expand_sources([str(EXAMPLES / "sources.txt")])]
    assert names == ["news_topics", "sentence_pairs", "squad_mini", "science_mc", "review_summaries"]
    assert expand_sources([str(EXAMPLES)]) == sorted(expand_sources([str(EXAMPLES / "sources.txt")]))
    for src in expand_sources([str(EXAMPLES / "sources.txt")]):
        (card,) = load_source(src)
        assert 30 <= len(card.rows) <= 60 and card.num_rows == len(card.rows)
        assert card.description and card.license == "cc-by-4.0" and card.pretty_name
        assert all(f.usable for f in card.features), card.name
        declared = len(card.features)
        assert all(set(r) <= {f.name for f in card.features} for r in card.rows)
        assert declared >= 2
    news = load_source(str(EXAMPLES / "news_topics"))[0]
    assert news.feature("label").label_names == ["world", "sports", "business", "science"]
    mc = load_source(str(EXAMPLES / "science_mc"))[0]
    assert mc.feature("choices").dtype == "list<string>"
    assert mc.feature("answer").label_names == ["A", "B", "C", "D"]
    assert all(isinstance(r["answer"], int) and len(r["choices"]) == 4 for r in mc.rows)  # letters -> ids
    qa = load_source(str(EXAMPLES / "squad_mini"))[0]
    assert qa.feature("answers").dtype == "dict"
    for r in qa.rows:  # every answer span is where the card says it is
        for text, start in zip(r["answers"]["text"], r["answers"]["answer_start"]):
            assert r["context"][start:start + len(text)] == text


# --- CLI -------------------------------------------------------------------------------------

def _one_line_error(proc) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout == ""
    return lines[0]


def test_cli_inspect_errors(tmp_path: Path, cli):
    (tmp_path / "empty.jsonl").write_text("")
    assert "empty.jsonl: file is empty" in _one_line_error(cli("inspect", tmp_path / "empty.jsonl"))
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\n{oops}\n')
    assert "bad.jsonl:2: not valid JSON" in _one_line_error(cli("inspect", tmp_path / "bad.jsonl"))
    assert "missing.csv: no such file" in _one_line_error(cli("inspect", tmp_path / "missing.csv"))


def test_cli_inspect_hub_offline(cli):
    line = _one_line_error(cli("inspect", "instructkit-test/no_such_dataset"))
    assert "instructkit-test/no_such_dataset" in line and "Hugging Face Hub" in line and "local copy" in line


def test_cli_inspect_json_and_table(cli):
    proc = cli("inspect", EXAMPLES / "news_topics", "--rows", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    (card,) = json.loads(proc.stdout)
    assert card["name"] == "news_topics" and len(card["rows"]) == 2 and card["num_rows"] == 40
    assert card["features"][1]["label_names"] == ["world", "sports", "business", "science"]
    proc = cli("inspect", EXAMPLES / "sentence_pairs", "--rows", "1")
    assert proc.returncode == 0, proc.stderr
    assert "entailment, neutral, contradiction" in proc.stdout and "first 1 rows" in proc.stdout


def test_card_dataset_info_per_config(tmp_path: Path):
    d = tmp_path / "two"
    write_jsonl(d / "short" / "train.jsonl", [{"t": "hi", "y": 1}])
    write_jsonl(d / "long" / "train.jsonl", [{"t": "hello there", "y": "b"}])
    (d / "README.md").write_text(
        "---\nconfigs:\n- config_name: short\n  data_files: short/*.jsonl\n- config_name: long\n  data_files: long/*.jsonl\n"
        "dataset_info:\n- config_name: short\n  features:\n  - name: t\n    dtype: string\n  - name: y\n    dtype: int32\n"
        "- config_name: long\n  features:\n  - name: t\n    dtype: large_string\n  - name: y\n"
        "    dtype:\n      class_label:\n        names:\n          '0': a\n          '1': b\n---\nTwo configs.\n")
    short, long_ = load_source(str(d))
    assert (short.config, short.feature("y").dtype, short.rows) == ("short", "int64", [{"t": "hi", "y": 1}])
    assert (long_.config, long_.feature("y").label_names, long_.rows[0]["y"]) == ("long", ["a", "b"], 1)
    assert long_.feature("t").dtype == "string" and long_.description == "Two configs."


def test_hub_code_path_through_datasets(monkeypatch, tmp_path: Path):
    """The hub loader's real `datasets` path (builder info + streamed rows), fed a local folder."""
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf_cache"))
    from instructkit.sources.hub import load_hub

    (card,) = load_hub(str(EXAMPLES / "science_mc"), rows=3)
    assert card.num_rows == 32 and len(card.rows) == 3 and card.split == "train"
    assert card.license == "cc-by-4.0" and card.description.startswith("School-level science questions")
    assert card.feature("answer").label_names == ["A", "B", "C", "D"]
    assert card.feature("choices").dtype == "list<string>"
    local = load_source(str(EXAMPLES / "science_mc"), rows=3)[0]
    assert card.rows == local.rows  # both paths agree on the rows, letters mapped to the same ids


def test_json_files(tmp_path: Path):
    (tmp_path / "arr.json").write_text(json.dumps([{"q": "a?", "n": 1}, {"q": "b?", "n": 2}]))
    (card,) = load_source(str(tmp_path / "arr.json"))
    assert card.rows == [{"q": "a?", "n": 1}, {"q": "b?", "n": 2}] and card.name == "arr"
    (tmp_path / "wrapped.json").write_text(json.dumps({"version": 2, "data": [{"q": "c?"}]}))
    assert load_source(str(tmp_path / "wrapped.json"))[0].rows == [{"q": "c?"}]
    (tmp_path / "lines.json").write_text('{"q": "d?"}\n{"q": "e?"}\n')
    assert load_source(str(tmp_path / "lines.json"))[0].num_rows == 2
    (tmp_path / "broken.json").write_text('[{"q": "d?"},\n')
    with pytest.raises(UserError, match=r"broken\.json:2: not valid JSON"):
        load_source(str(tmp_path / "broken.json"))


def test_save_to_disk_folder(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf_cache"))
    import datasets

    feats = datasets.Features({"text": datasets.Value("string"),
                               "label": datasets.ClassLabel(names=["no", "yes"])})
    dd = datasets.DatasetDict({
        "test": datasets.Dataset.from_dict({"text": ["t"], "label": [0]}, features=feats),
        "train": datasets.Dataset.from_dict({"text": ["a", "b", "c"], "label": [1, 0, 1]}, features=feats)})
    dd.save_to_disk(str(tmp_path / "saved"))
    assert expand_sources([str(tmp_path)]) == [str(tmp_path / "saved")]
    (card,) = load_source(str(tmp_path / "saved"), rows=2)
    assert (card.split, card.splits, card.num_rows) == ("train", ["train", "test"], 3)
    assert card.rows == [{"text": "a", "label": 1}, {"text": "b", "label": 0}]
    assert card.feature("label").label_names == ["no", "yes"]
