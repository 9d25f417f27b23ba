"""Property: every reading command, fed any malformed file, exits 0 with valid output, or exits 2 with
ONE stderr line, no traceback, and no output besides a run directory marked failed.

Bounded for CI: ``INSTRUCTKIT_FUZZ_EXAMPLES`` drawn files per command (default 6) plus the seed corpus
(:data:`strategies.SEEDS`, every case of issue 19). ``make fuzz`` runs a larger budget.
Commands run in this process (``tests.inproc.run``), so an unexpected exception surfaces as itself.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings

from tests.fuzz.strategies import GOOD_JSONL, SEEDS, data_files
from tests.inproc import run

EXAMPLES = int(os.environ.get("INSTRUCTKIT_FUZZ_EXAMPLES", "6"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=os.environ.get("INSTRUCTKIT_FUZZ_RANDOM") != "1",
                suppress_health_check=list(HealthCheck), database=None)


def seeded(test):
    for seed in reversed(SEEDS):
        test = example(seed)(test)
    return test


def check_text_rows(path: Path) -> None:
    """Every row of an examples file we wrote is plain JSON under the record contract."""
    for line in path.read_text(encoding="utf-8").split("\n"):  # not splitlines(): U+0085 is text in JSONL
        if not line:
            continue
        row = json.loads(line)
        assert isinstance(row["instruction"], str) and row["instruction"].strip(), row
        assert isinstance(row.get("input", ""), str) and isinstance(row.get("output", ""), str), row


def assert_outcome(res, out: Path, examples_file: str | None) -> None:
    assert res.code in (0, 2), (res.code, res.stderr)
    assert "Traceback" not in res.stderr
    if res.code == 2:
        assert len(res.error_lines()) == 1, res.stderr
        assert res.error_lines()[0].startswith("error: "), res.stderr
        if out.is_dir() and (out / "manifest.json").exists():
            assert json.loads((out / "manifest.json").read_text())["status"] == "failed"
        else:
            assert not out.exists() or (out.is_dir() and not any(out.iterdir())), list(out.iterdir())
    elif examples_file:
        check_text_rows(out / examples_file if out.is_dir() else out)


class Workdir:
    def __init__(self, sample: tuple[str, bytes]):
        self.root = Path(tempfile.mkdtemp(prefix="ik-fuzz-"))
        self.input = self.root / f"input{sample[0]}"
        self.input.write_bytes(sample[1])
        self.good = self.root / "good.jsonl"
        self.good.write_text(GOOD_JSONL.replace('"t1"', '"t9"').replace("colour", "shape"))
        self.out = self.root / "out"

    def __enter__(self) -> "Workdir":
        return self

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@FUZZ
@seeded
@given(sample=data_files())
def test_dedup(sample):
    with Workdir(sample) as w:
        for method in ("exact", "minhash"):
            out = w.out / method
            assert_outcome(run("dedup", w.input, "--out", out, "--method", method, "--quiet"), out, "kept.jsonl")
        out = w.out / "skip"
        res = run("dedup", w.input, "--out", out, "--method", "exact", "--skip-bad-rows", "--quiet")
        assert_outcome(res, out, "kept.jsonl")


@FUZZ
@seeded
@given(sample=data_files())
def test_decontaminate_as_input_and_as_benchmark(sample):
    with Workdir(sample) as w:
        assert_outcome(run("decontaminate", w.input, "--against", w.good, "--out", w.out / "a", "--quiet"),
                       w.out / "a", "clean.jsonl")
        assert_outcome(run("decontaminate", w.good, "--against", w.input, "--out", w.out / "b", "--quiet"),
                       w.out / "b", "clean.jsonl")


@FUZZ
@seeded
@given(sample=data_files())
def test_export(sample):
    with Workdir(sample) as w:
        out = w.out / "train.jsonl"
        w.out.mkdir()
        assert_outcome(run("export", w.input, "--format", "alpaca", "--out", out, "--quiet"), out, "train.jsonl")


@FUZZ
@seeded
@given(sample=data_files())
def test_select_qdit(sample):
    with Workdir(sample) as w:
        res = run("select", "qdit", w.input, "--k", "2", "--out", w.out, "--quiet")
        assert_outcome(res, w.out, "selected.jsonl")


@FUZZ
@seeded
@given(sample=data_files())
def test_select_active(sample):
    """Task reading of Active-IT (``--strategy random`` needs no model), strict and with --skip-bad-rows."""
    with Workdir(sample) as w:
        for name, skip in (("strict", []), ("skip", ["--skip-bad-rows"])):
            out = w.out / name
            res = run("select", "active", w.input, "--k", "1", "--strategy", "random", "--out", out, "--quiet", *skip)
            assert_outcome(res, out, None)
            if res.code == 0:
                check_text_rows(out / "selected_examples.jsonl")


@FUZZ
@seeded
@given(sample=data_files())
def test_inspect(sample):
    with Workdir(sample) as w:
        res = run("inspect", w.input, "--rows", "2", "--json", "--quiet")
        assert_outcome(res, w.out, None)
        if res.code == 0:
            assert isinstance(json.loads(res.stdout), list)


@FUZZ
@seeded
@given(sample=data_files())
def test_taskmap(sample):
    with Workdir(sample) as w:
        png = w.out / "map.png"
        w.out.mkdir()
        res = run("taskmap", w.input, "--out", png, "--quiet")
        assert_outcome(res, png, None)
        if res.code == 0:
            assert png.stat().st_size > 0


@FUZZ
@seeded
@given(sample=data_files())
def test_replay(sample):
    with Workdir(sample) as w:
        res = run("replay", w.input, w.good, "--budget", "1", "--out", w.out, "--quiet", "--skip-bad-rows")
        assert_outcome(res, w.out, None)
        if res.code == 0:
            check_text_rows(w.out / "stage_2" / "train.jsonl")


@FUZZ
@seeded
@given(sample=data_files())
def test_eval_task_loading(sample):
    """``eval --tasks`` reads its files before any model is opened: the loader alone, no model."""
    from instructkit.errors import UserError
    from instructkit.loop.evaluate import load_tasks

    with Workdir(sample) as w:
        run_dir = w.root / "dyn"  # the drawn file also as the instances of a Dynosaur run
        run_dir.mkdir()
        (run_dir / "tasks.jsonl").write_text(json.dumps({"id": "t1", "instruction": "Say it."}) + "\n")
        (run_dir / "instances.jsonl").write_bytes(sample[1])
        for source in (w.input, run_dir):
            try:
                tasks = load_tasks([source])
            except UserError as e:
                assert "\n" not in str(e)
            else:
                assert all(t.instances for t in tasks)
                for inst in (i for t in tasks for i in t.instances):
                    assert isinstance(inst.input, str) and inst.meta["references"]
                    assert all(isinstance(r, str) and r.strip() for r in inst.meta["references"])


@pytest.mark.parametrize("suffix, content", SEEDS[:3])
def test_seed_corpus_is_rejected_in_one_line(suffix, content, tmp_path):
    """The first seeds (garbage, latin-1, deep nesting) are never readable: exit 2 on every command."""
    f = tmp_path / f"bad{suffix}"
    f.write_bytes(content)
    res = run("dedup", f, "--out", tmp_path / "run", "--quiet")
    assert res.code == 2 and len(res.error_lines()) == 1 and not (tmp_path / "run").exists()


@FUZZ
@seeded
@given(sample=data_files())
def test_eval_cli_dry_run(sample):
    """``eval --tasks`` through the CLI: ``--dry-run`` reads every task, then only counts (no model call)."""
    with Workdir(sample) as w:
        run_dir = w.root / "dyn"
        run_dir.mkdir()
        (run_dir / "tasks.jsonl").write_text(json.dumps({"id": "t1", "instruction": "Say it."}) + "\n")
        (run_dir / "instances.jsonl").write_bytes(sample[1])
        for i, source in enumerate((w.input, run_dir)):
            out = w.out / f"e{i}"
            res = run("eval", "local", "--tasks", source, "--out", out, "--dry-run", "--quiet")
            assert_outcome(res, out, None)
            assert not out.exists()  # a dry run writes nothing, and a refused one neither
