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

from instructkit.generate.glan import prompts
from instructkit.generate.glan.context import MAX_CONCEPTS, MAX_SESSIONS, Ctx
from instructkit.generate.glan.nodes import NodeStage, run_nodes
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


def _extract_failure(parsed: Any, text: str) -> str | None:
    return None if parsed.items else ("empty_output" if not text.strip() else "unparseable_extraction")


def _failed_extraction(rec: dict[str, Any]) -> dict[str, Any]:
    return {"schema_error": rec["schema_error"], "text": rec["text"][:500]}


# -- stage 1: subjects --------------------------------------------------------------------------
SubjectSample = tuple[Discipline, int, str]                  # (discipline, sample, raw id)
SubjectRaw = tuple[Discipline, dict[str, Any], str]          # (discipline, raw record, extraction id)


def subject_samples(ctx: Ctx) -> NodeStage[SubjectSample]:
    """Free-text subject lists, ``subject_samples`` per discipline (T=1.0, top-p 0.95)."""
    spec, cfg = ctx.cfg.model_for("subjects"), ctx.cfg

    def record(n: SubjectSample, res: Any) -> dict[str, Any]:
        d, i, rid = n
        return {"id": rid, "discipline_id": d.id, "discipline": d.name, "sample": i, "model": redact(spec),
                "template": prompts.version("glan_subjects"), "text": res.text, "finish_reason": res.finish_reason,
                "completion_tokens": res.completion_tokens, "failure": None if res.text.strip() else "empty_output"}

    return NodeStage(
        stage="subjects", calls="subjects", progress="subjects: sample", stream="subjects_raw",
        template="glan_subjects", node_id=lambda n: n[2], discipline=lambda n: n[0].name,
        variables=lambda n: dict(discipline=n[0].name, field=n[0].field, sub_field=n[0].sub_field,
                                 description=n[0].description),
        sampling=lambda n: dict(temperature=1.0, top_p=TOP_P, max_tokens=cfg.tokens_for("subjects"), seed=cfg.seed,
                                sample=n[1]),
        record=record, context=lambda n: {"discipline": n[0].name, "sample": n[1]})


def subject_extracts(ctx: Ctx) -> NodeStage[SubjectRaw]:
    """Each sample's subjects as JSON (schema-constrained, T=0), salvaged from the free text if need be."""
    cfg = ctx.cfg

    def record(n: SubjectRaw, res: Any) -> dict[str, Any]:
        _, raw, eid = n
        parsed = parse_subjects(res.text, fallback_text=raw["text"])
        return {"id": eid, "raw_id": raw["id"], "discipline_id": n[0].id, "sample": raw["sample"],
                "items": parsed.items, "how": parsed.how, "problems": parsed.problems,
                "schema_error": res.parse_error, "failure": _extract_failure(parsed, res.text), "text": res.text,
                **repair_note(parsed, res.parse_error)}

    return NodeStage(
        stage="subjects_extract", calls="subjects", progress="subjects: extract", stream="subjects_extracted",
        template="glan_subjects_extract", node_id=lambda n: n[2], discipline=lambda n: n[0].name,
        variables=lambda n: dict(discipline=n[0].name, text=n[1]["text"]),
        sampling=lambda n: dict(schema=SUBJECTS_SCHEMA, temperature=0.0, max_tokens=cfg.tokens_for("subjects_extract")),
        record=record, context=lambda n: {"discipline": n[0].name, "raw_id": n[1]["id"]},
        failure_details=_failed_extraction)


async def subjects_stage(ctx: Ctx, disciplines: list[Discipline], generate: bool) -> dict[str, list[Subject]]:
    """Sample, extract and merge subjects; returns all merged subjects per discipline id, most-named first."""
    spec = ctx.cfg.model_for("subjects")
    gen_v, ext_v = prompts.version("glan_subjects"), prompts.version("glan_subjects_extract")
    plan = [(d, i, stable_hash("glan-subjects-raw", d.id, i, spec, gen_v, ctx.cfg.seed))
            for d in disciplines for i in range(ctx.cfg.subject_samples)]
    raws = await run_nodes(ctx, subject_samples(ctx), plan, generate)
    ext_ids = {rid: stable_hash("glan-subjects-ext", rid, ext_v) for _, _, rid in plan}
    # an empty sample has nothing to extract (it is already rejected as empty_output)
    todo = [(d, raws[rid], ext_ids[rid]) for d, _, rid in plan if rid in raws and not raws[rid].get("failure")]
    exts = await run_nodes(ctx, subject_extracts(ctx), todo, generate)
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


SyllabusNode = tuple[Subject, str]                           # (subject, syllabus id)
SyllabusRaw = tuple[Subject, dict[str, Any], str]            # (subject, raw syllabus, extraction id)


def syllabus_drafts(ctx: Ctx) -> NodeStage[SyllabusNode]:
    """A free-text syllabus per subject (T=1.0, top-p 0.95)."""
    spec, cfg = ctx.cfg.model_for("syllabus"), ctx.cfg

    def record(n: SyllabusNode, res: Any) -> dict[str, Any]:
        s, sid = n
        return {"id": sid, "subject_id": s.id, "discipline_id": s.discipline.id, "subject": s.name,
                "model": redact(spec), "template": prompts.version("glan_syllabus"), "text": res.text,
                "finish_reason": res.finish_reason, "completion_tokens": res.completion_tokens,
                "failure": None if res.text.strip() else "empty_output"}

    return NodeStage(
        stage="syllabus", calls="syllabus", progress="syllabus: generate", stream="syllabi_raw",
        template="glan_syllabus", node_id=lambda n: n[1], discipline=lambda n: n[0].discipline.name,
        variables=lambda n: dict(discipline=n[0].discipline.name, subject=n[0].name, level=n[0].level,
                                 subtopics=n[0].subtopics[:12]),
        sampling=lambda n: dict(temperature=1.0, top_p=TOP_P, max_tokens=cfg.tokens_for("syllabus"), seed=cfg.seed),
        record=record, context=lambda n: {"subject": n[0].name})


def syllabus_extracts(ctx: Ctx) -> NodeStage[SyllabusRaw]:
    """Each syllabus as sessions with key concepts (schema-constrained, T=0), bounds flagged."""
    cfg = ctx.cfg

    def record(n: SyllabusRaw, res: Any) -> dict[str, Any]:
        s, raw, eid = n
        parsed = parse_sessions(res.text, fallback_text=raw["text"])
        usable, flags = check_bounds(parsed.items, cfg.max_sessions)
        failure = _extract_failure(parsed, res.text)
        if failure is None and not any(usable):
            failure = "no_key_concepts"
        return {"id": eid, "syllabus_id": raw["id"], "subject_id": s.id, "discipline_id": s.discipline.id,
                "subject": s.name, "sessions": parsed.items, "usable_concepts": usable, "flags": flags,
                "how": parsed.how, "problems": parsed.problems, "schema_error": res.parse_error,
                "failure": failure, "text": res.text, **repair_note(parsed, res.parse_error)}

    return NodeStage(
        stage="syllabus_extract", calls="syllabus", progress="syllabus: extract", stream="syllabi",
        template="glan_syllabus_extract", node_id=lambda n: n[2], discipline=lambda n: n[0].discipline.name,
        variables=lambda n: dict(discipline=n[0].discipline.name, subject=n[0].name, text=n[1]["text"]),
        sampling=lambda n: dict(schema=SESSIONS_SCHEMA, temperature=0.0,
                                max_tokens=cfg.tokens_for("syllabus_extract")),
        record=record, context=lambda n: {"subject": n[0].name, "raw_id": n[1]["id"]},
        failure_details=_failed_extraction)


async def syllabus_stage(ctx: Ctx, subjects: list[Subject], generate: bool) -> list[dict[str, Any]]:
    """Generate and extract a syllabus per subject; returns the extracted syllabus records."""
    ext_v = prompts.version("glan_syllabus_extract")
    plan = [(s, syllabus_id(ctx, s)) for s in subjects]
    raws = await run_nodes(ctx, syllabus_drafts(ctx), plan, generate)
    ext_ids = {sid: stable_hash("glan-syllabus-ext", sid, ext_v) for _, sid in plan}
    todo = [(s, raws[sid], ext_ids[sid]) for s, sid in plan if sid in raws and not raws[sid].get("failure")]
    exts = await run_nodes(ctx, syllabus_extracts(ctx), todo, generate)
    return [exts[ext_ids[sid]] for _, sid in plan if ext_ids[sid] in exts]
