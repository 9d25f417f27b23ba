"""Local vs Ray (1 and 2 worker processes) on embeddings, MinHash dedup and QDIT, side by side.

Data: N synthetic instruction records (random words, 30-60 per record, 10% planted near-copies).

* **embeddings**: MiniLM (bundled) through ``executor.embed`` on the first ``--embed-n`` texts
  (default 2,000: MiniLM on this shared 2-core machine embeds a few dozen of these texts a second,
  so 200K would take over an hour per configuration); caches are fresh for every configuration, so nothing is
  read back from an earlier run.
* **MinHash dedup**: all N records, ``dedup(method="minhash")`` (word 3-grams, 128 permutations,
  threshold 0.7); the Ray side uses the distributed band bucketing. The groups must be identical.
* **QDIT**: N clustered synthetic unit embeddings (384-d: running MiniLM over 200K texts is the
  embedding stage's job, timed above), quality scores, k picks, the same engine on both sides
  (``--engine``, default approx: the exact blocked engine takes minutes per 25K part on 2 cores).
  Local = single-machine ``qdit_select``; Ray = GreeDi over ``--partitions`` parts. Objectives are
  printed side by side.

Each configuration runs in its own process (a fresh Ray per configuration); Ray's start-up is
timed separately from the stages. Printed: wall times, Ray's overhead at 1 worker (ray1/local)
and the speed-up from 1 to 2 workers (ray1/ray2).

    python benchmarks/ray_bench.py                       # 200K records, 2K embedded
    python benchmarks/ray_bench.py --n 20000 --embed-n 1000 --k 200
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))


def make_texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    syll = ["ka", "lo", "mi", "nu", "pe", "ra", "so", "ti", "vu", "ze", "ba", "do", "gu", "hi"]
    # sorted: a set's order changes with the process's hash seed, and every configuration runs in
    # its own process but must see the same texts
    vocab = sorted({"".join(rng.choice(syll) for _ in range(rng.randint(1, 3))) for _ in range(20000)})
    n_dup = n // 10
    base = [" ".join(rng.choice(vocab) for _ in range(rng.randint(30, 60))) for _ in range(n - n_dup)]
    texts = list(base)
    for _ in range(n_dup):
        w = rng.choice(base).split()
        w[rng.randrange(len(w))] = rng.choice(vocab)
        texts.append(" ".join(w))
    rng.shuffle(texts)
    return texts


def make_pool(n: int, seed: int, dim: int = 384, clusters: int = 200) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, dim)).astype(np.float32)
    X = centers[rng.integers(0, clusters, size=n)] + 0.6 * rng.normal(size=(n, dim)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X, rng.gamma(2.0, 1.0, size=n)


def run_config(name: str, args: argparse.Namespace) -> dict:
    """One configuration, in this process: returns seconds per stage and the results to compare."""
    from instructkit import ui
    from instructkit.clean.dedup import DedupConfig, dedup, pair_finder
    from instructkit.executor import get_executor
    from instructkit.records import Example
    from instructkit.select.qdit.select import qdit_select

    ui.set_quiet(True)
    out: dict = {"config": name}
    t0 = time.perf_counter()
    ex = get_executor("local") if name == "local" else get_executor("ray", num_cpus=int(name[-1]))
    out["start_s"] = time.perf_counter() - t0
    if name != "local":
        out["workers"] = ex.workers

    texts = make_texts(args.n, args.seed)
    t0 = time.perf_counter()
    vecs = ex.embed(texts[: args.embed_n])
    out["embed_s"] = time.perf_counter() - t0
    out["embed_checksum"] = float(np.abs(vecs).sum())

    exs = [Example(t) for t in texts]
    t0 = time.perf_counter()
    res = dedup(exs, DedupConfig(method="minhash"), finder=pair_finder(ex, "minhash"))
    out["minhash_s"] = time.perf_counter() - t0
    out["minhash_dropped"] = len(res.dropped)
    out["minhash_labels_sum"] = int(res.labels.sum())

    X, q = make_pool(args.n, args.seed)
    t0 = time.perf_counter()
    if name == "local":
        sel = qdit_select(X, q, args.k, alpha=0.7, seed=args.seed, engine=args.engine)
    else:
        from instructkit.select.qdit.greedi import greedi_select

        sel = greedi_select(X, q, args.k, alpha=0.7, seed=args.seed, partitions=args.partitions,
                            workers=ex.workers, engine=args.engine)
    out["qdit_s"] = time.perf_counter() - t0
    out["qdit_objective"] = sel.objective
    out["qdit_engine"] = sel.engine
    ex.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--embed-n", type=int, default=2_000)
    ap.add_argument("--k", type=int, default=200)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--engine", default="approx", help="QDIT engine on both sides (approx: faiss kNN graph)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--configs", default="local,ray1,ray2")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one configuration, print JSON
    args = ap.parse_args()
    if args.one:
        print("RESULT " + json.dumps(run_config(args.one, args)), flush=True)
        return

    results = {}
    for name in args.configs.split(","):
        with tempfile.TemporaryDirectory(prefix="ikbench") as cache:  # fresh embedding cache
            env = dict(os.environ, INSTRUCTKIT_CACHE=cache, PYTHONPATH=str(SRC), RAY_USAGE_STATS_ENABLED="0")
            cmd = [sys.executable, __file__, "--one", name, "--n", str(args.n), "--embed-n", str(args.embed_n),
                   "--k", str(args.k), "--partitions", str(args.partitions), "--seed", str(args.seed),
                   "--engine", args.engine]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode != 0 or not line:
                sys.exit(f"{name} failed:\n{proc.stderr[-3000:]}")
            results[name] = json.loads(line[0][len("RESULT "):])
            print(f"{name}: done in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)

    print(f"\nN={args.n:,} records (embeddings on {args.embed_n:,}), k={args.k}, "
          f"GreeDi partitions={args.partitions}, qdit engine={args.engine}, cores={os.cpu_count()}")
    cols = [c for c in ("local", "ray1", "ray2") if c in results]
    print(f"{'stage':<22}" + "".join(f"{c:>10}" for c in cols) + f"{'ray1/local':>12}{'ray1/ray2':>11}")
    for key, label in (("start_s", "start-up (s)"), ("embed_s", "embeddings (s)"),
                       ("minhash_s", "minhash dedup (s)"), ("qdit_s", "qdit (s)")):
        vals = {c: results[c][key] for c in cols}
        over = vals["ray1"] / vals["local"] if "ray1" in vals and "local" in vals and vals["local"] > 0.05 else None
        speed = vals["ray1"] / vals["ray2"] if "ray1" in vals and "ray2" in vals and vals["ray2"] > 0 else None
        print(f"{label:<22}" + "".join(f"{vals[c]:>10.1f}" for c in cols)
              + (f"{over:>12.2f}" if over else f"{'':>12}") + (f"{speed:>11.2f}" if speed else ""))
    print(f"{'qdit objective':<22}" + "".join(f"{results[c]['qdit_objective']:>10.4f}" for c in cols))
    if "local" in results:
        base = results["local"]
        for c in cols[1:]:
            r = results[c]
            same = (r["minhash_dropped"], r["minhash_labels_sum"]) == (base["minhash_dropped"], base["minhash_labels_sum"])
            print(f"{c}: minhash groups identical to local: {same}; embeddings checksum diff "
                  f"{abs(r['embed_checksum'] - base['embed_checksum']):.2e}; GreeDi objective / local "
                  f"{r['qdit_objective'] / base['qdit_objective']:.4f} ({r['qdit_engine']} vs {base['qdit_engine']})")


if __name__ == "__main__":
    main()
