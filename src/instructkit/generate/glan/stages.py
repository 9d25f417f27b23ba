"""GLAN stages 1 and 2: subjects per discipline, syllabus per subject.

Each stage is generation (free text, T=1.0, top-p 0.95) followed by a schema-constrained
extraction call. Both are resumable per node: the raw completions live in their own streams
(``subjects_raw``, ``syllabi_raw``), the extractions in theirs (``subjects_extracted``,
``syllabi``), each keyed by a stable id, so a re-run skips finished nodes and a changed
extraction prompt re-extracts without paying for generation again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from instructkit.errors import ModelError
from instructkit.generate.glan import prompts
from instructkit.generate.glan.context import MAX_CONCEPTS, MAX_SESSIONS, Ctx, run_jobs
from instructkit.generate.glan.parse import normalize_name, parse_sessions, parse_subjects
from instructkit.generate.glan.taxonomy import Discipline
from instructkit.records import stable_hash
from instructkit.redact import redact

TOP_P = 0.95
SUBJECTS_SCHEMA = {
    "type": "object", "required": ["subjects"],
    "properties": {"subjects": {"type": "array", "items": {
        "type": "object", "required": ["name", "level", "subtopics"],
        "properties": {"name": {"type": "string"}, "level": {"type": "string"},
                       "subtopics": {"type": "array", "items": {"type": "string"}}}}}}}
SESSIONS_SCHEMA = {
    "type": "object", "required": ["sessions"],
    "properties": {"sessions": {"type": "array", "items": {
        "type": "object", "required": ["title", "description", "key_concepts"],
        "properties": {"title": {"type": "string"}, "description": {"type": "string"},
                       "key_concepts": {"type": "array", "items": {"type": "string"}}}}}}}


@dataclass
class Subject:
    """A subject of a discipline, merged over the samples that named it."""

    id: str
    discipline: Discipline
    name: str
    level: str
    subtopics: list[str]
    count: int                       # how many samples named it
    first_seen: tuple[int, int]      # (sample, position): the tie-break after count
    levels: dict[str, int] = field(default_factory=dict)
    variants: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = self.discipline
        return {"id": self.id, "discipline_id": d.id, "field": d.field, "sub_field": d.sub_field,
                "discipline": d.name, "name": self.name, "level": self.level, "subtopics": self.subtopics,
                "count": self.count, "levels": self.levels, "variants": self.variants}


def _fail(ctx: Ctx, item_id: str, stage: str, result: ModelError, **details: Any) -> None:
    ctx.run.reject(item_id, f"model_error:{result.kind}", stage=stage, error=str(result)[:300], **details)


# -- stage 1: subjects --------------------------------------------------------------------------
async def subjects_stage(ctx: Ctx, disciplines: list[Discipline], generate: bool) -> dict[str, list[Subject]]:
    """Sample, extract and merge subjects; returns all merged subjects per discipline id, most-named first."""
    spec = ctx.cfg.model_for("subjects")
    raw_s, ext_s = ctx.run.stream("subjects_raw"), ctx.run.stream("subjects_extracted")
    gen_v, ext_v = prompts.version("glan_subjects"), prompts.version("glan_subjects_extract")
    plan = [(d, i, stable_hash("glan-subjects-raw", d.id, i, spec, gen_v, ctx.cfg.seed))
            for d in disciplines for i in range(ctx.cfg.subject_samples)]

    async def gen(d: Discipline, i: int, rid: str) -> None:
        msgs, _ = prompts.render("glan_subjects", discipline=d.name, field=d.field,
                                 sub_field=d.sub_field, description=d.description)
        res = await ctx.chat("subjects", d.name, spec, msgs, gen_v, temperature=1.0, top_p=TOP_P,
                             max_tokens=ctx.cfg.tokens_for("subjects"), seed=ctx.cfg.seed, sample=i)
        if isinstance(res, ModelError):
            return _fail(ctx, rid, "subjects", res, discipline=d.name, sample=i)
        raw_s.append({"id": rid, "discipline_id": d.id, "discipline": d.name, "sample": i, "model": redact(spec),
                      "template": gen_v, "text": res.text, "finish_reason": res.finish_reason,
                      "completion_tokens": res.completion_tokens,
                      "failure": None if res.text.strip() else "empty_output"})
        if not res.text.strip():
            ctx.run.reject(rid, "empty_output", stage="subjects", discipline=d.name, sample=i)

    if generate:
        await run_jobs("subjects: sample", [lambda a=a: gen(*a) for a in plan if not raw_s.has(a[2])],
                       ctx.pool.ledger)
    raws = {r["id"]: r for r in raw_s.records()}
    ctx.account("subjects", [rid for _, _, rid in plan], raws)
    ext_ids = {rid: stable_hash("glan-subjects-ext", rid, ext_v) for _, _, rid in plan}

    async def extract(d: Discipline, raw: dict[str, Any], eid: str) -> None:
        msgs, _ = prompts.render("glan_subjects_extract", discipline=d.name, text=raw["text"])
        res = await ctx.chat("subjects", d.name, spec, msgs, ext_v, schema=SUBJECTS_SCHEMA,
                             temperature=0.0, max_tokens=ctx.cfg.tokens_for("subjects_extract"))
        if isinstance(res, ModelError):
            return _fail(ctx, eid, "subjects_extract", res, discipline=d.name, raw_id=raw["id"])
        parsed = parse_subjects(res.text, fallback_text=raw["text"])
        failure = None if parsed.items else ("empty_output" if not res.text.strip() else "unparseable_extraction")
        ext_s.append({"id": eid, "raw_id": raw["id"], "discipline_id": d.id, "sample": raw["sample"],
                      "items": parsed.items, "how": parsed.how, "problems": parsed.problems,
                      "schema_error": res.parse_error, "failure": failure, "text": res.text,
                      **repair_note(parsed, res.parse_error)})
        if failure:
            ctx.run.reject(eid, failure, stage="subjects_extract", discipline=d.name, raw_id=raw["id"],
                           schema_error=res.parse_error, text=res.text[:500])

    todo = [(d, raws[rid], ext_ids[rid]) for d, _, rid in plan
            if rid in raws and raws[rid]["text"].strip() and not ext_s.has(ext_ids[rid])]
    if generate:
        await run_jobs("subjects: extract", [lambda a=a: extract(*a) for a in todo], ctx.pool.ledger)
    exts = {r["id"]: r for r in ext_s.records()}
    ctx.account("subjects_extract", [ext_ids[rid] for _, _, rid in plan
                                     if rid in raws and not raws[rid].get("failure")], exts)
    by_disc: dict[str, list[dict[str, Any]]] = {}
    for d, _, rid in plan:
        if ext_ids[rid] in exts:
            by_disc.setdefault(d.id, []).append(exts[ext_ids[rid]])
    return {d.id: merge_subjects(d, by_disc.get(d.id, []), None) for d in disciplines}


def repair_note(parsed: Any, schema_error: str | None) -> dict[str, Any]:
    """``repaired: true`` and why, when the items were salvaged from an answer that was not the clean
    JSON asked for (it failed the schema, or was read as recovered objects, a repaired truncation or
    the free-text list), else nothing."""
    if not parsed.items or (parsed.how == "json" and not schema_error):
        return {}
    why = [f"read as {parsed.how}"] + list(parsed.problems) + ([f"schema: {schema_error}"] if schema_error else [])
    return {"repaired": True, "repair_reason": "; ".join(why)}


def merge_subjects(d: Discipline, extractions: list[dict[str, Any]], limit: int | None) -> list[Subject]:
    """Merge subjects named in several samples (same normalized name); most-named first.

    >>> from instructkit.generate.glan.taxonomy import Discipline
    >>> d = Discipline("F", "S", "Optics")
    >>> ex = [{"sample": 0, "items": [{"name": "Lenses", "level": "intro", "subtopics": ["focal length"]}]},
    ...       {"sample": 1, "items": [{"name": "The lenses", "level": "intro", "subtopics": ["aberration"]}]}]
    >>> [(s.name, s.count, s.subtopics) for s in merge_subjects(d, ex, None)]
    [('Lenses', 2, ['focal length', 'aberration'])]
    """
    merged: dict[str, Subject] = {}
    for ext in sorted(extractions, key=lambda e: e["sample"]):
        seen_here: set[str] = set()
        for pos, item in enumerate(ext.get("items") or []):
            key = normalize_name(item["name"])
            if not key:
                continue
            s = merged.get(key)
            if s is None:
                s = merged[key] = Subject(stable_hash("glan-subject", d.id, key), d, item["name"], "",
                                          [], 0, (ext["sample"], pos))
            if key not in seen_here:  # a sample repeating a subject counts once
                s.count += 1
                seen_here.add(key)
            s.levels[item.get("level") or "unspecified"] = s.levels.get(item.get("level") or "unspecified", 0) + 1
            if item["name"] not in s.variants:
                s.variants.append(item["name"])
            s.subtopics += [t for t in item.get("subtopics") or [] if t.lower() not in
                            {x.lower() for x in s.subtopics}][: max(0, 30 - len(s.subtopics))]
    out = sorted(merged.values(), key=lambda s: (-s.count, s.first_seen))
    for s in out:
        known = {k: v for k, v in s.levels.items() if k != "unspecified"} or s.levels
        s.level = max(known, key=lambda k: (known[k], -list(s.levels).index(k)))
    return out[:limit] if limit else out


# -- stage 2: syllabus --------------------------------------------------------------------------
def syllabus_id(ctx: Ctx, subject: Subject) -> str:
    return stable_hash("glan-syllabus", subject.id, ctx.cfg.model_for("syllabus"),
                       prompts.version("glan_syllabus"), ctx.cfg.seed)


def check_bounds(sessions: list[dict[str, Any]], max_sessions: int) -> tuple[list[list[str]], list[str]]:
    """Concept lists the sampler may use, and the outlier flags (nothing is silently dropped).

    Bounds: 1..40 sessions (and at most ``max_sessions`` used), 1..10 key concepts per session.
    A session with no concept is kept in the record but cannot be drawn; one with more than 10
    is used with its first 10.
    """
    flags: list[str] = []
    if not sessions:
        flags.append("no_sessions")
    if len(sessions) > MAX_SESSIONS:
        flags.append(f"sessions_above_{MAX_SESSIONS}:{len(sessions)}")
    cap = min(MAX_SESSIONS, max_sessions)
    if len(sessions) > cap:
        flags.append(f"sessions_capped_at:{cap}")
    usable: list[list[str]] = []
    for i, s in enumerate(sessions[:cap], 1):
        n = len(s["key_concepts"])
        if n == 0:
            flags.append(f"session_{i}_no_concepts")
        elif n > MAX_CONCEPTS:
            flags.append(f"session_{i}_concepts_above_{MAX_CONCEPTS}:{n}")
        usable.append(list(s["key_concepts"][:MAX_CONCEPTS]))
    return usable, flags


async def syllabus_stage(ctx: Ctx, subjects: list[Subject], generate: bool) -> list[dict[str, Any]]:
    """Generate and extract a syllabus per subject; returns the extracted syllabus records."""
    spec = ctx.cfg.model_for("syllabus")
    raw_s, ext_s = ctx.run.stream("syllabi_raw"), ctx.run.stream("syllabi")
    gen_v, ext_v = prompts.version("glan_syllabus"), prompts.version("glan_syllabus_extract")
    plan = [(s, syllabus_id(ctx, s)) for s in subjects]

    async def gen(s: Subject, sid: str) -> None:
        msgs, _ = prompts.render("glan_syllabus", discipline=s.discipline.name, subject=s.name,
                                 level=s.level, subtopics=s.subtopics[:12])
        res = await ctx.chat("syllabus", s.discipline.name, spec, msgs, gen_v, temperature=1.0,
                             top_p=TOP_P, max_tokens=ctx.cfg.tokens_for("syllabus"), seed=ctx.cfg.seed)
        if isinstance(res, ModelError):
            return _fail(ctx, sid, "syllabus", res, subject=s.name)
        raw_s.append({"id": sid, "subject_id": s.id, "discipline_id": s.discipline.id, "subject": s.name,
                      "model": redact(spec), "template": gen_v, "text": res.text,
                      "finish_reason": res.finish_reason, "completion_tokens": res.completion_tokens,
                      "failure": None if res.text.strip() else "empty_output"})
        if not res.text.strip():
            ctx.run.reject(sid, "empty_output", stage="syllabus", subject=s.name)

    if generate:
        await run_jobs("syllabus: generate", [lambda a=a: gen(*a) for a in plan if not raw_s.has(a[1])],
                       ctx.pool.ledger)
    raws = {r["id"]: r for r in raw_s.records()}
    ctx.account("syllabus", [sid for _, sid in plan], raws)
    ext_ids = {sid: stable_hash("glan-syllabus-ext", sid, ext_v) for _, sid in plan}

    async def extract(s: Subject, raw: dict[str, Any], eid: str) -> None:
        msgs, _ = prompts.render("glan_syllabus_extract", discipline=s.discipline.name, subject=s.name,
                                 text=raw["text"])
        res = await ctx.chat("syllabus", s.discipline.name, spec, msgs, ext_v, schema=SESSIONS_SCHEMA,
                             temperature=0.0, max_tokens=ctx.cfg.tokens_for("syllabus_extract"))
        if isinstance(res, ModelError):
            return _fail(ctx, eid, "syllabus_extract", res, subject=s.name, raw_id=raw["id"])
        parsed = parse_sessions(res.text, fallback_text=raw["text"])
        usable, flags = check_bounds(parsed.items, ctx.cfg.max_sessions)
        failure = None
        if not parsed.items:
            failure = "empty_output" if not res.text.strip() else "unparseable_extraction"
        elif not any(usable):
            failure = "no_key_concepts"
        ext_s.append({"id": eid, "syllabus_id": raw["id"], "subject_id": s.id, "discipline_id": s.discipline.id,
                      "subject": s.name, "sessions": parsed.items, "usable_concepts": usable, "flags": flags,
                      "how": parsed.how, "problems": parsed.problems, "schema_error": res.parse_error,
                      "failure": failure, "text": res.text, **repair_note(parsed, res.parse_error)})
        if failure:
            ctx.run.reject(eid, failure, stage="syllabus_extract", subject=s.name, raw_id=raw["id"],
                           schema_error=res.parse_error, text=res.text[:500])

    todo = [(s, raws[sid], ext_ids[sid]) for s, sid in plan
            if sid in raws and raws[sid]["text"].strip() and not ext_s.has(ext_ids[sid])]
    if generate:
        await run_jobs("syllabus: extract", [lambda a=a: extract(*a) for a in todo], ctx.pool.ledger)
    exts = {r["id"]: r for r in ext_s.records()}
    ctx.account("syllabus_extract", [ext_ids[sid] for _, sid in plan
                                     if sid in raws and not raws[sid].get("failure")], exts)
    return [exts[ext_ids[sid]] for _, sid in plan if ext_ids[sid] in exts]
