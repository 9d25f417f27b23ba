"""Bad recipes: exit 2, one line naming the stage, the key and the fix, and nothing written."""

from __future__ import annotations

import pytest

from conftest import run_cli

GOOD_STAGES = """stages:
  - dynosaur: {rows: 2}
  - dedup: {method: exact}
  - export: {format: messages}
"""

# (recipe text, words the one error line must hold)
BAD = {
    "unknown_stage": ("sources: [data.jsonl]\nstages:\n  - dedupe: {}\n", ["stage 1", "'dedupe'", "did you mean 'dedup'"]),
    "unknown_key": ("sources: [data.jsonl]\nstages:\n  - dedup: {treshold: 0.8}\n",
                    ["stage 1 'dedup'", "'treshold'", "did you mean 'threshold'"]),
    "wrong_type": ("sources: [data.jsonl]\nstages:\n  - select qdit: {k: many}\n", ["'select qdit'", "'k'", "'many'"]),
    "out_of_range": ("sources: [d/]\nstages:\n  - dynosaur: {max_tasks: 50}\n", ["'dynosaur'", "'max_tasks'", "50"]),
    "missing_required": ("sources: [data.jsonl]\nstages:\n  - select qdit: {alpha: 0.5}\n",
                         ["'select qdit'", "'k' is required"]),
    "bad_choice": ("sources: [data.jsonl]\nstages:\n  - export: {format: csv}\n", ["'export'", "'format'", "'csv'"]),
    "flow_mismatch": ("sources: [data.jsonl]\nstages:\n  - train: {steps: 1}\n  - dedup: {}\n",
                      ["stage 2 'dedup'", "cannot take", "examples"]),
    "glan_not_first": ("sources: [data.jsonl]\nstages:\n  - dedup: {}\n  - glan: {}\n",
                       ["stage 2 'glan'", "first stage"]),
    "no_sources": ("stages:\n  - dedup: {}\n", ["stage 1 'dedup'", "sources"]),
    "unknown_top_key": ("sources: [data.jsonl]\nmodle: local\n" + GOOD_STAGES, ["top level", "'modle'", "model"]),
    "no_stages": ("sources: [data.jsonl]\nmodel: local\n", ["'stages' is required"]),
    "empty_stages": ("sources: [data.jsonl]\nstages: []\n", ["stages"]),
    "two_keys_in_stage": ("sources: [data.jsonl]\nstages:\n  - dedup: {}\n    export: {format: messages}\n",
                          ["stage 1", "one mapping"]),
    "options_not_mapping": ("sources: [data.jsonl]\nstages:\n  - dedup: 3\n", ["stage 1 'dedup'", "mapping"]),
    "not_a_mapping": ("- dynosaur\n- dedup\n", ["YAML mapping"]),
    "bad_yaml": ("sources: [data.jsonl\nstages:\n  - dedup: {}\n", ["not valid YAML", "line"]),
    "two_sources_for_dedup": ("sources: [a.jsonl, b.jsonl]\nstages:\n  - dedup: {}\n",
                              ["stage 1 'dedup'", "single path"]),
    "missing_source_file": ("sources: [nope.jsonl]\nstages:\n  - dedup: {}\n", ["sources", "nope.jsonl", "no such file"]),
    "wrong_concurrency_type": ("sources: [d/]\nconcurrency: lots\n" + GOOD_STAGES, ["'concurrency'", "'lots'"]),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_recipe_exit_2_one_line_nothing_written(kind, tmp_path):
    text, words = BAD[kind]
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    r = run_cli("run", recipe, "--out", out)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert "Traceback" not in r.stderr
    assert not out.exists()


def test_missing_recipe_file_is_one_line(tmp_path):
    r = run_cli("run", tmp_path / "nope.yaml", "--out", tmp_path / "o")
    assert r.returncode == 2 and "no such recipe file" in r.stderr
    assert not (tmp_path / "o").exists()


def test_validation_in_python_names_stage_and_key():
    from instructkit.errors import UserError
    from instructkit.pipeline import Dedup, Export, Pipeline, SelectQdit, Train

    p = Pipeline([Dedup(method="exact"), SelectQdit(k=3), Export(format="alpaca")], sources=["x.jsonl"])
    assert [n for n, _ in p.stages] == ["dedup", "select qdit", "export"]
    with pytest.raises(UserError, match="stage 2 'select qdit'.*cannot take"):
        Pipeline([Train(steps=1), SelectQdit(k=3)], sources=["x.jsonl"])
    with pytest.raises(ValueError):  # pydantic refuses a bad value already when the object is made
        Dedup(method="fuzzy")


def test_dashed_keys_work_like_underscores():
    from instructkit.pipeline import Pipeline

    p = Pipeline.from_dict({"sources": ["d/"], "stages": [{"dynosaur": {"max-tasks": 2}}]})
    assert p.stages[0][1].max_tasks == 2


def test_fingerprint_changes_only_from_the_edited_stage_on(tmp_path):
    from instructkit.pipeline import Pipeline

    data = tmp_path / "data.jsonl"
    data.write_text('{"instruction": "a", "output": "b"}\n', encoding="utf-8")
    base = {"sources": [str(data)], "stages": [{"dedup": {"method": "exact"}}, {"select qdit": {"k": 2}},
                                                {"export": {"format": "messages"}}]}
    fp1 = Pipeline.from_dict(base).fingerprints()
    base["stages"][1] = {"select qdit": {"k": 3}}
    fp2 = Pipeline.from_dict(base).fingerprints()
    assert fp1[0] == fp2[0] and fp1[1] != fp2[1] and fp1[2] != fp2[2]
    base["concurrency"] = 7  # how fast, not what: no stage changes
    assert Pipeline.from_dict(base).fingerprints() == fp2
    data.write_text('{"instruction": "a", "output": "c"}\n', encoding="utf-8")  # new input content
    assert all(a != b for a, b in zip(Pipeline.from_dict(base).fingerprints(), fp2))


def test_docs_page_names_every_key_of_every_stage():
    import re
    from pathlib import Path

    from instructkit.pipeline.schema import STAGES, Defaults

    doc = (Path(__file__).resolve().parents[2] / "docs" / "guide" / "recipes.md").read_text(encoding="utf-8")
    for name, cls in [("top level", Defaults)] + list(STAGES.items()):
        section = doc if name == "top level" else doc.split(f"### `{name}`", 1)[1].split("\n### ", 1)[0]
        for key in cls.model_fields:
            assert re.search(rf"`{key}`", section), f"{name}: key {key} not documented"
