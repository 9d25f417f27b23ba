"""Every case of issue 19 against every reading command, as a user types it (in-process CLI).

Unreadable files: exit 2, ONE stderr line naming the file, no traceback, nothing written, on dedup,
decontaminate (as input and as benchmark), select qdit, select active, replay, export, taskmap,
inspect and eval --tasks. Contract-breaking rows: the same on the example readers, or with
--skip-bad-rows the row left out, in rejected.jsonl with its reason and counted in the manifest.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.inproc import run

GOOD = [{"instruction": f"Name colour {i}.", "input": "", "output": f"blue{i}", "task_id": f"t{i % 2}"}
        for i in range(4)]
GOOD_TEXT = "".join(json.dumps(r) + "\n" for r in GOOD)


def _deep(n: int) -> str:
    return '{"instruction": "x", "meta": ' + "[" * n + "]" * n + "}"


# name -> (file name, content, what the error line says besides the file name)
UNREADABLE = {
    "binary garbage .jsonl": ("garbage.jsonl", bytes(range(256)) * 4, "not UTF-8"),
    "non-UTF-8 bytes": ("latin1.jsonl", json.dumps({"instruction": "café"}, ensure_ascii=False).encode("latin-1"),
                        "not UTF-8"),
    "deeply nested JSONL": ("deep.jsonl", (_deep(100_000) + "\n").encode(), "nested deeper"),
    "deeply nested JSON": ("deep.json", ("[" * 100_000 + "]" * 100_000).encode(), "nested deeper"),
    "corrupt Parquet": ("broken.parquet", b"PAR1" + b"\x00" * 40 + b"PAR1", ""),
    "truncated gzip": ("cut.jsonl.gz", gzip.compress(GOOD_TEXT.encode() * 20)[:40], "gzip"),
    "ragged CSV": ("ragged.csv", b"instruction,input,output,task_id\nSay hi,,hi,t1\nSay bye,bye,t2\n", "fewer values"),
    "duplicate-column CSV": ("dup.csv", b"instruction,output,output,task_id\nSay hi,hi,hello,t1\n", "appears twice"),
}

# command name -> argv builder (input file, scratch dir) -> (argv, the path that must not appear)
COMMANDS = {
    "dedup": lambda f, d: (["dedup", f, "--out", d / "o", "--method", "exact"], d / "o"),
    "decontaminate": lambda f, d: (["decontaminate", f, "--against", d / "good.jsonl", "--out", d / "o"], d / "o"),
    "decontaminate --against": lambda f, d: (["decontaminate", d / "good.jsonl", "--against", f, "--out", d / "o"],
                                            d / "o"),
    "select qdit": lambda f, d: (["select", "qdit", f, "--k", "2", "--out", d / "o"], d / "o"),
    "select active": lambda f, d: (["select", "active", f, "--k", "1", "--strategy", "random", "--out", d / "o"],
                                   d / "o"),
    "replay": lambda f, d: (["replay", f, d / "good.jsonl", "--budget", "1", "--out", d / "o"], d / "o"),
    "export": lambda f, d: (["export", f, "--format", "alpaca", "--out", d / "train.jsonl"], d / "train.jsonl"),
    "taskmap": lambda f, d: (["taskmap", f, "--out", d / "map.png"], d / "map.png"),
    "inspect": lambda f, d: (["inspect", f, "--rows", "2"], d / "o"),
}
EXAMPLE_READERS = ["dedup", "decontaminate", "select qdit", "select active", "replay", "export"]


def one_error_line(res, *needles: str) -> str:
    assert res.code == 2, (res.code, res.stderr)
    assert "Traceback" not in res.stderr
    lines = res.error_lines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    good = [dict(r, task_id=f"g{i % 2}", instruction=f"Spell word {i}.") for i, r in enumerate(GOOD)]
    (tmp_path / "good.jsonl").write_text("".join(json.dumps(r) + "\n" for r in good))
    return tmp_path


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("case", list(UNREADABLE))
def test_unreadable_file_is_one_line_exit_2_and_writes_nothing(case, command, scratch):
    name, content, needle = UNREADABLE[case]
    f = scratch / name
    f.write_bytes(content)
    argv, out = COMMANDS[command](f, scratch)
    if command == "taskmap" and needle in ("fewer values", "appears twice", ""):
        needle = "not valid JSON"  # taskmap reads scores.jsonl (JSON Lines) only: a CSV/Parquet is not JSON
    one_error_line(run(*argv), name, needle)  # no --quiet: nothing else is said before the error
    assert not out.exists()


@pytest.mark.parametrize("case", ["binary garbage .jsonl", "non-UTF-8 bytes", "deeply nested JSONL"])
def test_eval_tasks_instances_file_unreadable(case, scratch):
    """eval --tasks on a Dynosaur run whose instances file is broken (a .jsonl given alone needs one)."""
    name, content, needle = UNREADABLE[case]
    run_dir = scratch / "dyn"
    run_dir.mkdir()
    (run_dir / "tasks.jsonl").write_text(json.dumps({"id": "t1", "instruction": "Say it."}) + "\n")
    (run_dir / "instances.jsonl").write_bytes(content)
    res = run("eval", "local", "--tasks", run_dir, "--out", scratch / "e")
    one_error_line(res, "instances.jsonl", needle)
    assert not (scratch / "e").exists()


@pytest.mark.parametrize("case", ["deeply nested JSON", "corrupt Parquet", "truncated gzip", "binary garbage .jsonl"])
def test_eval_tasks_superni_file_unreadable(case, scratch):
    name, content, needle = UNREADABLE[case]
    f = scratch / name.replace(".jsonl", ".json")
    f.write_bytes(content)
    res = run("eval", "local", "--tasks", f, "--out", scratch / "e")
    one_error_line(res, f.name, needle)
    assert not (scratch / "e").exists()


BAD_ROWS = {  # name -> (row, field, reason)
    "instruction null": ({"instruction": None, "output": "x", "task_id": "t1"}, "instruction", "missing or null"),
    "instruction missing": ({"output": "x", "task_id": "t1"}, "instruction", "no instruction"),
    "output a list": ({"instruction": "List them.", "output": [1, 2], "task_id": "t1"}, "output", "a list"),
    "output an object": ({"instruction": "Map it.", "output": {"a": 1}, "task_id": "t1"}, "output", "an object"),
}


@pytest.mark.parametrize("command", EXAMPLE_READERS)
@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_bad_row_names_file_line_field_and_writes_nothing(case, command, scratch):
    row, field, reason = BAD_ROWS[case]
    f = scratch / "rows.jsonl"
    f.write_text(GOOD_TEXT + json.dumps(row) + "\n")
    argv, out = COMMANDS[command](f, scratch)
    one_error_line(run(*argv), f"rows.jsonl:5: {field}", reason, "--skip-bad-rows")
    assert not out.exists()


@pytest.mark.parametrize("command", EXAMPLE_READERS)
def test_skip_bad_rows_rejects_with_reason_and_counts(command, scratch):
    f = scratch / "rows.jsonl"
    f.write_text(GOOD_TEXT + "".join(json.dumps(BAD_ROWS[c][0]) + "\n" for c in BAD_ROWS))
    argv, out = COMMANDS[command](f, scratch)
    res = run(*argv, "--skip-bad-rows")
    assert res.code == 0, res.stderr
    rejected_file = out.with_name("train.rejected.jsonl") if command == "export" else out / "rejected.jsonl"
    rejected = [json.loads(x) for x in rejected_file.read_text().splitlines()]
    assert sorted((r["where"], r["field"]) for r in rejected) == [
        (f"{f}:{5 + i}", BAD_ROWS[c][1]) for i, c in enumerate(BAD_ROWS)]
    assert all(BAD_ROWS[c][2] in r["detail"] for c, r in zip(BAD_ROWS, sorted(rejected, key=lambda r: r["where"])))
    if command == "export":
        assert len(out.read_text().splitlines()) == len(GOOD)
        return
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["counts"]["bad_rows"] == len(BAD_ROWS)
    if command == "select qdit":
        assert json.loads((out / "summary.json").read_text())["bad_rows"] == len(BAD_ROWS)


@pytest.mark.parametrize("command", EXAMPLE_READERS)
def test_a_number_output_converts_to_its_text(command, scratch):
    """The documented conversion: an int output is its digits (not dropped, not 'None')."""
    f = scratch / "rows.jsonl"
    f.write_text(GOOD_TEXT + json.dumps({"instruction": "How many legs has a cat?", "output": 4,
                                         "task_id": "t9"}) + "\n")
    argv, out = COMMANDS[command](f, scratch)
    if command == "replay":
        argv = ["replay", scratch / "good.jsonl", f, "--budget", "1", "--out", out]
    if command.startswith("select"):
        argv[argv.index("--k") + 1] = "10"  # select everything: the row is among the selected
    res = run(*argv, "--quiet")
    assert res.code == 0, res.stderr
    written = out.read_text() if out.is_file() else "".join(p.read_text() for p in out.rglob("*.jsonl"))
    rows = [json.loads(x) for x in written.splitlines() if x.strip()]
    cat = [r for r in rows if "cat" in str(r.get("instruction", ""))]
    assert cat and all(r["output"] == "4" for r in cat if "output" in r), cat


def test_select_active_k_beyond_the_eligible_tasks_says_so(scratch):
    out = scratch / "a"
    res = run("select", "active", scratch / "good.jsonl", "--k", "50", "--strategy", "random", "--out", out)
    assert res.code == 0, res.stderr
    assert "asked for 50 tasks but only 2 are eligible" in res.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["requested"] == 50 and manifest["counts"]["selected"] == 2
    assert any("only 2 are eligible" in n for n in manifest["counts"]["notes"])


@pytest.mark.parametrize("instance, field, reason", [
    ({"id": "a", "input": ["x"], "output": ["y"]}, "input", "a list"),
    ({"id": "a", "input": "q", "output": [True]}, "output", "boolean"),
    ({"id": "a", "input": "q", "output": [{"a": 1}]}, "output", "an object"),
])
def test_eval_superni_instance_that_is_not_text_is_refused(instance, field, reason, scratch):
    f = scratch / "task1.json"
    f.write_text(json.dumps({"Definition": ["Say it."], "Instances": [instance]}))
    res = run("eval", "local", "--tasks", f, "--out", scratch / "e", "--quiet")
    one_error_line(res, "task1.json: Instances[0]", field, reason)
    assert not (scratch / "e").exists()


def test_eval_readers_convert_like_the_contract(scratch):
    """null input is "", a number reference its digits (never "None", never a dropped 0)."""
    from instructkit.loop.evaluate import load_tasks

    f = scratch / "task1.json.gz"
    f.write_bytes(gzip.compress(json.dumps({"Definition": "Say it.", "Instances": [
        {"id": "a", "input": None, "output": [0, "zero"]}]}).encode()))
    (task,) = load_tasks([scratch])  # a folder of .json.gz task files
    assert task.id == "task1" and task.instances[0].input == ""
    assert task.instances[0].meta["references"] == ["0", "zero"]
    run_dir = scratch / "dyn"
    run_dir.mkdir()
    (run_dir / "tasks.jsonl").write_text(json.dumps({"id": "t1", "instruction": "Count."}) + "\n")
    (run_dir / "instances.jsonl").write_text(
        json.dumps({"instruction": "Count.", "input": "q", "output": 0, "meta": {"task_id": "t1"}}) + "\n"
        + json.dumps({"instruction": "Count.", "input": "r", "output": [1], "meta": {"task_id": "t1"}}) + "\n")
    res = run("eval", "local", "--tasks", run_dir, "--out", scratch / "e", "--quiet")
    one_error_line(res, "instances.jsonl:2: output", "a list")


@pytest.mark.slow
def test_a_gguf_header_that_llama_cpp_cannot_load_is_one_line(scratch):
    """The magic bytes pass the precheck; loading fails: one line, exit 2, the run directory marked failed."""
    model = scratch / "broken.gguf"
    model.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x00" * 64)
    task = scratch / "task1.json"
    task.write_text(json.dumps({"Definition": "Say it.", "Instances": [{"id": "a", "input": "q", "output": ["x"]}]}))
    out = scratch / "e"
    res = run("eval", f"local:{model}", "--tasks", task, "--out", out, "--quiet")
    one_error_line(res, "broken.gguf", "cannot load this model")
    assert json.loads((out / "manifest.json").read_text())["status"] == "failed"
