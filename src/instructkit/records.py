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

    Dynosaur produces these; Active-IT and replay consume them (grouped with their instances by
    ``Example.meta["task_id"]``). ``kind`` is ``classification`` when there is a label space.
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

    def __post_init__(self) -> None:
        if self.label_space and self.kind == "generation":
            self.kind = "classification"
        if not self.id:
            self.id = stable_hash("task", self.source.get("dataset"), self.source.get("config"),
                                  self.instruction, self.input_fields, self.output_field)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {"id": d.pop("id"), **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Task":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})
