"""Dynosaur step 2: the task-design prompt (system message, two worked demonstrations, the dataset).

The demonstrations are two made-up datasets shown in exactly the format of the real one, each
followed by the answer we want, as earlier chat turns (small models follow a pattern they have
just "answered" far better than a described format). The answer is constrained by a JSON
schema whose ``enum`` lists the dataset's real field names, so a backend that enforces schemas
(llama.cpp grammars, OpenAI structured outputs) cannot name a field that does not exist.

>>> from instructkit.generate.dynosaur.meta import MetaView, FieldInfo
>>> view = MetaView("toy", None, "Toy reviews.", [FieldInfo("text", "string"), FieldInfo("stars", "int64")],
...                 [{"text": "good", "stars": "5"}])
>>> msgs = build_messages(view, "aware")
>>> [m["role"] for m in msgs]
['system', 'user', 'assistant', 'user', 'assistant', 'user']
>>> [b["properties"]["input_fields"]["items"]["enum"] for b in task_schema(view.field_names)["properties"]["tasks"]["items"]["anyOf"]]
[['stars'], ['text']]
"""

from __future__ import annotations

import json
from typing import Any

from instructkit import prompts
from instructkit.generate.dynosaur.meta import FieldInfo, MetaView
from instructkit.records import stable_hash

MODES = ("aware", "unaware")
# A fixed name, not a version to bump: the hash in template_version() does the versioning. It
# stays what it was before the prompts moved to instructkit/prompts/, so older caches still hit.
PROMPT_NAME = "dynosaur-tasks-v1"
SYSTEM, DATASET = "dynosaur/system", "dynosaur/dataset"  # instructkit/prompts/dynosaur/*.j2
DEMOS = "dynosaur/demos"  # instructkit/prompts/dynosaur/demos.yaml: two made-up datasets and their answers


def _demos() -> list[tuple[MetaView, list[dict[str, Any]]]]:
    """The worked demonstrations: (dataset view, the tasks we want designed for it), twice."""
    out = []
    for demo in prompts.data(DEMOS):
        d = demo["dataset"]
        fields = [FieldInfo(f["name"], f["dtype"], f.get("label_names")) for f in d["fields"]]
        out.append((MetaView(d["name"], d["config"], d["description"], fields, d["examples"]), demo["tasks"]))
    return out


def template_version() -> str:
    """Prompt name plus a hash of the template files and demonstrations: any edit changes cache keys."""
    texts = [prompts.get(name).text for name in (SYSTEM, DATASET)]
    demos = [(v.name, v.description, [f.describe() for f in v.fields], v.examples, a) for v, a in _demos()]
    return f"{PROMPT_NAME}:{stable_hash(texts, demos, length=8)}"


def demo_instructions() -> list[str]:
    """The instructions of our worked demonstrations (a task copying one is dropped)."""
    return [t["instruction"] for _, answer in _demos() for t in answer]


def render_dataset(view: MetaView, mode: str, max_tasks: int = 3) -> str:
    """The user message that shows one dataset (description only in ``aware`` mode)."""
    return prompts.render_text(DATASET, view=view, aware=(mode == "aware"), max_tasks=max_tasks).strip()


def build_messages(view: MetaView, mode: str, max_tasks: int = 3) -> list[dict[str, str]]:
    """System message, two demonstrations (user/assistant pairs), then the dataset to design for."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    system = prompts.render_text(SYSTEM, aware=(mode == "aware")).strip()
    msgs = [{"role": "system", "content": system}]
    for demo_view, answer in _demos():
        msgs.append({"role": "user", "content": render_dataset(demo_view, mode, max_tasks)})
        tasks = [{"output_field": t["output_field"], "input_fields": t["input_fields"],
                  "instruction": t["instruction"]} for t in answer[:max_tasks]]
        msgs.append({"role": "assistant", "content": json.dumps({"tasks": tasks}, ensure_ascii=False)})
    msgs.append({"role": "user", "content": render_dataset(view, mode, max_tasks)})
    return msgs


def task_schema(field_names: list[str], max_tasks: int = 3) -> dict[str, Any]:
    """JSON schema of the answer: up to ``max_tasks`` tasks over the dataset's real field names.

    Each task is ``anyOf`` one branch per possible output field, whose ``input_fields`` enum holds
    only the *other* fields: a backend that enforces schemas then cannot make a field both input
    and output, or name a field that does not exist. The output field comes first so the model
    picks what to predict before it writes the instruction about it.
    """
    names = list(field_names)

    def branch(out: str) -> dict[str, Any]:
        others = [n for n in names if n != out] or names
        return {"type": "object",
                "properties": {
                    "output_field": {"type": "string", "const": out},
                    "input_fields": {"type": "array", "items": {"type": "string", "enum": others},
                                     "minItems": 1, "maxItems": max(1, min(3, len(others)))},
                    "instruction": {"type": "string", "minLength": 10, "maxLength": 400},
                },
                "required": ["output_field", "input_fields", "instruction"]}

    return {"type": "object",
            "properties": {"tasks": {"type": "array", "minItems": 1, "maxItems": max_tasks,
                                     "items": {"anyOf": [branch(n) for n in names]}}},
            "required": ["tasks"]}
