"""Benchmark of ``instructkit view`` on a synthetic 1M-record run directory (not a timed test).

Writes DIR/manifest.json, DIR/instances.jsonl (N Dynosaur-shaped examples over 20 datasets and
2,000 tasks) and DIR/rejected.jsonl, then measures:

* index build: ``instructkit view DIR --port 0`` until it prints its URL (first start), and again
  with the index already built (second start);
* response times of the server over HTTP: overview, first page of records, a rare and a common
  word search, a filter, a filter + search, a deep page, a record's detail;
* the server's memory (VmRSS now, VmHWM peak) and the index's size on disk.

    python benchmarks/view_bench.py --n 1000000 --dir /tmp/view-bench
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORDS = ("river market energy policy player season market court vaccine planet galaxy protein engine "
         "election budget harvest museum bridge violin glacier desert orbit enzyme tariff league").split()


def make_run(d: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    d.mkdir(parents=True, exist_ok=True)
    (d / "manifest.json").write_text(json.dumps({"command": "dynosaur", "status": "complete",
                                                 "counts": {"instances": n}, "config": {"synthetic": True}}))
    with open(d / "instances.jsonl", "w") as f:
        for i in range(n):
            ds, task = f"dataset_{i % 20}", f"task{(i * 7919) % 2000:05d}"
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 45)))
            if i % 100_000 == 7:
                text += " zanzibarite"  # a rare word: 10 hits in 1M
            kind = "classification" if (i * 7919) % 2000 < 600 else "generation"
            f.write(json.dumps({"id": f"{i:012x}", "instruction": f"Summarise this {ds} text in one line.",
                                "input": text, "output": rng.choice(WORDS) if kind == "classification" else text[:80],
                                "meta": {"method": "dynosaur", "dataset": ds, "split": "train", "row": i,
                                         "task_id": task, "kind": kind}}) + "\n")
    with open(d / "rejected.jsonl", "w") as f:
        for i in range(n // 100):
            f.write(json.dumps({"id": f"r{i}", "item_id": f"p{i}", "stage": "task",
                                "reason": ["duplicate_instruction", "bad_label", "too_few_rows"][i % 3]}) + "\n")


def start(run: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "instructkit", "view", str(run), "--port", "0"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        m = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        if m:
            return proc, m.group(1), time.perf_counter() - t0
    raise SystemExit(f"viewer did not start: {proc.stderr.read()[-2000:]}")


def timed_get(url: str, repeat: int = 5) -> tuple[float, int]:
    """Median seconds of ``repeat`` GETs (after one warm-up) and the page size."""
    urllib.request.urlopen(url).read()
    times, size = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        body = urllib.request.urlopen(url).read()
        times.append(time.perf_counter() - t0)
        size = len(body)
    return sorted(times)[len(times) // 2], size


def memory(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            out[k] = int(v.split()[0]) / 1024
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/view-bench"))
    args = ap.parse_args()
    run, cache = args.dir / f"run-{args.n}", args.dir / "cache"
    env = {**os.environ, "INSTRUCTKIT_CACHE": str(cache), "PYTHONPATH": str(ROOT / "src")}
    if not (run / "instances.jsonl").exists():
        t0 = time.perf_counter()
        make_run(run, args.n)
        print(f"wrote {args.n:,} records ({(run / 'instances.jsonl').stat().st_size / 2**20:,.0f} MiB) "
              f"in {time.perf_counter() - t0:.0f} s")
    for f in (cache / "view").glob("*.sqlite"):
        f.unlink()  # measure a first start
    proc, url, first = start(run, env)
    report = {"records": args.n, "jsonl_mib": round((run / "instances.jsonl").stat().st_size / 2**20),
              "first_start_s (index build)": round(first, 1)}
    try:
        cases = {"overview": "r/0/", "records page 1": "r/0/records",
                 "search rare word (10 hits)": "r/0/records?q=zanzibarite",
                 "search common word": "r/0/records?q=glacier",
                 "search two words": "r/0/records?q=glacier+violin",
                 "filter dataset": "r/0/records?dataset=dataset_7",
                 "filter task + kind": "r/0/records?task=task00042&kind=classification",
                 "filter + search": "r/0/records?dataset=dataset_7&q=orbit",
                 f"page {args.n // 100:,}": f"r/0/records?page={args.n // 100}",
                 "record detail": f"r/0/record/{args.n * 2 // 3}",
                 "rejected": "r/0/rejected"}
        for name, path in cases.items():
            s, size = timed_get(url + path)
            report[f"{name} (ms)"] = round(s * 1000, 1)
        report.update({f"server {k} (MiB)": round(v) for k, v in memory(proc.pid).items()})
        idx = next((cache / "view").glob("*.sqlite"))
        report["index_mib"] = round(idx.stat().st_size / 2**20)
    finally:
        proc.terminate()
        proc.wait()
    proc, url, second = start(run, env)
    report["second_start_s (index reused)"] = round(second, 2)
    report["load average (1 min) at the end"] = round(os.getloadavg()[0], 1)
    report["cpus"] = os.cpu_count()
    proc.terminate()
    proc.wait()
    report.update(marks_cost(run, cache))
    print(json.dumps(report, indent=1))


def marks_cost(run: Path, cache: Path) -> dict[str, float]:
    """What marking the search words costs a records page, side by side in this process: the same
    query on the same index with the marks, then without (median of 15 each, ms); and the ratio."""
    import statistics

    os.environ["INSTRUCTKIT_CACHE"] = str(cache)
    sys.path.insert(0, str(ROOT / "src"))
    from instructkit.view import extract, pages
    from instructkit.view.load import open_run_index

    idx = open_run_index(run)
    real, out = extract.query_tokens, {}
    try:
        for word in ("zanzibarite", "glacier"):
            ms = {}
            for marks in (True, False):
                extract.query_tokens = real if marks else (lambda text: [])
                times = []
                for _ in range(15):
                    t0 = time.perf_counter()
                    pages.records(idx, {"q": word})
                    times.append((time.perf_counter() - t0) * 1000)
                ms[marks] = statistics.median(times)
            out[f"records page q={word}: with marks / without (ms)"] = f"{ms[True]:.1f} / {ms[False]:.1f}"
            out[f"records page q={word}: marks ratio"] = round(ms[True] / ms[False], 2)
    finally:
        extract.query_tokens = real
        idx.close()
    return out


if __name__ == "__main__":
    main()
