"""The door's own cost per call, with no model in the way: bare httpx vs ``open_model("openai:...")``
against an in-process HTTP server that answers every chat request at once with the same body.

    python benchmarks/door_overhead.py --calls 200 --concurrency 8 [--profile]

Prints milliseconds per call for the bare client, the door without a cache and the door with a fresh
SQLite cache (all misses); the differences are what the door adds (the OpenAI SDK's request building
and response parsing, the limiter, the cache write, the ledger). ``--profile`` prints cProfile's top
entries for the cached door.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from instructkit.llm import open_model  # noqa: E402

ANSWER = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                     "choices": [{"index": 0, "message": {"role": "assistant", "content": "word " * 32},
                                  "finish_reason": "length"}],
                     "usage": {"prompt_tokens": 40, "completion_tokens": 32, "total_tokens": 72}}).encode()


async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """HTTP/1.1 keep-alive: read a request (headers + Content-Length body), send the fixed answer."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            size = next((int(h.split(b":")[1]) for h in head.split(b"\r\n")
                         if h.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(size)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
                         % len(ANSWER) + ANSWER)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        writer.close()


async def bare(url: str, n: int, c: int) -> float:
    sem = asyncio.Semaphore(c)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=max(c, 10))) as client:
        async def one(i: int) -> None:
            async with sem:
                r = await client.post(url + "/chat/completions", json={
                    "model": "m", "messages": [{"role": "user", "content": f"bare {i}"}], "max_tokens": 32})
                r.json()["usage"]["completion_tokens"]
        t0 = time.perf_counter()
        await asyncio.gather(*[one(i) for i in range(n)])
        return time.perf_counter() - t0


async def door(url: str, n: int, c: int, cache: Path | None, profile: bool) -> float:
    llm = open_model(f"openai:m@{url}", cache=cache, concurrency=c)
    await llm.chat([{"role": "user", "content": "warm-up"}], max_tokens=32)  # client creation, imports
    prof = cProfile.Profile() if profile else None
    if prof:
        prof.enable()
    t0 = time.perf_counter()
    await asyncio.gather(*[llm.chat([{"role": "user", "content": f"door {i}"}], max_tokens=32) for i in range(n)])
    secs = time.perf_counter() - t0
    if prof:
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)
    await llm.aclose()
    return secs


async def main(n: int, c: int, profile: bool) -> None:
    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    await bare(url, 10, c)  # warm-up
    with tempfile.TemporaryDirectory() as d:
        results = {"bare httpx": await bare(url, n, c),
                   "door, no cache": await door(url, n, c, None, False),
                   "door, fresh cache": await door(url, n, c, Path(d) / "cache.sqlite", profile)}
    server.close()
    base = results["bare httpx"]
    for name, secs in results.items():
        print(f"{name:18s} {1000 * secs / n:7.2f} ms/call   (+{1000 * (secs - base) / n:.2f} ms over bare)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args()
    asyncio.run(main(a.calls, a.concurrency, a.profile))
