"""The data behind the generic pages: overview, records, record detail, rejected.

Each function takes a :class:`~instructkit.view.index.RunIndex` and returns plain dicts for a
template; nothing here renders HTML (Jinja2 escapes every value on the way out).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from instructkit.view.index import FILTERS, RunIndex

PAGE_SIZE = 50
COUNT_CAP = 100_000  # matches are counted up to here ("100,000+"): a common word never scans the whole index
FILTER_LABELS = {"dataset": "source dataset", "task": "task", "kind": "kind", "label": "label",
                 "tax": "taxonomy path", "selected": "selected", "reason": "reason"}
_LEDGER_KEYS = ("usage", "usage_total", "this_run", "timings", "timing", "elapsed_s", "stages")


def flatten(d: Any, prefix: str = "", out: dict[str, Any] | None = None, depth: int = 0) -> dict[str, Any]:
    """Nested dicts as dotted keys (lists shown as JSON), for the key/value tables of the overview."""
    out = {} if out is None else out
    if isinstance(d, dict) and depth < 4:
        for k, v in d.items():
            flatten(v, f"{prefix}.{k}" if prefix else str(k), out, depth + 1)
    else:
        out[prefix or "value"] = d if isinstance(d, (str, int, float, bool)) or d is None else \
            json.dumps(d, ensure_ascii=False, default=str)
    return out


def method_pages(idx: RunIndex) -> list[tuple[str, str]]:
    """(slug, title) of the method pages this run has data for."""
    run, names = idx.run, set(idx.run.streams)
    out = []
    if "tasks" in names:
        out.append(("tasks", "Dynosaur tasks"))
    if "syllabi" in names or run.command == "glan":
        out.append(("glan", "GLAN tree"))
    if run.command.startswith("select qdit") or (run.path / "summary.json").is_file() and "selected" in names:
        out.append(("qdit", "QDIT"))
    if "scores" in names or run.command.startswith("select active"):
        out.append(("active", "Active-IT"))
    if "groups" in names or run.command == "dedup":
        out.append(("dedup", "Dedup"))
    return out


def overview(idx: RunIndex) -> dict[str, Any]:
    m = idx.run.manifest
    ledgers = {k: flatten(m[k]) for k in _LEDGER_KEYS if isinstance(m.get(k), dict) and m[k]}
    return {
        "command": m.get("command"), "status": m.get("status", "unknown"),
        "created": m.get("created"), "updated": m.get("updated"), "runs": m.get("runs"),
        "argv": " ".join(str(a) for a in m.get("argv") or []),
        "config": flatten(m.get("config") or {}),
        "counts": flatten(m.get("counts") or {}),
        "ledgers": ledgers,
        "failures": flatten(m["failures"]) if isinstance(m.get("failures"), dict) else {},
        "outputs": idx.run.outputs,
        "streams": idx.streams(),
        "images": idx.run.images,
    }


def parse_filters(params: dict[str, str]) -> dict[str, str]:
    return {c: params[c] for c in FILTERS if params.get(c) not in (None, "")}


def records(idx: RunIndex, params: dict[str, str]) -> dict[str, Any]:
    streams = {s["name"]: s for s in idx.streams()}
    first = "pool" if streams.get("pool", {}).get("n") else idx.run.examples_stream  # QDIT: selected or not
    stream = params.get("stream") or first or ""
    if stream not in streams:
        stream = idx.run.examples_stream or next(iter(streams), "")
    try:
        page = max(1, int(params.get("page") or 1))
    except ValueError:
        page = 1
    filters = parse_filters(params)
    text = (params.get("q") or "").strip()
    rows, total = idx.search(stream, filters, text, page, PAGE_SIZE, COUNT_CAP) if stream else ([], 0)
    facets = idx.facets(stream) if stream else {}
    return {"stream": stream, "streams": list(streams.values()), "error": streams.get(stream, {}).get("error"),
            "rows": rows, "total": total, "capped": total >= COUNT_CAP and bool(filters or text), "page": page, "pages": max(1, math.ceil(total / PAGE_SIZE)),
            "filters": filters, "q": text, "facets": {c: v for c, v in facets.items() if v},
            "labels": FILTER_LABELS}


# meta keys that name a record of another stream (GLAN and Dynosaur provenance)
_LINK_KEYS = ("task_id", "question_id", "answer_id", "syllabus_extraction_id", "syllabus_id", "subject_id",
              "kept_id", "item_id", "raw_id")


def related(idx: RunIndex, rec: dict[str, Any]) -> list[dict[str, Any]]:
    """Records of this run that the record names by id (its task, question, syllabus, kept twin ...)."""
    meta = rec.get("meta") if isinstance(rec.get("meta"), dict) else {}
    out, seen = [], set()
    for holder in (meta, rec):
        for k in _LINK_KEYS:
            v = holder.get(k)
            if not isinstance(v, str) or (k, v) in seen:
                continue
            seen.add((k, v))
            for r in idx.q("SELECT rid, stream, title FROM records WHERE id=? AND stream != 'pool' LIMIT 3", (v,)):
                out.append({"key": k, "id": v, "rid": r["rid"], "stream": r["stream"], "title": r["title"]})
    return out


def provenance(rec: dict[str, Any]) -> dict[str, Any]:
    meta = rec.get("meta") if isinstance(rec.get("meta"), dict) else {}
    keep = ("method", "dataset", "config", "split", "row", "source", "license", "task_id", "mode", "kind", "model",
            "models", "prompt", "template", "field", "sub_field", "discipline", "subject", "level", "sessions",
            "concepts", "strategy", "qdit", "kept_id", "similarity")
    prov = {k: meta[k] for k in keep if k in meta}
    for k in ("source", "template", "model", "kept_id", "similarity", "stage", "reason"):
        if k in rec and k not in prov:
            prov[k] = rec[k]
    return flatten(prov)


def source_row(rec: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """(the dataset row a Dynosaur instance came from, None) or (None, why it cannot be shown)."""
    meta = rec.get("meta") if isinstance(rec.get("meta"), dict) else {}
    src, row = meta.get("source"), meta.get("row")
    if not src or not isinstance(row, int):
        return None, None
    if not Path(src).exists():
        return None, f"source {src} is not reachable from here (relative paths are read from the current folder)"
    try:
        from instructkit.sources import load_source

        cards = load_source(str(src), config=meta.get("config"), split=meta.get("split"), rows=row + 1)
    except Exception as e:  # a moved or changed dataset: say so in the page, never a traceback
        return None, f"source {src}: {e}"
    for card in cards:
        if len(card.rows) > row:
            return {k: v if isinstance(v, (str, int, float, bool)) or v is None else
                    json.dumps(v, ensure_ascii=False, default=str) for k, v in card.rows[row].items()}, None
    return None, f"source {src} has no row {row} now"


def record_detail(idx: RunIndex, rid: int) -> dict[str, Any] | None:
    got = idx.record(rid)
    if got is None:
        return None
    row, rec = got
    src, src_error = source_row(rec)
    fields = {k: v for k, v in rec.items() if k != "meta"}
    return {"row": row, "fields": {k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, indent=1,
                                                                              default=str) for k, v in fields.items()},
            "provenance": provenance(rec), "related": related(idx, rec), "source_row": src,
            "source_error": src_error, "raw": json.dumps(rec, ensure_ascii=False, indent=2, default=str)}


def rejected(idx: RunIndex, per_reason: int = 5) -> dict[str, Any]:
    if "rejected" not in idx.run.streams:
        return {"present": False, "reasons": [], "total": 0}
    reasons = [(v, n) for v, n in idx.facets("rejected").get("reason", [])]
    groups = []
    for reason, n in reasons:
        items = []
        for row, rec in idx.iter_stream("rejected", per_reason, "AND reason=?", (reason,)):
            details = {k: v for k, v in rec.items() if k not in ("id", "reason")}
            items.append({"rid": row["rid"], "details": json.dumps(details, ensure_ascii=False, default=str)})
        groups.append({"reason": reason, "n": n, "examples": items})
    total = sum(n for _, n in reasons)
    return {"present": True, "reasons": groups, "total": total,
            "error": next((s["error"] for s in idx.streams() if s["name"] == "rejected"), None)}
