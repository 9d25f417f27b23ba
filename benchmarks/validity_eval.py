"""How well does Dynosaur's semantic verification separate valid tasks from invalid ones?

Reads the kept tasks of one or more dynosaur run directories (made with ``--no-verify`` or
``--verify-threshold 0``, so every kept task is there), computes each task's ``validity`` with the
same function the pipeline uses (``dynosaur_verify.verify_task``; calls cached in ``--cache``, so a
re-run costs nothing), and holds it against hand labels (``benchmarks/validity/labels.jsonl``: one
``{"task_id", "valid", "reason"}`` per line).

Reports, for the threshold in use and a sweep: precision and recall of the verification as a
detector of *invalid* tasks (a drop is a positive), the same for *keeping* valid tasks, and the share
of kept tasks that are valid before and after verification; then the same per signal.

    python benchmarks/validity_eval.py runs/validity/mt3 runs/validity/mt5            # scores + figures
    python benchmarks/validity_eval.py runs/validity/mt3 --dump > /tmp/tasks.txt      # for labelling

Scores of labelled tasks whose run directories are gone come from ``--scores FILE`` (default
``benchmarks/validity/scores_batch1.json``: the first 81 labels); tasks found in the runs are
verified afresh. ``--holdout`` adds a two-fold check of the cheap rule changes (validity_holdout.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from instructkit.generate.dynosaur.verify import VerifyConfig, verify_task  # noqa: E402
from instructkit.records import Example, Task  # noqa: E402
from instructkit.runs import read_jsonl  # noqa: E402

LABELS = ROOT / "benchmarks" / "validity" / "labels.jsonl"
BATCH1 = ROOT / "benchmarks" / "validity" / "scores_batch1.json"
SWEEP = (0.3, 0.5, 0.7, 0.9, 0.95)


def load_runs(dirs: list[Path]) -> tuple[list[Task], dict[str, list[Example]]]:
    tasks: dict[str, Task] = {}
    insts: dict[str, list[Example]] = {}
    for d in dirs:
        for t in read_jsonl(d / "tasks.jsonl"):
            tasks.setdefault(t["id"], Task.from_dict(t))
        for e in read_jsonl(d / "instances.jsonl"):
            ex = Example.from_dict(e)
            tid = ex.meta.get("task_id", "")
            if tid in tasks and ex.id not in {x.id for x in insts.get(tid, [])}:
                insts.setdefault(tid, []).append(ex)
    return list(tasks.values()), insts


def dump(tasks: list[Task], insts: dict[str, list[Example]]) -> None:
    for t in tasks:
        ex = (insts.get(t.id) or [None])[0]
        print(f"## {t.id} [{t.source.get('dataset')}] {t.kind} {t.input_fields} -> {t.output_field}")
        print(f"   I: {t.instruction}")
        if ex is not None:
            print(f"   x: {ex.input[:300]!r}")
            print(f"   y: {ex.output[:200]!r}")


class _CacheOnly:
    """Wraps a backend so that anything not in the cache raises instead of calling the model."""

    def __init__(self, backend: Any):
        self.info = backend.info

    async def chat(self, *args: Any) -> Any:
        from instructkit.errors import ModelError

        raise ModelError("not in the cache", kind="cache_only")

    score = chat

    async def aclose(self) -> None:
        return None


async def score_all(tasks: list[Task], insts: dict[str, list[Example]], model: str, cache: Path,
                    cfg: VerifyConfig, cached_only: bool = False) -> dict[str, dict[str, Any]]:
    from instructkit.errors import ModelError
    from instructkit.llm import open_model

    llm = open_model(model, cache=cache, concurrency=1)
    if cached_only:
        llm.backend = _CacheOnly(llm.backend)  # type: ignore[assignment]
    out = {}
    try:
        for i, t in enumerate(tasks, 1):
            try:
                out[t.id] = await verify_task(llm, t, insts.get(t.id, []), cfg)
            except ModelError:
                continue  # --cached-only: this task was not verified yet
            print(f"\r  verified {i}/{len(tasks)}", end="", file=sys.stderr, flush=True)
    finally:
        await llm.aclose()
    print(file=sys.stderr)
    return out


def pr(pred: list[bool], truth: list[bool]) -> dict[str, Any]:
    tp = sum(p and t for p, t in zip(pred, truth))
    fp = sum(p and not t for p, t in zip(pred, truth))
    fn = sum(t and not p for p, t in zip(pred, truth))
    return {"precision": round(tp / (tp + fp), 3) if tp + fp else None,
            "recall": round(tp / (tp + fn), 3) if tp + fn else None, "tp": tp, "fp": fp, "fn": fn}


def figures(kept: list[bool], valid: list[bool]) -> dict[str, Any]:
    """``kept``: verification keeps the task; ``valid``: the hand label."""
    n_after = sum(kept)
    return {"tasks": len(valid), "valid_before": round(sum(valid) / len(valid), 3),
            "kept_after": n_after,
            "valid_after": round(sum(k and v for k, v in zip(kept, valid)) / n_after, 3) if n_after else None,
            "drop_detects_invalid": pr([not k for k in kept], [not v for v in valid]),
            "keep_finds_valid": pr(kept, valid)}


def stored_rows(files: list[Path], labels: dict[str, Any], seen: set[str], threshold: float) -> list[dict[str, Any]]:
    """Labelled tasks scored earlier (their runs are gone), judged at this run's threshold."""
    out = []
    for f in files:
        for r in json.loads(f.read_text())["tasks"]:
            if r["task_id"] in labels and r["task_id"] not in seen:
                seen.add(r["task_id"])
                out.append({**r, "passed": r["score"] >= threshold, "from": f.name})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--labels", type=Path, default=LABELS)
    ap.add_argument("--model", default="local")
    ap.add_argument("--cache", type=Path, default=ROOT / "runs" / "validity" / "verify_cache.sqlite")
    ap.add_argument("--rows", type=int, default=VerifyConfig.rows)
    ap.add_argument("--threshold", type=float, default=VerifyConfig.threshold)
    ap.add_argument("--dump", action="store_true", help="print the tasks for labelling and stop")
    ap.add_argument("--warm", action="store_true", help="verify every task (labelled or not) to fill the cache")
    ap.add_argument("--cached-only", action="store_true",
                    help="report only on labelled tasks whose verification calls are all cached")
    ap.add_argument("--scores", type=Path, action="append",
                    help=f"stored per-task scores for labelled tasks not in the runs (default {BATCH1.name})")
    ap.add_argument("--holdout", action="store_true", help="add the two-fold held-out check of rule changes")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "validity" / "results.json")
    args = ap.parse_args()
    tasks, insts = load_runs(args.runs)
    if args.dump:
        return dump(tasks, insts)
    args.cache.parent.mkdir(parents=True, exist_ok=True)
    cfg = VerifyConfig(rows=args.rows, threshold=args.threshold)
    if args.warm:
        asyncio.run(score_all(tasks, insts, args.model, args.cache, cfg))
        return
    labels = {r["task_id"]: r for r in read_jsonl(args.labels)}
    tasks = [t for t in tasks if t.id in labels]
    validity = asyncio.run(score_all(tasks, insts, args.model, args.cache, cfg, args.cached_only))
    rows = [{"task_id": t.id, "dataset": t.source.get("dataset"), "score": validity[t.id]["score"],
             "passed": validity[t.id]["passed"], "parts": validity[t.id]["parts"], "from": "runs"}
            for t in tasks if t.id in validity]
    rows += stored_rows(args.scores or ([BATCH1] if BATCH1.is_file() else []), labels,
                        {r["task_id"] for r in rows}, cfg.threshold)
    unverified = len(labels) - len(rows)
    valid = [bool(labels[r["task_id"]]["valid"]) for r in rows]
    parts = [r["parts"] for r in rows]
    report: dict[str, Any] = {"model": args.model, "verify": cfg.to_dict(), "labels": len(labels),
                              "labelled_tasks_verified": len(rows), "labelled_tasks_not_verified": unverified,
                              "combined": figures([r["passed"] for r in rows], valid)}
    report["sweep"] = {str(th): figures([r["score"] >= th for r in rows], valid) for th in SWEEP}
    rules = {"likelihood_gain>0": ("likelihood", lambda p: p["likelihood"]["gain"] > 0),
             "answer_delta>0": ("answer", lambda p: p["answer"]["delta"] > 0),
             "kind_match": ("kind", lambda p: p["kind"]["match"])}
    report["per_signal"] = {name: figures([rule(p) if sig in p else True for p in parts], valid)
                            for name, (sig, rule) in rules.items() if any(sig in p for p in parts)}
    report["tasks"] = [{**r, "valid": labels[r["task_id"]]["valid"]} for r in rows]
    if args.holdout:
        from validity_holdout import holdout_report

        report["holdout"] = holdout_report(report["tasks"], cfg.threshold)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    md = markdown(report)
    args.out.with_suffix(".md").write_text(md)
    print(md)


def markdown(report: dict[str, Any]) -> str:
    """The figures as a markdown table (the docs quote it)."""
    def row(name: str, f: dict[str, Any]) -> str:
        d, k = f["drop_detects_invalid"], f["keep_finds_valid"]
        return (f"| {name} | {f['kept_after']}/{f['tasks']} | {f['valid_before']:.0%} | "
                f"{'-' if f['valid_after'] is None else format(f['valid_after'], '.0%')} | "
                f"{d['precision']} | {d['recall']} | {k['precision']} | {k['recall']} |")

    lines = [f"{report['labelled_tasks_verified']} hand-labelled tasks verified "
             f"({report['labels']} labelled, {report['labelled_tasks_not_verified']} not verified in time); "
             f"model {report['model']}, signals {','.join(report['verify']['signals'])}, "
             f"{report['verify']['rows']} rows per task.", "",
             "| rule | kept | valid before | valid after | drop: precision | drop: recall "
             "| keep: precision | keep: recall |", "|---|---|---|---|---|---|---|---|",
             row(f"score >= {report['verify']['threshold']} (default)", report["combined"])]
    lines += [row(f"score >= {th}", f) for th, f in report["sweep"].items() if float(th) != report["verify"]["threshold"]]
    lines += [row(name, f) for name, f in report["per_signal"].items()]
    for h in report.get("holdout", []):
        lines += [row(f"held-out half {1 - h['tuned_on_half']} ({h['test_tasks']} tasks): default "
                      f"{report['verify']['threshold']}", h["test_default"]),
                  row(f"held-out half {1 - h['tuned_on_half']}: threshold {h['chosen_threshold']} chosen on "
                      f"half {h['tuned_on_half']}", h["test_chosen"])]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
