"""Helpers of the viewer's browser tests: real run directories, a real viewer process, Chromium.

Kept out of conftest.py so the viewer's tests stay in their own files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from conftest import cli_env, run_cli

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
XSS = [{"id": "xss-script", "instruction": "<script>window.__xss=1</script> explain xsscanary",
        "input": '<img src=x onerror="window.__xss=2">', "output": "<b>bold?</b>", "meta": {"dataset": "<i>evil</i>"}},
       {"id": "xss-img", "instruction": "Describe <img src=x onerror=window.__xss=3> xsscanary", "input": "",
        "output": "fine", "meta": {}}]
DYN = ["--rows", "8", "--max-tasks", "1", "--concurrency", "1", "--no-verify", "--quiet"]  # keeps what passes the filters


def lines(p: Path) -> list[dict]:
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()] if p.exists() else []


def ok(r: subprocess.CompletedProcess) -> None:
    assert r.returncode == 0, r.stderr[-2000:]
    if os.environ.get("INSTRUCTKIT_VIEW_TEST_TIMES"):
        print(f"{time.time() - _T[0]:.1f}s {' '.join(r.args[3:5])}", flush=True)
    _T[0] = time.time()


_T = [time.time()]


def make_runs(base: Path, env: dict[str, str], glan: Path) -> dict[str, Path]:
    """Tiny real runs of every kind the viewer knows, made by the commands with the embedded model.

    ``glan``: a finished GLAN run directory (the session's shared one, conftest.glan_run), copied here.
    """
    runs = {name: base / name for name in ("dyn", "dyn2", "glan", "qdit", "dedup", "active")}
    ok(run_cli("dynosaur", ROOT / "examples" / "squad_mini", "--out", runs["dyn"], *DYN, env=env, cwd=ROOT))
    assert lines(runs["dyn"] / "instances.jsonl"), "the tiny Dynosaur run kept no task: the viewer tests need one"
    shutil.copytree(runs["dyn"], runs["dyn2"], ignore=shutil.ignore_patterns(".lock"))
    ok(run_cli("dynosaur", ROOT / "examples" / "news_topics", "--out", runs["dyn2"], *DYN, env=env, cwd=ROOT))
    pool = base / "pool.jsonl"  # the Dynosaur instances plus two records that try to run script in the page
    rows = lines(runs["dyn"] / "instances.jsonl") + list(XSS)
    # a numeric quality column ("stars"): a sweep needs a quality signal (without one alpha changes nothing)
    pool.write_text("".join(json.dumps({**r, "stars": i % 5}) + "\n" for i, r in enumerate(rows)))
    ok(run_cli("select", "qdit", pool, "--k", "5", "--out", runs["qdit"], "--quality", "stars",
               "--sweep", "0,0.5,1", "--quiet", env=env))
    ok(run_cli("dedup", pool, "--out", runs["dedup"], "--threshold", "0.5", "--field-match", "joined", "--quiet",
               env=env))
    shutil.copytree(glan, runs["glan"], ignore=shutil.ignore_patterns(".lock"))  # the viewer reads a copy
    tasks = base / "active_tasks"
    tasks.mkdir()
    for name in ("task_even_or_odd.json", "task_plural_noun.json", "task_sentiment_short_reviews.json"):
        shutil.copy(ROOT / "examples" / "active" / name, tasks / name)
    ok(run_cli("select", "active", tasks, "--k", "1", "--instances", "1", "--perturbations", "1",
               "--max-tokens", "8", "--model", "local", "--out", runs["active"], "--quiet", env=env))
    ok(run_cli("taskmap", runs["active"], "--out", runs["active"] / "taskmap.png", "--quiet", env=env))
    return runs


RECIPE = """# the viewer's recipe run: Dynosaur then dedup, on the embedded model
sources: [{src}]
model: local
concurrency: 1
stages:
  - dynosaur: {{modes: aware, max_tasks: 1, rows: 8, verify: false}}
  - dedup: {{method: minhash, threshold: 0.7}}
"""


def make_recipe_run(base: Path, env: dict[str, str]) -> Path:
    """A real ``instructkit run`` recipe directory (a manifest with stages, one run dir per stage)."""
    recipe, out = base / "recipe.yaml", base / "recipe"
    recipe.write_text(RECIPE.format(src=ROOT / "examples" / "news_topics"))
    ok(run_cli("run", recipe, "--out", out, "--quiet", env=env, cwd=ROOT))
    assert len(json.loads((out / "manifest.json").read_text())["stages"]) == 2
    return out


class Viewer:
    """``instructkit view DIRS --port 0`` in a subprocess; ``url`` is what it printed."""

    def __init__(self, dirs: list[Path], env: dict[str, str], *extra: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "instructkit", "view", *map(str, dirs), "--port", "0",
                                      *extra], cwd=ROOT, env=cli_env(env), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.url = ""
        deadline = time.time() + 120
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
            if m:
                self.url = m.group(1)
                break
        if not self.url:
            self.stop()
            raise AssertionError(f"viewer did not start: {self.proc.stderr.read()[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def artifacts_dir() -> Path:
    d = Path(os.environ.get("INSTRUCTKIT_TEST_ARTIFACTS", ROOT / "tmp" / "artifacts"))
    d.mkdir(parents=True, exist_ok=True)
    return d
