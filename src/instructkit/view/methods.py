"""The data behind the method pages: Dynosaur tasks, the GLAN tree, QDIT, the Active-IT task map, dedup."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from typing import Any

from instructkit.view import plots
from instructkit.view.embedmap import cached_vectors
from instructkit.view.index import RunIndex

MAP_POINTS = 3000  # most points on the QDIT map (all selected ones, then a seeded sample of the rest)


def tasks(idx: RunIndex, page: int = 1, size: int = 50) -> dict[str, Any]:
    """Dynosaur tasks with their instance counts (from the instances stream's task facet)."""
    rows, total = idx.search("tasks", {}, "", page, size)
    per_task = dict(idx.facets(idx.run.examples_stream or "instances", limit=10**9).get("task", []))
    out = []
    for row in rows:
        t = idx.load(row)
        out.append({"rid": row["rid"], "id": t.get("id"), "instruction": t.get("instruction", ""),
                    "input_fields": t.get("input_fields") or [], "output_field": t.get("output_field", ""),
                    "label_space": t.get("label_space"), "kind": t.get("kind", ""),
                    "source": " / ".join(str(v) for v in ((t.get("source") or {}).get("dataset"),
                                                          (t.get("source") or {}).get("split")) if v),
                    "mode": (t.get("meta") or {}).get("mode", ""), "instances": per_task.get(t.get("id"), 0)})
    return {"tasks": out, "total": total, "page": page, "pages": max(1, -(-total // size)),
            "stream": idx.run.examples_stream}


def task_detail(idx: RunIndex, task_id: str, n: int = 20) -> dict[str, Any] | None:
    got = idx.find("tasks", task_id)
    if got is None:
        return None
    row, t = got
    stream = idx.run.examples_stream or "instances"
    rows, total = idx.search(stream, {"task": task_id}, "", 1, n)
    insts = [{"rid": r["rid"], **{k: idx.load(r).get(k, "") for k in ("input", "output")}} for r in rows]
    return {"task": t, "demos": t.get("demonstrations") or [], "instances": insts, "total": total, "stream": stream,
            "raw": json.dumps(t, ensure_ascii=False, indent=2)}


def _used_concepts(idx: RunIndex) -> tuple[set[tuple[str, int, str]], dict[tuple[str, int], list[dict]]]:
    used: set[tuple[str, int, str]] = set()
    by_session: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for row, q in idx.iter_stream("questions"):
        if q.get("failure"):
            continue
        draw = q.get("draw") or {}
        for s, c in draw.get("concepts") or []:
            used.add((q.get("syllabus_id"), int(s), str(c).lower()))
        for s in draw.get("sessions") or []:
            by_session[(q.get("syllabus_id"), int(s))].append({"rid": row["rid"], "title": row["title"]})
    return used, by_session


def glan_tree(idx: RunIndex) -> dict[str, Any]:
    """fields -> disciplines -> subjects -> syllabi -> sessions -> concepts, each with coverage."""
    if "syllabi" not in idx.run.streams and "subjects" not in idx.run.streams:
        return {"present": False, "fields": []}
    used, questions = _used_concepts(idx) if "questions" in idx.run.streams else (set(), {})
    syllabi: dict[str, list[dict]] = defaultdict(list)
    for row, syl in idx.iter_stream("syllabi"):
        sessions = []
        usable = syl.get("usable_concepts") or []
        for i, sess in enumerate(syl.get("sessions") or []):
            concepts = [{"name": c, "used": (syl.get("id"), i, str(c).lower()) in used}
                        for c in (usable[i] if i < len(usable) else sess.get("key_concepts") or [])]
            sessions.append({"title": sess.get("title", f"session {i + 1}"), "description": sess.get("description", ""),
                             "concepts": concepts, "questions": questions.get((syl.get("id"), i), [])})
        syllabi[syl.get("subject_id")].append({"rid": row["rid"], "failure": syl.get("failure"),
                                               "flags": syl.get("flags") or [], "sessions": sessions})
    tree: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for row, subj in idx.iter_stream("subjects"):
        node = {"rid": row["rid"], "name": subj.get("name", ""), "level": subj.get("level", ""),
                "selected": subj.get("selected", True), "syllabi": syllabi.get(subj.get("id"), [])}
        concepts = [c for s in node["syllabi"] for sess in s["sessions"] for c in sess["concepts"]]
        node["concepts"], node["used"] = len(concepts), sum(c["used"] for c in concepts)
        node["questions"] = sum(len(sess["questions"]) for s in node["syllabi"] for sess in s["sessions"])
        tree[f"{subj.get('field', '')} / {subj.get('sub_field', '')}"][subj.get("discipline", "")].append(node)
    fields = []
    for fname, discs in tree.items():
        dl = []
        for dname, subjects in discs.items():
            c, u = sum(s["concepts"] for s in subjects), sum(s["used"] for s in subjects)
            dl.append({"name": dname, "subjects": subjects, "concepts": c, "used": u,
                       "share": round(u / c, 3) if c else 0.0})
        fields.append({"name": fname, "disciplines": dl})
    cov = idx.run.manifest.get("coverage") or {}
    return {"present": True, "fields": fields, "coverage": {k: v for k, v in cov.items() if not isinstance(v, dict)}}


def _map_text(rec: dict[str, Any]) -> str:
    return f"{rec.get('instruction', '')} {rec.get('input', '')}"


def qdit(idx: RunIndex, links: bool = True) -> dict[str, Any]:
    """The summary, the sweep, and selected vs unselected examples on a 2-D map of their embeddings."""
    out: dict[str, Any] = {"errors": []}
    try:
        out["summary"] = idx.run.side_json("summary.json") or {}
    except ValueError as e:
        out["summary"] = {}
        out["errors"].append(str(e))
    s = out["summary"]
    out["rows"] = [(name, s[key]) for name, key in (("QDIT", "qdit"), ("random", "random"),
                                                    ("quality only", "quality_only")) if isinstance(s.get(key), dict)]
    out["facts"] = {k: s.get(k) for k in ("pool", "k", "alpha", "engine", "quality", "objective", "input") if k in s}
    out["sweep_png"] = "sweep.png" if "sweep.png" in idx.run.images else None
    sweep = s.get("sweep") or []
    out["sweep_svg"] = "" if out["sweep_png"] or not sweep else plots.line_svg(
        [r["alpha"] for r in sweep], {k: [r.get(k) for r in sweep] for k in ("diversity", "mean_quality")}, "alpha")
    out["sweep"] = sweep
    out["map"], out["map_note"] = qdit_map(idx, links)
    pool_err = next((st["error"] for st in idx.streams() if st["name"] == "pool" and st["error"]), None)
    if pool_err:
        out["errors"].append(pool_err)
    return out


def qdit_map(idx: RunIndex, links: bool = True) -> tuple[str, str]:
    streams = {st["name"] for st in idx.streams() if st["n"]}
    stream = "pool" if "pool" in streams else ("selected" if "selected" in streams else None)
    if stream is None:
        return "", "no examples to map"
    sel = [(r, rec) for r, rec in idx.iter_stream(stream, MAP_POINTS, "AND selected=1")]
    rest_ids = [r["rid"] for r in idx.q("SELECT rid FROM records WHERE stream=? AND (selected IS NULL OR selected=0)",
                                        (stream,))]
    rng = random.Random(0)
    rest_ids = sorted(rng.sample(rest_ids, min(len(rest_ids), max(0, MAP_POINTS - len(sel)))))
    rest = [idx.record(rid) for rid in rest_ids]
    points = sel + [p for p in rest if p is not None]
    if len(points) < 2:
        return "", "fewer than two examples: nothing to map"
    vectors, source = cached_vectors(idx.run.manifest.get("config") or {}, [rec for _, rec in points])
    if vectors is not None:
        xy, how = plots.pca_2d(vectors), f"2-D PCA of the embeddings QDIT selected on ({source}, from the embedding cache)"
    else:
        xy = plots.pca_2d(plots.hashed_tfidf([_map_text(rec) for _, rec in points]))
        how = f"2-D PCA of hashed TF-IDF of instruction + input (embeddings not available: {source})"
    groups = [0 if (r["selected"] == 1) else 1 for r, _ in points]
    note = (f"{len(sel)} selected and {len(points) - len(sel)} unselected examples"
            + (" (a sample)" if len(rest_ids) < idx.q("SELECT COUNT(*) FROM records WHERE stream=?", (stream,))[0][0]
               - len(sel) else "") + "; " + how)
    if stream == "selected":
        note += "; the input pool is not readable, so only selected examples are shown"
    svg = plots.scatter_svg(xy, groups, [r["title"] for r, _ in points], ["selected", "not selected"],
                            "PC 1", "PC 2", links=[f"record/{r['rid']}" for r, _ in points] if links else None)
    return svg, note


def active(idx: RunIndex) -> dict[str, Any]:
    """Tasks on the (prompt uncertainty, prediction probability) plane; selected ones highlighted."""
    scores = [rec for _, rec in idx.iter_stream("scores")] if "scores" in idx.run.streams else []
    chosen = {rec.get("task_id") or rec.get("id") for _, rec in idx.iter_stream("selected")} \
        if "selected" in idx.run.streams else set()
    pts = [s for s in scores if isinstance(s.get("pu"), (int, float)) and isinstance(s.get("pp"), (int, float))]
    # PU across, PP up: the axes of the Active-IT paper's task map and of ``instructkit taskmap``'s PNG
    svg = plots.scatter_svg([[s["pu"], s["pp"]] for s in pts], [0 if s.get("task_id") in chosen else 1 for s in pts],
                            [f"{s.get('task_id')}: PU {s['pu']:.3f} PP {s['pp']:.3f}" for s in pts],
                            ["selected", "not selected"], "prompt uncertainty (PU)",
                            "prediction probability (PP)") if pts else ""
    rows = sorted(({"task_id": s.get("task_id"), "pu": s.get("pu"), "pp": s.get("pp"),
                    "perplexity": s.get("perplexity"), "kind": s.get("kind"), "selected": s.get("task_id") in chosen}
                   for s in scores), key=lambda r: -(r["pu"] or 0))
    maps = [p for p in idx.run.images if "map" in p.lower()]
    return {"svg": svg, "rows": rows[:500], "n": len(scores), "maps": maps,
            "strategy": (idx.run.manifest.get("config") or {}).get("strategy")}


def _pair_text(rec: dict[str, Any], limit: int = 240) -> str:
    """Input and output of a deduplicated record, cut: near-duplicates often share their instruction and differ
    only there, so the group shows them beside each other."""
    parts = [f"{k}: {' '.join(str(rec[k]).split())[:limit]}" for k in ("input", "output") if rec.get(k)]
    return "\n".join(parts)


def dedup(idx: RunIndex, page: int = 1, size: int = 20) -> dict[str, Any]:
    """Groups of near-duplicates: the kept record beside the dropped ones, with their similarity."""
    if "groups" not in idx.run.streams:
        return {"present": False, "groups": [], "total": 0, "page": 1, "pages": 1}
    rows, total = idx.search("groups", {}, "", page, size)
    kept_stream = "kept" if "kept" in idx.run.streams else None
    out = []
    for row in rows:
        g = idx.load(row)
        kept = idx.find(kept_stream, g.get("kept_id", "")) if kept_stream else None
        dropped = []
        sims = g.get("similarity_to_kept") or []
        for i, mid in enumerate(g.get("members") or []):
            if mid == g.get("kept_id"):
                continue
            d = idx.find("dropped", mid) if "dropped" in idx.run.streams else None
            dropped.append({"id": mid, "rid": d[0]["rid"] if d else None, "title": d[0]["title"] if d else "",
                            "text": _pair_text(d[1]) if d else "", "similarity": sims[i] if i < len(sims) else None})
        out.append({"id": g.get("id"), "size": g.get("size"), "kept_id": g.get("kept_id"), "dropped": dropped,
                    "kept": {"rid": kept[0]["rid"], "title": kept[0]["title"], "text": _pair_text(kept[1])}
                    if kept else None})
    return {"present": True, "groups": out, "total": total, "page": page, "pages": max(1, -(-total // size)),
            "counts": idx.run.manifest.get("counts") or {}}
