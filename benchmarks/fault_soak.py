"""Fault soak at the LLM door (issue 19): dynosaur, glan and ``select qdit --quality judge`` through a
proxy that breaks a fraction of requests, against a real llama.cpp server, compared with a fault-free run.

For each command: one clean run and one faulty run (same proxy, so the same model URL and ids); a
faulty run that ends ``partial`` or ``failed`` (exit 3 / 1: items left on model errors) is re-run, faults
still on, as the status line tells a user to, and the re-runs are counted. Then: the records written are equal; every failure was retried or recorded with its kind; and
nothing vanished (dynosaur: proposed = kept + rejected; glan: planned = done + failed + missing
per stage; qdit: every example scored). Prints requests, faults by kind and retries by kind.

    python benchmarks/fault_soak.py --rate 0.2 --seed 7
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from faultproxy import KINDS, FaultProxy  # noqa: E402

from instructkit.llm.llama_server import llama_server  # noqa: E402

TIMEOUT = 30
DOOR = ["--timeout", str(TIMEOUT), "--max-retries", "8", "--concurrency", "2", "--quiet"]


def cli(args: list, out: Path, model: str) -> subprocess.CompletedProcess:
    # a score/embedding cache of its own per run: the faulty run must ask the model, not reuse the clean run's
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), INSTRUCTKIT_THREADS="1", HF_HUB_OFFLINE="1",
               INSTRUCTKIT_CACHE=str(out) + "-cache")
    return subprocess.run([sys.executable, "-m", "instructkit", *map(str, args), "--out", str(out),
                           "--model", model, *DOOR], capture_output=True, text=True, env=env)


def records(out: Path) -> dict[str, list[str]]:
    return {p.name: sorted(p.read_text().splitlines()) for p in sorted(out.glob("*.jsonl"))}


def accounted(name: str, out: Path) -> str:
    """attempted = written + rejected + failed, as each command counts it: the equation, and whether it holds."""
    m = json.loads((out / "manifest.json").read_text())
    if name == "dynosaur":
        c = m["counts"]
        rejected = sum(c["tasks_rejected"].values())
        ok = c["tasks_proposed"] == c["tasks_kept"] + rejected
        return (f"proposed {c['tasks_proposed']} = kept {c['tasks_kept']} + rejected {rejected} "
                f"{dict(c['tasks_rejected'])}: {ok}")
    if name == "glan":
        parts = [f"{k} {s['planned']}={s['done']}+{s['failed']}+{s['missing']}" for k, s in m["stages"].items()]
        ok = all(s["planned"] == s["done"] + s["failed"] + s["missing"] for s in m["stages"].values())
        return f"planned = done + failed + missing per stage ({', '.join(parts)}): {ok}"
    s = json.loads((out / "summary.json").read_text())  # every example rated (or counted unrated), k selected
    ok = sum(s["scores"].values()) == s["pool"] and m["counts"]["selected"] == min(s["requested_k"], s["pool"])
    return f"pool {s['pool']} = rated {s['pool'] - s['scores']['unrated']} + unrated {s['scores']['unrated']}; " \
           f"selected {m['counts']['selected']}: {ok}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--only", default="dynosaur,glan,qdit", help="comma-separated subset to run")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fault-soak-"))
    taxonomy = tmp / "taxonomy.yaml"
    taxonomy.write_text("Natural Sciences:\n  Physical Sciences: [Chemistry, Physics]\n")
    runs = {
        "dynosaur": ["dynosaur", ROOT / "examples" / "sentence_pairs", "--rows", "6", "--max-tasks", "2"],
        "glan": ["glan", "--taxonomy", taxonomy, "--subject-samples", "1", "--max-subjects", "1",
                 "--max-sessions", "4", "--questions-per-syllabus", "3", "--max-tokens", "160", "--seed", "1"],
        "qdit": ["select", "qdit", tmp / "dyn_clean" / "instances.jsonl", "--k", "5", "--quality", "judge"],
    }
    with llama_server(threads=1) as url, FaultProxy(url, rate=0.0, seed=a.seed, hang_s=TIMEOUT + 1) as proxy:
        model = f"openai:smol@{proxy.url}"
        if "qdit" in a.only and "dynosaur" not in a.only:  # qdit reads the clean dynosaur run's instances
            print("dynosaur (input for qdit):", cli(runs["dynosaur"], tmp / "dyn_clean", model).returncode)
        for name, args in runs.items():
            if name not in a.only.split(","):
                continue
            proxy.rate = 0.0
            proxy.counts.clear()
            clean = cli(args, tmp / f"{name[:3]}_clean", model)
            clean_requests = proxy.counts["requests"]
            proxy.rate = a.rate
            proxy.counts.clear()
            faulty = cli(args, tmp / f"{name[:3]}_faulty", model)
            reruns = 0
            while faulty.returncode in (1, 3) and reruns < 3:  # failed/partial on model errors: the re-run
                reruns += 1                                     # retries them (faults still on), as a user would
                faulty = cli(args, tmp / f"{name[:3]}_faulty", model)
            usage = json.loads((tmp / f"{name[:3]}_faulty" / "manifest.json").read_text())["usage"]
            faults = {k: proxy.counts[k] for k in KINDS if proxy.counts[k]}
            before, after = records(tmp / f"{name[:3]}_clean"), records(tmp / f"{name[:3]}_faulty")
            same = before == after
            if not same:  # which files differ, in rows (clean -> faulty)
                same = "False " + str({f: f"{len(before.get(f, []))}->{len(after.get(f, []))}"
                                       for f in sorted({*before, *after}) if before.get(f) != after.get(f)})
            clean_usage = json.loads((tmp / f"{name[:3]}_clean" / "manifest.json").read_text())["usage"]
            print(f"{name}: exit {clean.returncode}/{faulty.returncode}; requests clean {clean_requests}, "
                  f"faulty {proxy.counts['requests']}; faults {sum(faults.values())} {faults}; "
                  f"retries {dict(Counter(usage.get('retries', {})))}; failures {usage.get('failures', {})} "
                  f"(clean run: {clean_usage.get('failures', {})}); "
                  f"re-runs after partial/failed: {reruns}; records equal: {same}; accounting: {accounted(name, tmp / f'{name[:3]}_faulty')}")
            if faulty.returncode:
                print(faulty.stderr[-1500:])
    print(f"run directories in {tmp}")


if __name__ == "__main__":
    main()
