"""Failures tell the truth: manifest.status and the exit code of dynosaur, glan, select active and eval.

complete -> 0, partial (some items failed on model errors; a re-run retries them) -> 3, failed
(nothing usable) -> 1, stopped (interrupted) -> 130. Successes come from a real llama.cpp server
(the bundled model); failures from a fault proxy in front of it (401 / 500 for chosen requests) or
from an address where nothing listens. Where the server cannot serve a command (GLAN's structured
extraction and Active-IT's chat scoring need the embedded model), the embedded model runs in this
process and chosen calls raise the model error a failing server would (``local_faults``).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import cli_env, run_cli
from faultproxy import FaultProxy, refused_url

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
NEWS, PAIRS = ROOT / "examples" / "news_topics", ROOT / "examples" / "sentence_pairs"
EVEN_ODD, PLURAL = (ROOT / "examples" / "active" / f"task_{n}.json" for n in ("even_or_odd", "plural_noun"))
NO_RETRY = ("--max-retries", "0", "--concurrency", "1", "--quiet")


@pytest.fixture
def local_faults(monkeypatch):
    """The embedded model, with chat calls whose text ``fail_when`` picks failing as on an HTTP 500."""
    from instructkit.errors import ModelError
    from instructkit.llm.local import LocalBackend

    monkeypatch.setenv("INSTRUCTKIT_THREADS", "1")
    for name in ("INSTRUCTKIT_OPENAI_MAX_RETRIES", "INSTRUCTKIT_OPENAI_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)  # the in-process CLI sets them from its flags: undone after
    real_chat = LocalBackend.chat
    state = {"fail_when": lambda text: False, "failed": 0}

    async def chat(self, req):
        if state["fail_when"]("\n".join(content for _, content in req.messages)):
            state["failed"] += 1
            raise ModelError("injected: server error (HTTP 500)", kind="server")
        return await real_chat(self, req)

    monkeypatch.setattr(LocalBackend, "chat", chat)
    return state


def run_main(capsys, *args) -> SimpleNamespace:
    """``instructkit ARGS`` in this process (so ``local_faults`` applies): exit code and stderr."""
    from instructkit.cli import main

    capsys.readouterr()
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else int(e.code is not None)
    return SimpleNamespace(returncode=code, stderr=capsys.readouterr().err)


def manifest(d: Path) -> dict:
    return json.loads((d / "manifest.json").read_text())


def model(url: str) -> tuple[str, str]:
    return ("--model", f"openai:smollm2@{url}")


def assert_status(r, out: Path, status: str, code: int, words: str = "") -> dict:
    assert r.returncode == code, (r.returncode, r.stderr[-2000:])
    m = manifest(out)
    assert m["status"] == status, m["status"]
    if words:
        assert words in r.stderr, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    return m


# -- dynosaur -------------------------------------------------------------------------------------
def dynosaur(out: Path, url: str, *sources: Path):
    return run_cli("dynosaur", *sources, "--rows", "4", "--modes", "aware", "--max-tasks", "2", "--out", out,
                   *model(url), *NO_RETRY)


def test_dynosaur_failed_partial_then_complete(llama_server, tmp_path):
    with FaultProxy(None, status=401) as bad:  # a bad key: nothing usable
        m = assert_status(dynosaur(tmp_path / "d401", bad.url, NEWS), tmp_path / "d401", "failed", 1,
                          "failed: 1 of 1 dataset(s) failed on model errors")
    assert m["counts"]["instances"] == 0 and list(m["this_run"]["failed_datasets"]) == ["news_topics/default/train"]
    assert_status(dynosaur(tmp_path / "refused", refused_url(), NEWS), tmp_path / "refused", "failed", 1)

    out = tmp_path / "dp"
    with FaultProxy(llama_server, status=500, fail_when=lambda body: b"sentence_pairs" in body) as proxy:
        m = assert_status(dynosaur(out, proxy.url, NEWS, PAIRS), out, "partial", 3,
                          "partial: 1 of 2 dataset(s) failed on model errors")
        assert proxy.failed == 1 and list(m["this_run"]["failed_datasets"]) == ["sentence_pairs/default/train"]
        assert m["counts"]["datasets_used"] == 1 and m["counts"]["instances"] > 0
        assert m["outputs"]["examples"] == "instances.jsonl"
        proxy.fail_when = lambda body: False  # the server is back: the re-run retries only what failed
        m2 = assert_status(dynosaur(out, proxy.url, NEWS, PAIRS), out, "complete", 0)
    assert m2["this_run"]["datasets"] == 1 and m2["this_run"]["usage"]["calls"] == 1
    assert m2["counts"]["datasets_used"] == 2 and m2["counts"]["instances"] > m["counts"]["instances"]


# -- glan -----------------------------------------------------------------------------------------
def glan_args(out: Path, spec: str, tax: Path) -> list:
    return ["glan", "--out", out, "--taxonomy", tax, "--subject-samples", "1", "--max-subjects", "1",
            "--max-sessions", "4", "--questions-per-syllabus", "2", "--max-tokens", "96", "--seed", "3",
            "--model", spec, *NO_RETRY]


def glan(out: Path, url: str, tax: Path):
    return run_cli(*glan_args(out, f"openai:smollm2@{url}", tax))


def test_glan_failed_partial_then_complete(tmp_path, capsys, local_faults):
    tax = tmp_path / "tax.yaml"
    tax.write_text("Natural Sciences:\n  Physical Sciences: [Chemistry]\nVocational Trades:\n"
                   "  Construction Trades: [Carpentry]\n")
    for status, url in ((401, None), (500, None)):
        with FaultProxy(url, status=status) as bad:  # every call fails: exit 1, never "complete"
            out = tmp_path / f"g{status}"
            m = assert_status(glan(out, bad.url, tax), out, "failed", 1, "node(s) failed on model errors")
        assert m["counts"]["examples"] == 0 and m["this_run"]["failed"] == bad.failed == 2  # 2 subject samples

    out = tmp_path / "gp"
    local_faults["fail_when"] = lambda text: "Carpentry" in text  # Carpentry's subject call fails
    m = assert_status(run_main(capsys, *glan_args(out, "local", tax)), out, "partial", 3,
                      "partial: 1 node(s) failed on model errors (server 1)")
    assert local_faults["failed"] == 1 and m["counts"]["examples"] > 0 and m["this_run"]["model_errors"] == {"server": 1}
    assert m["stages"]["subjects"]["missing"] == 1 and m["outputs"]["examples"] == "examples.jsonl"
    local_faults["fail_when"] = lambda text: False  # the re-run retries the Carpentry subtree only
    m2 = assert_status(run_main(capsys, *glan_args(out, "local", tax)), out, "complete", 0)
    assert m2["this_run"]["failed"] == 0 and m2["stages"]["subjects"]["missing"] == 0
    # nothing done is redone: only Carpentry's subtree is asked for
    assert m2["requests_by_discipline"]["Chemistry"] == 0 < m2["requests_by_discipline"]["Carpentry"]
    assert m2["usage"]["calls"] == m["usage"]["calls"] + m2["this_run"]["usage"]["calls"]


# -- select active ----------------------------------------------------------------------------------
def active_args(out: Path, spec: str) -> list:
    return ["select", "active", EVEN_ODD, PLURAL, "--k", "1", "--out", out, "--instances", "2",
            "--perturbations", "2", "--max-tokens", "8", "--model", spec, *NO_RETRY]


def test_select_active_failed_partial_then_complete(tmp_path, capsys, local_faults):
    with FaultProxy(None, status=401) as bad:
        m = assert_status(run_cli(*active_args(tmp_path / "a401", f"openai:smollm2@{bad.url}")),
                          tmp_path / "a401", "failed", 1, "2 of 2 task(s) failed on model errors (auth")
    assert m["counts"]["selected"] == 0 and m["counts"]["failed"] == 2

    out = tmp_path / "ap"
    local_faults["fail_when"] = lambda text: "plural form" in text
    m = assert_status(run_main(capsys, *active_args(out, "local")), out, "partial", 3,
                      "1 of 2 task(s) failed on model errors (server 1)")
    assert m["counts"]["selected"] == 1 and m["counts"]["failed_kinds"] == {"server": 1}
    assert [json.loads(x)["task_id"] for x in (out / "scores.jsonl").read_text().splitlines()] == \
        ["task_even_or_odd"]
    local_faults["fail_when"] = lambda text: False
    m2 = assert_status(run_main(capsys, *active_args(out, "local")), out, "complete", 0)
    assert m2["counts"]["scored_now"] == 1 and m2["counts"]["failed"] == 0
    assert m2["outputs"]["examples"] == "selected_examples.jsonl"


# -- eval -----------------------------------------------------------------------------------------
def evaluate(out: Path, url: str):
    return run_cli("eval", f"openai:smollm2@{url}", "--tasks", EVEN_ODD, PLURAL, "--out", out,
                   "--instances", "2", "--demos", "0", "--max-tokens", "8", *NO_RETRY)


def test_eval_failed_partial_then_complete(llama_server, tmp_path):
    with FaultProxy(None, status=500) as bad:
        m = assert_status(evaluate(tmp_path / "e500", bad.url), tmp_path / "e500", "failed", 1,
                          "4 of 4 instance(s) failed on model errors (server 4)")
    assert m["counts"]["instances"] == 0
    assert_status(evaluate(tmp_path / "refused", refused_url()), tmp_path / "refused", "failed", 1)

    out = tmp_path / "ep"
    with FaultProxy(llama_server, status=500, fail_when=lambda body: b"plural form" in body) as proxy:
        m = assert_status(evaluate(out, proxy.url), out, "partial", 3, "2 of 4 instance(s) failed")
        assert m["counts"]["instances"] == 2 and proxy.failed == 2
        proxy.fail_when = lambda body: False
        m2 = assert_status(evaluate(out, proxy.url), out, "complete", 0)
    assert m2["counts"]["instances"] == 4 and m2["counts"]["generated_now"] == 2
    results = json.loads((out / "results.json").read_text())
    assert results["tasks"]["task_plural_noun"]["instances"] == 2


# -- stopped: every command, at a budget (exit 3) and on Ctrl-C (exit 130) --------------------------
def stoppable(name: str, out: Path, url: str) -> list:
    """A small run of ``name`` against ``url`` that makes at least one model call."""
    spec = f"openai:smollm2@{url}"
    tax = out.parent / "tax.yaml"
    tax.write_text("Natural Sciences:\n  Physical Sciences: [Chemistry]\n")
    args = {"dynosaur": ["dynosaur", NEWS, "--rows", "2", "--modes", "aware", "--max-tasks", "1", "--model", spec],
            "glan": ["glan", "--taxonomy", tax, "--subject-samples", "1",
                     "--max-subjects", "1", "--max-sessions", "2", "--questions-per-syllabus", "1", "--model", spec],
            "select active": ["select", "active", EVEN_ODD, PLURAL, "--k", "1", "--instances", "2",
                              "--perturbations", "2", "--max-tokens", "8", "--model", spec],
            "eval": ["eval", spec, "--tasks", EVEN_ODD, PLURAL, "--instances", "2", "--demos", "0",
                     "--max-tokens", "8"]}[name]
    return [*args, "--out", out, *NO_RETRY]


COMMANDS = ["dynosaur", "glan", "select active", "eval"]


@pytest.mark.parametrize("name", COMMANDS)
def test_a_budget_stop_is_stopped_exit_3_and_said_so(name, tmp_path):
    """--max-tokens-total 1 refuses the first call: nothing failed, the run stopped (no server needed)."""
    out = tmp_path / "b"
    r = run_cli(*stoppable(name, out, refused_url()), "--max-tokens-total", "1")
    m = assert_status(r, out, "stopped", 3, "stopped: ")
    assert m["stopped"] == "budget"
    assert "budget" in r.stderr.splitlines()[-1] and "failed on model errors" not in r.stderr.splitlines()[-1]


@pytest.mark.parametrize("name", COMMANDS)
def test_ctrl_c_is_stopped_exit_130(name, tmp_path):
    out = tmp_path / "stop"
    with FaultProxy(None, delay=60) as hang:
        proc = subprocess.Popen([sys.executable, "-m", "instructkit", *map(str, stoppable(name, out, hang.url))],
                                env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while hang.seen == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert hang.seen >= 1, "the model call never arrived"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert manifest(out)["status"] == "stopped" and "re-run the same command" in err
    assert "Traceback" not in err


# -- run (a recipe): a stage's status is the recipe's ------------------------------------------------
def recipe(tmp_path: Path, name: str, url: str, sources: list[Path], stage: str) -> Path:
    p = tmp_path / f"{name}.yaml"
    p.write_text(f"model: openai:smollm2@{url}\nsources: [{', '.join(map(str, sources))}]\nstages:\n"
                 f"  - {stage}\n  - export: {{format: sharegpt}}\n")
    return p


def test_recipe_with_a_failed_glan_stage_is_failed_not_an_empty_file_error(tmp_path):
    tax = tmp_path / "tax.yaml"
    tax.write_text("Natural Sciences:\n  Physical Sciences: [Chemistry]\n")
    with FaultProxy(None, status=500) as bad:
        rec = recipe(tmp_path, "g", bad.url, [], f"glan: {{taxonomy: {tax}, subject_samples: 1, max_subjects: 1}}")
        r = run_cli("run", rec, "--out", tmp_path / "r", env={"INSTRUCTKIT_OPENAI_MAX_RETRIES": "0"})
    m = assert_status(r, tmp_path / "r", "failed", 1, "failed: stage 01-glan ended failed")
    assert [(s["dir"], s["status"]) for s in m["stages"]] == [("01-glan", "failed")]  # export never ran on nothing


def test_recipe_with_a_partial_dynosaur_stage_is_partial_exit_3_then_complete(llama_server, tmp_path):
    out = tmp_path / "r"
    with FaultProxy(llama_server, status=500, fail_when=lambda body: b"sentence_pairs" in body) as proxy:
        rec = recipe(tmp_path, "d", proxy.url, [NEWS, PAIRS], "dynosaur: {rows: 4, modes: aware, max_tasks: 2}")
        env = {"INSTRUCTKIT_OPENAI_MAX_RETRIES": "0"}
        m = assert_status(run_cli("run", rec, "--out", out, env=env), out, "partial", 3,
                          "partial: stage 01-dynosaur ended partial")
        assert [(s["dir"], s["status"]) for s in m["stages"]] == [("01-dynosaur", "partial")]
        assert not (out / "02-export").exists()  # nothing trains on half a stage
        proxy.fail_when = lambda body: False
        m2 = assert_status(run_cli("run", rec, "--out", out, env=env), out, "complete", 0)
    assert [s["status"] for s in m2["stages"]] == ["complete", "complete"]
