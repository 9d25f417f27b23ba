"""Active Instruction Tuning: prompt uncertainty (PU), prediction probability (PP), task selection.

For a task t with instruction I₀ (definition + demonstrations), ``n`` instances x_i are sampled and
``K`` perturbed instructions I_1..I_K are built once per task by dropping every word of the definition
and of the demonstration *inputs* independently with probability ``drop`` (demonstration outputs are
kept). y_i is the model's greedy answer under I₀, and

    p_{i,k} = exp(mean_j log P(y_i[j] | I_k, x_i, y_i[<j]))     (exp of minus the mean token NLL)
    PU(t)   = 1/(nK) Σ_i Σ_{k=1..K} |p_{i,0} − p_{i,k}|
    PP(t)   = 1/n Σ_i p_{i,0}
    perplexity(t) = exp(token-weighted mean NLL of all y_i under I₀)

Instances whose greedy answer is empty cannot be scored and are left out (``n`` says how many were
used). Everything is seeded per task (``stable_hash(seed, task id)``), so scores are reproducible.

>>> perturb_text("a b c d", 0.0, random.Random(0))
'a b c d'
>>> round(prompt_uncertainty([[0.5, 0.25, 0.75]])[0], 3)
0.25
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from instructkit import prompts
from instructkit.aio import gather_or_cancel
from instructkit.errors import ModelError, UnsupportedError
from instructkit.records import Example, Task, stable_hash
from instructkit.select.active.tasks_io import load_tasks

if TYPE_CHECKING:
    from instructkit.llm import LLM

PROMPT = "active_it"  # instructkit/prompts/active_it.j2; its cache tag keys score ids and model calls
STRATEGIES = ("uncertainty", "random", "high-perplexity", "low-perplexity")
_WORD = re.compile(r"\S+\s*")


# -- perturbation ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Instruction:
    """An instruction I_k: a definition plus demonstrations ({"input", "output"})."""

    definition: str
    demonstrations: tuple[tuple[str, str], ...] = ()


def perturb_text(text: str, drop: float, rng: random.Random) -> str:
    """``text`` with each whitespace-separated word dropped independently with probability ``drop``.

    Kept words keep their trailing whitespace, so line breaks survive.
    """
    lead = text[: len(text) - len(text.lstrip())]
    kept = [w for w in _WORD.findall(text) if rng.random() >= drop]
    return (lead + "".join(kept)).rstrip()


def build_perturbations(task: Task, k: int, drop: float, seed: int) -> list[Instruction]:
    """[I₀, I₁ … I_K]: I₀ is the task's instruction untouched; the K others drop words.

    Built from an RNG seeded by (seed, task id) alone, so they are the same every time for a task
    and do not depend on which other tasks are scored.
    """
    demos = tuple((d.get("input", ""), d.get("output", "")) for d in task.demonstrations)
    out = [Instruction(task.definition, demos)]
    rng = random.Random(stable_hash("active-perturb", seed, task.id))
    for _ in range(k):
        definition = perturb_text(task.definition, drop, rng)
        out.append(Instruction(definition, tuple((perturb_text(i, drop, rng), o) for i, o in demos)))
    return out


def sample_instances(task: Task, n: int, seed: int) -> list[Example]:
    """n instances of ``task`` drawn without replacement (all of them when it has fewer)."""
    if len(task.instances) <= n:
        return list(task.instances)
    rng = random.Random(stable_hash("active-instances", seed, task.id))
    idx = sorted(rng.sample(range(len(task.instances)), n))
    return [task.instances[i] for i in idx]


def build_messages(instr: Instruction, x: str) -> list[dict[str, str]]:
    """The chat prompt for instance input ``x`` under instruction ``instr``."""
    demos = [(inp.strip(), out.strip()) for inp, out in instr.demonstrations]
    text = prompts.render_text(PROMPT, definition=instr.definition.strip(), demonstrations=demos, input=x.strip())
    return [{"role": "user", "content": text}]


# -- the formulas ----------------------------------------------------------------------------
def prob_from_logprobs(logprobs: Sequence[float]) -> float:
    """exp(−mean token cross-entropy) = exp(mean token logprob): the length-normalized probability."""
    if not logprobs:
        raise ValueError("no tokens to score")
    return math.exp(sum(logprobs) / len(logprobs))


def prompt_uncertainty(p: Sequence[Sequence[float]]) -> tuple[float, float]:
    """(PU, PP) from ``p[i][k]`` (row i = instance, column 0 = original, 1..K = perturbed)."""
    if not p:
        raise ValueError("no instances")
    n, k = len(p), len(p[0]) - 1
    if k < 1 or any(len(row) != k + 1 for row in p):
        raise ValueError("every instance needs p under I₀ and the same K ≥ 1 perturbations")
    pu = sum(abs(row[0] - row[j]) for row in p for j in range(1, k + 1)) / (n * k)
    pp = sum(row[0] for row in p) / n
    return pu, pp


# -- scoring one task ------------------------------------------------------------------------
@dataclass
class ScoreConfig:
    instances: int = 10
    perturbations: int = 10
    drop: float = 0.2
    seed: int = 0
    max_tokens: int = 64

    def key(self, model_identity: Any, task: Task) -> str:
        """Score id: one per (model, task content, seed and settings)."""
        return stable_hash("active-score", model_identity, task.id, task.content_hash(),
                           asdict(self), prompts.cache_tag(PROMPT))


@dataclass
class TaskScore:
    task_id: str
    kind: str
    n: int
    pu: float | None
    pp: float | None
    perplexity: float | None
    instances_total: int
    p: list[list[float]] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    def to_dict(self, score_id: str, model: str, cfg: ScoreConfig) -> dict[str, Any]:
        return {"id": score_id, "task_id": self.task_id, "kind": self.kind, "pu": self.pu, "pp": self.pp,
                "perplexity": self.perplexity, "n": self.n, "instances_total": self.instances_total,
                "model": model, "seed": cfg.seed, "perturbations": cfg.perturbations, "drop": cfg.drop,
                "max_tokens": cfg.max_tokens, "p": self.p, "skipped": self.skipped}


def ensure_can_score(llm: "LLM") -> None:
    if not getattr(llm.backend.info, "can_score", True):
        raise UnsupportedError(f"model '{llm.spec}' cannot give token logprobs of a given text, which prompt "
                               "uncertainty needs; use local, local:/path.gguf or an OpenAI-compatible server "
                               "that returns prompt logprobs (vLLM, llama.cpp server)")


async def score_task(llm: "LLM", task: Task, cfg: ScoreConfig) -> TaskScore:
    """PU, PP and perplexity of ``task`` under ``llm`` (see the module docstring)."""
    instrs = build_perturbations(task, cfg.perturbations, cfg.drop, cfg.seed)
    xs = sample_instances(task, cfg.instances, cfg.seed)
    skipped: dict[str, int] = {}

    def skip(reason: str) -> None:
        skipped[reason] = skipped.get(reason, 0) + 1

    async def greedy(x: Example) -> str | None:
        try:
            comp = await llm.chat(build_messages(instrs[0], x.input), temperature=0.0,
                                  max_tokens=cfg.max_tokens, seed=0, template=prompts.cache_tag(PROMPT))
        except ModelError as e:
            if e.kind != "bad_request":
                raise
            skip("prompt_too_long")
            return None
        if not comp.text.strip():
            skip("empty_answer")
            return None
        return comp.text

    ys = await gather_or_cancel(*(greedy(x) for x in xs))

    async def score_one(instr: Instruction, x: Example, y: str):
        try:
            return await llm.score(build_messages(instr, x.input), y, template=prompts.cache_tag(PROMPT))
        except ModelError as e:
            if e.kind == "unsupported":
                raise UnsupportedError(f"model '{llm.spec}' cannot score text: {e}") from None
            if e.kind != "bad_request":
                raise
            return None

    p_rows: list[list[float]] = []
    nll_sum, n_tok = 0.0, 0
    for x, y in zip(xs, ys):
        if y is None:
            continue
        scored = await gather_or_cancel(*(score_one(ins, x, y) for ins in instrs))
        if any(s is None or not s.logprobs for s in scored):
            skip("unscorable")
            continue
        p_rows.append([prob_from_logprobs(s.logprobs) for s in scored])
        nll_sum -= sum(scored[0].logprobs)
        n_tok += len(scored[0].logprobs)
    if not p_rows:
        return TaskScore(task.id, task.kind, 0, None, None, None, len(task.instances), [], skipped)
    pu, pp = prompt_uncertainty(p_rows)
    ppl = math.exp(nll_sum / n_tok)
    return TaskScore(task.id, task.kind, len(p_rows), pu, pp, ppl, len(task.instances),
                     [[round(v, 6) for v in row] for row in p_rows], skipped)


# -- selection -------------------------------------------------------------------------------
def _order(rows: list[dict[str, Any]], strategy: str, seed: int) -> list[dict[str, Any]]:
    """``rows`` in the strategy's preference order (ties broken by task id, so it is deterministic)."""
    rows = sorted(rows, key=lambda r: r["task_id"])
    if strategy == "random":
        rng = random.Random(stable_hash("active-random", seed))
        rng.shuffle(rows)
        return rows
    if strategy == "uncertainty":
        return sorted(rows, key=lambda r: -r["pu"])
    if strategy == "high-perplexity":
        return sorted(rows, key=lambda r: -r["perplexity"])
    if strategy == "low-perplexity":
        return sorted(rows, key=lambda r: r["perplexity"])
    raise ValueError(f"unknown strategy {strategy}")


def select_tasks(rows: list[dict[str, Any]], k: int, strategy: str = "uncertainty",
                 cls_ratio: float | None = None, seed: int = 0) -> tuple[list[dict[str, Any]], list[str]]:
    """The k preferred rows (each needs ``task_id``, ``kind`` and the strategy's score) and notes.

    With ``cls_ratio`` R, round(R·k) picks come from classification tasks and the rest from
    generation tasks; when one kind runs short the other fills in and a note says so.
    """
    order = _order(rows, strategy, seed)
    notes: list[str] = []
    if k >= len(order):
        if k > len(order):
            notes.append(f"asked for {k} tasks but only {len(order)} are eligible: all selected")
        picked = order
    elif cls_ratio is None:
        picked = order[:k]
    else:
        want_cls = round(cls_ratio * k)
        cls = [r for r in order if r["kind"] == "classification"][:want_cls]
        gen = [r for r in order if r["kind"] != "classification"][: k - want_cls]
        chosen = {r["task_id"] for r in cls + gen}
        if len(chosen) < k:
            notes.append(f"--cls-ratio {cls_ratio}: wanted {want_cls} classification + {k - want_cls} generation, "
                         f"had {len(cls)} + {len(gen)}; filled {k - len(chosen)} from the other kind")
            for r in order:
                if len(chosen) >= k:
                    break
                chosen.add(r["task_id"])
        picked = [r for r in order if r["task_id"] in chosen]
    return [dict(r, rank=i + 1) for i, r in enumerate(picked)], notes


# -- the whole command: score what is missing, then select ---------------------------------
def read_scores(path: str | Path) -> dict[str, dict[str, Any]]:
    """Scored rows of a ``scores.jsonl`` (or a folder holding one): the latest row per task id."""
    from instructkit.errors import UserError
    from instructkit.runs import read_jsonl

    p = Path(path)
    if p.is_dir():
        p = p / "scores.jsonl"
    if not p.is_file():
        raise UserError(f"{p}: no scores file; run 'instructkit select active' first or give its scores.jsonl")
    rows: dict[str, dict[str, Any]] = {}
    for i, row in enumerate(read_jsonl(p), 1):
        if "task_id" not in row or "pu" not in row:
            raise UserError(f"{p}:{i}: not a scores row (needs task_id, pu, pp, perplexity)")
        if row["pu"] is not None:
            _check_score_numbers(row, f"{p}:{i}")
            rows[str(row["task_id"])] = row
    return rows


def _check_score_numbers(row: dict[str, Any], where: str) -> None:
    """A scored row's pu and pp are finite numbers (perplexity too, or null): else one error line."""
    from instructkit.errors import UserError

    for key in ("pu", "pp", "perplexity"):
        v = row.get(key)
        if v is None and key == "perplexity":
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise UserError(f"{where}: '{key}' must be a number, got {json.dumps(v)[:40]}; "
                            "give the scores.jsonl that 'select active' wrote")
    if not isinstance(row["task_id"], (str, int)) or isinstance(row["task_id"], bool):
        raise UserError(f"{where}: 'task_id' must be text")


def _read_exclude(paths: Sequence[str | Path]) -> set[str]:
    from instructkit.errors import UserError
    from instructkit.runs import read_jsonl

    ids: set[str] = set()
    for raw in paths:
        p = Path(raw)
        if not p.is_file():
            raise UserError(f"--exclude {p}: file not found")
        if p.suffix == ".jsonl":
            for i, row in enumerate(read_jsonl(p), 1):
                if "task_id" not in row:
                    raise UserError(f"--exclude {p}:{i}: row has no task_id")
                ids.add(str(row["task_id"]))
        else:
            ids.update(line.strip() for line in p.read_text(encoding="utf-8").splitlines() if line.strip())
    return ids


async def _score_all(llm: "LLM", tasks: list[Task], cfg: ScoreConfig, keys: dict[str, str],
                     run: Any, bar: Any, parallel: int) -> dict[str, str]:
    """Score ``tasks`` into ``scores.jsonl``; returns {task id: error kind} of those a model error
    stopped (nothing is written for them, so a re-run scores them again)."""
    sem = asyncio.Semaphore(max(1, parallel))
    stream = run.stream("scores")
    failed: dict[str, str] = {}

    async def one(t: Task) -> None:
        async with sem:
            try:
                ts = await score_task(llm, t, cfg)
            except UnsupportedError:
                raise
            except ModelError as e:
                failed[t.id] = e.kind
                bar.advance()
                return
        stream.append(ts.to_dict(keys[t.id], llm.spec, cfg))
        if ts.pu is None:
            run.reject(t.id, "no instance could be scored", stage="score", skipped=ts.skipped)
        bar.advance()

    try:
        await gather_or_cancel(*(one(t) for t in tasks))
    finally:
        await llm.aclose()
    return failed


def select_active(task_paths: Sequence[str | Path], out: str | Path, k: int, *, model: str = "local",
                  cfg: ScoreConfig | None = None, strategy: str = "uncertainty",
                  cls_ratio: float | None = None, scores: str | Path | None = None,
                  exclude: Sequence[str | Path] = (), task_field: str = "task_id",
                  concurrency: int = 4, argv: list[str] | None = None, options: Any = None,
                  skip_bad_rows: bool = False) -> dict[str, Any]:
    """Score the tasks that have no score yet for this (model, task, seed, settings), then select k.

    ``k`` larger than the eligible tasks selects them all and says so (``notes``, ``requested``).

    Writes ``OUT/scores.jsonl`` (append-only, resumable), ``selected.jsonl``,
    ``selected_examples.jsonl`` and ``manifest.json``; returns the manifest's summary.

    >>> select_active(["examples/active"], "runs/round1", k=3)   # doctest: +SKIP
    """
    from instructkit import ui
    from instructkit.errors import UserError
    from instructkit.llm import ModelOptions, open_model
    from instructkit.llm.usage import UsageLedger
    from instructkit.runs import RunDir, atomic_write_jsonl

    cfg = cfg or ScoreConfig()
    if strategy not in STRATEGIES:
        raise UserError(f"--strategy {strategy}: use one of {', '.join(STRATEGIES)}")
    if cls_ratio is not None and not 0.0 <= cls_ratio <= 1.0:
        raise UserError(f"--cls-ratio {cls_ratio}: must be between 0 and 1")
    bad_rows: list | None = [] if skip_bad_rows else None
    tasks = load_tasks_excluding(task_paths, task_field, _read_exclude(exclude), bad_rows)
    config = {"tasks": [str(p) for p in task_paths], "k": k, "model": model, **asdict(cfg),
              "strategy": strategy, "cls_ratio": cls_ratio, "scores": str(scores) if scores else None,
              "exclude": [str(p) for p in exclude], "prompt_version": prompts.cache_tag(PROMPT)}
    with RunDir(out, command="select active", config=config, argv=argv) as run:
        from instructkit.rowcheck import reject_bad_rows

        n_bad = reject_bad_rows(run, bad_rows or [])
        ledger = None
        scored_now = 0
        failed: dict[str, str] = {}
        if scores is not None:
            by_task = read_scores(scores)
        else:
            llm = open_model(model, cache=run.cache_path, ledger=UsageLedger(),
                             options=options or ModelOptions(concurrency=concurrency))
            ident = llm.backend.info.identity
            keys = {t.id: cfg.key(ident, t) for t in tasks}
            stream = run.stream("scores")
            todo = [t for t in tasks if not stream.has(keys[t.id])]
            if strategy != "random" and todo:
                ensure_can_score(llm)
                with ui.progress("scoring tasks", total=len(todo), ledger=llm.ledger) as bar:
                    failed = asyncio.run(_score_all(llm, todo, cfg, keys, run, bar, concurrency))
                scored_now = len(todo) - len(failed)
            ledger = llm.ledger
            wanted = set(keys.values())
            by_task = {r["task_id"]: r for r in stream.records() if r["id"] in wanted}
        rows = []
        for t in tasks:
            r = by_task.get(t.id)
            if r is not None and r.get("pu") is not None:
                rows.append({k_: v for k_, v in r.items() if k_ not in ("p", "id")} | {"kind": t.kind})
            elif strategy == "random":
                rows.append({"task_id": t.id, "kind": t.kind, "pu": None, "pp": None, "perplexity": None,
                             "n": 0, "instances_total": len(t.instances)})
        picked, notes = select_tasks(rows, k, strategy, cls_ratio, cfg.seed)
        by_id = {t.id: t for t in tasks}
        for r in picked:
            t = by_id[r["task_id"]]
            r.update(definition=t.definition, source=t.source)
        atomic_write_jsonl(run.path / "selected.jsonl", picked)
        n_examples = atomic_write_jsonl(run.path / "selected_examples.jsonl",
                                        (e.to_dict() for r in picked for e in by_id[r["task_id"]].training_examples()))
        summary = {"tasks": len(tasks), "scored_now": scored_now, "failed": len(failed),
                   "failed_kinds": dict(Counter(failed.values())),
                   "eligible": len(rows), "unscorable": sum(1 for t in tasks if t.id not in {r["task_id"] for r in rows} | set(failed)),
                   "requested": k, "selected": len(picked), "bad_rows": n_bad,
                   "selected_classification": sum(r["kind"] == "classification" for r in picked),
                   "selected_generation": sum(r["kind"] != "classification" for r in picked),
                   "selected_examples": n_examples, "notes": notes}
        summary["status"] = run.finish(
            outputs={"examples": "selected_examples.jsonl", "selected": "selected.jsonl", "scores": "scores.jsonl"},
            counts=summary, usage=ledger, failed=len(failed), produced=len(picked), failed_items=failed)
    return summary


def load_tasks_excluding(paths: Sequence[str | Path], task_field: str, exclude: set[str],
                         bad_rows: list | None = None) -> list[Task]:
    from instructkit.errors import UserError

    tasks = [t for t in load_tasks(paths, task_field, bad_rows=bad_rows) if t.id not in exclude]
    if not tasks:
        raise UserError("every task is excluded by --exclude; nothing left to select from")
    return tasks
