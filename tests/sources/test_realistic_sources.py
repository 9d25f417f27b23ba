"""Loader and rendering defects found on real Hugging Face dataset folders (issue 17).

Each test writes a folder the way the hub (or its legacy loaders) lays one out: a README.md card whose
YAML front matter has dataset_info/features (nested features, multiple-choice dicts, ClassLabel names)
and sometimes configs/data_files, split-named data files, and stray files beside them.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from instructkit.generate.dynosaur import filter as F
from instructkit.generate.dynosaur.pipeline import DynosaurConfig, make_instances, process_dataset, select_tasks
from instructkit.generate.dynosaur.meta import build_meta, render_value
from instructkit.llm.base import Completion
from instructkit.records import Task
from instructkit.sources import load_source
from tests.scripted import ScriptedBackend, open_scripted


def hf_folder(root: Path, name: str, front_matter: str, rows: list[dict], *, data_file: str = "train.jsonl",
              extra: dict[str, object] | None = None, summary: str = "A dataset.") -> Path:
    d = root / name
    (d / data_file).parent.mkdir(parents=True, exist_ok=True)
    (d / "README.md").write_text(f"---\n{front_matter.strip()}\n---\n\n# {name}\n\n## Dataset Summary\n\n{summary}\n")
    (d / data_file).write_text("".join(json.dumps(r) + "\n" for r in rows))
    for fname, content in (extra or {}).items():
        (d / fname).write_text(json.dumps(content, indent=2))
    return d


SST_CARD = """
pretty_name: Movie review phrases
license: cc-by-4.0
dataset_info:
  features:
  - name: idx
    dtype: int32
  - name: sentence
    dtype: string
  - name: label
    dtype:
      class_label:
        names:
          '0': negative
          '1': positive
  splits:
  - name: train
    num_examples: 6
"""
SST_ROWS = [{"idx": i, "sentence": s, "label": i % 2} for i, s in enumerate(
    ["a tedious mess", "a warm, funny film", "the plot drags", "beautifully acted", "flat jokes", "a delight"])]
NOTE = {"collected_by": "maintainers", "collection_date": "2024-05-01", "tool_version": "scraper 2.3.1"}


def test_stray_provenance_json_beside_split_files_is_not_a_row(tmp_path):
    d = hf_folder(tmp_path, "sst2", SST_CARD, SST_ROWS, extra={"source.json": NOTE})
    card = load_source(str(d))[0]
    assert card.num_rows == 6 and len(card.rows) == 6
    assert [f.name for f in card.features] == ["idx", "sentence", "label"]
    assert any("source.json" in n for n in card.notes)
    assert all(set(r) <= {"idx", "sentence", "label"} for r in card.rows)


def test_lone_json_note_beside_unnamed_data_file_is_not_a_row(tmp_path):
    d = hf_folder(tmp_path, "reviews", "license: mit", SST_ROWS, data_file="reviews.jsonl",
                  extra={"metadata.json": NOTE})
    card = load_source(str(d))[0]
    assert card.num_rows == 6 and card.feature("collected_by") is None


def test_columns_not_declared_by_the_card_are_reported_not_added(tmp_path):
    rows = [{**r, "annotator_comment": "checked twice"} for r in SST_ROWS]
    d = hf_folder(tmp_path, "sst2", SST_CARD, rows)
    card = load_source(str(d))[0]
    assert card.feature("annotator_comment") is None
    assert any("annotator_comment" in n for n in card.notes)
    assert all("annotator_comment" not in r for r in card.rows)


ARC_CARD = """
license: cc-by-sa-4.0
configs:
- config_name: default
  data_files:
  - split: train
    path: train.jsonl
dataset_info:
  features:
  - name: id
    dtype: string
  - name: question
    dtype: string
  - name: choices
    sequence:
    - name: text
      dtype: string
    - name: label
      dtype: string
  - name: answerKey
    dtype: string
"""
ARC_ROWS = [
    {"id": "Mercury_7001", "question": "Which organ pumps blood?",
     "choices": {"text": ["lungs", "heart", "liver", "kidneys"], "label": ["A", "B", "C", "D"]}, "answerKey": "B"},
    {"id": "Mercury_7002", "question": "Which is a renewable energy source?",
     "choices": {"text": ["coal", "gas", "wind"], "label": ["1", "2", "3"]}, "answerKey": "3"},
    {"id": "Mercury_7003", "question": "What causes day and night?",
     "choices": {"text": ["orbit", "rotation", "tides", "phases"], "label": ["A", "B", "C", "D"]}, "answerKey": "B"},
]


def test_multiple_choice_dict_is_rendered_as_options_with_their_own_labels(tmp_path):
    card = load_source(str(hf_folder(tmp_path, "arc", ARC_CARD, ARC_ROWS)))[0]
    view = build_meta(card)
    assert view.examples[0]["choices"] == "A. lungs\nB. heart\nC. liver\nD. kidneys"
    task = Task(instruction="Answer the science question with the letter of the right option.",
                input_fields=["question", "choices"], output_field="answerKey", source={"dataset": "arc"})
    exs, _ = make_instances(card, task)
    assert "1. coal\n2. gas\n3. wind" in exs[1].input and exs[1].output == "3"
    assert "choices: doctor" not in exs[0].input and "D. kidneys" in exs[0].input


def test_options_that_carry_letters_are_not_lettered_twice():
    from instructkit.sources.card import Feature

    shown = render_value(["A) 21", "B) 34", "C) 55"], Feature("options", "list<string>"))
    assert shown == "A) 21\nB) 34\nC) 55"


def test_concept_lists_and_tag_sequences_are_not_options(tmp_path):
    card_yaml = """
dataset_info:
  features:
  - name: concepts
    sequence: string
  - name: tokens
    sequence: string
  - name: ner_tags
    sequence:
      class_label:
        names:
          '0': O
          '1': B-PER
          '2': B-LOC
  - name: target
    dtype: string
"""
    rows = [{"concepts": ["dog", "frisbee", "catch"], "tokens": ["Ana", "visited", "Rome"], "ner_tags": [1, 0, 2],
             "target": "The dog jumps to catch the frisbee."},
            {"concepts": ["snow", "child", "build"], "tokens": ["Bo", "left", "Oslo"], "ner_tags": [1, 0, 2],
             "target": "A child builds a snowman."}]
    card = load_source(str(hf_folder(tmp_path, "commongen", card_yaml, rows)))[0]
    ex = build_meta(card).examples[0]
    assert ex["concepts"] == "dog, frisbee, catch"
    assert ex["tokens"] == "Ana, visited, Rome"
    assert "A." not in ex["ner_tags"] and ex["ner_tags"] == "B-PER, O, B-LOC"


def test_long_free_text_repeated_is_not_a_label_space():
    para1 = ("The committee reviewed the application in full and found that it meets every requirement "
             "of the scheme, so the grant is approved for the coming year.")
    para2 = ("The committee reviewed the application in full and found that key documents are missing, "
             "so the grant cannot be approved until they are provided.")
    d = F.label_space_decision([para1, para2, para1, para2, para1, para2], None)
    assert d.kind == "generation" and d.labels is None and d.suffix == ""


DROP_CARD = """
dataset_info:
  features:
  - name: section_id
    dtype: string
  - name: query_id
    dtype: string
  - name: passage
    dtype: string
  - name: question
    dtype: string
  - name: answers_spans
    sequence:
    - name: spans
      dtype: string
    - name: types
      dtype: string
"""
DROP_ROWS = [
    {"section_id": "nfl_1184", "query_id": "f37e81fa-ef7b", "passage": "The bridge opened in 2009 after five years.",
     "question": "When did the bridge open?", "answers_spans": {"spans": ["2009"], "types": ["date"]}},
    {"section_id": "nfl_1184", "query_id": "a2b0c1de-77aa", "passage": "The Hawks scored 14 and then 21 points.",
     "question": "How many points in all?", "answers_spans": {"spans": ["35"], "types": ["number"]}},
    {"section_id": "nfl_1185", "query_id": "0c9d8e7f-1234", "passage": "Maria moved to Porto, then Madrid.",
     "question": "Where did she move first?", "answers_spans": {"spans": ["Porto", "to Porto"],
                                                                "types": ["span", "span"]}},
    {"section_id": "nfl_1185", "query_id": "9f8e7d6c-5678", "passage": "Tom read five books in July.",
     "question": "How many books in July?", "answers_spans": {"spans": ["five"], "types": ["number"]}},
]


def test_answer_span_lists_give_their_first_answer(tmp_path):
    card = load_source(str(hf_folder(tmp_path, "drop", DROP_CARD, DROP_ROWS)))[0]
    view = build_meta(card)
    props = [F.TaskProposal("Answer the question about the passage with a short span or number.",
                            ["passage", "question"], "answers_spans", "aware", 0, {})]
    tasks, exs, rej, _ = select_tasks(card, view, props)
    assert not rej, [r.reason for r in rej]
    assert [e.output for e in exs] == ["2009", "35", "Porto", "five"]


def test_identifier_columns_shared_by_rows_are_not_offered_as_fields(tmp_path):
    card = load_source(str(hf_folder(tmp_path, "drop", DROP_CARD, DROP_ROWS)))[0]
    view = build_meta(card)
    assert "section_id" not in view.field_names and "section_id" in view.unusable
    mnli_card = """
dataset_info:
  features:
  - name: promptID
    dtype: int32
  - name: pairID
    dtype: string
  - name: premise
    dtype: string
  - name: hypothesis
    dtype: string
  - name: label_id
    dtype: int32
"""
    rows = [{"promptID": 31193 + i // 2, "pairID": f"{31193 + i // 2}{'en'[i % 2]}", "premise": f"Premise {i // 2}.",
             "hypothesis": f"Hypothesis {i}.", "label_id": i % 2} for i in range(6)]
    v2 = build_meta(load_source(str(hf_folder(tmp_path, "mnli", mnli_card, rows)))[0])
    assert v2.field_names == ["premise", "hypothesis", "label_id"]


def scripted_llm(tmp_path, replies):
    """The door (with a cache) around fixed replies, faults included (finish_reason=length, a broken
    schema): no model."""
    return open_scripted(ScriptedBackend(replies), cache=tmp_path / "cache.sqlite")


def test_tasks_salvaged_from_a_reply_cut_at_the_token_limit_are_dropped(tmp_path):
    card = load_source(str(hf_folder(tmp_path, "sst2", SST_CARD, SST_ROWS)))[0]
    good = {"output_field": "label", "input_fields": ["sentence"],
            "instruction": "Decide whether the movie review phrase is positive or negative."}
    cut = json.dumps({"tasks": [good]})[:-2] + ', {"output_field": "sentence", "input_fields": ["label"], "instr'
    replies = [Completion(text=cut, finish_reason="length", completion_tokens=400),
               Completion(text=json.dumps({"tasks": [good]}), finish_reason="stop")]
    res = asyncio.run(process_dataset(scripted_llm(tmp_path, replies), card, DynosaurConfig(verify=False)))
    truncated = [r for r in res.rejections if r.reason == "truncated_reply"]
    assert truncated and all(r.details["mode"] == "aware" for r in truncated)
    assert len(res.tasks) == 1 and res.tasks[0].meta["mode"] == "unaware"


def test_a_reply_that_broke_the_schema_is_recorded_in_rejected(tmp_path):
    card = load_source(str(hf_folder(tmp_path, "sst2", SST_CARD, SST_ROWS)))[0]
    ok = {"output_field": "label", "input_fields": ["sentence"],
          "instruction": "Decide whether the movie review phrase is positive or negative."}
    bad = json.dumps({"tasks": [ok] * 4})  # one more than --max-tasks 3: the door's validator says so
    llm = scripted_llm(tmp_path, [bad] * 3)  # the door asks again twice; the model says the same
    res = asyncio.run(process_dataset(llm, card, _one_mode()))
    assert llm.backend.n_calls == 3 and llm.ledger.failures["bad_json"] == 1
    flagged = [r for r in res.rejections if r.reason == "reply_not_schema_valid"]
    assert len(flagged) == 1 and "more than 3 items" in flagged[0].details["detail"]
    assert len(res.tasks) == 1  # its tasks are still judged one by one


def _one_mode():
    return DynosaurConfig(modes=("aware",), verify=False)
