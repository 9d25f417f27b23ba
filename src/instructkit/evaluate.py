"""Super-NI-style evaluation of any model on held-out tasks: ROUGE-L for all, exact match for labels.

Tasks come from Super-NaturalInstructions task files (``Definition``, ``Positive Examples``,
``Instances`` with lists of reference outputs) or from our own ``tasks.jsonl`` + ``instances.jsonl``
(a Dynosaur run directory: Task records, and Examples grouped by ``meta.task_id``).

The model sees one user turn: the task definition, up to ``demos`` demonstrations, then the input.
With no demonstrations this is exactly how ``instructkit train`` formats an example
(``instruction + "\\n\\n" + input``), so trained and evaluated prompts agree. Answers are greedy.

Metrics (per instance, max over the references, x100): ROUGE-L F-measure from the ``rouge-score``
package with stemming, and exact match after normalizing case, punctuation, articles and spaces.
Exact match is reported for classification tasks: those with a label space, or whose references
are all short (at most 3 words) and drawn from a small set (at most half as many distinct values
as references, and at most 20).

>>> tasks = load_tasks(["task1_sentiment.json"], instances=20)                  # doctest: +SKIP
>>> results = evaluate("hf:my-model", tasks, out="eval-run")                     # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instructkit.aio import gather_or_cancel
from instructkit.errors import UserError
from instructkit.records import stable_hash
from instructkit.redact import redact

PROMPT_VERSION = "eval-v1"  # passed as template=: a prompt change changes cache keys


@dataclass
class EvalInstance:
    id: str
    input: str
    references: list[str]


@dataclass
class EvalTask:
    id: str
    definition: str
    instances: list[EvalInstance]
    demos: list[tuple[str, str]] = field(default_factory=list)
    label_space: list[str] | None = None
    source: str = ""

    @property
    def is_classification(self) -> bool:
        if self.label_space:
            return True
        refs = [r for i in self.instances for r in i.references] + [o for _, o in self.demos]
        if not refs or any(len(r.split()) > 3 for r in refs):
            return False
        distinct = {normalize(r) for r in refs}
        return len(distinct) <= min(20, max(1, len(refs) // 2))


# -- loading -----------------------------------------------------------------------------------

def _as_refs(value: Any, where: str) -> list[str]:
    refs = value if isinstance(value, list) else [value]
    refs = [str(r) for r in refs if r is not None and str(r).strip()]
    if not refs:
        raise UserError(f"{where}: instance has no reference output")
    return refs


def load_superni(path: Path, instances: int | None = None) -> EvalTask:
    """One Super-NI task file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(data, dict) or "Instances" not in data or "Definition" not in data:
        raise UserError(f"{path}: not a Super-NI task file (needs 'Definition' and 'Instances')")
    definition = data["Definition"]
    definition = " ".join(definition) if isinstance(definition, list) else str(definition)
    demos = [(str(d.get("input", "")), str(d.get("output", ""))) for d in data.get("Positive Examples") or []
             if isinstance(d, dict)]
    rows = data["Instances"][: instances] if instances else data["Instances"]
    insts = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or "input" not in row:
            raise UserError(f"{path}: Instances[{i}] needs 'input' and 'output'")
        insts.append(EvalInstance(id=str(row.get("id") or f"{path.stem}-{i}"), input=str(row["input"]),
                                  references=_as_refs(row.get("output"), f"{path}: Instances[{i}]")))
    labels = data.get("label_space") or data.get("Label Space")
    return EvalTask(id=path.stem, definition=definition, instances=insts, demos=demos,
                    label_space=list(labels) if labels else None, source=str(path))


def load_ours(tasks_file: Path, instances: int | None = None) -> list[EvalTask]:
    """Our ``tasks.jsonl`` with the ``instances.jsonl`` beside it."""
    from instructkit.records import Example, Task
    from instructkit.runs import read_jsonl

    inst_file = tasks_file.with_name("instances.jsonl")
    if not inst_file.is_file():
        raise UserError(f"{tasks_file}: no instances.jsonl beside it (instances carry meta.task_id)")
    by_task: dict[str, list[Example]] = {}
    for row in read_jsonl(inst_file):
        ex = Example.from_dict(row)
        tid = ex.meta.get("task_id")
        if tid:
            by_task.setdefault(str(tid), []).append(ex)
    out = []
    for i, row in enumerate(read_jsonl(tasks_file), 1):
        try:
            task = Task.from_dict(row)
        except TypeError as e:
            raise UserError(f"{tasks_file}:{i}: not a task record ({e})") from None
        exs = by_task.get(task.id, [])
        if instances:
            exs = exs[:instances]
        if not exs:
            continue  # a task without instances cannot be evaluated; reported by the caller
        insts = [EvalInstance(id=ex.id, input=ex.input, references=_as_refs(
            ex.meta.get("references") or ex.output, f"{inst_file}: {ex.id}")) for ex in exs]
        demos = [(str(d.get("input", "")), str(d.get("output", ""))) for d in task.demonstrations]
        out.append(EvalTask(id=task.id, definition=task.instruction, instances=insts, demos=demos,
                            label_space=task.label_space or None, source=str(tasks_file)))
    return out


def load_tasks(paths: list[str | Path], instances: int | None = None) -> list[EvalTask]:
    """Every task named by ``paths`` (task files, tasks.jsonl files, or folders holding either)."""
    tasks: list[EvalTask] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            if (p / "tasks.jsonl").is_file():
                tasks += load_ours(p / "tasks.jsonl", instances)
                continue
            files = sorted(p.glob("*.json"))
            if not files:
                raise UserError(f"{p}: holds neither tasks.jsonl nor Super-NI task .json files")
            tasks += [load_superni(f, instances) for f in files]
        elif p.is_file() and p.suffix == ".jsonl":
            tasks += load_ours(p, instances)
        elif p.is_file():
            tasks.append(load_superni(p, instances))
        else:
            raise UserError(f"{p}: no such task file or folder")
    seen: set[str] = set()
    for t in tasks:
        if t.id in seen:
            raise UserError(f"task '{t.id}' is given twice ({t.source}); name each task once")
        seen.add(t.id)
    if not tasks:
        raise UserError("no task with instances to evaluate in " + ", ".join(map(str, paths)))
    return tasks


# -- prompts and metrics ------------------------------------------------------------------------

def build_prompt(task: EvalTask, inst: EvalInstance, demos: int = 0) -> str:
    """The user turn: definition, up to ``demos`` demonstrations, the input.

    >>> t = EvalTask("t", "Say the opposite.", [], demos=[("hot", "cold")])
    >>> print(build_prompt(t, EvalInstance("i", "big", ["small"]), demos=0))
    Say the opposite.
    <BLANKLINE>
    big
    """
    shown = task.demos[: max(0, demos)]
    if not shown:
        return f"{task.definition}\n\n{inst.input}" if inst.input else task.definition
    blocks = "\n\n".join(f"Input: {x}\nOutput: {y}" for x, y in shown)
    return f"{task.definition}\n\nExamples:\n{blocks}\n\nNow answer for this input:\n{inst.input}"


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize(text: str) -> str:
    """Lowercase, no punctuation, no English articles, single spaces (for exact match)."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCT)).split())


def exact_match(prediction: str, references: list[str]) -> float:
    """100 when the normalized prediction equals a normalized reference, else 0."""
    p = normalize(prediction)
    return 100.0 if any(p == normalize(r) for r in references) else 0.0


_scorer = None


def rouge_l(prediction: str, references: list[str]) -> float:
    """Best ROUGE-L F-measure over the references, x100 (``rouge-score``, with stemming)."""
    global _scorer
    if _scorer is None:
        try:
            from rouge_score import rouge_scorer
        except ImportError:
            raise UserError("evaluation needs rouge-score: pip install 'instructkit[train]'") from None
        _scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return 100.0 * max(_scorer.score(r, prediction)["rougeL"].fmeasure for r in references)


# -- running ----------------------------------------------------------------------------------------

def summarize(tasks: list[EvalTask], preds: dict[str, dict[str, Any]], model: str) -> dict[str, Any]:
    """results.json's content from per-instance predictions (keyed by instance id per task)."""
    per_task: dict[str, dict[str, Any]] = {}
    all_rouge: list[float] = []
    all_em: list[float] = []
    for t in tasks:
        rows = [preds[t.id + "\x00" + i.id] for i in t.instances if t.id + "\x00" + i.id in preds]
        rl = [r["rougeL"] for r in rows]
        em = [r["exact_match"] for r in rows]
        cls = t.is_classification
        per_task[t.id] = {"kind": "classification" if cls else "generation", "instances": len(rows),
                          "rougeL": round(sum(rl) / len(rl), 2) if rl else None,
                          "exact_match": round(sum(em) / len(em), 2) if em and cls else None,
                          "source": t.source}
        all_rouge += rl
        if cls:
            all_em += em
    task_means = [v["rougeL"] for v in per_task.values() if v["rougeL"] is not None]
    return {"model": redact(model),
            "overall": {"rougeL": round(sum(all_rouge) / len(all_rouge), 2) if all_rouge else None,
                        "rougeL_task_mean": round(sum(task_means) / len(task_means), 2) if task_means else None,
                        "exact_match_classification": round(sum(all_em) / len(all_em), 2) if all_em else None,
                        "tasks": len(tasks), "instances": len(all_rouge)},
            "tasks": per_task}


def evaluate(model: str, tasks: list[EvalTask], out: str | Path, demos: int = 2, max_tokens: int = 64,
             concurrency: int = 4, argv: list[str] | None = None, llm: Any = None,
             options: Any = None) -> dict[str, Any]:
    """Generate an answer per instance (resuming ``out``), score it, write and return the results.

    Writes ``out/predictions.jsonl`` (one line per instance, as answers arrive) and
    ``out/results.json`` (per-task and overall scores). ``llm`` may be an open
    :class:`instructkit.llm.LLM`; otherwise ``model`` is opened with the run's cache and
    ``options`` (:class:`instructkit.llm.ModelOptions`; ``concurrency`` when not given).
    """
    import asyncio

    from instructkit import ui
    from instructkit.llm import ModelOptions, check_spec, open_model
    from instructkit.llm.usage import UsageLedger
    from instructkit.runs import RunDir, atomic_write_json

    if llm is None:  # a bad spec is a one-line error before anything is written
        check_spec(model)
    config = {"model": model, "tasks": sorted(t.id for t in tasks), "demos": demos, "max_tokens": max_tokens,
              "prompt": PROMPT_VERSION}
    with RunDir(out, command="eval", config=config, argv=argv) as run:
        door = llm or open_model(model, cache=run.cache_path, ledger=UsageLedger(),
                                 options=options or ModelOptions(concurrency=concurrency))
        ident = stable_hash("eval-model", door.backend.info.identity)
        shown_model = redact(model)  # a URL's user:password never reaches a record
        stream = run.stream("predictions")

        def pred_id(t: EvalTask, i: EvalInstance) -> str:
            return stable_hash("pred", ident, t.id, i.id, demos, max_tokens, PROMPT_VERSION)

        todo = [(t, i) for t in tasks for i in t.instances if pred_id(t, i) not in stream]

        async def one(t: EvalTask, i: EvalInstance) -> None:
            msgs = [{"role": "user", "content": build_prompt(t, i, demos)}]
            comp = await door.chat(msgs, temperature=0.0, max_tokens=max_tokens, template=PROMPT_VERSION)
            text = comp.text.strip()
            stream.append({"id": pred_id(t, i), "task_id": t.id, "instance_id": i.id, "input": i.input,
                           "prediction": text, "references": i.references,
                           "rougeL": round(rouge_l(text, i.references), 4),
                           "exact_match": exact_match(text, i.references), "model": shown_model})
            bar.advance()

        async def run_all() -> None:
            try:
                await gather_or_cancel(*(one(t, i) for t, i in todo))
            finally:
                if llm is None:
                    await door.aclose()

        with ui.progress("evaluating", total=len(todo), ledger=door.ledger) as bar:
            asyncio.run(run_all())
        wanted = {pred_id(t, i): (t.id, i.id) for t in tasks for i in t.instances}
        preds = {}
        for r in stream.records():
            if r["id"] in wanted:
                tid, iid = wanted[r["id"]]
                preds[tid + "\x00" + iid] = r
        results = summarize(tasks, preds, model)
        results["config"] = redact(config)
        atomic_write_json(run.path / "results.json", results)
        run.update(counts={"tasks": len(tasks), "instances": results["overall"]["instances"],
                           "generated_now": len(todo)}, overall=results["overall"],
                   usage=door.ledger.snapshot())
    return results


def format_table(results: dict[str, Any]) -> str:
    """A plain-text per-task and overall table."""
    rows = [("task", "kind", "n", "ROUGE-L", "EM")]
    for tid, v in results["tasks"].items():
        rows.append((tid, v["kind"], str(v["instances"]), _fmt(v["rougeL"]), _fmt(v["exact_match"])))
    o = results["overall"]
    rows.append(("overall", f"{o['tasks']} tasks", str(o["instances"]), _fmt(o["rougeL"]),
                 _fmt(o["exact_match_classification"])))
    widths = [max(len(r[c]) for r in rows) for c in range(5)]
    lines = ["  ".join(cell.ljust(w) if c < 2 else cell.rjust(w) for c, (cell, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    return "\n".join(lines)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"
