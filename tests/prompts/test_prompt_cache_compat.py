"""Caches written before prompts became template files still hit (slow: the embedded model loads).

``tests/fixtures/cache_before_templates/`` holds the response caches, the score cache and the
outputs of four small runs made with main's code when the judge, Active-IT and eval prompts were
Python strings with hand-written version labels (``make.sh`` there shows the commands). Each test
re-runs its command with today's code on a copy of those caches and checks that the model is not
called once and that the output is the same, so the loader kept every cache key.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
FIX = Path("tests/fixtures/cache_before_templates")  # relative, as when the fixtures were made (paths are in outputs)


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run(tmp_path: Path, *args, scores_cache: bool = False, response_cache: str | None = None) -> Path:
    """Run ``instructkit ARGS --out OUT`` from the repo root; OUT starts with the fixture response cache."""
    out, cache = tmp_path / "out", tmp_path / "cache"
    out.mkdir()
    cache.mkdir()
    if response_cache:
        shutil.copy(ROOT / FIX / response_cache / "cache.sqlite", out / "cache.sqlite")
    if scores_cache:
        shutil.copy(ROOT / FIX / "scores.sqlite", cache / "scores.sqlite")
    r = run_cli(*args, "--out", out, "--quiet", cwd=ROOT,
                env={"INSTRUCTKIT_CACHE": str(cache), "INSTRUCTKIT_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    return out


def usage(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())["usage"]


@pytest.mark.parametrize("quality", ["judge", "ifd"])
def test_qdit_quality_hits_the_old_response_cache(tmp_path, quality):
    out = run(tmp_path, "select", "qdit", FIX / "pool.json", "--k", "3", "--quality", quality, "--model", "local",
              "--text", "instruction+input", response_cache=quality)
    u = usage(out)
    # calls counts what reached the model (chat and score); score_calls counts score requests, hits included
    assert u["calls"] == 0 and u["cache_hits"] == (6 if quality == "judge" else 12)  # 1 judge / 2 IFD per row
    assert rows(out / "selected.jsonl") == rows(ROOT / FIX / quality / "selected.jsonl")


def test_judge_hits_the_old_score_cache(tmp_path):
    out = run(tmp_path, "select", "qdit", FIX / "pool.json", "--k", "3", "--quality", "judge", "--model", "local",
              "--text", "instruction+input", scores_cache=True)
    assert json.loads((out / "summary.json").read_text())["scores"]["cached"] == 6
    assert usage(out)["calls"] == 0 and usage(out)["cache_hits"] == 0
    assert rows(out / "selected.jsonl") == rows(ROOT / FIX / "judge" / "selected.jsonl")


def test_active_it_hits_the_old_cache_and_keeps_its_score_ids(tmp_path):
    out = run(tmp_path, "select", "active", FIX / "tasks", "--k", "1", "--model", "local", "--instances", "2",
              "--perturbations", "2", "--max-tokens", "8", response_cache="active")
    u = usage(out)
    assert u["calls"] == 0 and u["cache_hits"] == 16
    # same score ids (they hold the prompt's cache tag) and the same numbers
    assert rows(out / "scores.jsonl") == rows(ROOT / FIX / "active" / "scores.jsonl")
    assert rows(out / "selected.jsonl") == rows(ROOT / FIX / "active" / "selected.jsonl")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["prompt_version"] == "active-it-prompt-v1"
    assert manifest["this_run"]["prompts"]["active_it"].startswith("active_it@")


def test_eval_hits_the_old_cache_and_keeps_its_prediction_ids(tmp_path):
    out = run(tmp_path, "eval", "local", "--tasks", FIX / "tasks", "--eval-instances", "2", "--max-tokens", "8",
              "--demos", "1", response_cache="eval")
    u = usage(out)
    assert u["calls"] == 0 and u["cache_hits"] == 4
    assert rows(out / "predictions.jsonl") == rows(ROOT / FIX / "eval" / "predictions.jsonl")
    before = json.loads((ROOT / FIX / "eval" / "results.json").read_text())
    after = json.loads((out / "results.json").read_text())
    assert after["overall"] == before["overall"] and after["tasks"] == before["tasks"]
    assert after["config"]["prompt"] == "eval-v1"


def test_dynosaur_hits_the_old_cache(tmp_path):
    out = run(tmp_path, "dynosaur", "examples/news_topics", "--rows", "8", "--modes", "aware", "--max-tasks", "2",
              response_cache="dynosaur")
    u = usage(out)
    assert u["calls"] == 0 and u["cache_hits"] > 0
    assert rows(out / "tasks.jsonl") == rows(ROOT / FIX / "dynosaur" / "tasks.jsonl")


def test_glan_hits_the_old_cache_and_keeps_its_node_ids(tmp_path):
    out = run(tmp_path, "glan", "--taxonomy", FIX / "taxonomy.yaml", "--subject-samples", "1", "--max-subjects", "1",
              "--max-sessions", "4", "--questions-per-syllabus", "1", "--max-tokens", "96", "--model", "local",
              "--concurrency", "1", "--seed", "3", response_cache="glan")
    u = usage(out)
    assert u["calls"] == 0 and u["cache_hits"] > 0
    for stream in ("syllabi", "questions", "answers"):  # node ids hold each stage's prompt version
        assert rows(out / f"{stream}.jsonl") == rows(ROOT / FIX / "glan" / f"{stream}.jsonl"), stream
    assert rows(out / "answers.jsonl"), "the fixture run reached the answer stage"
