"""Salvaging subjects and syllabus sessions from messy, hand-written model completions."""

from __future__ import annotations

from instructkit.generate.glan.parse import (normalize_name, parse_sessions, parse_subjects,
                                             repair_truncated)
from instructkit.generate.glan.qa import clean_question


def names(parsed):
    return [i["name"] for i in parsed.items]


def test_clean_json():
    p = parse_subjects('{"subjects": [{"name": "Optics", "level": "advanced", "subtopics": ["lenses"]}]}')
    assert p.how == "json" and p.problems == []
    assert p.items == [{"name": "Optics", "level": "advanced", "subtopics": ["lenses"]}]


def test_fenced_block_with_prose_around():
    text = """Sure! Here is the JSON you asked for:

```json
{"subjects": [
  {"name": "Thermodynamics", "level": "intermediate", "subtopics": ["entropy", "heat engines"]},
  {"name": "**Quantum Mechanics**", "level": "Advanced", "subtopics": "wave functions, operators"}
]}
```
Let me know if you need anything else."""
    p = parse_subjects(text)
    assert names(p) == ["Thermodynamics", "Quantum Mechanics"]
    assert p.items[1]["subtopics"] == ["wave functions", "operators"]  # comma string split


def test_jsonl_lines():
    text = ('{"name": "Soil science", "level": "intro", "subtopics": ["texture"]}\n'
            '{"name": "Crop rotation", "level": "intermediate", "subtopics": []}\n'
            'not json at all\n'
            '{"name": "Irrigation", "level": "advanced", "subtopics": ["drip"]},\n')
    p = parse_subjects(text)
    assert p.how == "jsonl"
    assert names(p) == ["Soil science", "Crop rotation", "Irrigation"]


def test_truncated_output_keeps_complete_items_and_repairs_the_last():
    text = ('{"subjects": [{"name": "Algebra", "level": "intro", "subtopics": ["equations"]}, '
            '{"name": "Geometry", "level": "intro", "subtopics": ["angles", "tri')
    p = parse_subjects(text)
    assert names(p) == ["Algebra", "Geometry"]
    assert p.items[1]["subtopics"] == ["angles"]  # the cut-off subtopic is not invented
    assert "truncated_or_broken_json" in p.problems


def test_truncated_syllabus_with_degenerate_repetition():
    text = ('{"sessions":[{"title":"Atoms","description":"What matter is made of","key_concepts":'
            '["protons","protons","Protons","neutrons","electr')
    p = parse_sessions(text)
    assert p.items == [{"title": "Atoms", "description": "What matter is made of",
                        "key_concepts": ["protons", "neutrons"]}]


def test_wrong_keys_are_mapped():
    text = '{"courses": [{"subject": "Bookkeeping", "difficulty": "beginner", "topics": ["ledgers"]}]}'
    p = parse_subjects(text)
    assert p.items == [{"name": "Bookkeeping", "level": "beginner", "subtopics": ["ledgers"]}]
    s = parse_sessions('{"lectures": [{"name": "Joints", "summary": "Dovetails and mortises.", '
                       '"concepts": [{"name": "dovetail"}, "mortise and tenon"]}]}')
    assert s.items == [{"title": "Joints", "description": "Dovetails and mortises.",
                        "key_concepts": ["dovetail", "mortise and tenon"]}]


def test_top_level_list_and_missing_fields():
    p = parse_subjects('[{"name": "Ethics"}, {"level": "advanced"}, "Logic"]')
    assert names(p) == ["Ethics", "Logic"]
    assert p.items[0]["level"] == "unspecified" and p.items[0]["subtopics"] == []
    assert any(x.startswith("dropped_1") for x in p.problems)


def test_duplicates_within_one_answer_are_dropped():
    p = parse_subjects('{"subjects": [{"name": "Welding"}, {"name": "welding"}, {"name": "Brazing"}]}')
    assert names(p) == ["Welding", "Brazing"]


def test_nothing_usable_falls_back_to_the_free_text_list():
    free = "Subjects you should learn:\n1. Organic Chemistry - carbon compounds\n2) **Analytical chemistry**: titration\n- Physical chemistry (advanced)\n"
    p = parse_subjects("I cannot produce JSON, sorry.", fallback_text=free)
    assert p.how == "list"
    assert names(p) == ["Organic Chemistry", "Analytical chemistry", "Physical chemistry"]
    assert "extraction_empty_used_free_text" in p.problems


def test_session_outline_fallback():
    free = "## Session 1: Safety first\n- protective gear\n- fire hazards\nSession 2 - Tools\n* hammers: kinds\n"
    p = parse_sessions("", fallback_text=free)
    assert [s["title"] for s in p.items] == ["Safety first", "Tools"]
    assert p.items[0]["key_concepts"] == ["protective gear", "fire hazards"]
    assert p.items[1]["key_concepts"] == ["hammers"]


def test_garbage_gives_nothing():
    assert parse_subjects("lorem ipsum {not json").items == []
    assert parse_sessions("").items == []
    assert parse_subjects("").how == "none"


def test_repair_truncated():
    assert repair_truncated('{"a": [1, 2, {"b": "x, y') == {"a": [1, 2]}
    assert repair_truncated('{"a": "quote \\" inside", "b": [1') == {"a": 'quote " inside'}
    assert repair_truncated("no json") is None


def test_normalize_name_merges_variants():
    assert normalize_name("Introduction to Optics!") == normalize_name("the optics")
    assert normalize_name("Organic Chemistry") != normalize_name("Inorganic Chemistry")


def test_clean_question():
    assert clean_question('Question 1: "What is the pH of pure water?"') == "What is the pH of pure water?"
    assert clean_question("**Homework question:** Explain osmosis.\n\nAnswer: water moves") == "Explain osmosis."
    assert clean_question("Ex: What is a mortise?") == "What is a mortise?"
    assert clean_question("Exothermic reactions release heat. Why?") == "Exothermic reactions release heat. Why?"
    assert clean_question("   ") == ""


def test_sessions_without_title_are_named_from_their_content():
    # grammar-ordered keys put "title" last; a cut-off answer then has none
    text = ('{"sessions":[{"description":"Carbon capture: chemistry of CO2 removal","key_concepts":["sorbents",'
            '"amines"],"title":"Capture"},{"description":"","key_concepts":["flue gas","scrubbers"]},'
            '{"description":"Storage. Where CO2 goes","key_concepts":["aquifers","basal')
    p = parse_sessions(text)
    assert [s["title"] for s in p.items] == ["Capture", "flue gas", "Storage"]
    assert p.items[2]["key_concepts"] == ["aquifers"]
    assert "titles_derived_for_2_sessions" in p.problems


def test_json_debris_is_not_a_subject_name():
    p = parse_subjects('{"subjects":[{"name":"Field. Here is a list},{","level":"1"},{"name":"Optics"}]}')
    assert names(p) == ["Optics"]
