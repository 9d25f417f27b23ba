"""Dynosaur: instruction data grown from existing annotated datasets (METHODS.md §1).

One dataset-config goes through :func:`process_dataset`:
metadata view -> one task-design call per mode -> filters (§1.3) -> label space (§1.4)
-> one instance per loaded row (§1.5). It is a pure function of the card and the model's
answers (which the cache makes repeatable), so a killed run recomputes exactly the same
records and the append-only streams drop what was already written. Writing the results into a
run directory (and dynamic growth) lives in :mod:`instructkit.generate.dynosaur.run`.

>>> import asyncio
>>> from instructkit.llm import open_model
>>> from instructkit.sources import load_source
>>> card = load_source("examples/news_topics")[0]                       # doctest: +SKIP
>>> res = asyncio.run(process_dataset(open_model("local"), card))      # doctest: +SKIP
>>> res.tasks[0].instruction, len(res.instances)                       # doctest: +SKIP
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from instructkit.generate.dynosaur import checks as C
from instructkit.generate.dynosaur import filter as F
from instructkit.generate.dynosaur import verify as V
from instructkit.generate.dynosaur.meta import (MetaView, Unrenderable, build_meta, index_answer, lettered_options,
                                                option_letter, render_value, truncate)
from instructkit.generate.dynosaur.prompt import (MODES, build_messages, demo_instructions, render_dataset,
                                                  task_schema, template_version)
from instructkit.records import Example, Task, stable_hash
from instructkit.sources.card import DatasetCard, Feature

if TYPE_CHECKING:
    from instructkit.llm import LLM

# skipped-row reasons
MISSING_INPUT, MISSING_OUTPUT, BAD_INPUT, BAD_OUTPUT = ("missing_input", "missing_output",
                                                        "unrenderable_input", "non_scalar_output")
BAD_INDEX = "answer_index_not_an_option"  # an index answer past the row's lettered options
PROMPT_CHAR_BUDGET = 9000  # ~2.3K tokens of dataset view: leaves room in a 4K context (135M model)


@dataclass
class DynosaurConfig:
    """Knobs of the method; the defaults follow the paper where it states them."""

    modes: tuple[str, ...] = MODES
    max_tasks: int = 3               # tasks asked for per call
    n_examples: int = 2              # example rows in the metadata view
    max_value_chars: int = 1000      # cut of each value shown to the model
    max_instance_chars: int = 2000   # cut of instance input/output
    max_tokens: int = 400            # answer budget of a task-design call
    temperature: float = 0.0
    verify: bool = True              # semantic check of every kept task (dynosaur_verify)
    verify_model: str | None = None  # None: the generating model
    verification: V.VerifyConfig = field(default_factory=V.VerifyConfig)

    def to_dict(self) -> dict[str, Any]:
        return {"modes": list(self.modes), "max_tasks": self.max_tasks, "n_examples": self.n_examples,
                "max_value_chars": self.max_value_chars, "max_instance_chars": self.max_instance_chars,
                "max_tokens": self.max_tokens, "temperature": self.temperature,
                "prompt": template_version(),
                "verify": self.verification.to_dict() if self.verify else False,
                "verify_model": self.verify_model}


@dataclass
class Rejection:
    item_id: str
    reason: str
    stage: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class DatasetResult:
    """Everything one dataset produced, ready to be written."""

    key: str
    status: str = "used"                       # used | skipped | failed
    reason: str = ""
    tasks: list[Task] = field(default_factory=list)
    instances: list[Example] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    proposed: int = 0
    rows_skipped: Counter = field(default_factory=Counter)
    calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str = ""

    def record(self, card: DatasetCard) -> dict[str, Any]:
        """The datasets.jsonl line: status and counts (all deterministic, so resume rewrites the same)."""
        rej = Counter(r.reason for r in self.rejections if r.stage == "task")
        kinds = Counter(t.kind for t in self.tasks)
        checked = sum(1 for t in self.tasks if "validity" in t.meta) + rej.get(V.FAILS_VERIFICATION, 0)
        return {"id": self.key, "key": self.key, "dataset": card.name, "config": card.config,
                "split": card.split, "source": card.source, "license": card.license,
                "status": self.status, "reason": self.reason, "rows": len(card.rows),
                "tasks_proposed": self.proposed, "tasks_kept": len(self.tasks),
                "tasks_rejected": dict(sorted(rej.items())),
                "classification": kinds.get("classification", 0), "generation": kinds.get("generation", 0),
                "tasks_verified": checked, "tasks_failed_verification": rej.get(V.FAILS_VERIFICATION, 0),
                "instances": len(self.instances), "rows_skipped": dict(sorted(self.rows_skipped.items())),
                "llm_calls": self.calls + self.cache_hits,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens}


# -- metadata view that fits the context ------------------------------------------------------------
def fit_view(card: DatasetCard, cfg: DynosaurConfig) -> MetaView:
    """The paper's view (2 rows, values cut at 1000 chars), shrunk until the prompt fits a small context."""
    tries = [(cfg.n_examples, cfg.max_value_chars), (1, cfg.max_value_chars), (1, 400), (1, 150)]
    view = None
    for n, chars in tries:
        view = build_meta(card, n_examples=n, max_chars=chars)
        if len(render_dataset(view, "aware", cfg.max_tasks)) <= PROMPT_CHAR_BUDGET:
            break
    assert view is not None
    return view


# -- instances ------------------------------------------------------------------------------------
def render_input(row: dict[str, Any], fields: list[Feature]) -> str | tuple[str]:
    """The instance input for one row, or a 1-tuple holding the skip reason.

    One field: its value. Several: ``field: value`` parts in the task's field order (a value
    spanning lines, like lettered options, starts on its own line).
    """
    parts: list[tuple[str, str]] = []
    for f in fields:
        try:
            t = render_value(row.get(f.name), f)
        except Unrenderable:
            return (BAD_INPUT,)
        if t is None:
            return (MISSING_INPUT,)
        parts.append((f.name, t))
    if len(parts) == 1:
        return parts[0][1]
    return "\n".join(f"{name}:\n{t}" if "\n" in t else f"{name}: {t}" for name, t in parts)


def options_field(card: DatasetCard, inputs: list[Feature], output: Feature) -> Feature | None:
    """The input field that an integer answer points into: the first one shown as lettered options
    (``A. ...``) in most rows that have it. None when the output has ClassLabel names (those are
    shown as the names, as before) or holds no integers."""
    if output.label_names is not None or not any(index_answer(r.get(output.name)) is not None for r in card.rows):
        return None
    for f in inputs:
        values = [r.get(f.name) for r in card.rows if r.get(f.name) is not None]
        if values and 2 * sum(lettered_options(v, f) is not None for v in values) > len(values):
            return f
    return None


def render_output(row: dict[str, Any], feature: Feature, options: Feature | None = None) -> str | tuple[str]:
    """The instance output for one row, or a 1-tuple holding the skip reason.

    With ``options`` (see :func:`options_field`) an integer answer is shown as the letter of the
    option it points at (``2`` -> ``C``, matching the ``C. ...`` line of the input); a negative one
    is HF's "no label" (missing); one past the row's options is skipped as ``BAD_INDEX``.
    """
    if options is not None:
        index = index_answer(row.get(feature.name))
        if index is not None:
            if index < 0:
                return (MISSING_OUTPUT,)
            letters = lettered_options(row.get(options.name), options)
            letter = option_letter(index, letters) if letters is not None else None
            return (BAD_INDEX,) if letter is None else letter
    try:
        t = render_value(row.get(feature.name), feature, as_output=True)
    except Unrenderable:
        return (BAD_OUTPUT,)
    return (MISSING_OUTPUT,) if t is None else t


def make_instances(card: DatasetCard, task: Task, max_chars: int = 2000,
                   model: str = "") -> tuple[list[Example], Counter]:
    """One Example per loaded row (rows that cannot be rendered are counted by reason)."""
    feats = {f.name: f for f in card.features}
    ins = [feats[n] for n in task.input_fields]
    out_f = feats[task.output_field]
    options = options_field(card, ins, out_f)
    examples: list[Example] = []
    skipped: Counter = Counter()
    seen: set[str] = set()
    for i, row in enumerate(card.rows):
        x = render_input(row, ins)
        y = render_output(row, out_f, options)
        if isinstance(x, tuple) or isinstance(y, tuple):
            skipped[(x if isinstance(x, tuple) else y)[0]] += 1  # type: ignore[index]
            continue
        ex = Example(instruction=task.instruction, input=truncate(x, max_chars), output=truncate(y, max_chars),
                     meta={"method": "dynosaur", "dataset": card.name, "config": card.config,
                           "split": card.split, "row": i, "task_id": task.id, "license": card.license,
                           "source": card.source, "model": model, "mode": task.meta.get("mode", ""),
                           "kind": task.kind})
        if ex.id in seen:
            skipped["duplicate_row"] += 1
            continue
        seen.add(ex.id)
        examples.append(ex)
    return examples, skipped


def output_values(card: DatasetCard, feature: Feature,
                  options: Feature | None = None) -> tuple[list[str | None], int]:
    """Rendered output values over the loaded rows (None: none usable), and how many were non-scalar."""
    values: list[str | None] = []
    non_scalar = 0
    for row in card.rows:
        t = render_output(row, feature, options)
        if t == (BAD_OUTPUT,):
            non_scalar += 1
        else:
            values.append(None if isinstance(t, tuple) else t)
    return values, non_scalar


# -- the whole dataset ---------------------------------------------------------------------------
def _task_from(card: DatasetCard, p: F.TaskProposal, decision: F.LabelDecision, model: str) -> Task:
    instruction = F.with_suffix(p.instruction, decision.suffix)
    source = {"dataset": card.name, "config": card.config, "split": card.split, "license": card.license,
              "source": card.source, "key": card.key}
    return Task(instruction=instruction, input_fields=list(p.input_fields), output_field=p.output_field,
                label_space=decision.labels, kind=decision.kind, source=source,
                meta={"method": "dynosaur", "mode": p.mode, "model": model,
                      "proposed_instruction": p.instruction, "prompt": template_version()},
                id=stable_hash("task", card.key, instruction, p.input_fields, p.output_field))


def select_tasks(card: DatasetCard, view: MetaView, proposals: list[F.TaskProposal],
                 model: str = "", max_chars: int = 2000) -> tuple[list[Task], list[Example], list[Rejection], Counter]:
    """Apply §1.3-§1.4 to the proposals (in mode order) and build the instances of the survivors."""
    usable = view.field_names
    all_fields = [f.name for f in card.features]
    dups = F.DuplicateFilter()
    tasks: list[Task] = []
    instances: list[Example] = []
    rejections: list[Rejection] = []
    skipped: Counter = Counter()
    for p in proposals:
        pid = stable_hash("proposal", card.key, p.mode, p.index, p.raw)
        base = {"dataset": card.key, "mode": p.mode, "proposal": p.raw}
        reason = F.check_fields(p, usable, all_fields) or \
            (F.COPIES_ROW if F.copies_row_value(p.instruction, view.examples) else None) or \
            C.instruction_problem(p.instruction, demo_instructions()) or dups.check(p)
        if reason:
            rejections.append(Rejection(pid, reason, "task", base))
            continue
        feature = card.feature(p.output_field)
        assert feature is not None  # check_fields guarantees it
        # the label space is judged on the outputs as the instances will show them (letters)
        inputs = [f for f in map(card.feature, p.input_fields) if f is not None]
        options = options_field(card, inputs, feature)
        values, non_scalar = output_values(card, feature, options)
        decision = F.label_space_decision(values, feature.label_names, non_scalar)
        if decision.reject:
            rejections.append(Rejection(pid, decision.reject, "task", {**base, "detail": decision.detail}))
            continue
        task = _task_from(card, p, decision, model)
        if options is not None:
            task.meta["answer_options_field"] = options.name  # outputs are this field's option letters
        exs, skip = make_instances(card, task, max_chars, model)
        skipped.update(skip)
        if not exs:
            rejections.append(Rejection(pid, F.NO_INSTANCES, "task",
                                        {**base, "detail": f"rows skipped: {dict(skip)}"}))
            continue
        task.demonstrations = [{"input": e.input, "output": e.output} for e in exs[:2]]
        task.meta["instances"] = len(exs)
        tasks.append(task)
        instances.extend(exs)
    return tasks, instances, rejections, skipped


def _flag_reply(res: DatasetResult, card: DatasetCard, mode: str, comp: Any, parsed: F.ParseResult) -> None:
    """Record what is wrong with a whole reply in rejected.jsonl (not only in the manifest's usage).

    A reply cut off at the token limit (``finish_reason == "length"``) may still parse after JSON
    repair, but its last task can be cut mid-sentence: nothing parsed from it is kept. A reply that
    broke the schema yet yielded tasks is flagged (stage ``reply``); its tasks are judged one by one.
    """
    truncated = getattr(comp, "finish_reason", "") == "length"
    base = {"dataset": card.key, "mode": mode}
    if parsed.error:
        res.proposed += 1  # an unparseable answer counts as one failed proposal
        reason = C.TRUNCATED_REPLY if truncated else F.UNPARSEABLE
        res.rejections.append(Rejection(stable_hash("answer", card.key, mode), reason, "task",
                                        {**base, "detail": parsed.error, "text": comp.text[:2000]}))
    elif getattr(comp, "parse_error", None) and not truncated:
        res.rejections.append(Rejection(stable_hash("reply", card.key, mode), C.REPLY_NOT_VALID, "reply",
                                        {**base, "detail": comp.parse_error, "text": comp.text[:2000]}))
    for raw, reason, detail in parsed.rejected:
        res.proposed += 1
        res.rejections.append(Rejection(stable_hash("proposal", card.key, mode, raw), reason, "task",
                                        {**base, "proposal": raw, "detail": detail}))
    if truncated and parsed.proposals:
        for p in parsed.proposals:
            res.rejections.append(Rejection(stable_hash("proposal", card.key, mode, p.index, p.raw),
                                            C.TRUNCATED_REPLY, "task",
                                            {**base, "proposal": p.raw, "detail": "reply hit max_tokens"}))
        res.proposed += len(parsed.proposals)
        parsed.proposals = []


async def verify_kept(llm: "LLM", res: DatasetResult, cfg: V.VerifyConfig) -> None:
    """Record ``meta.validity`` on every kept task; drop (with its instances) each under the threshold."""
    records = await V.verify_tasks(llm, res.tasks, res.instances, cfg)
    failed: set[str] = set()
    for task, validity in zip(res.tasks, records):
        task.meta["validity"] = validity
        if not validity["passed"]:
            failed.add(task.id)
            res.rejections.append(Rejection(stable_hash("verify", task.id), V.FAILS_VERIFICATION, "task",
                                            {"dataset": task.source.get("key"), "task_id": task.id,
                                             "instruction": task.instruction, "validity": validity}))
    res.tasks = [t for t in res.tasks if t.id not in failed]
    res.instances = [e for e in res.instances if e.meta.get("task_id") not in failed]


async def process_dataset(llm: "LLM", card: DatasetCard, cfg: DynosaurConfig | None = None,
                          verify_llm: "LLM | None" = None) -> DatasetResult:
    """Metadata -> tasks (one call per mode) -> filters -> instances for one dataset-config.

    A dataset with <= 1 usable field is returned as ``skipped`` with the reason; a model error
    returns ``failed`` (not recorded as done, so a re-run retries it).
    """
    from instructkit.errors import ModelError

    cfg = cfg or DynosaurConfig()
    res = DatasetResult(key=card.key)
    if not card.rows:
        res.status, res.reason = "skipped", "no rows loaded"
    view = fit_view(card, cfg) if card.rows else None
    if view is not None and len(view.fields) <= 1:
        unusable = "; ".join(f"{k}: {v}" for k, v in view.unusable.items())
        res.status = "skipped"
        res.reason = f"{len(view.fields)} usable field(s); need 2" + (f" (unusable: {unusable})" if unusable else "")
    if res.status == "skipped" or view is None:
        res.rejections.append(Rejection(stable_hash("dataset", card.key), "dataset_skipped", "dataset",
                                        {"dataset": card.key, "detail": res.reason}))
        return res
    schema = task_schema(view.field_names, cfg.max_tasks)
    proposals: list[F.TaskProposal] = []
    for mode in cfg.modes:
        try:
            comp = await llm.chat(build_messages(view, mode, cfg.max_tasks), schema=schema,
                                  temperature=cfg.temperature, max_tokens=cfg.max_tokens,
                                  template=template_version())
        except ModelError as e:
            res.status, res.error = "failed", f"{mode}: {e}"
            return res
        res.prompt_tokens += comp.prompt_tokens
        res.completion_tokens += comp.completion_tokens
        res.cache_hits += int(comp.cached)
        res.calls += int(not comp.cached)
        parsed = F.parse_tasks(comp.text, mode)
        if parsed.error and comp.parse_error and comp.finish_reason != "length":
            # failed its schema after the door's retries and nothing parses: a transient fault (a
            # garbage 200), not the model's answer; like a 500 the dataset is left for the re-run
            res.status, res.error = "failed", f"{mode}: bad answer (not the JSON asked for): {comp.parse_error}"
            return res
        _flag_reply(res, card, mode, comp, parsed)
        res.proposed += len(parsed.proposals)
        proposals.extend(parsed.proposals)
    tasks, instances, rejections, skipped = select_tasks(card, view, proposals, llm.spec, cfg.max_instance_chars)
    res.tasks, res.instances, res.rows_skipped = tasks, instances, skipped
    res.rejections.extend(rejections)
    if cfg.verify and res.tasks:
        try:
            await verify_kept(verify_llm or llm, res, cfg.verification)
        except ModelError as e:
            res.status, res.error = "failed", f"verify: {e}"
            return res
    if not res.tasks:
        res.reason = "no valid task"
    return res
