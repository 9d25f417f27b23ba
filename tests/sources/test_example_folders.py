"""The example readers (dedup, select qdit, export...) on dataset folders laid out as on the hub.

A folder downloaded from the hub (``huggingface-cli download --repo-type dataset``) holds a README.md
card, the data under ``data/`` split by file name, and stray files (``.gitattributes``). The readers
take one split of it (train when there is one) and say which, instead of refusing the folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from conftest import run_cli

CARD = """---
pretty_name: Tiny QA
license: cc-by-4.0
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*
  - split: test
    path: data/test-*
dataset_info:
  features:
  - name: instruction
    dtype: string
  - name: input
    dtype: string
  - name: output
    dtype: string
  - name: meta
    struct:
    - name: source
      dtype: string
---

# Tiny QA

Questions with short answers.
"""


def rows(prefix: str, n: int) -> list[dict]:
    return [{"instruction": f"{prefix} question number {i}: what is {i} plus {i}?", "input": "",
             "output": str(2 * i), "meta": {"source": prefix}} for i in range(n)]


def hub_folder(root: Path, card: str | None = CARD) -> Path:
    d = root / "tiny-qa"
    (d / "data").mkdir(parents=True)
    if card is not None:
        (d / "README.md").write_text(card)
    (d / ".gitattributes").write_text("*.parquet filter=lfs diff=lfs merge=lfs -text\n")
    pq.write_table(pa.Table.from_pylist(rows("train", 7)), d / "data" / "train-00000-of-00001.parquet")
    pq.write_table(pa.Table.from_pylist(rows("test", 3)), d / "data" / "test-00000-of-00001.parquet")
    return d


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_dedup_reads_the_train_split_of_a_hub_folder_and_says_so(tmp_path):
    d = hub_folder(tmp_path)
    r = run_cli("dedup", d, "--method", "exact", "--out", tmp_path / "run")
    assert r.returncode == 0, r.stderr
    kept = lines(tmp_path / "run" / "kept.jsonl")
    assert len(kept) == 7 and {k["meta"]["source"] for k in kept} == {"train"}  # the test split is not mixed in
    assert "reading split 'train'" in r.stderr and "not read: test" in r.stderr


def test_export_reads_a_hub_folder_without_a_card_by_its_file_names(tmp_path):
    d = hub_folder(tmp_path, card=None)
    out = tmp_path / "train.jsonl"
    r = run_cli("export", d, "--format", "alpaca", "--out", out, "--quiet")
    assert r.returncode == 0, r.stderr
    got = lines(out)
    assert len(got) == 7 and all(g["instruction"].startswith("train question") for g in got)


def test_a_folder_of_several_configs_is_one_line_naming_them(tmp_path):
    d = tmp_path / "multi"
    for cfg in ("en", "fr"):
        (d / cfg).mkdir(parents=True)
        (d / cfg / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows(cfg, 2)))
    r = run_cli("dedup", d, "--method", "exact", "--out", tmp_path / "run")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "several configs (en, fr)" in r.stderr and not (tmp_path / "run").exists()


def test_a_card_naming_missing_files_is_one_line(tmp_path):
    d = hub_folder(tmp_path, card=CARD.replace("data/test-*", "data/validation-*"))
    r = run_cli("select", "qdit", d, "--k", "2", "--out", tmp_path / "run")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "validation-*" in r.stderr and "Traceback" not in r.stderr
