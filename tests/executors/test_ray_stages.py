"""Every distributed stage on a real local Ray cluster gives the local executor's ids and records.

One Ray (``ray.init(num_cpus=2)``) serves the whole module; the CLI tests join it with
``--ray-address``. LLM stages use the real embedded model with tiny counts.
"""

from __future__ import annotations

import json
import logging
import random
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli

from instructkit.clean.dedup import DedupConfig, dedup, pair_finder
from instructkit.select.qdit.greedi import selector
from instructkit.records import Example

pytestmark = pytest.mark.slow

WORDS = ("river stone cloud garden number planet violin kitchen ladder engine poem forest market "
         "bridge winter mirror candle harbor desert signal").split()


def texts_for(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    return [f"Write about the {rng.choice(WORDS)} and the {rng.choice(WORDS)} in {rng.randint(2, 9)} lines "
            + " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 30))) for _ in range(n)]


def planted_examples(seed: int = 0) -> list[Example]:
    """Base texts plus near copies (one word changed) and exact copies."""
    rng = random.Random(seed)
    base = texts_for(seed, 300)
    exs = [Example(t, output=f"answer {i}") for i, t in enumerate(base)]
    for i in rng.sample(range(300), 80):
        w = base[i].split()
        w[rng.randrange(len(w))] = rng.choice(WORDS)
        exs.append(Example(" ".join(w), output=f"answer {i}"))
    exs += [Example(base[i], output=f"answer {i}") for i in rng.sample(range(300), 20)]
    rng.shuffle(exs)
    return exs


@pytest.fixture(scope="module")
def ray_address(tmp_path_factory):
    import os

    import ray

    from instructkit.executors.ray_exec import runtime_env

    old = os.environ.get("INSTRUCTKIT_CACHE")
    os.environ["INSTRUCTKIT_CACHE"] = str(tmp_path_factory.mktemp("raycache"))  # workers' caches start empty
    ray.init(num_cpus=2, include_dashboard=False, runtime_env=runtime_env(), logging_level=logging.WARNING,
             log_to_driver=False)
    # helpers defined here travel by value (workers cannot import this test module)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        if old is None:
            os.environ.pop("INSTRUCTKIT_CACHE", None)
        else:
            os.environ["INSTRUCTKIT_CACHE"] = old


@pytest.fixture(scope="module")
def ray_exec(ray_address):
    from instructkit.executor import get_executor

    ex = get_executor("ray")
    yield ex
    ex.close()


@pytest.mark.parametrize("verify", ["estimate", "exact"])
def test_minhash_band_bucketing_equals_local(ray_exec, verify):
    exs = planted_examples()
    a = dedup(exs, DedupConfig(method="minhash", verify=verify))
    b = dedup(exs, DedupConfig(method="minhash", verify=verify), finder=pair_finder(ray_exec, "minhash"))
    assert len(a.dropped) >= 60  # the planted copies are found ...
    assert np.array_equal(a.labels, b.labels) and np.array_equal(a.rep, b.rep)  # ... the same ones
    assert np.allclose(a.similarity, b.similarity)
    assert a.info["candidate_pairs"] == b.info["candidate_pairs"] > 0
    assert b.info["ray"]["partitions"] == 4


def test_dedup_cli_ray_equals_local(ray_address, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(e.to_dict()) + "\n" for e in planted_examples(5)))
    outs = {}
    for name, extra in (("local", []), ("ray", ["--executor", "ray", "--ray-address", ray_address])):
        res = run_cli("dedup", src, "--out", tmp_path / name, "--quiet", *extra)
        assert res.returncode == 0, res.stderr[-2000:]
        outs[name] = {f: sorted((tmp_path / name / f).read_text().splitlines())
                      for f in ("kept.jsonl", "groups.jsonl", "dropped.jsonl")}
    assert outs["ray"] == outs["local"]
    assert len(outs["local"]["dropped.jsonl"]) >= 60
    manifest = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert manifest["details"]["executor"]["executor"] == "ray"


def _kill_when(match: str, ready, killed: list[int], timeout: float = 150) -> None:
    """SIGKILL the first process whose title contains ``match`` once ``ready()`` says the stage is under way."""
    import os
    import signal
    import time

    import psutil

    deadline = time.time() + timeout
    while time.time() < deadline:
        if ready():
            for p in psutil.process_iter(["pid", "cmdline"]):
                if match in " ".join(p.info["cmdline"] or []):
                    os.kill(p.info["pid"], signal.SIGKILL)
                    killed.append(p.info["pid"])
                    return
        time.sleep(0.1)


def test_embedding_actor_killed_mid_stage(ray_exec, monkeypatch):
    """Embeddings as ``map_batches`` over model-holding actors equal the local ones, even when an
    embedding actor is killed after some batches are done: Ray restarts it and retries its
    batch; every row comes back exactly once (``_gather_rows`` checks) with the local vectors."""
    import os
    import sqlite3
    import threading
    from pathlib import Path

    from instructkit.embed import embed_texts
    from instructkit.executors import ray_exec as rx

    monkeypatch.setattr(rx, "EMBED_BATCH", 4)
    texts = texts_for(11, 120)
    db = Path(os.environ["INSTRUCTKIT_CACHE"]) / "embeddings.sqlite"
    before = sqlite3.connect(db).execute("SELECT COUNT(*) FROM vectors").fetchone()[0] if db.exists() else 0
    done_at_kill: list[int] = []

    def some_batches_done() -> bool:
        if not db.exists():
            return False
        try:
            n = sqlite3.connect(db, timeout=30).execute("SELECT COUNT(*) FROM vectors").fetchone()[0] - before
        except sqlite3.OperationalError:  # the file exists but a worker has not created the table yet
            return False
        done_at_kill[:] = [n]
        return n >= 8

    killed: list[int] = []
    t = threading.Thread(target=_kill_when, args=("EmbedActor", some_batches_done, killed))
    t.start()
    got = ray_exec.embed(texts)
    t.join()
    assert killed, "no embedding actor was found to kill"
    assert 8 <= done_at_kill[0] < len(texts)  # killed mid-stage, not before or after
    assert got.shape == (len(texts), 384)
    # the same vectors as computed here, in input order (not read back from the workers' cache)
    assert np.abs(got - embed_texts(texts, cache=False)).max() < 1e-4
    assert ray_exec.describe()["workers"] == 2


def _ask(spec: str, cache_path: str, gate, prompt: str) -> tuple[str, bool]:
    import asyncio

    from instructkit.executors.ray_llm import worker_llm

    llm = worker_llm(spec, cache_path, gate)
    comp = asyncio.run(llm.chat([{"role": "user", "content": prompt}], max_tokens=12, template="ray-test-v1"))
    return comp.text, comp.cached


def test_llm_gate_one_paid_call_per_prompt_and_global_limit(ray_exec, tmp_path):
    """Workers racing on one prompt pay for it once; different prompts never exceed the limit."""
    import ray

    from instructkit.executors.ray_llm import make_gate

    cache = str(tmp_path / "cache.sqlite")
    gate = make_gate(concurrency=1)
    ask = ray.remote(_ask).options(num_cpus=1)
    same = ray.get([ask.remote("local", cache, gate, "Name one colour.") for _ in range(4)])
    assert len({text for text, _ in same}) == 1
    assert sum(not cached for _, cached in same) == 1  # one paid call, three cache answers
    prompts = [f"Name one {w}." for w in ("fruit", "animal", "tool", "city")]
    ray.get([ask.remote("local", cache, gate, p) for p in prompts])
    stats = ray.get(gate.stats.remote())
    assert stats["acquired"] == 5 and stats["max_in_flight"] == 1 and stats["in_flight"] == 0
    ray.kill(gate)


GLAN_TAXONOMY = "Natural Sciences:\n  Physical Sciences: [Chemistry]\n"
GLAN_ARGS = ["--subject-samples", "1", "--max-subjects", "1", "--max-sessions", "4", "--questions-per-syllabus", "2",
             "--max-tokens", "96", "--model", "local", "--seed", "3", "--quiet"]
GLAN_STREAMS = ("subjects_raw", "subjects_extracted", "syllabi_raw", "syllabi", "questions", "answers", "examples")


def _records(path) -> list[str]:
    return sorted(path.read_text().splitlines()) if path.exists() else []


def test_glan_per_node_calls_on_ray_equal_local(ray_address, tmp_path):
    tax = tmp_path / "tax.yaml"
    tax.write_text(GLAN_TAXONOMY)
    runs = {"local": ["--concurrency", "1"],
            "ray": ["--concurrency", "2", "--executor", "ray", "--ray-address", ray_address]}
    for name, extra in runs.items():
        res = run_cli("glan", "--out", tmp_path / name, "--taxonomy", tax, *GLAN_ARGS, *extra)
        assert res.returncode == 0, res.stderr[-2000:]
    for stream in GLAN_STREAMS:  # the same node ids and records, whatever order they arrived in
        local = _records(tmp_path / "local" / f"{stream}.jsonl")
        assert local, f"{stream} is empty"
        assert _records(tmp_path / "ray" / f"{stream}.jsonl") == local, stream
    man = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert man["executor"]["executor"] == "ray"
    assert man["usage"]["calls"] == json.loads((tmp_path / "local" / "manifest.json").read_text())["usage"]["calls"]


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DYN_SOURCES = [str(EXAMPLES / n) for n in ("news_topics", "squad_mini", "sentence_pairs")]
DYN_ARGS = ["--rows", "6", "--modes", "aware", "--quiet"]
DYN_FILES = ("tasks.jsonl", "instances.jsonl", "rejected.jsonl", "datasets.jsonl")


@pytest.fixture(scope="module")
def dynosaur_local(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dynlocal") / "local"
    res = run_cli("dynosaur", *DYN_SOURCES, "--out", out, "--concurrency", "1", *DYN_ARGS)
    assert res.returncode == 0, res.stderr[-2000:]
    return out


def test_dynosaur_on_ray_driver_killed_then_resumed_equals_local(ray_address, dynosaur_local, tmp_path):
    """The CLI driver (on Ray) is SIGKILLed after its first committed dataset; re-running the same
    command resumes the run directory and ends with the uninterrupted local run's files."""
    import os
    import signal
    import subprocess
    import time

    from conftest import cli_env

    out = tmp_path / "ray"
    cmd = [sys.executable, "-m", "instructkit", "dynosaur", *DYN_SOURCES, "--out", str(out), "--concurrency", "2",
           *DYN_ARGS, "--executor", "ray", "--ray-address", ray_address]
    proc = subprocess.Popen(cmd, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    done_at_kill = 0
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline:
        done_at_kill = len(_records(out / "datasets.jsonl"))
        if done_at_kill >= 1:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait(timeout=60)
    assert 1 <= done_at_kill < len(DYN_SOURCES), f"killed after {done_at_kill} datasets"
    res = run_cli(*cmd[3:])
    assert res.returncode == 0, res.stderr[-2000:]
    for name in DYN_FILES:
        assert _records(out / name) == _records(dynosaur_local / name), name
    assert len(_records(out / "instances.jsonl")) > 0
    man = json.loads((out / "manifest.json").read_text())
    assert man["executor"]["executor"] == "ray" and man["status"] == "complete"


def test_dynosaur_worker_killed_mid_stage(ray_exec, dynosaur_local, tmp_path):
    """A worker running a dataset task is SIGKILLed while the stage runs: Ray retries the task, the
    driver commits each dataset once, and the files equal the uninterrupted local run's."""
    import sqlite3
    import threading

    from instructkit.generate.dynosaur.pipeline import DynosaurConfig
    from instructkit.generate.dynosaur.run import run_dynosaur
    from instructkit.sources import load_source

    cards = [c for s in DYN_SOURCES for c in load_source(s, rows=6)]
    out = tmp_path / "killed"
    ray_exec.lease_s = 4.0  # a killed holder's gate slot frees quickly
    ray_exec._gate = None

    def under_way() -> bool:
        db = out / "cache.sqlite"
        if not db.exists():
            return False
        try:
            return sqlite3.connect(db, timeout=30).execute("SELECT COUNT(*) FROM responses").fetchone()[0] >= 1
        except sqlite3.OperationalError:
            return False

    killed: list[int] = []
    t = threading.Thread(target=_kill_when, args=("_dataset_task", under_way, killed))
    t.start()
    man = run_dynosaur(cards, out, model="local", cfg=DynosaurConfig(modes=("aware",)), concurrency=2,
                       executor=ray_exec)
    t.join()
    assert killed, "no dataset task was running to kill"
    assert not (man.get("this_run") or {}).get("failed_datasets")
    for name in DYN_FILES:
        got = _records(out / name)
        ids = [json.loads(r)["id"] for r in got]
        assert len(ids) == len(set(ids)), f"duplicates in {name}"
        assert got == _records(dynosaur_local / name), name


def clustered_pool(n: int, seed: int = 0, dim: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(40, dim)).astype(np.float32)
    X = centers[rng.integers(0, 40, size=n)] + 0.7 * rng.normal(size=(n, dim)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X, rng.gamma(2.0, 1.0, size=n)


def test_greedi_qdit_objective_vs_single_machine(ray_exec):
    from instructkit.select.qdit.select import qdit_select

    X, q = clustered_pool(6000)
    single = qdit_select(X, q, 60, alpha=0.7, seed=0)
    greedi = selector(ray_exec, 4)(X, q, 60, alpha=0.7, seed=0)
    assert greedi.stats["greedi"]["partitions"] == 4 and greedi.stats["greedi"]["union"] > 60
    assert len(set(greedi.indices)) == 60
    assert greedi.objective >= 0.95 * single.objective, (greedi.objective, single.objective)
    # a pool that fits one partition is exactly single-machine QDIT
    one = selector(ray_exec)(X[:2000], q[:2000], 30, alpha=0.7, seed=0)
    assert one.indices == qdit_select(X[:2000], q[:2000], 30, alpha=0.7, seed=0).indices


def test_select_qdit_cli_on_ray_equals_local(ray_address, tmp_path):
    """Judge scores as map_batches actors behind the gate, embeddings as map_batches, selection."""
    rng = random.Random(4)
    src = tmp_path / "pool.jsonl"
    rows = [Example(t, output=rng.choice(["Yes.", "Here are the lines: " + t[-40:], "No idea"]))
            for t in texts_for(21, 24)]
    src.write_text("".join(json.dumps(e.to_dict()) + "\n" for e in rows))
    args = ["select", "qdit", src, "--k", "6", "--quality", "judge", "--model", "local", "--quiet"]
    for name, extra in (("local", []), ("ray", ["--executor", "ray", "--ray-address", ray_address])):
        # the local run caches scores and vectors elsewhere: the Ray workers must compute their own
        res = run_cli(*args, "--out", tmp_path / name, *extra, env={"INSTRUCTKIT_CACHE": str(tmp_path / f"c-{name}")})
        assert res.returncode == 0, res.stderr[-2000:]
    sel = {name: [json.loads(x) for x in (tmp_path / name / "selected.jsonl").read_text().splitlines()]
           for name in ("local", "ray")}
    assert [r["id"] for r in sel["ray"]] == [r["id"] for r in sel["local"]]
    for a, b in zip(sel["ray"], sel["local"]):
        assert a["meta"]["qdit"]["rank"] == b["meta"]["qdit"]["rank"]
        assert a["meta"]["qdit"]["quality"] == b["meta"]["qdit"]["quality"]
        assert abs(a["meta"]["qdit"]["gain"] - b["meta"]["qdit"]["gain"]) < 1e-5
    summary = json.loads((tmp_path / "ray" / "summary.json").read_text())
    assert summary["executor"]["executor"] == "ray"
    man = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert man["usage"]["calls"] == json.loads((tmp_path / "local" / "manifest.json").read_text())["usage"]["calls"] > 0
