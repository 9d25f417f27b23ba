"""The two record types every stage reads and writes: Task and Example.

Ids are stable content hashes, so the same content always gets the same id across runs,
machines and executors.

>>> ex = Example(instruction="Add the numbers.", input="2 3", output="5")
>>> ex.id == Example(instruction="Add the numbers.", input="2 3", output="5").id
True
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any


def stable_hash(*parts: Any, length: int = 16) -> str:
    """Hex digest of the canonical JSON of ``parts`` (order-sensitive, key-order-insensitive)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


def user_turn(instruction: str, input: str = "") -> str:
    """The one chat rendering of an instruction and its input: ``instruction + "\\n\\n" + input``.

    Train, export, eval, the QDIT text and the judges all render through this, so a trained prompt,
    an exported row and an evaluated prompt agree (``io.split_user_turn`` is its inverse).

    >>> user_turn("Add.", "2 3")
    'Add.\\n\\n2 3'
    >>> user_turn("Hi")
    'Hi'
    """
    return f"{instruction}\n\n{input}" if input else instruction


@dataclass
class Example:
    """One instruction-tuning example. ``meta`` holds provenance (method, source, task id, model)."""

    instruction: str
    input: str = ""
    output: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            self.id = self.content_id()

    def content_id(self) -> str:
        return stable_hash("example", self.instruction, self.input, self.output)

    def user_turn(self) -> str:
        """The user turn this example trains, exports and is judged by (see :func:`user_turn`)."""
        return user_turn(self.instruction, self.input)

    def system_prompt(self, default: str | None = None, *, any_type: bool = False) -> str | None:
        """``meta["system"]`` when it is a non-empty string, else ``default``.

        ``any_type=True`` also takes a non-string truthy value, as ``str(value)`` (what ``train``
        has always done; ``export`` keeps only strings).
        """
        s = self.meta.get("system")
        if isinstance(s, str) and s:
            return s
        if any_type and s:
            return str(s)
        return default

    def messages(self, system: str | None = None, *, any_type_system: bool = False) -> list[dict[str, str]]:
        """The chat: system (``meta.system``, else ``system``), user, assistant.

        >>> Example(instruction="Add.", input="2 3", output="5").messages()
        [{'role': 'user', 'content': 'Add.\\n\\n2 3'}, {'role': 'assistant', 'content': '5'}]
        """
        sys_msg = self.system_prompt(system, any_type=any_type_system)
        return ([{"role": "system", "content": sys_msg}] if sys_msg else []) + [
            {"role": "user", "content": self.user_turn()}, {"role": "assistant", "content": self.output}]

    @property
    def references(self) -> list[str]:
        """The accepted outputs (``meta.references``, Super-NI style), else ``[output]``."""
        refs = self.meta.get("references")
        return [str(r) for r in refs] if isinstance(refs, list) and refs else [self.output]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "instruction": self.instruction, "input": self.input,
                "output": self.output, "meta": self.meta}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Example":
        return cls(instruction=str(d.get("instruction") or ""), input=str(d.get("input") or ""),
                   output=str(d.get("output") or ""), meta=dict(d.get("meta") or {}),
                   id=str(d.get("id") or ""))


@dataclass
class Task:
    """A task: an instruction over some input fields producing an output field, plus its label space.

    Dynosaur produces these; Active-IT, replay and eval consume them with their ``instances``
    (Examples grouped by ``meta["task_id"]``; see :mod:`instructkit.tasks` for the loader).
    ``kind`` is ``classification`` when there is a label space. ``instances`` and ``origin`` (the
    file it was loaded from) are runtime-only: they are not part of the record, its id or equality.
    """

    instruction: str
    input_fields: list[str] = field(default_factory=list)
    output_field: str = ""
    label_space: list[str] | None = None
    kind: str = "generation"
    source: dict[str, Any] = field(default_factory=dict)  # dataset, config, split, license ...
    demonstrations: list[dict[str, str]] = field(default_factory=list)  # [{"input", "output"}]
    meta: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    instances: list[Example] = field(default_factory=list, compare=False, repr=False)
    origin: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        from instructkit.labels import is_classification

        if is_classification(self.label_space) and self.kind == "generation":
            self.kind = "classification"
        if not self.id:
            self.id = stable_hash("task", self.source.get("dataset"), self.source.get("config"),
                                  self.instruction, self.input_fields, self.output_field)

    @property
    def definition(self) -> str:
        """The task's instruction (Super-NI calls it the definition)."""
        return self.instruction

    @property
    def demos(self) -> list[tuple[str, str]]:
        """The demonstrations as (input, output) pairs."""
        return [(str(d.get("input", "")), str(d.get("output", ""))) for d in self.demonstrations]

    @property
    def is_classification(self) -> bool:
        """Eval's rule: exact match applies (label space, or short repeated references/demo outputs)."""
        from instructkit.labels import EVAL_RULE, is_classification

        refs = [r for e in self.instances for r in e.references] + [o for _, o in self.demos]
        return is_classification(self.label_space, refs, **EVAL_RULE)

    def content_hash(self) -> str:
        """Changes whenever the instruction or the instances change (part of Active-IT score cache keys)."""
        return stable_hash("task-bundle", self.instruction, self.demonstrations,
                           [e.id for e in self.instances])

    def training_examples(self) -> list[Example]:
        """The instances as ready-to-train Examples, each tagged with this task's id."""
        out = []
        for e in self.instances:
            meta = dict(e.meta)
            meta.setdefault("task_id", self.id)
            out.append(Example(instruction=e.instruction or self.instruction, input=e.input,
                               output=e.output, meta=meta, id=e.id))
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for runtime in _TASK_RUNTIME:
            d.pop(runtime)
        return {"id": d.pop("id"), **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Task":
        known = {f for f in cls.__dataclass_fields__} - _TASK_RUNTIME
        return cls(**{k: v for k, v in d.items() if k in known})


_TASK_RUNTIME = {"instances", "origin"}
