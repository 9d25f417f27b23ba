"""Dynosaur metadata view and value rendering (pure, no model)."""

from __future__ import annotations

import pytest

from instructkit.generate.dynosaur.meta import (Unrenderable, build_meta, field_problem, looks_like_choices,
                                                render_value, truncate, usable_fields)
from instructkit.sources.card import DatasetCard, Feature


def card(features, rows, description="A toy set.", name="toy"):
    return DatasetCard(name=name, source=name, description=description, features=features, rows=rows)


def test_view_shows_classlabel_names_and_two_examples():
    c = card([Feature("text", "string"), Feature("label", "ClassLabel", label_names=["neg", "pos"])],
             [{"text": "bad", "label": 0}, {"text": "good", "label": 1}, {"text": "meh", "label": 0}])
    v = build_meta(c)
    assert v.field_names == ["text", "label"]
    assert v.examples == [{"text": "bad", "label": "neg"}, {"text": "good", "label": "pos"}]
    assert v.fields[1].describe() == "label (label: one of neg, pos)"
    assert v.description == "A toy set."


def test_view_truncates_values_at_max_chars():
    c = card([Feature("a", "string"), Feature("b", "string")], [{"a": "x" * 5000, "b": "y"}])
    v = build_meta(c, max_chars=1000)
    assert len(v.examples[0]["a"]) == 1000 and v.examples[0]["a"].endswith("…")


def test_view_prefers_complete_rows():
    c = card([Feature("a", "string"), Feature("b", "string")],
             [{"a": "1", "b": None}, {"a": "2", "b": "z"}, {"a": "3", "b": "w"}])
    assert [e["a"] for e in build_meta(c).examples] == ["2", "3"]


@pytest.mark.parametrize("feature,rows,expect", [
    (Feature("img", "image"), [{"img": {"bytes": b"x"}}], "media"),
    (Feature("wav", "audio"), [{"wav": None}], "media"),
    (Feature("x", "string", usable=False, reason="binary"), [{"x": "a"}], "binary"),
    (Feature("deep", "dict"), [{"deep": {"a": {"b": {"c": 1}}}}], "nested"),
    (Feature("blob", "string"), [{"blob": b"\x00\x01"}], "binary"),
    (Feature("id", "string"), [{"id": "r1"}, {"id": "r2"}], "identifier"),
    (Feature("empty", "string"), [{"empty": None}], "no values"),
])
def test_unusable_fields_are_skipped_with_a_reason(feature, rows, expect):
    assert expect in field_problem(feature, rows)


def test_usable_fields_keeps_order_and_reports_the_rest():
    c = card([Feature("id", "string"), Feature("q", "string"), Feature("pic", "image"), Feature("a", "string")],
             [{"id": "1", "q": "?", "pic": None, "a": "!"}, {"id": "2", "q": "?", "pic": None, "a": "."}])
    good, bad = usable_fields(c)
    assert [f.name for f in good] == ["q", "a"]
    assert set(bad) == {"id", "pic"}


def test_repeated_id_like_column_is_not_an_identifier():
    assert field_problem(Feature("speaker_id", "string"), [{"speaker_id": "a"}, {"speaker_id": "a"}]) is None


def test_render_classlabel_list_answer_dict_and_scalars():
    lab = Feature("y", "ClassLabel", label_names=["no", "yes"])
    assert render_value(1, lab) == "yes"
    assert render_value(-1, lab) is None  # HF "no label"
    assert render_value({"text": ["a queen", "queen"], "answer_start": [3, 5]}, as_output=True) == "a queen"
    assert render_value(True) == "true" and render_value(3.0) == "3" and render_value(2.5) == "2.5"
    assert render_value("  ") is None and render_value([]) is None


def test_render_choice_lists_as_options_and_long_lists_as_lines():
    assert render_value(["red", "green", "blue"]) == "A. red\nB. green\nC. blue"
    long = ["word " * 60, "other " * 60]
    assert render_value(long) == "\n".join(long)
    assert render_value([1, 2, 3]) == "1, 2, 3"


def test_looks_like_choices_rules():
    assert looks_like_choices(["a", "b"])
    assert not looks_like_choices(["a"])                  # one item is not a choice
    assert not looks_like_choices(["a", "a"])             # repeated
    assert not looks_like_choices([str(i) for i in range(11)])  # too many
    assert not looks_like_choices(["x" * 300, "y"])       # too long


def test_non_scalar_output_raises():
    with pytest.raises(Unrenderable):
        render_value(["a", "b"], as_output=True)
    with pytest.raises(Unrenderable):
        render_value({"x": 1}, as_output=True)
    assert render_value(["only"], as_output=True) == "only"


def test_truncate():
    assert truncate("abc", 5) == "abc"
    assert truncate("abcdefgh", 5) == "abcd…"
