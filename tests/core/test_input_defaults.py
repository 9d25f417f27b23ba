"""Defaults that destroyed data silently, and requests that cannot be met (issues 17 and 19)."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest

from instructkit.clean.dedup import DedupConfig, dedup
from instructkit.clean.minhash import MinHasher
from instructkit.records import Example
from tests.inproc import run


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# one Dynosaur task: a long shared instruction over different rows (inputs and labels)
INSTRUCTION = ("Read the product review below and decide whether the customer who wrote it was "
               "satisfied with the purchase overall. Consider the tone of the whole review rather than "
               "single words, since customers often mention small problems in reviews that are happy "
               "overall and small praise in reviews that are unhappy overall. Answer with one word: "
               "positive or negative.")
REVIEWS = [("Broke after two days.", "negative"), ("Works great, buy again.", "positive"),
           ("Excellent for the price.", "positive"), ("Lid cracked on first use.", "negative"),
           ("Kids love it.", "positive"), ("Stopped charging within a week.", "negative")]


def dynosaur_rows():
    return [{"instruction": INSTRUCTION, "input": text, "output": label, "meta": {"task_id": "t1"}}
            for text, label in REVIEWS]


def test_minhash_dedup_keeps_different_rows_of_one_instruction():
    exs = [Example(r["instruction"], r["input"], r["output"]) for r in dynosaur_rows()]
    assert len(dedup(exs, DedupConfig(method="minhash")).kept) == len(exs)
    # the old behaviour stays available, and is what dropped them
    assert len(dedup(exs, DedupConfig(method="minhash", field_match="joined")).kept) < len(exs)
    # a real near-copy (every field similar) is still found
    copy = Example(exs[0].instruction, exs[0].input + "!", exs[0].output)
    res = dedup(exs + [copy], DedupConfig(method="minhash"))
    assert len(res.kept) == len(exs) and res.rep[-1] == 0


def test_dedup_warns_when_more_than_half_is_dropped(tmp_path):
    f = write_jsonl(tmp_path / "dyn.jsonl", dynosaur_rows())
    out = tmp_path / "run"
    res = run("dedup", f, "--out", out, "--fields", "instruction", "--method", "exact")
    assert res.code == 0, res.stderr
    warn = [line for line in res.stderr.splitlines() if "warning:" in line]
    assert len(warn) == 1 and "more than half" in warn[0] and "instruction" in warn[0]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["dropped"] == 5 and "more than half" in manifest["warnings"][0]
    quiet = run("dedup", f, "--out", tmp_path / "run2", "--method", "exact")
    assert "warning" not in quiet.stderr


def _peak_signature_bytes(n_shingles: int) -> int:
    hashes = np.random.default_rng(0).integers(0, 2**63, size=n_shingles, dtype=np.uint64)
    owner = np.zeros(n_shingles, dtype=np.int64)
    hasher = MinHasher(128, seed=1)
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    hasher.signatures(hashes, owner, 1)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak


def test_minhash_memory_does_not_grow_with_one_long_record():
    short, long = _peak_signature_bytes(50_000), _peak_signature_bytes(200_000)
    # bounded by the block (2 × 128 × 8192 × 8 bytes = 16 MiB) plus per-record counts, not by the record:
    # before, one record's shingles were one block, so 4x the record meant 4x (200K shingles: 400 MB)
    assert long < 1.3 * short + 4 * 200_000, (short, long)
    assert long < 64 * 2**20


def test_long_record_signature_equals_blockwise_minimum():
    rng = np.random.default_rng(3)
    hashes = rng.integers(0, 2**63, size=30_000, dtype=np.uint64)
    owner = np.repeat(np.arange(3), [5, 29_990, 5])
    small = MinHasher(64, seed=2, chunk=1000).signatures(hashes, owner, 3)
    whole = MinHasher(64, seed=2, chunk=1 << 16).signatures(hashes, owner, 3)
    assert np.array_equal(small, whole)


@pytest.fixture
def pool(tmp_path):
    return write_jsonl(tmp_path / "pool.jsonl", [{"instruction": f"Explain topic number {i} in a sentence.",
                                                  "output": "ok", "stars": i} for i in range(5)])


def test_qdit_k_beyond_the_pool_says_so(pool, tmp_path):
    out = tmp_path / "q"
    res = run("select", "qdit", pool, "--k", "100", "--out", out)
    assert res.code == 0, res.stderr
    assert "--k 100 but the pool holds 5 examples" in res.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["requested_k"] == 100 and summary["k"] == 5
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    assert counts["requested"] == 100 and counts["selected"] == 5


def test_qdit_without_quality_says_alpha_is_idle_and_refuses_a_sweep(pool, tmp_path):
    res = run("select", "qdit", pool, "--k", "2", "--out", tmp_path / "a")
    assert res.code == 0, res.stderr
    assert "alpha 0.7" not in res.stderr and "--alpha has no effect" in res.stderr
    refused = run("select", "qdit", pool, "--k", "2", "--out", tmp_path / "b", "--sweep", "0,0.5,1")
    assert refused.code == 2 and len(refused.error_lines()) == 1 and "--sweep needs --quality" in refused.stderr
    assert not (tmp_path / "b").exists()
    ok = run("select", "qdit", pool, "--k", "2", "--out", tmp_path / "c", "--quality", "stars")
    assert ok.code == 0 and "alpha 0.7" in ok.stderr


def test_replay_budget_beyond_the_earlier_tasks_says_so(tmp_path):
    stages = []
    for s, names in enumerate((["a", "b"], ["c"]), 1):
        rows = [{"instruction": f"Task {n}: do thing {n}.", "input": f"x{j}", "output": f"y{j}", "task_id": n}
                for n in names for j in range(2)]
        stages.append(write_jsonl(tmp_path / f"s{s}.jsonl", rows))
    out = tmp_path / "r"
    res = run("replay", *stages, "--budget", "5", "--out", out)
    assert res.code == 0, res.stderr
    assert "--budget 5 but stages 1..1 hold only 2 tasks: replayed 2" in res.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stages"][1]["replayed_tasks"] == 2 and manifest["counts"]["replayed"] == [2]


def test_numba_threads_follow_instructkit_threads_and_idle_cores(monkeypatch):
    numba = pytest.importorskip("numba")
    from instructkit.llm import local
    from instructkit.select.qdit import lazy as fl_exact

    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    monkeypatch.setenv("INSTRUCTKIT_THREADS", "1")
    fl_exact._THREADS.clear()
    fl_exact._nb()
    assert numba.get_num_threads() == 1
    monkeypatch.delenv("INSTRUCTKIT_THREADS")
    monkeypatch.setattr(local, "_idle_cores", lambda cores, interval=0.2: 0.2)  # a busy machine
    assert fl_exact.numba_threads(16) == 1
    monkeypatch.setattr(local, "_idle_cores", lambda cores, interval=0.2: 64.0)
    assert fl_exact.numba_threads(2) == 2  # never more than numba's pool
    fl_exact._THREADS.clear()
