"""Throughput of our OpenAI-compatible client vs a bare asyncio+httpx baseline, side by side.

Starts llama-cpp-python's server on 127.0.0.1 with the bundled SmolLM2 model, then fires the same
requests (same prompts, max_tokens, temperature 0) twice per round, alternating which goes first:

* ``instructkit``: ``open_model("openai:...@url", cache=None, concurrency=C)`` -> ``LLM.chat``
  (semaphore, retries, per-attempt timeout, ledger; cache disabled);
* ``baseline``: ``httpx.AsyncClient`` posting the same JSON bodies with ``asyncio.gather``.

It prints completion tokens/s for both and the ratio (ours / baseline). Note: llama-cpp-python's
server has no parallel slots (it answers one request at a time), so this measures client overhead
at a server-bound rate, not parallel scaling.

    python benchmarks/llm_throughput.py --requests 16 --concurrency 4 --max-tokens 48
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from instructkit.llm import open_model  # noqa: E402
from instructkit.llm.llama_server import llama_server  # noqa: E402

TOPICS = ["rivers", "volcanoes", "bread", "bicycles", "owls", "glaciers", "chess", "tea",
          "lighthouses", "bees", "deserts", "violins", "comets", "maps", "coral", "kites"]


def prompts(n: int) -> list[str]:
    return [f"Write two sentences about {TOPICS[i % len(TOPICS)]} (#{i})." for i in range(n)]


async def ours(url: str, ps: list[str], max_tokens: int, concurrency: int) -> tuple[float, int]:
    llm = open_model(f"openai:smol@{url}", cache=None, concurrency=concurrency, timeout=300, max_retries=2)
    t0 = time.perf_counter()
    try:
        outs = await asyncio.gather(*[llm.chat([{"role": "user", "content": p}], max_tokens=max_tokens,
                                               temperature=0.0) for p in ps])
    finally:
        await llm.aclose()
    return time.perf_counter() - t0, sum(o.completion_tokens for o in outs)


async def baseline(url: str, ps: list[str], max_tokens: int, concurrency: int) -> tuple[float, int]:
    sem = asyncio.Semaphore(concurrency)  # same bound, so both keep the same number in flight
    async with httpx.AsyncClient(timeout=300) as client:
        async def one(p: str) -> int:
            async with sem:
                r = await client.post(url + "/chat/completions", json={
                    "model": "smol", "messages": [{"role": "user", "content": p}], "max_tokens": max_tokens,
                    "temperature": 0.0, "top_p": 1.0, "seed": 0})
                r.raise_for_status()
                return r.json()["usage"]["completion_tokens"]
        t0 = time.perf_counter()
        toks = await asyncio.gather(*[one(p) for p in ps])
    return time.perf_counter() - t0, sum(toks)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=max(1, min(os.cpu_count() or 1, 4)))
    a = ap.parse_args()
    with llama_server(n_ctx=2048, threads=a.threads, logits_all=False) as url:
        ps = prompts(a.requests)
        asyncio.run(baseline(url, ps[:2], 4, 2))  # warm-up: load pages, first-request costs
        totals = {"instructkit": [0.0, 0], "baseline": [0.0, 0]}
        for r in range(a.rounds):
            order = [("instructkit", ours), ("baseline", baseline)]
            for name, fn in (order if r % 2 == 0 else order[::-1]):
                secs, toks = asyncio.run(fn(url, ps, a.max_tokens, a.concurrency))
                totals[name][0] += secs
                totals[name][1] += toks
                print(f"round {r + 1} {name:12s} {toks:5d} tokens in {secs:6.2f}s = {toks / secs:7.1f} tok/s")
        rate = {k: v[1] / v[0] for k, v in totals.items()}
        print(f"\n{a.requests} requests x {a.rounds} rounds, max_tokens={a.max_tokens}, concurrency={a.concurrency}, "
              f"server threads={a.threads} (llama-cpp-python server: one request at a time)")
        print(f"instructkit client: {rate['instructkit']:.1f} completion tok/s")
        print(f"bare httpx baseline: {rate['baseline']:.1f} completion tok/s")
        print(f"ratio (ours / baseline): {rate['instructkit'] / rate['baseline']:.3f}")


if __name__ == "__main__":
    main()
