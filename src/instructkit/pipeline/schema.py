"""The recipe schema: which stages exist, what options each takes, and what flows between them.

A recipe is YAML::

    sources: [../sources.txt]          # paths relative to the recipe file
    model: local                       # defaults every stage that calls a model inherits
    concurrency: 2
    stages:
      - dynosaur: {rows: 4, max_tasks: 1}
      - dedup: {method: minhash}
      - select qdit: {k: 20}
      - export: {format: messages}

Each stage's options are the options of the command of the same name (underscores or dashes).
Every mistake becomes one line naming the stage, the key and the fix (a :class:`UserError`).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from instructkit.errors import UserError

StrList = Union[str, list[str]]


class StageOptions(BaseModel):
    """Options shared by the schema of every stage: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    takes: ClassVar[tuple[str, ...]] = ()
    gives: ClassVar[tuple[str, ...]] = ()
    calls_model: ClassVar[bool] = False


class GeneratorOptions(StageOptions):
    model: Optional[str] = None
    concurrency: Optional[int] = Field(None, ge=1)
    target: Optional[int] = Field(None, ge=1, description="Keep generating until N records passed every filter.")
    max_calls: Optional[int] = Field(None, ge=1, description="Hard cap on model calls (with target).")


class Dynosaur(GeneratorOptions):
    takes: ClassVar[tuple[str, ...]] = ("sources",)
    gives: ClassVar[tuple[str, ...]] = ("examples", "tasks")
    calls_model: ClassVar[bool] = True
    modes: StrList = "aware,unaware"
    rows: Optional[int] = Field(None, ge=1)
    max_tasks: int = Field(3, ge=1, le=10)
    description: Optional[str] = None
    verify: bool = True
    verify_model: Optional[str] = None
    verify_rows: int = Field(3, ge=1)
    verify_threshold: float = Field(0.5, ge=0.0, le=1.0)
    verify_signals: StrList = "likelihood,kind"


class Glan(GeneratorOptions):
    takes: ClassVar[tuple[str, ...]] = ("nothing",)
    gives: ClassVar[tuple[str, ...]] = ("examples",)
    calls_model: ClassVar[bool] = True
    taxonomy: str = "builtin"
    disciplines: Optional[StrList] = None
    subject_samples: int = Field(10, ge=1)
    max_subjects: Optional[int] = Field(None, ge=1)
    max_sessions: int = Field(40, ge=1, le=40)
    questions_per_syllabus: int = Field(10, ge=1)
    two_session_ratio: float = Field(0.5, ge=0, le=1)
    subject_model: Optional[str] = None
    syllabus_model: Optional[str] = None
    question_model: Optional[str] = None
    answer_model: Optional[str] = None
    max_tokens: Optional[int] = Field(None, ge=16)
    seed: int = 0
    answer_checks: bool = True
    truncated_answers: Literal["auto", "reject", "keep"] = "auto"
    question_dedup: bool = True
    near_dup_threshold: float = Field(0.8, ge=0, le=1)


class Dedup(StageOptions):
    takes: ClassVar[tuple[str, ...]] = ("examples",)
    gives: ClassVar[tuple[str, ...]] = ("examples",)
    method: Literal["exact", "minhash", "semantic"] = "minhash"
    threshold: Optional[float] = Field(None, gt=0, le=1)
    fields: StrList = "instruction,input,output"
    num_perm: int = Field(128, ge=16)
    shingle: str = "word:3"
    bands: Optional[int] = Field(None, ge=1)
    rows: Optional[int] = Field(None, ge=1)
    verify: Literal["estimate", "exact"] = "estimate"
    embedder: str = "minilm"
    quality_field: Optional[str] = None
    seed: int = 1


class Decontaminate(StageOptions):
    takes: ClassVar[tuple[str, ...]] = ("examples",)
    gives: ClassVar[tuple[str, ...]] = ("examples",)
    against: list[str] = Field(min_length=1)
    ngram: int = Field(13, ge=1)
    fields: StrList = "instruction,input,output"
    bench_fields: Optional[StrList] = None
    min_exact_chars: int = Field(20, ge=1)


class SelectQdit(StageOptions):
    takes: ClassVar[tuple[str, ...]] = ("examples",)
    gives: ClassVar[tuple[str, ...]] = ("examples",)
    k: int = Field(ge=1)
    alpha: float = Field(0.7, ge=0, le=1)
    quality: Optional[str] = None
    embedder: str = "minilm"
    text: Literal["instruction", "instruction+input", "instruction+input+output", "output"] = "instruction"
    engine: Literal["auto", "lazy", "blocked", "approx"] = "auto"
    seed: int = 0
    order: Literal["input", "selection"] = "input"
    approx_check: int = Field(20_000, ge=0)
    model: Optional[str] = None
    concurrency: Optional[int] = Field(None, ge=1)

    @property
    def calls_model_now(self) -> bool:
        return self.quality in ("judge", "ifd")


class SelectActive(StageOptions):
    takes: ClassVar[tuple[str, ...]] = ("tasks",)
    gives: ClassVar[tuple[str, ...]] = ("examples",)
    calls_model: ClassVar[bool] = True
    k: int = Field(ge=1)
    model: Optional[str] = None
    instances: int = Field(10, ge=1)
    perturbations: int = Field(10, ge=1)
    drop: float = Field(0.2, ge=0, le=1)
    strategy: Literal["uncertainty", "random", "high-perplexity", "low-perplexity"] = "uncertainty"
    cls_ratio: Optional[float] = Field(None, ge=0, le=1)
    max_tokens: int = Field(64, ge=1)
    task_field: str = "task_id"
    seed: int = 0
    concurrency: Optional[int] = Field(None, ge=1)


class Replay(StageOptions):
    takes: ClassVar[tuple[str, ...]] = ("examples",)
    gives: ClassVar[tuple[str, ...]] = ("examples",)
    earlier: list[str] = Field(min_length=1, description="Task sources of the earlier stages, oldest first.")
    budget: int = Field(ge=1)
    strategy: Literal["instruction-diverse", "data-diverse", "similar", "random"] = "instruction-diverse"
    objective: Literal["facility-location", "k-center"] = "facility-location"
    embedder: str = "minilm"
    max_per_task: int = Field(0, ge=0)
    task_field: str = "task_id"
    seed: int = 0


class Export(StageOptions):
    takes: ClassVar[tuple[str, ...]] = ("examples",)
    gives: ClassVar[tuple[str, ...]] = ("examples",)
    format: Literal["alpaca", "sharegpt", "messages", "hf"]
    file: Optional[str] = Field(None, description="File name inside the stage directory.")
    system: Optional[str] = None
    no_meta: bool = False
    name: Optional[str] = None


class Train(StageOptions):
    takes: ClassVar[tuple[str, ...]] = ("examples",)
    gives: ClassVar[tuple[str, ...]] = ("model",)
    base: str = "hf:embedded"
    lora: bool = True
    steps: Optional[int] = Field(None, ge=1)
    epochs: float = Field(3.0, ge=0.01)
    lr: Optional[float] = Field(None, ge=0)
    max_len: int = Field(512, ge=8)
    seed: int = 0
    batch_size: int = Field(8, ge=1)
    save_every: int = Field(50, ge=1)


class Eval(StageOptions):
    takes: ClassVar[tuple[str, ...]] = ("model",)
    gives: ClassVar[tuple[str, ...]] = ("results",)
    calls_model: ClassVar[bool] = True
    tasks: list[str] = Field(min_length=1)
    model: Optional[str] = None
    instances: Optional[int] = Field(None, ge=1)
    demos: int = Field(2, ge=0, le=2)
    max_tokens: int = Field(64, ge=1)
    concurrency: Optional[int] = Field(None, ge=1)


STAGES: dict[str, type[StageOptions]] = {
    "dynosaur": Dynosaur, "glan": Glan, "dedup": Dedup, "decontaminate": Decontaminate,
    "select qdit": SelectQdit, "select active": SelectActive, "replay": Replay, "export": Export,
    "train": Train, "eval": Eval,
}


class Defaults(BaseModel):
    """The recipe's top level, stages aside."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    sources: list[str] = Field(default_factory=list)
    model: str = "local"
    concurrency: int = Field(4, ge=1)
    executor: Literal["local"] = "local"
    stages: list[Any] = Field(min_length=1)


def stage_slug(name: str) -> str:
    return name.replace(" ", "-")


def options_to_dict(opts: StageOptions) -> dict[str, Any]:
    """The options a user set or that matter, with defaults filled (what the fingerprint hashes)."""
    return opts.model_dump(mode="json")


def _one_line(err: ValidationError, cls: type[BaseModel], where: str, fix_keys: list[str]) -> UserError:
    """The first pydantic error as one line: where, key, what is wrong, the fix."""
    e = err.errors()[0]
    key = ".".join(str(p) for p in e["loc"]) or "(options)"
    top = str(e["loc"][0]) if e["loc"] else ""
    if e["type"] == "extra_forbidden":
        near = _nearest(top, fix_keys)
        hint = f"did you mean '{near}'? " if near else ""
        return UserError(f"{where}: unknown key '{key}'; {hint}known keys: {', '.join(fix_keys)}")
    if e["type"] == "missing":
        place = "the recipe" if "top level" in where else "the stage"
        return UserError(f"{where}: key '{key}' is required; add '{key}: ...' to {place}")
    got = e.get("input")
    return UserError(f"{where}: key '{key}' = {got!r}: {e['msg'][0].lower()}{e['msg'][1:]}; "
                     "change it in the recipe (docs/guide/recipes.md lists every key)")


def _nearest(word: str, choices: list[str]) -> str | None:
    import difflib

    got = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return got[0] if got else None


def user_keys(cls: type[StageOptions]) -> list[str]:
    return list(cls.model_fields)


def parse_stage(entry: Any, index: int, prefix: str = "") -> tuple[str, StageOptions]:
    """One ``- name: {options}`` entry of ``stages`` as (name, validated options)."""
    where = f"{prefix}stage {index + 1}"
    if isinstance(entry, str):
        entry = {entry: {}}
    if not isinstance(entry, dict) or len(entry) != 1:
        raise UserError(f"{where}: write each stage as one mapping '- NAME: {{options}}' "
                        f"(NAME one of: {', '.join(STAGES)})")
    name, opts = next(iter(entry.items()))
    name = str(name).strip()
    if name not in STAGES:
        near = _nearest(name, list(STAGES))
        raise UserError(f"{where}: unknown stage '{name}'; "
                        f"{f'did you mean {near!r}? ' if near else ''}use one of: {', '.join(STAGES)}")
    where = f"{prefix}stage {index + 1} '{name}'"
    if opts is None:
        opts = {}
    if not isinstance(opts, dict):
        raise UserError(f"{where}: options must be a mapping of key: value, got {type(opts).__name__}")
    cls = STAGES[name]
    clean = {str(k).replace("-", "_"): v for k, v in opts.items()}
    try:
        return name, cls.model_validate(clean)
    except ValidationError as e:
        raise _one_line(e, cls, where, user_keys(cls)) from None


def check_flow(stages: list[tuple[str, StageOptions]], has_sources: bool, prefix: str = "") -> None:
    """Each stage must be able to take what the stage before it gives."""
    gives: tuple[str, ...] = ("sources", "examples", "tasks") if has_sources else ("nothing",)
    prev = "sources" if has_sources else "(no sources)"
    for i, (name, opts) in enumerate(stages):
        where = f"{prefix}stage {i + 1} '{name}'"
        if name == "glan":
            if i != 0:
                raise UserError(f"{where}: glan generates from a taxonomy and must be the first stage; "
                                "move it to the top of 'stages'")
        elif name == "eval" and opts.model:  # type: ignore[attr-defined]
            pass  # an explicit model needs no train stage before it
        elif not set(opts.takes) & set(gives):
            if i == 0 and not has_sources:
                raise UserError(f"{where}: needs input ({', '.join(opts.takes)}); add 'sources: [PATH]' "
                                "at the top of the recipe")
            raise UserError(f"{where}: cannot take the output of {prev} ({', '.join(gives)}); it needs "
                            f"{' or '.join(opts.takes)}: put a stage that gives that before it")
        gives, prev = opts.gives, f"stage {i + 1} '{name}'"


def validate_recipe(data: Any, where: str = "recipe") -> tuple[Defaults, list[tuple[str, StageOptions]]]:
    """Validate a parsed recipe; raises one-line :class:`UserError`s."""
    if not isinstance(data, dict):
        raise UserError(f"{where}: a recipe is a YAML mapping with 'sources', 'model' and 'stages'")
    try:
        top = Defaults.model_validate(data)
    except ValidationError as e:
        raise _one_line(e, Defaults, f"{where}: top level", list(Defaults.model_fields)) from None
    prefix = f"{where}: "
    stages = [parse_stage(entry, i, prefix) for i, entry in enumerate(top.stages)]
    if len(top.sources) > 1 and stages[0][0] != "dynosaur":
        raise UserError(f"{where}: stage 1 '{stages[0][0]}' reads one examples file or run directory; "
                        "give a single path in 'sources'")
    check_flow(stages, bool(top.sources), prefix)
    return top, stages
