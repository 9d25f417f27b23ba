"""Replay with the real minilm embedder: instruction-diverse picks are more spread than random ones."""

from __future__ import annotations

import json

import numpy as np
import pytest

from instructkit.select.replay import plan_replay
from instructkit.select.active.tasks_io import load_tasks

# stage 1: a cluster of near-paraphrases plus tasks on unrelated subjects
STAGE1 = {
    "s1_sent_a": "Decide if the movie review is positive or negative.",
    "s1_sent_b": "Say whether this film review expresses a positive or a negative opinion.",
    "s1_sent_c": "Is the sentiment of the movie review positive or negative?",
    "s1_sent_d": "Classify the film critique as positive or negative.",
    "s1_sent_e": "Label the review of the movie with its sentiment: positive or negative.",
    "s1_sent_f": "Tell if the person who wrote this movie review liked the film.",
    "s1_math": "Solve the arithmetic word problem and give the number.",
    "s1_translate": "Translate the English sentence into French.",
    "s1_code": "Write a Python function that does what the comment describes.",
    "s1_capital": "Name the capital city of the given country.",
    "s1_summary": "Summarize the news article in one sentence.",
    "s1_grammar": "Correct the grammar mistakes in the sentence.",
}
STAGE2 = {
    "s2_recipe": "List the ingredients needed for the dish.",
    "s2_rhyme": "Give a word that rhymes with the given word.",
}


def write_stage(folder, tasks):
    folder.mkdir()
    for tid, definition in tasks.items():
        obj = {"Definition": [definition], "Positive Examples": [],
               "Instances": [{"id": f"{tid}-{i}", "input": f"{tid} input {i}", "output": [f"{tid} output {i}"]}
                             for i in range(3)]}
        (folder / f"{tid}.json").write_text(json.dumps(obj))


@pytest.mark.slow
def test_instruction_diverse_beats_random(tmp_path, cli):
    write_stage(tmp_path / "stage1", STAGE1)
    write_stage(tmp_path / "stage2", STAGE2)
    stages = [load_tasks([tmp_path / "stage1"]), load_tasks([tmp_path / "stage2"])]
    budget = 4
    div = plan_replay(stages, budget, "instruction-diverse", "facility-location")[1].metrics
    kc = plan_replay(stages, budget, "instruction-diverse", "k-center")[1].metrics
    rand = [plan_replay(stages, budget, "random", seed=s)[1].metrics for s in range(10)]
    fl_rand = [m["instruction_facility_location"] for m in rand]
    rad_rand = [m["instruction_k_center_radius"] for m in rand]
    assert div["instruction_facility_location"] > np.mean(fl_rand)
    assert div["instruction_facility_location"] >= max(fl_rand) - 1e-6  # greedy beats every random draw here
    assert kc["instruction_k_center_radius"] < np.mean(rad_rand)
    # the near-paraphrase cluster gets one representative, not several
    picks = [t.id for t, _ in plan_replay(stages, budget, "instruction-diverse")[1].replay]
    assert sum(p.startswith("s1_sent") for p in picks) <= 1
    sim = [t.id for t, _ in plan_replay(stages, budget, "similar")[1].replay]
    assert len(sim) == budget and sim != picks

    # the CLI writes ready-to-train files per stage and the objectives in the manifest
    out = tmp_path / "replay"
    r = cli("replay", tmp_path / "stage1", tmp_path / "stage2", "--budget", str(budget), "--out", out)
    assert r.returncode == 0, r.stderr
    train = [json.loads(x) for x in open(out / "stage_2" / "train.jsonl")]
    replayed = [json.loads(x) for x in open(out / "stage_2" / "replay_tasks.jsonl")]
    assert [x["task_id"] for x in replayed] == picks
    assert len(train) == 3 * (len(STAGE2) + budget)
    assert sum(bool(e["meta"].get("replay")) for e in train) == 3 * budget
    assert len([json.loads(x) for x in open(out / "stage_1" / "train.jsonl")]) == 3 * len(STAGE1)
    man = json.loads((out / "manifest.json").read_text())
    assert man["stages"][1]["instruction_facility_location"] == pytest.approx(div["instruction_facility_location"])
