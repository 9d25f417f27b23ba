"""Provider batch jobs (``openai-batch:``) end to end: the CLI and the door against tests/batch_emulator.py,
which runs every request on the real llama.cpp server (llama-cpp-python's, the bundled SmolLM2).

A tiny GLAN run through batches must write the same records as the direct ``openai:`` path; failed and
expired requests are resent alone; Ctrl-C and ``batches cancel`` cancel the remote batch; a run killed
while it polls resumes by polling the batch it created (never a second one); the ledger prices calls at
the batch rate; the planted key is in no file written.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from batch_emulator import BatchEmulator
from conftest import cli_env, run_cli
from instructkit.llm.usage import price_for
from instructkit.runs import read_jsonl

pytestmark = pytest.mark.slow

KEY = "sk-planted-batch-5d8e2f0a9c71"
# the questions come from the embedded model (the settings tests/generate/test_glan_cli.py uses); the answers
# stage is then run again with a new answer model: directly, or through batch jobs
TAXONOMY = "Natural Sciences:\n  Physical Sciences: [Chemistry]\nVocational Trades:\n  Construction Trades: [Carpentry]\n"
ARGS = ["--subject-samples", "1", "--max-subjects", "1", "--max-sessions", "4", "--questions-per-syllabus", "2",
        "--max-tokens", "96", "--concurrency", "1", "--seed", "3", "--quiet"]
FAST = {"INSTRUCTKIT_BATCH_WINDOW": "0.3", "INSTRUCTKIT_BATCH_POLL": "0.2", "OPENAI_API_KEY": KEY,
        "INSTRUCTKIT_THREADS": "1"}


def answers(out: Path) -> dict[str, tuple]:
    """What the answers stage wrote, by question (answer ids name the model spec, so they differ by path)."""
    got = {}
    for r in read_jsonl(out / "answers.jsonl"):
        if not r["model"].startswith("local"):
            got[r["question_id"]] = (r["answer"], r["finish_reason"], r["completion_tokens"], r["failure"])
    return got


def examples(out: Path) -> list[tuple[str, str]]:
    return sorted((e["instruction"], e["output"]) for e in read_jsonl(out / "examples.jsonl"))


def glan(out: Path, tax: Path, answer_model: str | None = None) -> list[str]:
    extra = ["--stages", "answers", "--answer-model", answer_model] if answer_model else []
    return ["glan", "--out", str(out), "--taxonomy", str(tax), "--model", "local", *ARGS, *extra]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    b = tmp_path_factory.mktemp("batch")
    (b / "tax.yaml").write_text(TAXONOMY)
    r = run_cli(*glan(b / "local", b / "tax.yaml"), env=FAST)
    assert r.returncode == 0, r.stderr
    assert len(list(read_jsonl(b / "local" / "questions.jsonl"))) >= 2
    return b


def copy_of_local(base: Path, name: str) -> Path:
    shutil.copytree(base / "local", base / name)
    return base / name


@pytest.fixture(scope="module")
def direct_run(base, llama_server):
    out = copy_of_local(base, "direct")
    r = run_cli(*glan(out, base / "tax.yaml", f"openai:gpt-4o-mini@{llama_server}"), env=FAST)
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="module")
def batch_run(base, llama_server):
    with BatchEmulator(llama_server, api_key=KEY) as emu:
        out = copy_of_local(base, "batched")
        r = run_cli(*glan(out, base / "tax.yaml", f"openai-batch:gpt-4o-mini@{emu.url}"), env=FAST)
        assert r.returncode == 0, r.stderr
        return out, emu


def test_glan_through_batches_writes_the_same_records_as_direct_calls(direct_run, batch_run):
    out, emu = batch_run
    direct = answers(direct_run)
    assert len(direct) >= 2 and all(a[0] for a in direct.values())
    assert answers(out) == direct
    assert examples(out) == examples(direct_run)
    man = json.loads((out / "manifest.json").read_text())
    assert man["status"] == "complete"
    recorded = json.loads((out / "batches.json").read_text())
    recorded = {i: e for i, e in recorded.items() if not i.startswith("pending:")}  # the uploads' records
    assert set(recorded) == set(emu.batches) and len(recorded) == 1  # the stage's requests in one batch
    assert all(e["status"] == "completed" for e in recorded.values())
    asked = [cid for ids in emu.batch_custom_ids.values() for cid in ids]
    assert len(asked) == len(set(asked)) == len(direct) == man["this_run"]["usage"]["calls"]
    assert emu.auth_failures == 0


def test_ledger_prices_batch_calls_at_the_batch_rate(direct_run, batch_run):
    out, _ = batch_run
    usage = json.loads((out / "manifest.json").read_text())["this_run"]["usage"]
    (spec, m), = usage["per_model"].items()
    assert spec.startswith("openai-batch:gpt-4o-mini@")
    full = price_for("gpt-4o-mini")
    want = (m["prompt_tokens"] * full[0] + m["completion_tokens"] * full[1]) / 1e6 * 0.5
    assert m["calls"] > 0 and usage["estimated_cost_usd"] == pytest.approx(want, rel=1e-3, abs=1e-6)
    direct = json.loads((direct_run / "manifest.json").read_text())["this_run"]["usage"]
    assert direct["total_tokens"] == usage["total_tokens"]
    assert usage["estimated_cost_usd"] == pytest.approx(direct["estimated_cost_usd"] / 2, rel=1e-3, abs=1e-6)


def test_batches_list_shows_what_the_run_recorded(batch_run):
    out, emu = batch_run
    r = run_cli("batches", "list", str(out))
    assert r.returncode == 0, r.stderr
    for bid in emu.batches:
        assert bid in r.stdout
    assert "completed" in r.stdout and KEY not in r.stdout


def test_view_reads_a_batched_run_like_any_other(batch_run, tmp_path):
    out, _ = batch_run
    r = run_cli("view", str(out), "--html", str(tmp_path / "report.html"), "--quiet")
    assert r.returncode == 0, r.stderr
    page = html.unescape((tmp_path / "report.html").read_text())
    first = next(a for a in answers(out).values())[0]
    assert first[:40] in page or json.dumps(first[:40])[1:-1] in page  # the batched answers are shown


def _ask(url: str, cache: Path, prompts: list[str]) -> list[str]:
    from instructkit.llm import open_model

    os.environ.update(FAST)
    llm = open_model(f"openai-batch:gpt-4o-mini@{url}", cache=cache)

    async def go() -> list[str]:
        try:
            out = await asyncio.gather(*(llm.chat([{"role": "user", "content": p}], max_tokens=12) for p in prompts))
        finally:
            await llm.aclose()
        return [c.text for c in out]

    return asyncio.run(go())


PROMPTS = ["Name a tool.", "Name a wood.", "Name a joint.", "Name a nail."]


def test_failed_requests_are_resent_alone(llama_server, tmp_path):
    with BatchEmulator(llama_server, api_key=KEY, fail_once=2) as emu:
        texts = _ask(emu.url, tmp_path / "cache.sqlite", PROMPTS)
    assert all(t.strip() for t in texts)
    first, second = emu.batch_custom_ids.values()
    assert len(first) == 4 and sorted(second) == sorted(emu.failed_ids) and len(second) == 2
    from instructkit.llm.cache import ResponseCache

    assert len(ResponseCache(tmp_path / "cache.sqlite")) == 4
    recorded = json.loads((tmp_path / "batches.json").read_text())
    assert {e["status"] for i, e in recorded.items() if not i.startswith("pending:")} == {"completed"}
    assert {e["status"] for i, e in recorded.items() if i.startswith("pending:")} == {"created"}  # uploads


def test_expired_requests_are_resent_alone(llama_server, tmp_path):
    with BatchEmulator(llama_server, api_key=KEY, expire_batches=1, expire_after=1) as emu:
        texts = _ask(emu.url, tmp_path / "cache.sqlite", PROMPTS)
    assert all(t.strip() for t in texts)
    bids = list(emu.batches)
    assert emu.batches[bids[0]]["status"] == "expired" and emu.batches[bids[1]]["status"] == "completed"
    first, second = (emu.batch_custom_ids[b] for b in bids)
    assert sorted(second) == sorted(first[1:])  # only the ones the expiry left unanswered


def test_a_recorded_batch_the_server_no_longer_knows_is_sent_anew(llama_server, tmp_path):
    with BatchEmulator(llama_server, api_key=KEY) as emu:
        want = _ask(emu.url, tmp_path / "cache.sqlite", PROMPTS[:2])
        (old_id,) = emu.batches
        old_ids = emu.batch_custom_ids.pop(old_id)
        del emu.batches[old_id]  # the provider forgot it (deleted, expired from its records): 404
        (tmp_path / "cache.sqlite").unlink()  # and its answers never reached the cache (as after a kill)
        records = json.loads((tmp_path / "batches.json").read_text())
        records[old_id]["status"] = "in_progress"
        (tmp_path / "batches.json").write_text(json.dumps(records))
        got = _ask(emu.url, tmp_path / "cache.sqlite", PROMPTS[:2])
        assert len(emu.batches) == 1 and sorted(next(iter(emu.batch_custom_ids.values()))) == sorted(old_ids)
    assert got == want
    assert json.loads((tmp_path / "batches.json").read_text())[old_id]["status"] == "lost"


def test_a_batch_created_but_not_recorded_is_found_by_its_upload(llama_server, tmp_path):
    """kill -9 between the provider creating a batch and batches.json naming it: only the upload was recorded."""
    with BatchEmulator(llama_server, api_key=KEY) as emu:
        want = _ask(emu.url, tmp_path / "cache.sqlite", PROMPTS[:2])
        (bid,) = emu.batches
        records = json.loads((tmp_path / "batches.json").read_text())
        pending = records.pop(f"pending:{emu.batches[bid]['input_file_id']}")
        assert pending["status"] == "created" and pending["batch_id"] == bid
        del records[bid]
        pending.update(status="creating", batch_id=None)
        records[pending["id"]] = pending
        (tmp_path / "batches.json").write_text(json.dumps(records))
        (tmp_path / "cache.sqlite").unlink()
        got = _ask(emu.url, tmp_path / "cache.sqlite", PROMPTS[:2])
        assert list(emu.batches) == [bid]  # found by its input file and polled, not created again
    assert got == want
    assert json.loads((tmp_path / "batches.json").read_text())[bid]["status"] == "completed"


def _start_held_run(emu: BatchEmulator, out: Path, tax: Path) -> subprocess.Popen:
    """A batch GLAN run whose first batch the emulator holds in_progress; returns once it is recorded."""
    emu.hold.clear()
    proc = subprocess.Popen([sys.executable, "-m", "instructkit",
                             *glan(out, tax, f"openai-batch:gpt-4o-mini@{emu.url}")],
                            env=cli_env(FAST), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not (emu.batches and (out / "batches.json").exists()):
        time.sleep(0.05)
    time.sleep(0.5)  # a few polls of the held batch
    assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
    assert (out / "batches.json").exists() and len(emu.batches) == 1
    return proc


def test_kill9_while_polling_resumes_the_same_batch(base, llama_server, direct_run):
    out = copy_of_local(base, "killed")
    with BatchEmulator(llama_server, api_key=KEY) as emu:
        proc = _start_held_run(emu, out, base / "tax.yaml")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        (first_id,) = emu.batches
        first_ids = emu.batch_custom_ids[first_id]
        emu.hold.set()
        r = run_cli(*glan(out, base / "tax.yaml", f"openai-batch:gpt-4o-mini@{emu.url}"), env=FAST)
        assert r.returncode == 0, r.stderr
        for cid in first_ids:  # polled after the restart, never asked again
            assert emu.created_for(cid) == [first_id]
        asked = [cid for ids in emu.batch_custom_ids.values() for cid in ids]
        assert len(asked) == len(set(asked))
    assert answers(out) == answers(direct_run)


def test_ctrl_c_cancels_the_remote_batch_and_the_run_resumes(base, llama_server, direct_run):
    out = copy_of_local(base, "interrupted")
    with BatchEmulator(llama_server, api_key=KEY) as emu:
        proc = _start_held_run(emu, out, base / "tax.yaml")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        (first_id,) = emu.batches
        assert proc.returncode == 130, err.decode()
        assert emu.batches[first_id]["status"] in ("cancelling", "cancelled")
        assert json.loads((out / "batches.json").read_text())[first_id]["status"] in ("cancelling", "cancelled")
        emu.hold.set()
        r = run_cli(*glan(out, base / "tax.yaml", f"openai-batch:gpt-4o-mini@{emu.url}"), env=FAST)
        assert r.returncode == 0, r.stderr
        assert len(emu.created_for(emu.batch_custom_ids[first_id][0])) == 2  # sent again after the cancel
    assert answers(out) == answers(direct_run)


def test_batches_cancel_command(llama_server, tmp_path):
    import openai

    from instructkit.llm.batch_store import BatchStore

    with BatchEmulator(llama_server, api_key=KEY) as emu:
        emu.hold.clear()
        client = openai.OpenAI(api_key=KEY, base_url=emu.url)
        line = {"custom_id": "k1", "method": "POST", "url": "/v1/chat/completions",
                "body": {"model": "m", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}}
        f = client.files.create(file=("in.jsonl", (json.dumps(line) + "\n").encode()), purpose="batch")
        b = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
        BatchStore(tmp_path / "batches.json").record(b.id, status=b.status, custom_ids=["k1"], base_url=emu.url)
        r = run_cli("batches", "cancel", b.id, "--out", str(tmp_path), env={"OPENAI_API_KEY": KEY})
        assert r.returncode == 0, r.stderr
        assert emu.batches[b.id]["status"] in ("cancelling", "cancelled")
        assert json.loads((tmp_path / "batches.json").read_text())[b.id]["status"] in ("cancelling", "cancelled")
        bad = run_cli("batches", "cancel", "batch_nope", "--out", str(tmp_path), env={"OPENAI_API_KEY": KEY})
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "batch_nope" in bad.stderr
        client.close()


def test_no_file_written_holds_the_key(base, batch_run):
    _ = batch_run
    leaks = [p for p in base.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
    assert leaks == []
    assert any(p.name == "batches.json" for p in base.rglob("*"))  # the files checked include the records
