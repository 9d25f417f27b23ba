"""The hand-labelled validity set is complete and consistent, its folders load as users' folders would,
and the held-out threshold check keeps to its rule (benchmarks/validity/, benchmarks/validity_holdout.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from instructkit.sources import load_source

ROOT = Path(__file__).resolve().parents[2]
VALIDITY = ROOT / "benchmarks" / "validity"


def test_every_label_has_a_verdict_a_reason_and_its_task_text():
    labels = [json.loads(line) for line in (VALIDITY / "labels.jsonl").read_text().splitlines()]
    tsv = {line.split("\t")[0]: line.split("\t")[1] == "1"
           for line in (VALIDITY / "labels.tsv").read_text().splitlines()}
    assert len(labels) >= 100
    assert len({r["task_id"] for r in labels}) == len(labels)
    for r in labels:
        assert isinstance(r["valid"], bool) and r["reason"].strip() and r["instruction"].strip(), r
        assert tsv[r["task_id"]] == r["valid"], r["task_id"]
    assert 0 < sum(r["valid"] for r in labels) < len(labels)


@pytest.mark.parametrize("folder", sorted(p.name for p in (VALIDITY / "datasets_more").iterdir()))
def test_second_batch_folders_load_with_their_stray_files_left_out(folder):
    card = load_source(str(VALIDITY / "datasets_more" / folder))[0]
    assert len(card.rows) >= 10
    usable = [f.name for f in card.features if f.usable]
    assert len(usable) >= 2, usable  # something to map from and to
    for row in card.rows:  # no stray file (dataset_infos.json, classes.txt) became a row
        assert set(row) <= {f.name for f in card.features}, row
    if folder == "wmt_de_en_style":
        assert usable == ["translation.de", "translation.en"]


def test_holdout_choice_never_lowers_precision_or_keep_recall_on_the_tuning_half():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from validity_holdout import _fig, choose

    rows = [{"task_id": str(i), "score": s, "valid": v} for i, (s, v) in enumerate(
        [(0.99, True), (0.97, True), (0.6, False), (0.65, False), (0.55, False), (0.2, False), (0.96, False)])]
    th = choose(rows, 0.5)
    assert th == 0.7  # the highest drop recall that keeps every valid task
    base, got = _fig(rows, 0.5), _fig(rows, th)
    assert got["drop_detects_invalid"]["recall"] > base["drop_detects_invalid"]["recall"]
    assert got["keep_finds_valid"]["recall"] == base["keep_finds_valid"]["recall"]
