"""Column (c) of benchmarks/llm_throughput.py: whole commands at a given concurrency.

* a GLAN answers stage: the questions are generated once (untimed, at the highest concurrency),
  then each level answers them in its own copy of that run directory (nothing is cached yet:
  every answer is a real call), through ``instructkit glan --stages answers --concurrency C``;
* a Dynosaur run over two example datasets, one task-design call each (``--modes aware --no-verify``:
  the upstream server cannot score),
  each level in a fresh run directory, through ``instructkit dynosaur ... --concurrency C``.

Both run the real CLI in this process (``instructkit.cli.main``), so the import cost is paid once
and the timed span is the command itself: argument checks, run directory, model calls, writes.
Completion tokens are read from the run's manifest (the door's ledger), and a level with a cache
hit is refused: it would not measure the server.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

# the bundled 135M model writes one-session syllabi (one question each): one discipline per question
GLAN_DISCIPLINES = ["Chemistry", "Carpentry", "Astronomy", "Physics", "Algebra", "Geometry", "Statistics", "Databases"]
DYNOSAUR_SETS = ["sentence_pairs", "news_topics"]
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@contextlib.contextmanager
def recording(bodies: list[dict]) -> Iterator[None]:
    """Keep a copy of every chat request body the door's OpenAI backend sends (replayed bare afterwards)."""
    from instructkit.llm.openai import OpenAIBackend

    build = OpenAIBackend._chat_kwargs

    def recorded(self, req, mode):
        kwargs = build(self, req, mode)
        bodies.append(json.loads(json.dumps(kwargs)))
        return kwargs

    OpenAIBackend._chat_kwargs = recorded
    try:
        yield
    finally:
        OpenAIBackend._chat_kwargs = build


def _cli(*args: object) -> tuple[float, list[dict]]:
    """Run one instructkit command in this process (raise unless it exits 0); its seconds and request bodies."""
    from instructkit.cli import main

    bodies: list[dict] = []
    t0 = time.perf_counter()
    try:
        with recording(bodies):
            main([str(a) for a in args])
    except SystemExit as e:
        if e.code not in (0, None):
            raise RuntimeError(f"instructkit {args[0]} exited {e.code}") from None
    return time.perf_counter() - t0, bodies


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


class GlanAnswers:
    """GLAN's answer stage over questions generated once in ``work/glan-setup``."""

    name = "GLAN answers"

    def __init__(self, url: str, model: str, work: Path, quick: bool, max_tokens: int, setup_concurrency: int):
        self.spec = f"openai:{model}@{url}"
        self.work = work
        self.max_tokens = max(16, max_tokens)  # the CLI's floor
        size = (["--disciplines", "Chemistry", "--max-subjects", "1", "--questions-per-syllabus", "2"] if quick else
                ["--disciplines", ",".join(GLAN_DISCIPLINES), "--max-subjects", "1", "--questions-per-syllabus", "2"])
        self.args = ["--subject-samples", "1", *size, "--model", self.spec, "--quiet"]
        self.setup = work / "glan-setup"
        # syllabi need room to list a session and its key concepts, or no question can be drawn
        _cli("glan", "--out", self.setup, *self.args, "--stages", "subjects,syllabus,questions",
             "--max-tokens", 128, "--concurrency", setup_concurrency)
        self.questions = _manifest(self.setup)["stages"]["questions"]["done"]
        if not self.questions:
            raise RuntimeError(f"the GLAN setup in {self.setup} produced no question to answer")

    def run(self, concurrency: int) -> tuple[float, int, list[dict]]:
        out = self.work / f"glan-c{concurrency}"
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(self.setup, out)
        secs, bodies = _cli("glan", "--out", out, *self.args, "--stages", "answers", "--max-tokens", self.max_tokens,
                            "--concurrency", concurrency)
        used = _manifest(out)["stages"]["answers"].get("this_run", {})
        if used.get("cache_hits"):
            raise RuntimeError(f"{out}: {used['cache_hits']} answers came from the cache; not a measurement")
        return secs, int(used.get("completion_tokens", 0)), bodies


class DynosaurRun:
    """A whole Dynosaur run (task design over a few example datasets), fresh directory per level."""

    name = "Dynosaur"

    def __init__(self, url: str, model: str, work: Path, quick: bool):
        self.spec = f"openai:{model}@{url}"
        self.work = work
        sets = DYNOSAUR_SETS[:1] if quick else DYNOSAUR_SETS
        self.sources = [EXAMPLES / s for s in sets]
        # one task-design call per dataset (aware mode): the calls, not the rows, are what is measured
        self.args = ["--rows", "2", "--max-tasks", "1", "--modes", "aware", "--no-verify", "--model", self.spec,
                     "--quiet"]

    def run(self, concurrency: int) -> tuple[float, int, list[dict]]:
        out = self.work / f"dynosaur-c{concurrency}"
        shutil.rmtree(out, ignore_errors=True)
        secs, bodies = _cli("dynosaur", *self.sources, "--out", out, *self.args, "--concurrency", concurrency)
        usage = _manifest(out)["usage"]
        if usage.get("cache_hits"):
            raise RuntimeError(f"{out}: {usage['cache_hits']} calls came from the cache; not a measurement")
        return secs, int(usage.get("completion_tokens", 0)), bodies
