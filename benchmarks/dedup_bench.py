"""MinHash near-duplicate dedup, side by side: instructkit's batch numpy MinHash vs a datasketch loop.

Data: N synthetic instruction records (random words, 40-60 per record) of which a share are planted
near-copies of another record (1-2 word edits, case and punctuation changes; true Jaccard of the
3-word shingle sets mostly 0.75-0.95, printed). Truth: each copy
belongs to its original's group.

Both sides use the same normalized word 3-gram shingles, the same num_perm and threshold, the
same verification of LSH candidates (estimated Jaccard ≥ threshold) and the same union-find
grouping keeping the first record. Each side uses its own default LSH bands × rows for the
threshold (datasketch: equal false-positive/negative weights; ours leans to recall because it
verifies candidates); ``--same-bands`` gives both datasketch's. Timed: texts in -> groups out.

Scores (against the planted truth): recall = planted copies dropped with a kept twin from their own
group / planted copies; precision = correct drops / all drops.

    python benchmarks/dedup_bench.py                 # 100K records
    python benchmarks/dedup_bench.py --n 20000       # quicker
    python benchmarks/dedup_bench.py --n 0 --long-field-mb 50   # only the long-record memory row

Long-record row (issue 20): 50 short records plus one record whose input is a single field of
``--long-field-mb`` MB of words, deduplicated with the default MinHash settings in a child process
whose peak RSS (``ru_maxrss``) is reported: memory must be bounded by the signature block, not by the
longest record (before the fix: 21.4 GB and 134 s for 50 MB).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from instructkit import ui  # noqa: E402
from instructkit.clean.dedup import LSH_FN_WEIGHT, DedupConfig, dedup  # noqa: E402
from instructkit.clean.groups import components, representatives  # noqa: E402
from instructkit.clean.minhash import lsh_params  # noqa: E402
from instructkit.clean.text import normalize_many  # noqa: E402
from instructkit.records import Example  # noqa: E402


def make_data(n: int, dup_share: float, seed: int) -> tuple[list[str], list[int]]:
    rng = random.Random(seed)
    syll = ["ka", "lo", "mi", "nu", "pe", "ra", "so", "ti", "vu", "ze", "ba", "do", "gu", "hi"]
    vocab = list({"".join(rng.choice(syll) for _ in range(rng.randint(1, 3))) for _ in range(20000)})
    n_dup = int(n * dup_share)
    base = [" ".join(rng.choice(vocab) for _ in range(rng.randint(40, 60))) for _ in range(n - n_dup)]
    texts, group = list(base), list(range(len(base)))
    for _ in range(n_dup):
        g = rng.randrange(len(base))
        w = base[g].split()
        for _ in range(rng.randint(1, 2)):
            k = rng.randrange(len(w))
            op = rng.random()
            if op < 0.4:
                w[k] = rng.choice(vocab)
            elif op < 0.7 and len(w) > 5:
                del w[k]
            else:
                w.insert(k, rng.choice(vocab))
        if rng.random() < 0.5:
            w[0] = w[0].capitalize()
        texts.append(" ".join(w) + rng.choice(["", ".", "?", " !"]))
        group.append(g)
    order = list(range(n))
    rng.shuffle(order)
    return [texts[i] for i in order], [group[i] for i in order]


def run_ours(texts: list[str], num_perm: int, threshold: float, bands: int | None, rows: int | None) -> np.ndarray:
    cfg = DedupConfig(method="minhash", threshold=threshold, fields=["instruction"], num_perm=num_perm,
                      shingle="word:3", bands=bands, rows=rows)
    return dedup([Example(t) for t in texts], cfg).rep


def run_datasketch(texts: list[str], num_perm: int, threshold: float, bands: int | None, rows: int | None) -> np.ndarray:
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)  # its own optimal bands × rows
    sigs: list[MinHash] = []
    pairs: list[tuple[int, int]] = []
    for i, t in enumerate(normalize_many(texts)):  # same normalization and 3-word shingles as ours
        w = t.split()
        shingles = {" ".join(w[k:k + 3]) for k in range(max(1, len(w) - 2))}
        m = MinHash(num_perm=num_perm, seed=1)
        m.update_batch([s.encode("utf-8") for s in shingles])
        for j in lsh.query(m):
            if sigs[j].jaccard(m) >= threshold:
                pairs.append((j, i))
        lsh.insert(i, m)
        sigs.append(m)
    labels = components(len(texts), np.array(pairs, dtype=np.int64).reshape(-1, 2))
    return representatives(labels)


def true_share(texts: list[str], truth: list[int], threshold: float) -> float:
    """Share of planted copies whose exact shingle-set Jaccard with their original reaches threshold."""
    from instructkit.clean.minhash import exact_jaccard, shingle_hashes

    first: dict[int, int] = {}
    pairs = []
    for i, g in enumerate(truth):
        if g in first:
            pairs.append((first[g], i))
        else:
            first[g] = i
    h, o = shingle_hashes(texts, "word", 3)
    sim = exact_jaccard(h, o, len(texts), np.array(pairs, dtype=np.int64).reshape(-1, 2))
    return float((sim >= threshold).mean()) if len(sim) else 1.0


def scores(rep: np.ndarray, truth: list[int]) -> tuple[float, float, int]:
    t = np.array(truth)
    dropped = np.flatnonzero(rep != np.arange(len(rep)))
    right = int((t[dropped] == t[rep[dropped]]).sum())
    planted = len(t) - len(set(truth))
    return right / planted, (right / len(dropped) if len(dropped) else 1.0), len(dropped)


def long_field_child(mb: float, method: str = "minhash") -> None:
    """In a fresh process: dedup 50 short records + one ``mb``-MB field; print peak RSS and time as JSON.

    ``data_rss_mb`` is the peak RSS once the records are built (before dedup): what the data itself costs.
    """
    import json
    import resource

    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(5000)]
    words, size = [], 0
    while size < mb * 1e6:
        w = rng.choice(vocab)
        words.append(w)
        size += len(w) + 1
    exs = [Example(f"short record {i} about things", "", "ok") for i in range(50)]
    exs.append(Example("long", " ".join(words), "x"))
    del words
    ui.set_quiet(True)
    data_rss = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    t0 = time.perf_counter()
    res = dedup(exs, DedupConfig(method=method))
    print(json.dumps({"mb": mb, "method": method, "seconds": round(time.perf_counter() - t0, 1),
                      "kept": len(res.kept), "data_rss_mb": data_rss,
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))


def long_field_row(mb: float) -> None:
    """The long-record row for minhash, and for exact dedup beside it (the floor: hashing whole texts)."""
    import json
    import subprocess

    for method in ("minhash", "exact"):
        out = subprocess.run([sys.executable, __file__, "--long-field-child", str(mb), "--long-field-method",
                              method], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"long record: one {r['mb']:g} MB field + 50 short records, {method} dedup: peak RSS "
              f"{r['peak_rss_mb']:,} MB (records alone {r['data_rss_mb']:,} MB), {r['seconds']} s (child process)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dup-share", type=float, default=0.2)
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--threshold", type=float, default=0.7)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--same-bands", action="store_true", help="ours uses datasketch's bands × rows too")
    ap.add_argument("--long-field-mb", type=float, default=50.0, help="size of the long-record row (0: skip)")
    ap.add_argument("--long-field-child", type=float, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--long-field-method", default="minhash", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.long_field_child is not None:
        return long_field_child(args.long_field_child, args.long_field_method)
    ui.set_quiet(True)
    if args.n <= 0:
        return long_field_row(args.long_field_mb) if args.long_field_mb > 0 else None
    texts, truth = make_data(args.n, args.dup_share, args.seed)
    from datasketch import MinHashLSH

    ref = MinHashLSH(threshold=args.threshold, num_perm=args.num_perm)
    bands, rows = (ref.b, ref.r) if args.same_bands else lsh_params(args.threshold, args.num_perm, LSH_FN_WEIGHT)
    print(f"{args.n:,} records, {len(texts) - len(set(truth)):,} planted near-copies; num_perm={args.num_perm}, "
          f"threshold={args.threshold}, word 3-gram shingles; bands×rows: ours {bands}×{rows}, "
          f"datasketch {ref.b}×{ref.r}")
    normalize_many(["warm-up"])  # build the punctuation table outside the timings
    print(f"planted copies with true Jaccard >= threshold: {true_share(texts, truth, args.threshold):.1%}")
    results = {}
    for name, fn in (("instructkit", run_ours), ("datasketch", run_datasketch)):
        t0, c0 = time.perf_counter(), time.process_time()
        rep = fn(texts, args.num_perm, args.threshold, bands, rows)
        results[name] = (time.perf_counter() - t0, time.process_time() - c0, *scores(rep, truth))
    print(f"{'':12} {'wall s':>8} {'cpu s':>8} {'recall':>8} {'precision':>10} {'dropped':>9}")
    for name, (sec, cpu, rec, prec, nd) in results.items():
        print(f"{name:12} {sec:8.2f} {cpu:8.2f} {rec:8.4f} {prec:10.4f} {nd:9,}")
    ours, ref = results["instructkit"], results["datasketch"]
    print(f"speed-up: {ref[0] / ours[0]:.1f}x wall, {ref[1] / ours[1]:.1f}x cpu   recall {ours[2]:.4f} vs "
          f"{ref[2]:.4f}   precision {ours[3]:.4f} vs {ref[3]:.4f}")
    if args.long_field_mb > 0:
        long_field_row(args.long_field_mb)


if __name__ == "__main__":
    main()
