"""The run-directory contract: finish() -> outputs, counts, usage (all runs) / this_run.usage, status;
the --out checks; stale temp files; the status -> exit code mapping."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli
from instructkit.errors import UserError
from instructkit.llm.usage import UsageLedger
from instructkit.runs import RunDir, check_out_dir, decide_status, manifest_output, merge_usage

ROOT = Path(__file__).resolve().parents[2]


def manifest(d):
    return json.loads((d / "manifest.json").read_text())


def ledger(calls: int, prompt: int, completion: int, failures: dict | None = None) -> UsageLedger:
    led = UsageLedger()
    for _ in range(calls):
        led.record_call("m", prompt, completion, cached=False)
    for kind, n in (failures or {}).items():
        for _ in range(n):
            led.record_failure(kind)
    return led


def test_finish_records_outputs_counts_and_status(tmp_path):
    with RunDir(tmp_path / "r", command="demo") as run:
        run.stream("items").append({"id": "a"})
        status = run.finish(outputs={"examples": "items.jsonl"}, counts={"examples": 1}, usage=ledger(2, 10, 5))
    m = manifest(tmp_path / "r")
    assert status == m["status"] == "complete"
    assert m["outputs"] == {"examples": "items.jsonl"} and m["counts"] == {"examples": 1}
    assert m["usage"]["calls"] == m["this_run"]["usage"]["calls"] == 2 and m["this_run"]["failed"] == 0
    assert manifest_output(tmp_path / "r") == tmp_path / "r" / "items.jsonl"


def test_usage_is_all_runs_and_this_run_is_this_run(tmp_path):
    for calls, fails in ((3, {"server": 1}), (2, {"server": 2, "timeout": 1}), (0, {})):
        with RunDir(tmp_path / "r", command="demo") as run:
            run.finish(counts={}, usage=ledger(calls, 10, 4, fails))
        m = manifest(tmp_path / "r")
        assert m["this_run"]["usage"]["calls"] == calls
    assert m["runs"] == 3 and m["usage"]["calls"] == 5 and m["usage"]["prompt_tokens"] == 50
    assert m["usage"]["total_tokens"] == 70 and m["usage"]["failures"] == {"server": 3, "timeout": 1}
    assert m["usage"]["per_model"]["m"]["calls"] == 5


def test_a_killed_run_keeps_its_checkpointed_usage(tmp_path):
    run = RunDir(tmp_path / "r", command="demo")
    run.record_usage(ledger(4, 1, 1))
    # killed here: never finished, never closed (the lock goes with the process)
    run._lock_f.close()
    with RunDir(tmp_path / "r", command="demo") as run:
        run.finish(usage=ledger(1, 1, 1))
    m = manifest(tmp_path / "r")
    assert m["usage"]["calls"] == 5 and m["this_run"]["usage"]["calls"] == 1


def test_old_glan_usage_total_is_the_earlier_runs_usage(tmp_path):
    d = tmp_path / "r"
    d.mkdir()
    (d / "manifest.json").write_text(json.dumps({"command": "glan", "usage": {"calls": 2},
                                                 "usage_total": {"calls": 7}}))
    with RunDir(d, command="glan") as run:
        run.finish(usage=ledger(1, 1, 1))
    m = manifest(d)
    assert m["usage"]["calls"] == 8 and "usage_total" not in m


def test_merge_usage_costs_and_new_kinds():
    before = {"calls": 1, "estimated_cost_usd": 0.5, "failures": {"server": 1}}
    now = {"calls": 2, "estimated_cost_usd": None, "failures": {"timeout": 1}}
    assert merge_usage(before, now) == {"calls": 3, "estimated_cost_usd": 0.5,
                                        "failures": {"server": 1, "timeout": 1}}
    assert merge_usage(None, now)["estimated_cost_usd"] is None


@pytest.mark.parametrize("failed, produced, status", [(0, 0, "complete"), (0, 3, "complete"),
                                                      (1, 3, "partial"), (4, 0, "failed")])
def test_one_status_rule(tmp_path, failed, produced, status):
    assert decide_status(failed, produced) == status
    with RunDir(tmp_path / "r", command="demo") as run:
        assert run.finish(failed=failed, produced=produced) == status
    m = manifest(tmp_path / "r")
    assert m["status"] == status and m["this_run"]["failed"] == failed


def test_exceptions_and_interrupts(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with RunDir(tmp_path / "r", command="demo"):
            raise KeyboardInterrupt
    assert manifest(tmp_path / "r")["status"] == "stopped"
    with pytest.raises(RuntimeError):
        with RunDir(tmp_path / "r", command="demo"):
            raise RuntimeError("crash")
    assert manifest(tmp_path / "r")["status"] == "failed"
    with pytest.raises(RuntimeError):  # an error after finish() keeps what finish decided
        with RunDir(tmp_path / "r", command="demo") as run:
            run.finish(failed=1, produced=2)
            raise RuntimeError("late")
    assert manifest(tmp_path / "r")["status"] == "partial"


def test_manifest_reader_new_old_and_missing(tmp_path):
    d = tmp_path / "r"
    d.mkdir()
    (d / "a.jsonl").write_text("")
    (d / "b.jsonl").write_text("")
    (d / "manifest.json").write_text(json.dumps({"outputs": {"examples": "a.jsonl", "tasks": "b.jsonl"},
                                                 "examples": "b.jsonl"}))
    assert manifest_output(d) == d / "a.jsonl" and manifest_output(d, "tasks") == d / "b.jsonl"
    (d / "manifest.json").write_text(json.dumps({"examples": "b.jsonl"}))  # before outputs.examples
    assert manifest_output(d) == d / "b.jsonl" and manifest_output(d, "tasks") is None
    (d / "manifest.json").write_text(json.dumps({"outputs": {"examples": "gone.jsonl"}}))
    assert manifest_output(d) is None
    (d / "manifest.json").write_text("[1, 2]")
    assert manifest_output(d) is None and manifest_output(tmp_path / "nowhere") is None


# -- --out that cannot be a run directory: one line, exit 2, nothing loaded ----------------------
def test_check_out_dir_below_a_file_and_unwritable(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(UserError, match="is a file, not a directory"):
        check_out_dir(f / "sub" / "run")
    with pytest.raises(UserError, match="exists and is not a directory"):
        RunDir(f, command="demo")
    check_out_dir(tmp_path / "new" / "deeper")  # creatable: fine, and nothing is created
    assert not (tmp_path / "new").exists()


def test_read_only_directory(read_only_dir):
    """A read-only folder (non-root) or a read-only mount (root, who writes through file modes)."""
    with pytest.raises(UserError, match="not writable|cannot write there"):
        RunDir(read_only_dir / "run", command="demo")
    with pytest.raises(UserError, match="cannot write there"):
        check_out_dir(read_only_dir / "run")
    assert not (read_only_dir / "run").exists()


def test_path_the_kernel_refuses_is_one_line(tmp_path):
    # /proc takes no new directories, not even from root: the OSError comes from mkdir itself
    with pytest.raises(UserError, match=r"--out /proc/instructkit-test/run: cannot write there"):
        RunDir("/proc/instructkit-test/run", command="demo")


@pytest.mark.parametrize("out", ["FILE/run", "/proc/instructkit-test/run"])
def test_cli_bad_out_is_one_line_exit_2_before_reading_input(tmp_path, out):
    f = tmp_path / "FILE"
    f.write_text("x")
    out = out.replace("FILE", str(f))
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"instruction": "a", "output": "b"}) + "\n")
    for args in (("dedup", data, "--method", "exact"), ("select", "qdit", data, "--k", "1"),
                 ("dynosaur", "examples/news_topics", "--rows", "2")):
        r = run_cli(*args, "--out", out)
        assert r.returncode == 2, (args, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: --out ") and "Traceback" not in r.stderr, r.stderr


@pytest.fixture
def read_only_dir(tmp_path):
    """A read-only folder: a read-only tmpfs for root (who writes through file modes), else mode 555."""
    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() == 0:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)],
                                 capture_output=True, text=True)
        assert mounted.returncode == 0, f"root could not mount a read-only tmpfs: {mounted.stderr}"
    else:
        ro.chmod(0o555)
    yield ro
    if os.geteuid() == 0:
        subprocess.run(["umount", str(ro)], check=True)
    else:
        ro.chmod(0o755)


def every_command_with_an_out(data, tasks, tmp_path) -> list[tuple]:
    """(args before --out, what --out names inside the bad place) for every command that writes."""
    ev, tr = tmp_path / "eval_tasks", tmp_path / "train_tasks"
    for d, names in ((ev, ["plural_noun"]), (tr, ["even_or_odd", "digit_to_word"])):
        d.mkdir(exist_ok=True)
        for n in names:
            (d / f"task_{n}.json").write_text((tasks / f"task_{n}.json").read_text())
    tax = tmp_path / "tax.yaml"
    tax.write_text("Natural Sciences:\n  Physical Sciences: [Chemistry]\n")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"sources: [{data}]\nstages:\n  - dedup: {{method: exact}}\n")
    return [(("dedup", data, "--method", "exact"), "run"), (("decontaminate", data, "--against", data), "run"),
            (("select", "qdit", data, "--k", "1"), "run"), (("select", "active", tr, "--k", "1"), "run"),
            (("dynosaur", "examples/news_topics", "--rows", "2"), "run"), (("glan", "--taxonomy", tax), "run"),
            (("eval", "local", "--tasks", ev), "run"), (("train", data, "--model", "hf:embedded"), "run"),
            (("export", data, "--format", "messages"), "train.jsonl"), (("export", data, "--format", "hf"), "hf"),
            (("taskmap", tr), "map.png"), (("replay", tr, tr, "--k", "1"), "run"),
            (("active-loop", tr, "--rounds", "1", "--k", "1", "--eval", ev), "run"),
            (("replay-run", tr, tr, "--k", "1", "--eval-per-stage", ev, ev), "run"), (("run", recipe), "run")]


@pytest.mark.slow
@pytest.mark.parametrize("where", ["below a file", "read-only", "refused by the kernel"])
def test_every_command_bad_out_is_one_line_exit_2_and_nothing_written(tmp_path, read_only_dir, where):
    """Issue 20 item 5 over every command that writes: one line naming --out, exit 2, no traceback, nothing made."""
    f = tmp_path / "FILE"
    f.write_text("x")
    base = {"below a file": f, "read-only": read_only_dir, "refused by the kernel": Path("/proc/instructkit-t")}[where]
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"instruction": "a", "output": "b"}) + "\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    for args, name in every_command_with_an_out(data, Path("examples/active"), tmp_path):
        r = run_cli(*args, "--out", base / name, env={"INSTRUCTKIT_THREADS": "1"}, cwd=ROOT)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1, (args, r.stderr[-1500:])
        assert lines[0].startswith(f"error: --out {base / name}: "), (args, lines)
    assert not list(read_only_dir.iterdir()) and f.read_text() == "x"
    made = sorted(p.name for p in tmp_path.iterdir())
    assert set(made) - set(before) <= {"eval_tasks", "train_tasks", "tax.yaml", "r.yaml"}, made


def test_stale_temp_files_of_a_killed_write_are_removed(tmp_path):
    d = tmp_path / "r"
    d.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()  # a pid that has exited
    stale = d / f".examples.jsonl.tmp-{dead}"
    stale.write_text('{"torn')
    nested = d / "stage_1" / f".train.jsonl.tmp-{dead}"
    nested.parent.mkdir()
    nested.write_text("x")
    live = d / f".other.jsonl.tmp-{os.getpid()}"  # a writer still alive is left alone
    live.write_text("x")
    keep = d / "examples.jsonl"
    keep.write_text("{}\n")
    RunDir(d, command="demo").close()
    assert not stale.exists() and not nested.exists() and live.exists() and keep.exists()


def test_status_to_exit_code_mapping():
    import typer

    from instructkit.cli.outcome import EXIT_CODES, exit_for_status

    assert EXIT_CODES["complete"] == 0 and EXIT_CODES["partial"] == 3 and EXIT_CODES["failed"] == 1
    assert EXIT_CODES["stopped"] == 3 and EXIT_CODES["interrupted"] == 130  # a budget stop; Ctrl-C exits 130 in cli
    exit_for_status("complete")  # no exit
    for status, code in (("partial", 3), ("failed", 1), ("stopped", 3)):
        with pytest.raises(typer.Exit) as e:
            exit_for_status(status, "2 of 5 things failed")
        assert e.value.exit_code == code


def test_items_refused_by_a_budget_make_a_stopped_run_not_a_failed_one(tmp_path):
    ledger = UsageLedger()
    ledger.record_failure("budget")
    with RunDir(tmp_path / "r", command="demo") as run:
        assert run.finish(counts={"examples": 0}, usage=ledger, failed=2) == "stopped"
    m = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert m["status"] == "stopped" and m["stopped"] == "budget"
    with RunDir(tmp_path / "r", command="demo") as run:  # re-run with a larger budget: done, the mark goes
        assert run.finish(counts={"examples": 3}, usage=UsageLedger()) == "complete"
    m = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert m["status"] == "complete" and "stopped" not in m
    from instructkit.cli.outcome import EXIT_CODES

    assert EXIT_CODES["stopped"] == 3 and EXIT_CODES["failed"] == 1


def test_help_docs_and_code_say_the_same_exit_codes():
    """`instructkit --help`, docs/concepts/run-directories.md and cli/outcome.py agree on the contract."""
    import re

    from instructkit.cli.outcome import EXIT_CODES

    shown = " ".join(run_cli("--help").stdout.split())
    for status in ("complete", "partial", "failed", "interrupted"):
        assert f"{EXIT_CODES[status]} {status}" in shown, (status, shown[-600:])
    assert "3 partial" in shown and "or stopped at a budget" in shown and "2 bad input" in shown
    table = (ROOT / "docs" / "concepts" / "run-directories.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| ([\d a-z]+?) \|", table, re.M))
    assert rows["complete"] == "0" and rows["partial"] == "3" and rows["failed"] == "1"
    assert rows["stopped"] == f"{EXIT_CODES['interrupted']} or {EXIT_CODES['stopped']}"


def test_a_killed_export_leaves_a_temp_file_that_the_next_export_removes(tmp_path):
    """A real kill -9 inside an atomic write outside any run directory (``export --out FILE``)."""
    out = tmp_path / "train.jsonl"
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\nfrom instructkit.runs import atomic_write_jsonl\n"
        "def rows():\n    yield {'a': 1}\n    print('writing', flush=True)\n    time.sleep(60)\n    yield {'a': 2}\n"
        f"atomic_write_jsonl({str(out)!r}, rows())\n")], stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert writer.stdout.readline().strip() == "writing"
    writer.kill()
    writer.wait()
    stale = list(tmp_path.glob(".train.jsonl.tmp-*"))
    assert [p.name for p in stale] == [f".train.jsonl.tmp-{writer.pid}"] and not out.exists()
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"instruction": "a", "output": "b"}) + "\n")
    r = run_cli("export", data, "--format", "messages", "--out", out)
    assert r.returncode == 0, r.stderr
    assert not stale[0].exists() and len(out.read_text().splitlines()) == 1
