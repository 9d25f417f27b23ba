"""Bad input files and rows (issue 19): one reader, one record contract, --skip-bad-rows.

Every case: exit 2 with one stderr line naming the file (and line/field), no traceback, nothing
written; or, with --skip-bad-rows, the good rows kept and each bad one in rejected.jsonl.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from instructkit.errors import UserError
from instructkit.io import load_examples, read_examples
from instructkit.rowcheck import MAX_DEPTH, BadRowError
from instructkit.sources.datafiles import iter_file_rows, read_rows
from tests.inproc import run


def jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


GOOD = [{"instruction": f"Say {w}.", "input": "", "output": w} for w in ("one", "two", "three")]


def one_line_exit_2(res, *needles: str) -> None:
    assert res.code == 2, (res.code, res.stderr)
    lines = res.error_lines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    for n in needles:
        assert n in lines[0], lines[0]


# -- files that cannot be read -------------------------------------------------------------------

def test_binary_garbage_with_a_jsonl_name(tmp_path):
    f = tmp_path / "garbage.jsonl"
    f.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(UserError, match=r"garbage\.jsonl: not UTF-8"):
        load_examples(f)


def test_latin1_text_is_a_decode_error_not_a_traceback(tmp_path):
    f = tmp_path / "latin.jsonl"
    f.write_bytes(json.dumps({"instruction": "caf\u00e9", "output": "x"}, ensure_ascii=False).encode("latin-1") + b"\n")
    res = run("dedup", f, "--out", tmp_path / "run", "--method", "exact")
    one_line_exit_2(res, "latin.jsonl", "not UTF-8")
    assert not (tmp_path / "run").exists()


def test_json_nested_deeper_than_python_parses(tmp_path):
    f = tmp_path / "deep.jsonl"
    f.write_text('{"instruction": "x", "meta": ' + "[" * 200_000 + "]" * 200_000 + "}\n")
    with pytest.raises(UserError, match=r"deep\.jsonl:1: JSON nested deeper"):
        load_examples(f)
    g = tmp_path / "deep.json"
    g.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(UserError, match=r"deep\.json: JSON nested deeper"):
        load_examples(g)


def test_meta_nested_deeper_than_the_contract(tmp_path):
    deep: object = "leaf"
    for _ in range(MAX_DEPTH + 5):
        deep = [deep]
    f = jsonl(tmp_path / "d.jsonl", [GOOD[0], {"instruction": "i", "output": "o", "meta": {"x": deep}}])
    with pytest.raises(BadRowError, match=r"d\.jsonl:2: meta\.x: nested deeper than"):
        load_examples(f)


def test_corrupt_parquet_pages_and_header(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    good = tmp_path / "g.parquet"
    pq.write_table(pa.table({"instruction": ["a" * 50] * 200, "output": ["b"] * 200}), good, compression="none")
    raw = bytearray(good.read_bytes())
    raw[200:1200] = b"\xff" * 1000  # pages destroyed, footer intact
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(bytes(raw))
    with pytest.raises(UserError, match=r"bad\.parquet: not a readable Parquet file"):
        load_examples(bad)
    head = tmp_path / "head.parquet"
    head.write_bytes(b"PAR1" + b"\x00" * 64)
    with pytest.raises(UserError, match=r"head\.parquet: not a readable Parquet file"):
        load_examples(head)


def test_gzip_reads_and_truncated_gzip_is_one_line(tmp_path):
    body = "".join(json.dumps({**r, "n": i}) + "\n" for i, r in enumerate(GOOD * 200)).encode()
    ok = tmp_path / "ex.jsonl.gz"
    ok.write_bytes(gzip.compress(body))
    assert len(load_examples(ok)) == 600
    cut = tmp_path / "cut.jsonl.gz"
    packed = gzip.compress(body)
    cut.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(UserError, match=r"cut\.jsonl\.gz: not a readable gzip file"):
        load_examples(cut)


def _superni(tmp_path: Path) -> bytes:
    return json.dumps({"Definition": ["Say the number."], "Positive Examples": [],
                       "Instances": [{"id": "a", "input": "1", "output": ["one"]}]}).encode()


def test_eval_tasks_truncated_gz_corrupt_parquet_and_deep_json(tmp_path):
    cut = tmp_path / "task.json.gz"
    cut.write_bytes(gzip.compress(_superni(tmp_path))[:20])
    one_line_exit_2(run("eval", "local", "--tasks", cut, "--out", tmp_path / "e1"), "task.json.gz", "gzip")
    pq_bad = tmp_path / "task.parquet"
    pq_bad.write_bytes(b"PAR1\x00\x01garbage")
    one_line_exit_2(run("eval", "local", "--tasks", pq_bad, "--out", tmp_path / "e2"), "task.parquet")
    deep = tmp_path / "deep.json"
    deep.write_text('{"Definition": ' + "[" * 100_000 + "]" * 100_000 + "}")
    one_line_exit_2(run("eval", "local", "--tasks", deep, "--out", tmp_path / "e3"), "deep.json", "nested")
    assert not any((tmp_path / d).exists() for d in ("e1", "e2", "e3"))


def test_taskmap_on_truncated_gz_and_binary_scores(tmp_path):
    rows = "".join(json.dumps({"task_id": f"t{i}", "pu": 0.1 * i, "pp": 0.5, "perplexity": 2.0}) + "\n"
                   for i in range(4))
    cut = tmp_path / "scores.jsonl.gz"
    cut.write_bytes(gzip.compress(rows.encode())[:25])
    one_line_exit_2(run("taskmap", cut, "--out", tmp_path / "m.png"), "scores.jsonl.gz", "gzip")
    binary = tmp_path / "scores.jsonl"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    one_line_exit_2(run("taskmap", binary, "--out", tmp_path / "m.png"), "scores.jsonl", "UTF-8")
    assert not (tmp_path / "m.png").exists()


# -- CSV -------------------------------------------------------------------------------------------

def test_ragged_csv_rows_name_the_line(tmp_path):
    short = tmp_path / "short.csv"
    short.write_text("instruction,input,output\nSay hi,,hi\nSay bye,bye\n")
    with pytest.raises(UserError, match=r"short\.csv:3: fewer values \(2\) than header columns \(3\)"):
        load_examples(short)
    long = tmp_path / "long.tsv"
    long.write_text("instruction\toutput\nSay hi\thi\textra\n")
    with pytest.raises(UserError, match=r"long\.tsv:2: more values"):
        load_examples(long)


def test_duplicate_csv_columns_are_an_error(tmp_path):
    f = tmp_path / "dup.csv"
    f.write_text("instruction,output,output\nSay hi,hi,hello\n")
    res = run("export", f, "--format", "alpaca", "--out", tmp_path / "o.json")
    one_line_exit_2(res, "dup.csv", "'output' appears twice")
    assert not (tmp_path / "o.json").exists()


def test_csv_cells_stay_text_for_examples_and_get_types_for_cards(tmp_path):
    f = tmp_path / "z.csv"
    f.write_text("\ufeffinstruction,output\nZip code?,02134\nTwo plus two?,4\n", encoding="utf-8")
    assert [e.output for e in load_examples(f)] == ["02134", "4"]
    rows, total, _ = read_rows(f)
    assert total == 2 and rows[1]["output"] == "4" and rows[0]["instruction"] == "Zip code?"  # BOM gone
    assert [w for w, _ in iter_file_rows(f)] == [f"{f}:2", f"{f}:3"]


# -- the record contract ---------------------------------------------------------------------------

@pytest.mark.parametrize("row, field, reason", [
    ({"instruction": None, "output": "x"}, "instruction", "missing or null"),
    ({"instruction": "  ", "output": "x"}, "instruction", "empty"),
    ({"output": "x", "prompt": None, "response": "y"}, "instruction", "missing"),
    ({"instruction": "i", "output": [1, 2]}, "output", "a list"),
    ({"instruction": "i", "output": {"a": 1}}, "output", "an object"),
    ({"instruction": "i", "output": True}, "output", "boolean"),
    ({"instruction": "i", "output": float("nan")}, "output", "nan"),
    ({"instruction": "i", "input": ["a"], "output": "o"}, "input", "a list"),
    ({"instruction": "broken \ud800 text", "output": "o"}, "instruction", "surrogate"),
    ({"messages": [{"role": "user", "content": ["x"]}, {"role": "assistant", "content": "a"}]},
     "messages[0].content", "a list"),
])
def test_rows_that_break_the_contract_name_file_line_and_field(tmp_path, row, field, reason):
    f = tmp_path / "rows.jsonl"
    f.write_text(json.dumps(GOOD[0]) + "\n\n" + json.dumps(row) + "\n")  # the blank line counts
    with pytest.raises(BadRowError) as e:
        load_examples(f)
    assert e.value.bad.where == f"{f}:3" and e.value.bad.field == field
    assert reason in str(e.value) and "--skip-bad-rows" in str(e.value)


def test_numbers_convert_and_zero_is_not_lost(tmp_path):
    f = jsonl(tmp_path / "n.jsonl", [{"instruction": "How many?", "output": 0},
                                     {"instruction": "Half?", "input": 1, "output": 0.5}])
    exs = load_examples(f)
    assert [(e.input, e.output) for e in exs] == [("", "0"), ("1", "0.5")]


def test_skip_bad_rows_collects_instead_of_raising(tmp_path):
    f = jsonl(tmp_path / "mix.jsonl", [GOOD[0], {"instruction": None}, GOOD[1], {"instruction": "i", "output": [1]}])
    exs, bad = read_examples(f, skip_bad_rows=True)
    assert [e.output for e in exs] == ["one", "two"]
    assert [(b.where, b.field) for b in bad] == [(f"{f}:2", "instruction"), (f"{f}:4", "output")]
    only_bad = jsonl(tmp_path / "bad.jsonl", [{"instruction": None}])
    with pytest.raises(UserError, match="holds no examples .1 bad rows skipped"):
        read_examples(only_bad, skip_bad_rows=True)


def test_dedup_refuses_a_bad_row_and_writes_nothing(tmp_path):
    f = jsonl(tmp_path / "in.jsonl", GOOD + [{"instruction": "x", "output": ["a", "b"]}])
    res = run("dedup", f, "--out", tmp_path / "run")
    one_line_exit_2(res, "in.jsonl:4", "output")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", [
    ["dedup", "{f}", "--out", "{o}", "--method", "exact"],
    ["dedup", "{f}", "--out", "{o}"],
    ["decontaminate", "{f}", "--against", "{b}", "--out", "{o}"],
])
def test_skip_bad_rows_writes_rejected_and_counts(tmp_path, command):
    f = jsonl(tmp_path / "in.jsonl", GOOD + [{"instruction": None, "output": "x"}, {"instruction": "q", "output": 7},
                                             {"output": "no instruction"}])
    bench = jsonl(tmp_path / "bench.jsonl", [{"question": "unrelated benchmark text"}])
    out = tmp_path / "run"
    res = run(*[a.format(f=f, o=out, b=bench) for a in command], "--skip-bad-rows")
    assert res.code == 0, res.stderr
    rejected = [json.loads(x) for x in (out / "rejected.jsonl").read_text().splitlines()]
    assert sorted(r["where"] for r in rejected) == [f"{f}:4", f"{f}:6"]
    assert {r["field"] for r in rejected} == {"instruction"} and all(r["stage"] == "read" for r in rejected)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["bad_rows"] == 2 and manifest["counts"]["input"] == 4
    assert "2 bad input rows" in res.stderr


def test_export_skip_bad_rows_writes_rejected_beside_the_file(tmp_path):
    f = jsonl(tmp_path / "in.jsonl", GOOD + [{"instruction": "x", "output": {"nested": 1}}])
    out = tmp_path / "train.jsonl"
    res = run("export", f, "--format", "messages", "--out", out, "--skip-bad-rows")
    assert res.code == 0, res.stderr
    assert len(out.read_text().splitlines()) == 3
    (rej,) = [json.loads(x) for x in (tmp_path / "train.rejected.jsonl").read_text().splitlines()]
    assert rej["where"] == f"{f}:4" and rej["field"] == "output"


def test_surrogate_row_never_reaches_a_writer(tmp_path):
    f = tmp_path / "s.jsonl"
    f.write_text(json.dumps(GOOD[0]) + "\n" + '{"instruction": "a \\ud83d b", "output": "o"}\n')
    res = run("export", f, "--format", "alpaca", "--out", tmp_path / "o.jsonl")
    one_line_exit_2(res, "s.jsonl:2", "surrogate")


def test_training_examples_collect_bad_rows_when_asked(tmp_path):
    from instructkit.loop.train import load_training_examples

    f = jsonl(tmp_path / "t.jsonl", GOOD + [{"instruction": "i", "output": True}])
    with pytest.raises(BadRowError, match=r"t\.jsonl:4: output"):
        load_training_examples(f)
    bad: list = []
    kept, empty = load_training_examples(f, bad)
    assert len(kept) == 3 and empty == 0 and [b.field for b in bad] == ["output"]


def test_dynosaur_run_instances_are_checked_too(tmp_path):
    run_dir = tmp_path / "dyn"
    run_dir.mkdir()
    jsonl(run_dir / "tasks.jsonl", [{"id": "t", "instruction": "Label it."}])
    jsonl(run_dir / "instances.jsonl", [{"instruction": "Label it.", "input": "a", "output": "x", "meta": {"task_id": "t"}},
                                        {"instruction": "Label it.", "input": "b", "output": [1], "meta": {"task_id": "t"}}])
    res = run("replay", run_dir, run_dir, "--budget", "1", "--out", tmp_path / "r")
    one_line_exit_2(res, "instances.jsonl:2", "output")
    from instructkit.select.active.tasks_io import load_tasks

    bad: list = []
    (task,) = load_tasks([run_dir], bad_rows=bad)
    assert [e.input for e in task.instances] == ["a"] and bad[0].where.endswith("instances.jsonl:2")
