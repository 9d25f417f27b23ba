"""kill -9 mid-run, re-run: the same output set as an uninterrupted run, no duplicates, nothing lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
N = 60

WORKER = textwrap.dedent('''
    import hashlib, sys, time
    from instructkit.runs import RunDir

    out, n = sys.argv[1], int(sys.argv[2])
    with RunDir(out, command="kill-demo", config={"n": n}) as run:
        done = run.stream("items")
        for i in range(n):
            rid = f"item-{i:04d}"
            if rid in done:
                continue  # resumed: this one is already written
            # real, deterministic work per item, slow enough to be killed in the middle
            h = hashlib.sha256(str(i).encode())
            for _ in range(5000):
                h = hashlib.sha256(h.digest())
            done.append({"id": rid, "digest": h.hexdigest(), "text": "x" * (200 + i % 50)})
            time.sleep(0.02)
        run.update(counts={"items": len(done)})
''')


def _start(tmp: Path, out: Path) -> subprocess.Popen:
    script = tmp / "worker.py"
    script.write_text(WORKER)
    env = dict(os.environ, PYTHONPATH=str(SRC))
    return subprocess.Popen([sys.executable, str(script), str(out), str(N)], env=env)


def _lines(p: Path) -> list[str]:
    return p.read_text(encoding="utf-8").splitlines() if p.exists() else []


@pytest.mark.slow
def test_sigkill_midway_then_rerun_matches_uninterrupted(tmp_path):
    ref = tmp_path / "ref"
    assert _start(tmp_path, ref).wait(timeout=120) == 0

    out = tmp_path / "killed"
    items = out / "items.jsonl"
    kills = 0
    for target in (N // 4, N // 2):  # two kills at different points, each mid-run
        proc = _start(tmp_path, out)
        deadline = time.monotonic() + 60
        while len(_lines(items)) < target and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.005)
        assert proc.poll() is None, "the worker finished before it could be killed; make it slower"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        m = json.loads((out / "manifest.json").read_text())  # parseable after kill -9 (atomic)
        assert m["status"] == "running"  # it never got to close: the kill really interrupted it
        assert len(_lines(items)) < N
    # simulate the worst moment for a kill: a half-written last line
    with open(items, "a", encoding="utf-8") as f:
        f.write('{"id": "item-9999", "digest": "torn')
    assert _start(tmp_path, out).wait(timeout=120) == 0

    got = [json.loads(x) for x in _lines(items)]
    want = [json.loads(x) for x in _lines(ref / "items.jsonl")]
    assert len(got) == N and len({r["id"] for r in got}) == N, "duplicates or losses after resume"
    assert sorted(got, key=lambda r: r["id"]) == sorted(want, key=lambda r: r["id"])
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "complete" and m["runs"] == kills + 1 and m["counts"] == {"items": N}
