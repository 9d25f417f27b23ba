"""GLAN taxonomy: built-in data, user YAML files, selection, stable ids, bad input -> exit 2."""

from __future__ import annotations

import pytest

from instructkit.errors import UserError
from instructkit.generate.glan.taxonomy import discipline_id, load_taxonomy, parse_taxonomy
from conftest import run_cli

USER_YAML = """\
name: tiny
fields:
  - name: Natural Sciences
    sub_fields:
      - name: Physical Sciences
        disciplines:
          - Chemistry
          - {name: Optics, description: light and lenses}
  - name: Trades
    sub_fields:
      - name: Construction
        disciplines: [Carpentry]
"""


def test_builtin_is_broad_and_well_formed():
    tax = load_taxonomy("builtin")
    assert len(tax.disciplines) >= 100
    assert len({d.id for d in tax.disciplines}) == len(tax.disciplines)
    fields = {d.field for d in tax.disciplines}
    assert "Vocational Trades" in fields and "Formal Sciences" in fields and len(fields) >= 10
    assert {"Algebra", "Chemistry", "Sociology", "Retailing", "Radiology"} <= {d.name for d in tax.disciplines}


def test_user_yaml_and_stable_ids(tmp_path):
    f = tmp_path / "tax.yaml"
    f.write_text(USER_YAML)
    tax = load_taxonomy(f)
    assert tax.name == "tiny"
    assert [d.path for d in tax.disciplines] == [("Natural Sciences", "Physical Sciences", "Chemistry"),
                                                 ("Natural Sciences", "Physical Sciences", "Optics"),
                                                 ("Trades", "Construction", "Carpentry")]
    assert tax.disciplines[1].description == "light and lenses"
    # the id is the hash of the path: independent of file, order and neighbours
    f2 = tmp_path / "other.yaml"
    f2.write_text("Trades:\n  Construction: [Welding, Carpentry]\n")  # compact form
    other = load_taxonomy(f2)
    assert other.select(["carpentry"])[0].id == tax.select(["Carpentry"])[0].id
    assert tax.disciplines[0].id == discipline_id("Natural Sciences", "Physical Sciences", "Chemistry")
    assert discipline_id("A", "B", "C") != discipline_id("A", "B", "D")


def test_selection_and_close_matches():
    tax = load_taxonomy("builtin")
    assert [d.name for d in tax.select(["  chemistry ", "Carpentry", "Chemistry"])] == ["Chemistry", "Carpentry"]
    with pytest.raises(UserError, match="did you mean: .*Chemistry"):
        tax.select(["Chemestry"])
    with pytest.raises(UserError, match="not in taxonomy"):
        tax.select(["Underwater basket weaving"])


@pytest.mark.parametrize("text, message", [
    ("fields: [unclosed", "not valid YAML at line"),
    ("- just\n- a list\n", "expected a mapping"),
    ("fields:\n  - name: Sci\n", "needs a non-empty 'sub_fields'"),
    ("fields:\n  - name: Sci\n    sub_fields:\n      - name: Phys\n        disciplines: []\n", "needs a non-empty 'disciplines'"),
    ("fields:\n  - sub_fields: []\n", "expected a mapping with a 'name'"),
    ("A:\n  B: [X]\n  C: [x]\n", "appears twice"),
    ("A: [X, Y]\n", "should map sub-field names"),
])
def test_malformed_taxonomies(tmp_path, text, message):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(UserError, match=message) as e:
        load_taxonomy(f)
    assert str(f) in str(e.value)


def test_parse_rejects_empty():
    with pytest.raises(UserError):
        parse_taxonomy(None, "x.yaml")


def test_cli_bad_yaml_exits_2_naming_the_file(tmp_path):
    f = tmp_path / "broken.yaml"
    f.write_text("fields:\n  - name: Sci\n    sub_fields: [\n")
    r = run_cli("glan", "--out", tmp_path / "run", "--taxonomy", f)
    assert r.returncode == 2
    assert "broken.yaml" in r.stderr and "not valid YAML" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists(), "nothing is written for bad input"


def test_cli_unknown_discipline_lists_close_matches(tmp_path):
    r = run_cli("glan", "--out", tmp_path / "run", "--disciplines", "Chemistry,Carpentri")
    assert r.returncode == 2
    assert "Carpentri" in r.stderr and "Carpentry" in r.stderr
    assert not (tmp_path / "run").exists()


def test_cli_missing_file_and_list(tmp_path):
    r = run_cli("glan", "--out", tmp_path / "run", "--taxonomy", tmp_path / "nope.yaml")
    assert r.returncode == 2 and "nope.yaml" in r.stderr
    f = tmp_path / "tax.yaml"
    f.write_text(USER_YAML)
    r = run_cli("glan", "--list-disciplines", "--taxonomy", f)
    assert r.returncode == 0
    assert "Optics" in r.stdout and "tiny: 3 disciplines" in r.stdout


def test_cli_bad_stage_and_missing_out(tmp_path):
    r = run_cli("glan", "--out", tmp_path / "run", "--stages", "answers,grading")
    assert r.returncode == 2 and "grading" in r.stderr and not (tmp_path / "run").exists()
    r = run_cli("glan", "--disciplines", "Chemistry")
    assert r.returncode == 2 and "--out" in r.stderr
