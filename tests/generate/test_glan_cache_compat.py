"""A GLAN cache written before a change still hits: the same records, byte for byte, and no model call.

``tests/data/glan_main_cache/`` is a tiny run of ``instructkit glan`` on the embedded model, made by
main's code before GLAN's loops became one node loop (issue 14, item 9): its ``cache.sqlite`` and
every stream it wrote. Re-running the same configuration on a copy of that cache must make 0 model
calls (every cache key is unchanged: node ids, prompts, template versions, sampling) and write the
same streams. The embedded model is opened but never loaded (a cache hit needs no model), so this
runs in a second.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from instructkit.generate.glan import GlanConfig, run_glan
from instructkit.runs import RunDir

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "glan_main_cache"
STREAMS = ("subjects_raw", "subjects_extracted", "subjects", "syllabi_raw", "syllabi", "questions", "answers",
           "examples", "rejected")
# the configuration the fixture was made with:
# instructkit glan --disciplines Chemistry --subject-samples 1 --max-subjects 1 --max-sessions 4
#   --questions-per-syllabus 4 --max-tokens 96 --seed 3 --concurrency 1
CONFIG = dict(disciplines=["Chemistry"], subject_samples=1, max_subjects=1, max_sessions=4,
              questions_per_syllabus=4, max_tokens=96, seed=3, concurrency=1, model="local")


def test_a_cache_written_by_main_still_hits_and_gives_the_same_records(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    shutil.copy(FIXTURE / "cache.sqlite", out / "cache.sqlite")
    cfg = GlanConfig(**CONFIG)
    with RunDir(out, command="glan", config=cfg.to_dict()) as run:
        result = run_glan(run, cfg)
    man = json.loads((out / "manifest.json").read_text())
    assert man["usage"]["calls"] == 0 and man["usage"]["cache_hits"] == 6, man["usage"]
    assert result.status == "complete" and len(result.examples) == 1
    for name in STREAMS:
        assert (out / f"{name}.jsonl").read_bytes() == (FIXTURE / f"{name}.jsonl").read_bytes(), name
