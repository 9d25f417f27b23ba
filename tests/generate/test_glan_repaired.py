"""A GLAN extraction salvaged from a malformed answer says so (``repaired: true`` + why) and is counted."""

from __future__ import annotations

from instructkit.generate.glan.context import Ctx
from instructkit.generate.glan.parse import parse_subjects
from instructkit.generate.glan.stages import repair_note


def test_garbage_extraction_read_from_the_free_text_list_is_marked_repaired():
    parsed = parse_subjects("<html>502 Bad Gateway</html>", fallback_text="1. Organic Chemistry\n2. Optics\n")
    assert parsed.how == "list" and [i["name"] for i in parsed.items] == ["Organic Chemistry", "Optics"]
    note = repair_note(parsed, "no JSON value found in the response")
    assert note["repaired"] is True
    assert "read as list" in note["repair_reason"] and "no JSON value" in note["repair_reason"]


def test_clean_json_extraction_is_not_marked():
    parsed = parse_subjects('{"subjects": [{"name": "Optics", "level": "undergraduate"}]}', fallback_text="")
    assert parsed.how == "json" and repair_note(parsed, None) == {}


def test_truncated_json_recovered_is_marked():
    parsed = parse_subjects('{"subjects": [{"name": "Optics", "level": "undergraduate"}, {"name": "Acou',
                            fallback_text="")
    note = repair_note(parsed, "$.subjects: truncated")  # the door's schema check failed, items were salvaged
    assert parsed.items and note["repaired"] is True and "truncated" in note["repair_reason"]


def test_account_counts_repaired_records():
    ctx = Ctx.__new__(Ctx)  # only the accounting fields are needed
    ctx.outcomes, ctx.unfinished = {}, set()
    recs = {"a": {"repaired": True}, "b": {}, "c": {"failure": "empty_output", "repaired": True}}
    ctx.account("subjects_extract", ["a", "b", "c"], recs)
    assert ctx.outcomes["subjects_extract"] == {"planned": 3, "done": 2, "failed": 1, "missing": 0, "repaired": 1}


# -- end to end: the embedded model, with faults injected into the subject extraction's answers --------
import dataclasses  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import pytest  # noqa: E402

GLAN_ARGS = ["--subject-samples", "1", "--max-subjects", "1", "--max-sessions", "2", "--questions-per-syllabus", "1",
             "--max-tokens", "96", "--seed", "3", "--model", "local", "--quiet"]


@pytest.fixture
def extraction_faults(monkeypatch):
    """The embedded model; ``state["fault"]`` rewrites the subject extraction's answers (a proxy's fault)."""
    from instructkit.llm.local import LocalBackend

    monkeypatch.setenv("INSTRUCTKIT_THREADS", "1")
    real_chat = LocalBackend.chat
    state = {"fault": None, "hit": 0}

    async def chat(self, req):
        comp = await real_chat(self, req)
        if state["fault"] and req.schema is not None and "subjects" in json.dumps(req.schema):
            state["hit"] += 1
            return state["fault"](comp)
        return comp

    monkeypatch.setattr(LocalBackend, "chat", chat)
    return state


def glan(capsys, out: Path, tax: Path) -> SimpleNamespace:
    from instructkit.cli import main

    capsys.readouterr()
    try:
        main(["glan", "--out", str(out), "--taxonomy", str(tax), *GLAN_ARGS])
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else int(e.code is not None)
    m = json.loads((out / "manifest.json").read_text())
    return SimpleNamespace(code=code, err=capsys.readouterr().err, manifest=m)


@pytest.mark.slow
def test_garbage_extraction_is_a_model_error_retried_by_the_next_run(tmp_path, capsys, extraction_faults):
    """A 200 of garbage, every try: not kept as the node's answer (was: 'unparseable_extraction' stored,
    the run 'complete' with 0 examples, the node never asked again)."""
    tax = tmp_path / "tax.yaml"
    tax.write_text("Natural Sciences:\n  Physical Sciences: [Chemistry]\n")
    out = tmp_path / "g"
    extraction_faults["fault"] = lambda comp: dataclasses.replace(comp, text="<html>502 Bad Gateway</html>",
                                                                  finish_reason="stop")
    r = glan(capsys, out, tax)
    assert extraction_faults["hit"] == 3  # asked, then asked again twice (bounded)
    assert r.code == 1 and r.manifest["status"] == "failed", r.err[-1500:]
    assert "bad_answer 1" in r.err.splitlines()[-1]
    assert r.manifest["usage"]["retries"]["bad_answer"] == 2 and r.manifest["this_run"]["model_errors"] == {"bad_answer": 1}
    assert not (out / "subjects_extracted.jsonl").read_text().strip()  # nothing kept for good
    reasons = [json.loads(x)["reason"] for x in (out / "rejected.jsonl").read_text().splitlines()]
    assert reasons == ["model_error:bad_answer"]
    extraction_faults["fault"] = None  # the fault is gone: the re-run asks again and goes on
    r2 = glan(capsys, out, tax)
    assert r2.manifest["stages"]["subjects_extract"]["done"] == 1 and r2.manifest["this_run"]["model_errors"] == {}
    assert r2.manifest["status"] in ("complete", "partial", "failed") and r2.code == {"complete": 0, "partial": 3,
                                                                                     "failed": 1}[r2.manifest["status"]]
    assert r2.manifest["this_run"]["usage"]["calls"] >= 1


@pytest.mark.slow
def test_truncated_extraction_salvaged_is_marked_and_counted_in_the_manifest(tmp_path, capsys, extraction_faults):
    """A body cut short (a 200 whose JSON stops mid-list): the items are salvaged, marked and counted."""
    tax = tmp_path / "tax.yaml"
    tax.write_text("Natural Sciences:\n  Physical Sciences: [Chemistry]\n")
    out = tmp_path / "g"
    extraction_faults["fault"] = lambda comp: dataclasses.replace(comp, text=comp.text[: int(len(comp.text) * 0.8)],
                                                                  finish_reason="stop")
    r = glan(capsys, out, tax)
    assert r.code == 0 and r.manifest["status"] == "complete", r.err[-1500:]
    recs = [json.loads(x) for x in (out / "subjects_extracted.jsonl").read_text().splitlines()]
    assert len(recs) == 1 and recs[0]["repaired"] is True and recs[0]["items"]
    assert "truncated" in recs[0]["repair_reason"] or "read as" in recs[0]["repair_reason"], recs[0]["repair_reason"]
    assert r.manifest["stages"]["subjects_extract"]["repaired"] == 1
    assert r.manifest["usage"]["retries"]["bad_answer"] == 2  # the door asked again first (bounded)
