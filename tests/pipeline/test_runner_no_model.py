"""The runner on stages that need no model: Python API, outputs handed on, edits move folders aside."""

from __future__ import annotations

import json
from pathlib import Path

from instructkit.pipeline import Dedup, Export, Pipeline, stage_output


def _data(tmp_path: Path) -> Path:
    p = tmp_path / "data.jsonl"
    rows = [{"instruction": f"Add {i} and 2.", "output": str(i + 2)} for i in range(6)]
    rows += [rows[0], rows[1]]  # two exact duplicates
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return p


def test_python_pipeline_runs_and_hands_each_output_on(tmp_path):
    out = tmp_path / "run"
    m = Pipeline([Dedup(method="exact"), Export(format="alpaca")], sources=[str(_data(tmp_path))]).run(out)
    assert m["status"] == "complete" and [s["dir"] for s in m["stages"]] == ["01-dedup", "02-export"]
    assert len((out / "01-dedup" / "kept.jsonl").read_text().splitlines()) == 6
    exported = json.loads((out / "02-export" / "train.json").read_text())
    assert len(exported) == 6 and exported[0]["instruction"] == "Add 0 and 2."
    assert stage_output(out / "02-export", "export") == out / "02-export" / "train.json"
    assert m["outputs"]["examples"] == "02-export/train.json"
    export_manifest = json.loads((out / "02-export" / "manifest.json").read_text())
    assert export_manifest["command"] == "export" and export_manifest["config"]["input"].endswith("kept.jsonl")


def test_edited_last_stage_moves_only_it_aside(tmp_path):
    data, out = str(_data(tmp_path)), tmp_path / "run"
    first = Pipeline([Dedup(method="exact"), Export(format="alpaca")], sources=[data]).run(out)
    kept_before = (out / "01-dedup" / "manifest.json").read_bytes()
    second = Pipeline([Dedup(method="exact"), Export(format="messages")], sources=[data]).run(out)
    assert (out / "01-dedup" / "manifest.json").read_bytes() == kept_before  # not even re-opened
    assert second["stages"][0] == first["stages"][0]
    old = out / f"02-export.old-{first['stages'][1]['fingerprint']}"
    assert (old / "train.json").is_file() and (out / "02-export" / "train.jsonl").is_file()
    assert not (out / "02-export" / "train.json").exists()


def test_a_folder_the_recipe_did_not_make_is_moved_aside_not_overwritten(tmp_path):
    out = tmp_path / "run"
    (out / "01-dedup").mkdir(parents=True)
    (out / "01-dedup" / "mine.txt").write_text("keep me")
    Pipeline([Dedup(method="exact")], sources=[str(_data(tmp_path))]).run(out)
    assert (out / "01-dedup.old-unknown" / "mine.txt").read_text() == "keep me"


def test_stage_output_prefers_the_manifest_then_the_commands_file(tmp_path):
    d = tmp_path / "g"
    d.mkdir()
    (d / "examples.jsonl").write_text("")
    assert stage_output(d, "glan") == d / "examples.jsonl"
    (d / "target.jsonl").write_text("")
    (d / "manifest.json").write_text(json.dumps({"outputs": {"examples": "target.jsonl"}}))
    assert stage_output(d, "glan") == d / "target.jsonl"
