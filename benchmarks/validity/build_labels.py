"""Turn hand labels (``task_id<TAB>0|1<TAB>reason`` lines) into labels.jsonl with each task's text.

    python benchmarks/validity/build_labels.py labels.tsv runs/validity/final3 runs/validity/final5 ...
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
    out = []
    for line in tsv.read_text().splitlines():
        tid, valid, reason = line.split("\t", 2)
        t = tasks.get(tid)
        if t is None:
            continue  # a task of an earlier filter version that the final runs no longer keep
        out.append({"task_id": tid, "dataset": t["source"]["dataset"], "kind": t["kind"],
                    "input_fields": t["input_fields"], "output_field": t["output_field"],
                    "instruction": t["instruction"], "valid": valid == "1", "reason": reason})
    (HERE / "labels.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out))
    print(f"{len(out)} labels ({sum(r['valid'] for r in out)} valid) -> {HERE / 'labels.jsonl'}")


if __name__ == "__main__":
    main()
