"""Executor choice without a cluster: flags, lazy Ray import, the LLM gate's rules, bucketing = local."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import numpy as np
import pytest

from conftest import cli_env

from instructkit.clean import minhash as mh
from instructkit.errors import UserError
from instructkit.executor import check_executor, get_executor
from instructkit.executors.ray_llm import LLMGate
from instructkit.clean.ray_minhash import _bucket_partition, _signature_block


def test_help_does_not_import_ray(cli):
    code = ("import sys; import instructkit.cli; "
            "bad = sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')); print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=cli_env())
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    res = cli("--help")
    assert res.returncode == 0 and "dedup" in res.stdout
    trace = subprocess.run([sys.executable, "-X", "importtime", "-m", "instructkit", "dedup", "--help"],
                           capture_output=True, text=True, env=cli_env())
    assert trace.returncode == 0 and "--executor" in trace.stdout
    imported = [line.rsplit("|", 1)[-1].strip() for line in trace.stderr.splitlines() if "|" in line]
    assert imported and not [m for m in imported if m == "ray" or m.startswith("ray.")]


def test_bad_executor_flags(cli, tmp_path):
    data = tmp_path / "x.jsonl"
    data.write_text('{"instruction": "a"}\n')
    res = cli("dedup", str(data), "--out", str(tmp_path / "o"), "--executor", "spark")
    assert res.returncode == 2
    assert "--executor 'spark' not understood" in res.stderr and "Traceback" not in res.stderr
    res = cli("dedup", str(data), "--out", str(tmp_path / "o"), "--ray-address", "127.0.0.1:1")
    assert res.returncode == 2 and "--ray-address is only used with --executor ray" in res.stderr
    assert not (tmp_path / "o").exists()
    with pytest.raises(UserError):
        check_executor("dask")
    assert get_executor("local").name == "local"


def test_bucketing_partitions_give_the_single_machine_candidates():
    rng = np.random.default_rng(3)
    texts = [" ".join(rng.choice(["ka", "lo", "mi", "nu", "pe", "ra"], size=12)) for _ in range(700)]
    texts += texts[:50]  # exact copies always share every bucket
    bands, rows, parts = 16, 4, 3
    hashes, owner = mh.shingle_hashes(texts, "word", 3)
    sig = mh.MinHasher(64, seed=5).signatures(hashes, owner, len(texts))
    expected = mh.candidate_pairs(sig, bands, rows)
    # three uneven blocks mapped separately, then reduced per partition
    cuts = [0, 123, 500, len(texts)]
    outs = [_signature_block(texts[a:b], a, "word", 3, 64, 5, bands, rows, parts) for a, b in zip(cuts, cuts[1:])]
    assert np.array_equal(np.concatenate([o[0] for o in outs]), sig)  # signatures do not depend on blocks
    found = [_bucket_partition(*[o[1 + p] for o in outs]) for p in range(parts)]
    got = mh.unique_pairs(np.concatenate(found), len(texts))
    assert len(expected) > 50
    assert np.array_equal(got, expected)


def test_gate_limits_in_flight_calls_and_shares_same_key():
    async def go():
        gate = LLMGate(concurrency=2, lease_s=30)
        assert await gate.acquire("k1", "a") == "go"
        assert await gate.acquire("k2", "b") == "go"
        third = asyncio.ensure_future(gate.acquire("k3", "c"))   # no slot left
        same = asyncio.ensure_future(gate.acquire("k1", "d"))    # k1 is being computed by "a"
        await asyncio.sleep(0.05)
        assert not third.done() and not same.done()
        await gate.release("k1", "a")
        assert await asyncio.wait_for(same, 2) == "done"         # read the cache, do not pay again
        assert await asyncio.wait_for(third, 2) == "go"
        stats = await gate.stats()
        assert stats["max_in_flight"] == 2 and stats["waited_on_same_key"] == 1

    asyncio.run(go())


def test_gate_frees_a_dead_holders_slot_after_its_lease():
    async def go():
        gate = LLMGate(concurrency=1, lease_s=0.3)
        assert await gate.acquire("k", "dead") == "go"   # this holder never renews nor releases
        t0 = asyncio.get_running_loop().time()
        verdict = await asyncio.wait_for(gate.acquire("k", "retry"), 5)
        # it waited on the dead holder's key, the lease expired, and the cache then decides
        assert verdict == "done" and asyncio.get_running_loop().time() - t0 >= 0.25
        assert await asyncio.wait_for(gate.acquire("k", "retry"), 5) == "go"
        assert (await gate.stats())["expired_leases"] == 1

    asyncio.run(go())


@pytest.mark.parametrize("command", [["dynosaur"], ["glan"], ["select", "qdit"], ["dedup"]])
def test_every_heavy_command_offers_the_executor(cli, command):
    res = cli(*command, "--help")
    assert res.returncode == 0
    assert "--executor" in res.stdout and "--ray-address" in res.stdout


def test_partitions_need_ray(cli, tmp_path):
    data = tmp_path / "x.jsonl"
    data.write_text('{"instruction": "a"}\n{"instruction": "b"}\n')
    res = cli("select", "qdit", str(data), "--k", "1", "--out", str(tmp_path / "o"), "--partitions", "2")
    assert res.returncode == 2 and "--partitions is only used with --executor ray" in res.stderr
    assert not (tmp_path / "o").exists()
