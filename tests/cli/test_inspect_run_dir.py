"""`instructkit inspect RUN_DIR` shows the run's records, not a merged "dataset" of all its files (issue 17).

The run directory is a real one, written by `instructkit dedup` (no model needed) from an Alpaca-style
file with one planted duplicate. Its manifest names the examples file by the contract
(`outputs.examples`); another choice of file and a manifest that names none are made from it.
"""
import json

import pytest

ROWS = [
    {"instruction": "Translate the sentence into French.", "input": "The cat sleeps.", "output": "Le chat dort."},
    {"instruction": "Give the capital city of the country.", "input": "Peru", "output": "Lima"},
    {"instruction": "Give the capital city of the country.", "input": "Peru", "output": "Lima"},
    {"instruction": "Write the number in words.", "input": "42", "output": "forty-two"},
]


@pytest.fixture
def dedup_run(tmp_path, cli):
    src = tmp_path / "alpaca.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    out = tmp_path / "runs" / "dedup"
    proc = cli("dedup", src, "--out", out, "--method", "exact", "--quiet")
    assert proc.returncode == 0, proc.stderr
    return out


def _manifest(run):
    return json.loads((run / "manifest.json").read_text(encoding="utf-8"))


def _rewrite(run, change):
    m = _manifest(run)
    change(m)
    (run / "manifest.json").write_text(json.dumps(m), encoding="utf-8")


def test_shows_the_records_the_manifest_names(dedup_run, cli):
    assert _manifest(dedup_run)["outputs"]["examples"] == "kept.jsonl"  # the run dir as dedup writes it today
    proc = cli("inspect", dedup_run, "--rows", "5")
    assert proc.returncode == 0, proc.stderr
    assert "kept.jsonl (3)" in proc.stdout
    assert "Translate the sentence into French." in proc.stdout and "forty-two" in proc.stdout
    assert "fields" not in proc.stdout and "dropped.jsonl" not in proc.stdout  # no merged "dataset" card


def test_json_gives_the_records_themselves(dedup_run, cli):
    proc = cli("inspect", dedup_run, "--rows", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    kept = [json.loads(line) for line in (dedup_run / "kept.jsonl").read_text(encoding="utf-8").splitlines()]
    assert info["command"] == "dedup" and info["examples_file"] == "kept.jsonl" and info["count"] == len(kept) == 3
    assert info["rows"] == kept[:2]


def test_outputs_examples_wins_over_the_old_key(dedup_run, cli):
    _rewrite(dedup_run, lambda m: m.update(examples="kept.jsonl"))  # an old run dir's top-level key
    # the run-directory contract: manifest.outputs.examples names the records
    _rewrite(dedup_run, lambda m: m.update(outputs={"examples": "dropped.jsonl"}))
    info = json.loads(cli("inspect", dedup_run, "--json").stdout)
    assert info["examples_file"] == "dropped.jsonl" and info["count"] == 1
    assert info["rows"][0]["instruction"] == "Give the capital city of the country."


def test_without_an_examples_file_lists_the_jsonl_outputs(dedup_run, cli):
    _rewrite(dedup_run, lambda m: (m.pop("examples", None), m.pop("outputs", None)))
    proc = cli("inspect", dedup_run)
    assert proc.returncode == 0, proc.stderr
    assert "names no examples file" in proc.stdout
    info = json.loads(cli("inspect", dedup_run, "--json").stdout)
    assert info["examples_file"] is None
    assert info["files"] == {"dropped.jsonl": 1, "groups.jsonl": 1, "kept.jsonl": 3}


def test_a_broken_manifest_is_one_line_exit_2(dedup_run, cli):
    (dedup_run / "manifest.json").write_text("{not json", encoding="utf-8")
    proc = cli("inspect", dedup_run)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error:") and len(proc.stderr.strip().splitlines()) == 1
    assert "manifest.json" in proc.stderr
