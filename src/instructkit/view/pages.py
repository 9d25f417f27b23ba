"""The data behind the generic pages: overview, records, record detail, rejected.

Each function takes a :class:`~instructkit.view.index.RunIndex` and returns plain dicts for a
template; nothing here renders HTML (Jinja2 escapes every value on the way out).
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

from instructkit.view import extract
from instructkit.view.index import FILTERS, RunIndex

PAGE_SIZE = 50
COUNT_CAP = 100_000  # matches are counted up to here ("100,000+"): a common word never scans the whole index
FILTER_LABELS = {"dataset": "source dataset", "task": "task", "kind": "kind", "label": "label",
                 "tax": "taxonomy path", "selected": "selected", "reason": "reason"}
_LEDGER_KEYS = ("usage", "usage_total", "this_run", "timings", "timing")
_MAIN_COUNTS = ("instances", "examples", "tasks_kept", "kept", "dropped", "selected", "questions", "answers")
_STAGE_COUNT_KEYS = 6  # counts of a stage shown in the recipe's stage table (the stage's own page has all)


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


def _this_run_seconds(manifest: dict[str, Any]) -> float | None:
    wall = (manifest.get("this_run") or {}).get("wall_s") if isinstance(manifest.get("this_run"), dict) else None
    return round(float(wall), 1) if isinstance(wall, (int, float)) and not isinstance(wall, bool) else None


def _seconds(manifest: dict[str, Any]) -> float | None:
    """How long a run took: the seconds its runs spent running (``seconds``, summed over resumes),
    else this run's ``wall_s``, else ``updated - created`` (older manifests)."""
    total = manifest.get("seconds")
    if isinstance(total, (int, float)) and not isinstance(total, bool):
        return round(float(total), 1)
    wall = _this_run_seconds(manifest)
    if wall is not None:
        return wall
    try:
        start, end = (datetime.strptime(str(manifest[k]), "%Y-%m-%dT%H:%M:%S%z") for k in ("created", "updated"))
    except (KeyError, ValueError):
        return None
    return round((end - start).total_seconds(), 1)


def timings(manifest: dict[str, Any]) -> dict[str, Any]:
    out = {"created": manifest.get("created"), "updated": manifest.get("updated"), "runs": manifest.get("runs"),
           "seconds": _seconds(manifest),
           "this run seconds": _this_run_seconds(manifest) if isinstance(manifest.get("runs"), int) and manifest["runs"] > 1 else None}
    return {k: v for k, v in out.items() if v is not None}


def stages(run_path: Path, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """A recipe's stages (``instructkit run``): status, usage and counts, each read from the stage's own run dir."""
    out = []
    for s in manifest.get("stages") or []:
        if not isinstance(s, dict) or not isinstance(s.get("dir"), str):
            continue
        sub: dict[str, Any] = {}
        mpath = run_path / s["dir"] / "manifest.json"
        if mpath.is_file():
            try:
                sub = json.loads(mpath.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                sub = {}
        usage = s.get("usage") if isinstance(s.get("usage"), dict) else {}
        counts = {k: v for k, v in (sub.get("counts") or {}).items() if isinstance(v, (int, float))}
        counts = dict(sorted(counts.items(), key=lambda kv: kv[0] not in _MAIN_COUNTS))  # what a stage made first
        out.append({"stage": s.get("stage", ""), "dir": s["dir"], "status": s.get("status", "unknown"),
                    "calls": usage.get("calls"), "tokens": usage.get("total_tokens"),
                    "cost": usage.get("estimated_cost_usd"), "seconds": _seconds(sub) if sub else None,
                    "counts": ", ".join(f"{k} {v:,}" for k, v in list(counts.items())[:_STAGE_COUNT_KEYS]),
                    "path": (run_path / s["dir"]).resolve()})
    return out


def step_table(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The steps of a one-command pipeline (GLAN's node loop: subjects ... answer_checks), each with its nodes
    planned / done / failed / missing and this run's calls and tokens (``manifest.stages`` as a dict)."""
    steps = manifest.get("stages")
    if not isinstance(steps, dict):
        return []
    out = []
    for name, st in steps.items():
        st = st if isinstance(st, dict) else {}
        this = st.get("this_run") if isinstance(st.get("this_run"), dict) else {}
        tokens = [this.get(k) for k in ("prompt_tokens", "completion_tokens") if isinstance(this.get(k), int)]
        out.append({"name": str(name), **{k: st.get(k) for k in ("planned", "done", "failed", "missing")},
                    "calls": this.get("calls"), "tokens": sum(tokens) if tokens else None})
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
        "timings": timings(m),
        "stages": stages(idx.run.path, m),
        "steps": step_table(m),
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
    tokens = extract.query_tokens(text)
    for row in rows if tokens else ():  # the words that made each record a hit: one seek per row shown
        row["hl_title"] = extract.highlight(row.get("title") or "", tokens, width=240)
        if row["hl_title"] is None:
            try:
                row["hl_body"] = extract.field_hit(idx.load(row), tokens)
            except (OSError, ValueError):
                row["hl_body"] = None  # the file changed under the index: the title alone is shown
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


def linked_prompts(idx: RunIndex, links: list[dict[str, Any]]) -> dict[str, Any]:
    """The prompt version and model of the records this one came from (its Dynosaur task, its GLAN question
    and answer): an example keeps their ids, they keep which prompt file (by content version) made them."""
    out: dict[str, Any] = {}
    for link in links:
        got = idx.record(link["rid"])
        if got is None:
            continue
        rec = got[1]
        meta = rec.get("meta") if isinstance(rec.get("meta"), dict) else {}
        for key, value in (("prompt", rec.get("template") or meta.get("prompt")), ("model", rec.get("model")
                                                                                    or meta.get("model"))):
            if isinstance(value, str) and value:
                out[f"{link['stream']}.{key}"] = value
    return out


def record_detail(idx: RunIndex, rid: int, q: str = "") -> dict[str, Any] | None:
    """A record's page; ``q``: the search that led here, its words marked in the fields."""
    got = idx.record(rid)
    if got is None:
        return None
    row, rec = got
    src, src_error = source_row(rec)
    links = related(idx, rec)
    fields = {k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, indent=1, default=str)
              for k, v in rec.items() if k != "meta"}
    tokens = extract.query_tokens(q)
    marks = {k: m for k, v in fields.items() if (m := extract.mark_all(v, tokens))} if tokens else {}
    return {"row": row, "fields": fields, "marks": marks, "q": q.strip(),
            "provenance": {**provenance(rec), **linked_prompts(idx, links)}, "related": links, "source_row": src,
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
