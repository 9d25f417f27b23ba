"""Does curated data make better models? Three comparisons at equal training budgets (not a CI test).

Tasks come from a Dynosaur run over ``examples/`` (``instructkit dynosaur examples/ --out DYN``).
One source dataset is held out entirely (default ``sentence_pairs``); the held-out evaluation is
its Dynosaur tasks (references = the dataset's own values) plus the ten hand-written Super-NI-style
tasks of ``examples/active``. Every arm trains the same LoRA budget (same steps, batch, lr, max-len)
from ``hf:embedded`` and is evaluated with the same greedy prompts (no demonstrations, i.e. the
training format):

(a) **Dynosaur vs naive**: M examples sampled from the Dynosaur instances of the training datasets
    vs M raw rows of the same datasets with one generic instruction ("key: value" lines in, the
    dataset's target column out, ClassLabel ids as their names);
(b) **QDIT vs random**: M examples chosen by QDIT from the Dynosaur training pool (MiniLM embeddings
    of instruction+input+output; no quality scorer at this scale, so QDIT is its facility-location
    diversity term) vs M random ones;
(c) **Active-IT vs random**: ``active-loop`` for R rounds × k tasks on the Dynosaur training tasks
    (uncertainty vs random selection), the final round's model.

(v) **verification on vs off**: M examples sampled from the training tasks that pass Dynosaur's
    semantic verification (``meta.validity.score >= --verify-threshold``) vs M from all of them.
    Needs a Dynosaur run made with ``--verify-threshold 0`` (every task scored, none dropped), so
    both arms come from the same designed tasks and are evaluated on the same held-out tasks.

Each arm runs with S seeds (training seed, data sampling, scoring draws); mean ± sd is printed and
written to ``OUT/results.json`` / ``OUT/summary.md``. Everything resumes: re-run to continue.

    python benchmarks/data_quality.py --dyn /tmp/dq/dyn --out /tmp/dq/bench --quick
    python benchmarks/data_quality.py --dyn /tmp/dq/dynv --out /tmp/dq/verify --quick --parts v --seeds 2
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from instructkit.records import Example, stable_hash  # noqa: E402
from instructkit.runs import atomic_write_json, atomic_write_jsonl, atomic_write_text, read_jsonl  # noqa: E402

GENERIC = "Read the input and give the expected output."
TARGETS = ("label", "answer", "answers", "summary", "category", "output", "target")


def settings(quick: bool) -> dict:
    if quick:
        return dict(steps=8, batch=4, max_len=128, lr=5e-4, m=32, eval_instances=1, eval_tokens=16,
                    pool_tasks=6, k=2, rounds=2, n=2, K=2, score_tokens=12)
    return dict(steps=30, batch=8, max_len=256, lr=3e-4, m=240, eval_instances=5, eval_tokens=48,
                pool_tasks=19, k=3, rounds=3, n=3, K=3, score_tokens=32)


# -- data -----------------------------------------------------------------------------------
def split_dynosaur(dyn: Path, held_out: set[str], out: Path) -> tuple[Path, Path, list[str]]:
    """Write the training-side and held-out Dynosaur runs (tasks.jsonl + instances.jsonl) under ``out``."""
    tasks = list(read_jsonl(dyn / "tasks.jsonl"))
    insts = list(read_jsonl(dyn / "instances.jsonl"))

    def ds(t):
        src = t.get("source") or {}
        return src.get("dataset") if isinstance(src, dict) else None

    train_ids = {t["id"] for t in tasks if ds(t) not in held_out}
    paths = []
    for name, keep in (("train_tasks", lambda t: t["id"] in train_ids), ("heldout_tasks", lambda t: t["id"] not in train_ids)):
        d = out / name
        chosen = [t for t in tasks if keep(t)]
        ids = {t["id"] for t in chosen}
        atomic_write_jsonl(d / "tasks.jsonl", chosen)
        atomic_write_jsonl(d / "instances.jsonl", [r for r in insts if r.get("meta", {}).get("task_id") in ids])
        paths.append(d)
    train_sets = sorted({ds(t) for t in tasks if t["id"] in train_ids})
    return paths[0], paths[1], train_sets


def verified_subset(train_dir: Path, threshold: float, out: Path) -> Path:
    """The training tasks whose recorded validity score reaches ``threshold`` (and their instances)."""
    tasks = list(read_jsonl(train_dir / "tasks.jsonl"))
    scored = [t for t in tasks if isinstance((t.get("meta") or {}).get("validity"), dict)]
    if len(scored) < len(tasks):
        sys.exit(f"error: {len(tasks) - len(scored)} of {len(tasks)} tasks carry no validity score; "
                 "make the Dynosaur run with --verify-threshold 0 for part v")
    keep = {t["id"] for t in scored if t["meta"]["validity"]["score"] >= threshold}
    atomic_write_jsonl(out / "tasks.jsonl", [t for t in tasks if t["id"] in keep])
    atomic_write_jsonl(out / "instances.jsonl", [r for r in read_jsonl(train_dir / "instances.jsonl")
                                                 if r.get("meta", {}).get("task_id") in keep])
    return out


def naive_rows(examples_dir: Path, datasets: list[str]) -> list[Example]:
    """The raw rows of ``datasets`` with one generic instruction."""
    from instructkit.sources.loaders import load_source

    out = []
    for name in datasets:
        for card in load_source(str(examples_dir / name)):
            cols = [f.name for f in card.features]
            target = next((c for c in TARGETS if c in cols), cols[-1])
            feat = card.feature(target)
            for row in card.rows:
                y = row.get(target)
                y = feat.label_name(y) if feat is not None else y
                y = ", ".join(map(str, y)) if isinstance(y, list) else str(y)
                x = "\n".join(f"{c}: {row[c]}" for c in cols if c not in (target, "id") and row.get(c) is not None)
                out.append(Example(instruction=GENERIC, input=x, output=y, meta={"method": "naive", "dataset": name}))
    return out


def sample(exs: list[Example], m: int, seed: int, tag: str) -> list[Example]:
    rng = random.Random(stable_hash(tag, seed))
    return [exs[i] for i in sorted(rng.sample(range(len(exs)), min(m, len(exs))))]


def qdit_subset(exs: list[Example], m: int) -> list[Example]:
    from instructkit.select.qdit.select import qdit_select
    from instructkit.select.qdit.run import embed_examples

    X = embed_examples(exs, "instruction+input+output", "minilm")
    return [exs[i] for i in qdit_select(X, None, k=min(m, len(exs)), alpha=0.0).indices]


# -- train + eval one arm ---------------------------------------------------------------------
def train_eval(name: str, exs: list[Example] | None, seed: int, cfg: dict, out: Path, evals, arm_dir: Path | None = None) -> dict:
    from instructkit.loop.evaluate import evaluate
    from instructkit.loop.train import TrainConfig, train

    d = arm_dir or out / name / f"seed_{seed}"
    if exs is None:  # the untrained base
        model = "hf:embedded"
    else:
        if not (d / "train.jsonl").exists():  # a re-run keeps the file its half-trained model was fitted on
            atomic_write_jsonl(d / "train.jsonl", (e.to_dict() for e in exs))
        train(TrainConfig(data=str(d / "train.jsonl"), out=str(d / "model"), steps=cfg["steps"], lr=cfg["lr"],
                          max_len=cfg["max_len"], batch_size=cfg["batch"], seed=seed, save_every=max(4, cfg["steps"] // 2)))
        model = f"hf:{(d / 'model').resolve()}"
    res = evaluate(model, evals, d / "eval", demos=0, max_tokens=cfg["eval_tokens"], concurrency=1)
    return summarize(res)


def summarize(res: dict) -> dict:
    per = res["tasks"]
    sup = [v["rougeL"] for v in per.values() if v["source"].endswith(".json") and v["rougeL"] is not None]
    dyn = [v["rougeL"] for v in per.values() if not v["source"].endswith(".json") and v["rougeL"] is not None]
    return {"overall": res["overall"]["rougeL"], "heldout_dynosaur": _mean(dyn), "superni": _mean(sup)}


def _mean(xs):
    return round(sum(xs) / len(xs), 2) if xs else None


def ms(xs) -> str:
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{statistics.mean(xs):.2f} ± {sd:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dyn", type=Path, default=Path("/tmp/dq/dyn"), help="a Dynosaur run over examples/")
    ap.add_argument("--examples", type=Path, default=ROOT / "examples")
    ap.add_argument("--out", type=Path, default=Path("/tmp/dq/bench"))
    ap.add_argument("--held-out", default="sentence_pairs", help="comma-separated source datasets to hold out")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--parts", default="a,b,c")
    ap.add_argument("--verify-threshold", type=float, default=0.5, help="part v: validity score a task needs")
    ap.add_argument("--quick", action="store_true", help="tiny settings (minutes on 2 CPU cores)")
    args = ap.parse_args()

    from instructkit import ui
    from instructkit.loop.evaluate import load_tasks as load_eval
    from instructkit.loop.active_loop import LoopConfig, run_active_loop
    from instructkit.select.active.tasks_io import load_tasks

    ui.set_quiet(True)
    cfg = settings(args.quick)
    out = args.out
    train_dir, held_dir, train_sets = split_dynosaur(args.dyn, set(args.held_out.split(",")), out / "data")
    eval_paths = [str(held_dir), str(args.examples / "active")]
    evals = load_eval(eval_paths, instances=cfg["eval_instances"])
    pool = load_tasks([train_dir])
    dyn_exs = [e for t in pool for e in t.training_examples()]
    naive = naive_rows(args.examples, train_sets)
    print(f"training datasets {train_sets}; held out {args.held_out}: {len(evals)} eval tasks "
          f"({sum(len(t.instances) for t in evals)} instances); Dynosaur pool {len(pool)} tasks / {len(dyn_exs)} "
          f"examples; naive rows {len(naive)}; settings {cfg}", flush=True)
    results: dict = {"settings": cfg, "held_out": args.held_out, "train_datasets": train_sets, "arms": {}}
    rpath = out / "results.json"
    if rpath.is_file():
        results["arms"] = json.loads(rpath.read_text())["arms"]

    def record(arm, seed, val, secs):
        results["arms"].setdefault(arm, {})[str(seed)] = {**val, "seconds": round(secs, 1)}
        atomic_write_json(rpath, results)
        print(f"  {arm:<22} seed {seed}: overall {val['overall']}  held-out Dynosaur {val['heldout_dynosaur']}  "
              f"Super-NI {val['superni']}  ({secs:.0f} s)", flush=True)

    def arm(name, seed, fn):
        if str(seed) in results["arms"].get(name, {}):
            return
        t0 = time.perf_counter()
        record(name, seed, fn(), time.perf_counter() - t0)

    arm("base (untrained)", 0, lambda: train_eval("base", None, 0, cfg, out, evals))
    parts = set(args.parts.split(","))
    if "v" in parts:
        verified = [e for t in load_tasks([verified_subset(train_dir, args.verify_threshold, out / "data" / "verified")])
                    for e in t.training_examples()]
        print(f"verified training pool: {len(verified)} of {len(dyn_exs)} examples "
              f"(tasks with validity >= {args.verify_threshold})", flush=True)
    qdit = qdit_subset(dyn_exs, cfg["m"]) if "b" in parts else None
    # the Active-IT pool: the same task subset for every seed, so seeds vary only the run itself
    rng = random.Random(0)
    pool_ids = sorted(rng.sample([t.id for t in pool], min(cfg["pool_tasks"], len(pool))))
    if "c" in parts:
        pool_dir = out / "data" / "active_pool"
        atomic_write_jsonl(pool_dir / "tasks.jsonl", [r for r in read_jsonl(train_dir / "tasks.jsonl") if r["id"] in pool_ids])
        atomic_write_jsonl(pool_dir / "instances.jsonl", [r for r in read_jsonl(train_dir / "instances.jsonl")
                                                         if r.get("meta", {}).get("task_id") in pool_ids])
    for seed in range(args.seeds):
        print(f"seed {seed}", flush=True)
        if "a" in parts:
            arm("a: dynosaur", seed, lambda: train_eval("a_dynosaur", sample(dyn_exs, cfg["m"], seed, "dq-dyn"), seed, cfg, out, evals))
            arm("a: naive", seed, lambda: train_eval("a_naive", sample(naive, cfg["m"], seed, "dq-naive"), seed, cfg, out, evals))
        if "v" in parts:
            arm("v: all tasks (no verify)", seed,
                lambda: train_eval("v_all", sample(dyn_exs, cfg["m"], seed, "dq-dyn"), seed, cfg, out, evals))
            arm("v: verified tasks", seed,
                lambda: train_eval("v_verified", sample(verified, cfg["m"], seed, "dq-dyn"), seed, cfg, out, evals))
        if "b" in parts:
            arm("b: qdit", seed, lambda: train_eval("b_qdit", qdit, seed, cfg, out, evals))
            arm("b: random", seed, lambda: train_eval("b_random", sample(dyn_exs, cfg["m"], seed, "dq-rand"), seed, cfg, out, evals))
        if "c" in parts:
            for strat in ("uncertainty", "random"):
                def loop(strat=strat):
                    lc = LoopConfig(tasks=[str(pool_dir)], eval_tasks=eval_paths, out=str(out / "c" / f"seed_{seed}"),
                                    k=cfg["k"], rounds=cfg["rounds"], strategy=strat, steps=cfg["steps"], lr=cfg["lr"],
                                    max_len=cfg["max_len"], batch_size=cfg["batch"], save_every=max(4, cfg["steps"] // 2),
                                    instances=cfg["n"], perturbations=cfg["K"], max_tokens=cfg["score_tokens"],
                                    eval_instances=cfg["eval_instances"], eval_max_tokens=cfg["eval_tokens"], demos=0,
                                    seed=seed)
                    res = run_active_loop(lc)
                    last = res["rounds"][-1]
                    res_eval = json.loads((out / "c" / f"seed_{seed}" / strat / f"round_{last['round']}" / "eval" / "results.json").read_text())
                    return {**summarize(res_eval), "curve": [r["eval"]["rougeL"] for r in res["rounds"]]}
                arm(f"c: active-it {strat}", seed, loop)
    lines = ["| arm | overall ROUGE-L | held-out Dynosaur tasks | Super-NI tasks (examples/active) | seeds |",
             "|---|---|---|---|---|"]
    for name, by_seed in results["arms"].items():
        vals = list(by_seed.values())
        lines.append(f"| {name} | {ms([v['overall'] for v in vals])} | {ms([v['heldout_dynosaur'] for v in vals])} "
                     f"| {ms([v['superni'] for v in vals])} | {len(vals)} |")
    table = "\n".join(lines)
    atomic_write_text(out / "summary.md", table + "\n")
    print(table)


if __name__ == "__main__":
    main()
