"""A two-node Ray cluster on 127.0.0.1 (a head and a second node, each started with ``ray start``).

Each node has one CPU, so the two embedding actors can only run one per node: the stage passes
only if work really crosses nodes. The drivers are CLI processes joining with ``--ray-address``
(this test process never joins: one Ray session per process keeps Ray Data's state clean).
Cleanup stops exactly the processes this test started (by pid, never ``ray stop``, which would
stop every Ray on the machine).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import cli_env, run_cli

from instructkit.clean.dedup import DedupConfig, dedup

pytestmark = pytest.mark.slow

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ours(temp_dir: str) -> list[int]:
    """Pids of Ray processes whose command line names our private temp dir."""
    import psutil

    pids = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            if any(temp_dir in part for part in (p.info["cmdline"] or [])):
                pids.append(p.info["pid"])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return pids


@pytest.fixture
def two_nodes():
    temp_dir = tempfile.mkdtemp(prefix="ikray", dir="/tmp")  # short: Ray's socket paths must stay < 108 chars
    port = free_port()
    # a private cluster bound to 127.0.0.1: no token (the head, the node, this driver and the CLI agree)
    old_mode = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    env = cli_env({"RAY_USAGE_STATS_ENABLED": "0"})
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--disable-usage-stats", "--block"]
    procs = [subprocess.Popen([RAY, "start", "--head", "--port", str(port), "--include-dashboard", "false",
                               "--temp-dir", temp_dir, *common], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:  # the head answers before the second node may join
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert time.time() < deadline, "ray head did not start in 90 s"
                assert procs[0].poll() is None, "ray start --head exited"
                time.sleep(0.5)
        procs.append(subprocess.Popen([RAY, "start", "--address", address, "--temp-dir", temp_dir, *common],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        probe = ("import ray; ray.init(address=%r, logging_level=40); "
                 "print(sum(1 for n in ray.nodes() if n.get('Alive')))" % address)
        while True:
            out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
            if out.stdout.strip().splitlines()[-1:] == ["2"]:
                break
            assert time.time() < deadline, "the second ray node did not join in 90 s"
            assert procs[1].poll() is None, "ray start --address exited"
            time.sleep(1)
        yield address
    finally:
        for p in reversed(procs):  # `ray start --block` stops its node's processes on SIGTERM
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=8)
            except subprocess.TimeoutExpired:
                p.kill()
        for pid in _ours(temp_dir):  # anything left behind under our temp dir
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(temp_dir, ignore_errors=True)
        if old_mode is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = old_mode


def test_two_node_cluster_runs_stages_like_local(two_nodes, tmp_path):
    from test_ray_stages import planted_examples, texts_for

    from instructkit.records import Example

    # embeddings (map_batches, two one-CPU actors: one per node) and selection, through the CLI
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps(Example(t).to_dict()) + "\n" for t in texts_for(7, 48)))
    picked = {}
    for name, extra in (("local", []), ("ray", ["--executor", "ray", "--ray-address", two_nodes])):
        res = run_cli("select", "qdit", pool, "--k", "8", "--alpha", "0", "--quiet", "--out", tmp_path / f"q-{name}",
                      *extra, env={"INSTRUCTKIT_CACHE": str(tmp_path / f"c-{name}")})
        assert res.returncode == 0, res.stderr[-2000:]
        picked[name] = [json.loads(x)["id"] for x in (tmp_path / f"q-{name}" / "selected.jsonl").read_text().splitlines()]
    assert len(picked["local"]) == 8 and picked["ray"] == picked["local"]
    described = json.loads((tmp_path / "q-ray" / "manifest.json").read_text())["executor"]
    assert described["nodes"] == 2 and described["workers"] == 2

    # MinHash band bucketing across the two nodes
    exs = planted_examples(3)
    a = dedup(exs, DedupConfig(method="minhash"))
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(e.to_dict()) + "\n" for e in exs))
    res = run_cli("dedup", src, "--out", tmp_path / "ray", "--quiet", "--executor", "ray",
                  "--ray-address", two_nodes)
    assert res.returncode == 0, res.stderr[-2000:]
    kept = [json.loads(line)["id"] for line in (tmp_path / "ray" / "kept.jsonl").read_text().splitlines()]
    assert len(a.dropped) >= 60 and sorted(kept) == sorted(exs[i].id for i in a.kept)
    manifest = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert manifest["details"]["executor"]["nodes"] == 2
