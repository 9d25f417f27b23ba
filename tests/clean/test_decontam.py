"""Decontamination catches planted benchmark items (reformatted too) in every benchmark format."""

from __future__ import annotations

import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq

from instructkit.clean.decontam import DecontamConfig, decontaminate
from instructkit.records import Example

QUESTIONS = [
    "A farmer has 17 sheep and all but 9 run away. How many sheep does the farmer have left at the end of the day?",
    "Which gas do plants absorb from the atmosphere during photosynthesis in order to produce glucose and oxygen?",
    "If a train travels 60 miles per hour for two and a half hours, how far does the train travel in total?",
    "Name the author of the novel in which a whale hunter named Ahab chases a white whale across the oceans.",
]
SHORT = "Who painted the Mona Lisa?"  # fewer than 13 words: matched by exact normalized text


def bench_jsonl(tmp_path):
    p = tmp_path / "quiz_test.jsonl"
    rows = [{"id": f"q{i}", "question": q, "answer": "9"} for i, q in enumerate(QUESTIONS)]
    rows.append({"id": "short", "question": SHORT, "answer": "Leonardo da Vinci"})
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p


def examples() -> list[Example]:
    return [
        Example("Write a short story about a lighthouse keeper who finds a message in a bottle."),  # clean
        Example("Solve:", QUESTIONS[0].upper().replace(" ", "   "), "9"),                            # 0, reformatted
        Example("Answer the question. " + QUESTIONS[1].replace("?", " ?") + " Explain briefly."),   # 1, embedded
        Example("who  PAINTED the mona lisa"),                                                     # short exact
        Example("What is the answer?", "", "9"),                                                   # answer "9": too short
        Example("Tell me about trains and how far they usually travel in a day in Europe."),      # clean (few shared words)
        Example("Summarize.", "", "The train travels 60 miles per hour for two and a half hours, so 150 miles in total."),
    ]


def test_planted_items_are_caught_with_details(tmp_path):
    bench = bench_jsonl(tmp_path)
    res = decontaminate(examples(), [bench], DecontamConfig(ngram=13))
    assert res.contaminated == [1, 2, 3]
    h1 = res.hits[1][0]
    assert h1["benchmark"] == "quiz_test.jsonl" and h1["row"] == 0 and h1["row_id"] == "q0"
    assert h1["field"] == "input" and h1["match"] == "ngram" and h1["shared_ngrams"] >= 10
    assert len(h1["text"].split()) == 13
    assert res.hits[2][0]["row"] == 1 and res.hits[2][0]["field"] == "instruction"
    assert res.hits[3][0]["match"] == "exact" and res.hits[3][0]["row_id"] == "short"
    # a shorter n-gram catches the paraphrased train answer too
    res8 = decontaminate(examples(), [bench], DecontamConfig(ngram=8))
    assert 6 in res8.contaminated and 0 not in res8.contaminated and 4 not in res8.contaminated


def test_every_benchmark_format_and_per_benchmark_report(tmp_path):
    (tmp_path / "b").mkdir()
    js = tmp_path / "b" / "arc.json"
    js.write_text(json.dumps([{"question": {"stem": QUESTIONS[1]}, "choices": ["CO2", "O2"]}]))
    pqf = tmp_path / "b" / "train.parquet"
    pq.write_table(pa.table({"prompt": [QUESTIONS[0]], "label": [1]}), pqf)
    cs = tmp_path / "b" / "moby.csv"
    with open(cs, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["idx", "problem"])
        w.writeheader()
        w.writerow({"idx": "7", "problem": QUESTIONS[3]})
    import datasets

    hf = tmp_path / "b" / "trains_hf"
    datasets.Dataset.from_dict({"input": [QUESTIONS[2]], "target": ["150"]}).save_to_disk(str(hf))
    exs = [Example(q) for q in QUESTIONS] + [Example("Describe a sunset over the sea in three sentences.")]
    res = decontaminate(exs, [js, pqf, cs, hf], DecontamConfig())
    assert res.contaminated == [0, 1, 2, 3]
    assert {res.hits[i][0]["benchmark"] for i in range(4)} == {"arc.json", "train.parquet", "moby.csv", "trains_hf"}
    assert res.hits[1][0]["bench_field"] == "question.stem"
    assert res.hits[3][0]["row_id"] == "7"
    # restricting benchmark columns to one that holds other text: nothing matches in that file
    only = decontaminate(exs, [hf], DecontamConfig(bench_fields=["target"], min_exact_chars=1))
    assert only.contaminated == []


def test_cli_decontaminate_outputs_and_errors(tmp_path, cli):
    bench = bench_jsonl(tmp_path)
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(e.to_dict()) + "\n" for e in examples()))
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"text": "Describe the water cycle."}) + "\n")
    out = tmp_path / "out"
    p = cli("decontaminate", src, "--against", bench, other, "--out", out)
    assert p.returncode == 0, p.stderr
    clean = [json.loads(x) for x in (out / "clean.jsonl").read_text().splitlines()]
    bad = [json.loads(x) for x in (out / "contaminated.jsonl").read_text().splitlines()]
    man = json.loads((out / "manifest.json").read_text())
    assert len(clean) == 4 and len(bad) == 3
    assert all(b["contamination"][0]["benchmark"] == "quiz_test.jsonl" for b in bad)
    assert man["counts"]["per_benchmark"] == {"quiz_test.jsonl": 3, "other.jsonl": 0}
    assert man["counts"]["contaminated"] == 3 and man["benchmarks"] == {"quiz_test.jsonl": 5, "other.jsonl": 1}
    assert "3 of 7" in p.stderr

    p = cli("decontaminate", src, "--against", tmp_path / "nope.jsonl", "--out", tmp_path / "o2")
    assert p.returncode == 2 and "nope.jsonl" in p.stderr and "Traceback" not in p.stderr
    p = cli("decontaminate", src, "--against", bench, "--bench-fields", "missing", "--out", tmp_path / "o3")
    assert p.returncode == 2 and "--bench-fields" in p.stderr
    assert not (tmp_path / "o3" / "clean.jsonl").exists()
