"""Turn hand labels (``task_id<TAB>0|1<TAB>reason`` lines) into labels.jsonl with each task's text.

    python benchmarks/validity/build_labels.py labels.tsv runs/validity/final3 runs/validity/final5 ...

A label whose task is in none of the given runs keeps its record from the existing labels.jsonl (the
runs of an earlier batch need not be on this machine any more).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main() -> None:
    tsv, runs = Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]]
    tasks = {}
    for d in runs:
        for line in (d / "tasks.jsonl").read_text().splitlines():
            t = json.loads(line)
            tasks.setdefault(t["id"], t)
    old_path = HERE / "labels.jsonl"
    earlier = {r["task_id"]: r for r in map(json.loads, old_path.read_text().splitlines())} \
        if old_path.is_file() else {}
    out = []
    for line in tsv.read_text().splitlines():
        tid, valid, reason = line.split("\t", 2)
        t = tasks.get(tid)
        if t is None:
            if tid in earlier:  # labelled from a run that is not here any more
                out.append({**earlier[tid], "valid": valid == "1", "reason": reason})
            continue  # else: a task of an earlier filter version that the final runs no longer keep
        out.append({"task_id": tid, "dataset": t["source"]["dataset"], "kind": t["kind"],
                    "input_fields": t["input_fields"], "output_field": t["output_field"],
                    "instruction": t["instruction"], "valid": valid == "1", "reason": reason})
    (HERE / "labels.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out))
    print(f"{len(out)} labels ({sum(r['valid'] for r in out)} valid) -> {HERE / 'labels.jsonl'}")


if __name__ == "__main__":
    main()
