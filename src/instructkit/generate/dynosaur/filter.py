"""Dynosaur steps 3-4: parse the task designer's answer, drop invalid tasks, detect label spaces.

Every rule returns a reason string (one of :data:`REASONS`) so each dropped task lands in
``rejected.jsonl`` with why. Pure functions: no model, no files.

>>> p = TaskProposal("Predict the label.", ["text"], "label", mode="aware")
>>> check_fields(p, ["text", "label"]) is None
True
>>> label_space_decision(["a", "b", "a", "b"], None).labels
['a', 'b']
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from instructkit.generate.dynosaur.checks import CHECK_REASONS
from instructkit.llm.jsonutil import extract_json

# Reasons a proposed task is dropped (stable strings: they are counted in manifests).
UNPARSEABLE = "unparseable"                    # no JSON / not {"tasks": [...]}: whole answer
MALFORMED = "malformed_task"                   # a task entry missing instruction/fields, wrong types
EMPTY_INSTRUCTION = "empty_instruction"
EMPTY_OUTPUT = "empty_output_field"
UNKNOWN_FIELD = "field_not_in_dataset"
UNUSABLE_FIELD = "field_not_usable"            # real field but media/binary/unrenderable
NO_INPUT = "no_input_fields"
INPUT_IS_OUTPUT = "field_both_input_and_output"
DUP_INSTRUCTION = "duplicate_instruction"      # same instruction text earlier in this dataset
DUP_ACROSS_MODES = "duplicate_across_modes"    # same task already proposed by the other mode
NON_SCALAR = "non_scalar_output"
SINGLE_LABEL = "single_label"
IMBALANCED = "imbalanced_labels"
NO_INSTANCES = "no_instances"                  # every row was skipped
COPIES_ROW = "instruction_copies_row_value"    # ours: the instruction is about one example row
FAILS_VERIFICATION = "fails_verification"      # the semantic check (dynosaur_verify) scored it too low
REASONS = (UNPARSEABLE, MALFORMED, EMPTY_INSTRUCTION, EMPTY_OUTPUT, UNKNOWN_FIELD, UNUSABLE_FIELD,
           NO_INPUT, INPUT_IS_OUTPUT, DUP_INSTRUCTION, DUP_ACROSS_MODES, NON_SCALAR, SINGLE_LABEL,
           IMBALANCED, NO_INSTANCES, COPIES_ROW, *CHECK_REASONS, FAILS_VERIFICATION)

MAX_CLASSES = 10          # <= this many distinct output values: classification (paper)
BALANCE_TWO = 0.70        # 2 labels: drop when the largest class exceeds 70% of rows (paper)
BALANCE_MANY = 0.50       # >2 labels: ... exceeds 50% (paper)
SHORT_LABEL_CHARS = 40    # labels up to this long are listed in the instruction
SHORT_LABEL_WORDS = 5
LABEL_MAX_CHARS = 100     # a value longer than this (or spanning lines) is text, not a class label
LABEL_MAX_WORDS = 12


@dataclass
class TaskProposal:
    """One task as the model proposed it (before validation)."""

    instruction: str
    input_fields: list[str]
    output_field: str
    mode: str = ""
    index: int = 0                      # position in the model's answer
    raw: Any = None                     # the entry as parsed, for rejected.jsonl

    def signature(self) -> tuple[str, tuple[str, ...], str]:
        return (self.instruction.strip(), tuple(self.input_fields), self.output_field)


@dataclass
class ParseResult:
    proposals: list[TaskProposal] = field(default_factory=list)
    rejected: list[tuple[Any, str, str]] = field(default_factory=list)  # (raw entry, reason, detail)
    error: str | None = None            # whole answer unparseable


def _str_list(v: Any) -> list[str] | None:
    if isinstance(v, str):
        return [v]  # a lone field name given as a string: accept, it is unambiguous
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return list(v)
    return None


def parse_tasks(text: str, mode: str = "") -> ParseResult:
    """Read the model's answer leniently (we validate per task ourselves, so one bad task does
    not throw away the good ones beside it)."""
    out = ParseResult()
    try:
        value = extract_json(text)
    except ValueError as e:
        out.error = str(e)
        return out
    tasks = value.get("tasks") if isinstance(value, dict) else value
    if isinstance(value, dict) and tasks is None and "instruction" in value:
        tasks = [value]  # a single bare task object
    if not isinstance(tasks, list):
        out.error = "expected {\"tasks\": [...]}"
        return out
    for i, t in enumerate(tasks):
        if not isinstance(t, dict):
            out.rejected.append((t, MALFORMED, "task is not an object"))
            continue
        instr, ins, outf = t.get("instruction"), _str_list(t.get("input_fields")), t.get("output_field")
        if not isinstance(instr, str) or ins is None or not (outf is None or isinstance(outf, str)):
            out.rejected.append((t, MALFORMED, "instruction must be a string, input_fields a list of "
                                                "names, output_field a name"))
            continue
        # a field named twice is one field (the 135M model repeats itself); order of first mention kept
        ins = list(dict.fromkeys(x.strip() for x in ins))
        out.proposals.append(TaskProposal(instruction=" ".join(instr.split()), input_fields=ins,
                                          output_field=(outf or "").strip(), mode=mode, index=i, raw=t))
    return out


def check_fields(p: TaskProposal, usable: list[str], all_fields: list[str] | None = None) -> str | None:
    """Per-task field rules of §1.3: the reason to drop ``p``, or None."""
    if not p.instruction.strip():
        return EMPTY_INSTRUCTION
    if not p.output_field:
        return EMPTY_OUTPUT
    if not p.input_fields or not any(f.strip() for f in p.input_fields):
        return NO_INPUT
    everything = set(all_fields or usable)
    for f in [*p.input_fields, p.output_field]:
        if f not in everything:
            return UNKNOWN_FIELD
        if f not in usable:
            return UNUSABLE_FIELD
    if p.output_field in p.input_fields:
        return INPUT_IS_OUTPUT
    return None


def _ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def copies_row_value(instruction: str, examples: list[dict[str, str]], n: int = 5) -> bool:
    """True when the instruction repeats ``n`` consecutive words of an example row's value.

    Not a rule of the paper but of its spirit: an instruction must hold for every row, and one
    that quotes a row ("Write about the island nation's state of emergency") holds for that row
    only. Small models do this often.
    """
    grams = _ngrams(instruction, n)
    return bool(grams) and any(grams & _ngrams(v, n) for row in examples for v in row.values())


def normalize_instruction(text: str) -> str:
    """Key for duplicate detection: case, spacing and trailing punctuation do not make a new task."""
    return re.sub(r"[\s.!?]+$", "", " ".join(text.lower().split()))


class DuplicateFilter:
    """Duplicate rules of §1.3 over one dataset: modes are fed in order (aware first)."""

    def __init__(self) -> None:
        self._instructions: set[str] = set()
        self._signatures: dict[tuple, str] = {}

    def check(self, p: TaskProposal) -> str | None:
        sig = (normalize_instruction(p.instruction), tuple(p.input_fields), p.output_field)
        if sig in self._signatures and self._signatures[sig] != p.mode:
            return DUP_ACROSS_MODES
        key = normalize_instruction(p.instruction)
        if key in self._instructions:
            return DUP_INSTRUCTION
        self._instructions.add(key)
        self._signatures[sig] = p.mode
        return None


# -- §1.4 classification and label space ----------------------------------------------------------
@dataclass
class LabelDecision:
    """What the output values say about a task."""

    kind: str = "generation"                 # or "classification"
    labels: list[str] | None = None          # label space in deterministic order
    reject: str | None = None                # reason to drop the task
    detail: str = ""
    suffix: str = ""                         # appended to the instruction ("Answers must be one of: ...")


def _label_sort_key(s: str) -> tuple:
    try:
        return (0, float(s), s)
    except ValueError:
        return (1, 0.0, s.lower(), s)


def is_label_like(value: str) -> bool:
    """Short enough to be a class name (one line, at most 12 words / 100 characters)."""
    return "\n" not in value.strip() and len(value) <= LABEL_MAX_CHARS and len(value.split()) <= LABEL_MAX_WORDS


def label_space_decision(values: list[str | None], label_names: list[str] | None,
                         non_scalar: int = 0) -> LabelDecision:
    """Decide classification vs generation from the output texts of the sampled rows.

    ``values`` are rendered outputs (ClassLabel ints already turned into names; None = missing);
    ``non_scalar`` counts rows whose output was a list or dict. Rules (METHODS §1.4, our choices
    where the paper is silent):

    * mostly non-scalar output -> drop;
    * ClassLabel output, or at most 10 distinct short values with at least one repeated -> classification
      (the repeat condition keeps a tiny sample of free-text answers from looking like labels);
    * one label only, or the largest class above 70% (2 labels) / 50% (more) -> drop;
    * label order: ClassLabel id order, else numeric then alphabetical;
    * all labels short -> suffix "Answers must be one of: A, B, C."
    """
    present = [v for v in values if v is not None]
    if non_scalar and non_scalar >= len(present):
        return LabelDecision(reject=NON_SCALAR, detail=f"{non_scalar} of {non_scalar + len(present)} "
                                                       "rows hold a list or dict")
    if not present:
        return LabelDecision()  # nothing to judge; instance building will report the skips
    counts = Counter(present)
    distinct = len(counts)
    # a label space needs short values: two paragraphs repeated over the rows are text to write
    label_like = all(is_label_like(v) for v in counts)
    is_cls = label_names is not None or (distinct <= MAX_CLASSES and distinct < len(present) and label_like)
    if not is_cls:
        return LabelDecision()
    if distinct == 1:
        return LabelDecision(kind="classification", reject=SINGLE_LABEL,
                             detail=f"every row has the label {next(iter(counts))!r}")
    top_label, top = counts.most_common(1)[0]
    share = top / len(present)
    limit = BALANCE_TWO if distinct == 2 else BALANCE_MANY
    if share > limit:
        return LabelDecision(kind="classification", reject=IMBALANCED,
                             detail=f"{top_label!r} is {share:.0%} of {len(present)} rows "
                                    f"(limit {limit:.0%} with {distinct} labels)")
    if label_names is not None:
        labels = list(label_names) if distinct <= len(label_names) and set(counts) <= set(label_names) \
            else sorted(counts, key=_label_sort_key)
    else:
        labels = sorted(counts, key=_label_sort_key)
    if len(labels) > MAX_CLASSES:  # a ClassLabel with many names: keep only the observed ones
        labels = [x for x in labels if x in counts]
    short = all(len(x) <= SHORT_LABEL_CHARS and len(x.split()) <= SHORT_LABEL_WORDS for x in labels)
    suffix = f"Answers must be one of: {', '.join(labels)}." if short and len(labels) <= MAX_CLASSES else ""
    return LabelDecision(kind="classification", labels=labels, suffix=suffix)


def with_suffix(instruction: str, suffix: str) -> str:
    """The instruction with the label-space sentence appended (once)."""
    instruction = instruction.strip()
    if not suffix or instruction.endswith(suffix):
        return instruction
    if instruction and instruction[-1] not in ".!?:":
        instruction += "."
    return f"{instruction} {suffix}"
