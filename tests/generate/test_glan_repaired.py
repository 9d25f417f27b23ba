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
