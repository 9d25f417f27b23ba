"""A hub ``translation`` feature (WMT, OPUS: one dict of texts per language) is split into one text field
per language, so Dynosaur can design a task from one language to the other."""

from __future__ import annotations

import json

from instructkit.generate.dynosaur.meta import build_meta
from instructkit.sources import load_source
from instructkit.sources.features import from_hf_dict, split_translations

ROWS = [{"translation": {"de": de, "en": en}} for de, en in [
    ("Der Zug hat zwanzig Minuten Verspätung.", "The train is twenty minutes late."),
    ("Das Museum ist am Sonntag geöffnet.", "The museum is open on Sunday."),
    ("Die Schule bleibt geschlossen.", "The school remains closed."),
]]


def wmt_folder(root, front_matter: str, data_file: str = "train.jsonl"):
    d = root / "wmt_de_en"
    d.mkdir()
    (d / "README.md").write_text(f"---\n{front_matter}---\n\n# WMT-style\n\nGerman-English news sentences.\n")
    (d / data_file).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS))
    return d


def test_yaml_translation_feature_becomes_one_field_per_language(tmp_path):
    card = load_source(str(wmt_folder(tmp_path, "dataset_info:\n  features:\n  - name: translation\n    dtype:\n"
                                                "      translation:\n        languages:\n        - de\n        - en\n")))[0]
    assert [(f.name, f.dtype, f.usable) for f in card.features] == [
        ("translation.de", "string", True), ("translation.en", "string", True)]
    assert card.rows[1] == {"translation.de": "Das Museum ist am Sonntag geöffnet.",
                            "translation.en": "The museum is open on Sunday."}
    meta = build_meta(card)
    assert set(meta.field_names) == {"translation.de", "translation.en"}
    assert meta.examples[0]["translation.en"] == "The train is twenty minutes late."


def test_hf_json_translation_feature_is_split_too():
    """The JSON form of HF features (parquet/arrow metadata) marks a Translation the same way."""
    types = {"translation": from_hf_dict({"_type": "Translation", "languages": ["de", "en"]})}
    rows = [dict(r) for r in ROWS]
    split = split_translations(types, rows)
    assert list(split) == ["translation.de", "translation.en"]
    assert rows[2] == {"translation.de": "Die Schule bleibt geschlossen.", "translation.en": "The school remains closed."}


def test_an_ordinary_dict_column_is_left_whole(tmp_path):
    """Only a declared translation is split; other dicts (answers, metadata) stay one field."""
    d = wmt_folder(tmp_path, "license: mit\n")
    card = load_source(str(d))[0]
    assert [f.name for f in card.features] == ["translation"]
