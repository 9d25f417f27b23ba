"""The README.md dataset card of an hf export: YAML front matter + what the data is and where it came from.

Everything in it is read from the examples' ``meta`` (source dataset, license, method, model) and,
when the input file sits in an instructkit run directory, that run's manifest (command, counts).

>>> from instructkit.records import Example
>>> card = dataset_card([Example("Hi", meta={"method": "glan", "model": "local"})], "demo")
>>> card.startswith("---") and "glan" in card
True
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from instructkit.records import Example


def _source_of(meta: dict[str, Any]) -> tuple[str | None, str | None]:
    """(source dataset name, its license) from the provenance keys generators write."""
    src = meta.get("source")
    name = lic = None
    if isinstance(src, dict):
        name = src.get("dataset") or src.get("name")
        if name and src.get("config"):
            name = f"{name} ({src['config']})"
        lic = src.get("license")
    elif isinstance(src, str) and src:
        name = src
    name = name or meta.get("dataset") or meta.get("source_dataset")
    lic = lic or meta.get("license") or meta.get("source_license")
    return (str(name) if name else None), (str(lic) if lic else None)


def _models_of(meta: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for key in ("model", "models", "generator_model", "judge_model"):
        v = meta.get(key)
        if isinstance(v, str) and v:
            found.append(v)
        elif isinstance(v, (list, tuple)):
            found += [str(x) for x in v if x]
        elif isinstance(v, dict):
            found += [str(x) for x in v.values() if isinstance(x, str) and x]
    return found


def _size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                         (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):
        if n < limit:
            return label
    return "10M<n<100M"


def _run_history(source: str | None) -> list[dict[str, Any]]:
    """Manifests of the instructkit run directory holding ``source`` (if any)."""
    if not source:
        return []
    p = Path(source)
    folder = p if p.is_dir() else p.parent
    m = folder / "manifest.json"
    if not m.is_file():
        return []
    try:
        man = json.loads(m.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return []
    return [man] if isinstance(man, dict) and man.get("command") else []


def _table(title: str, counter: Counter, extra: dict[str, str] | None = None, head: str = "") -> list[str]:
    if not counter:
        return []
    cols = f"| {head} | examples |" + (" license |" if extra is not None else "")
    lines = [f"## {title}", "", cols, "|---|---:|" + ("---|" if extra is not None else "")]
    for k, v in counter.most_common():
        lines.append(f"| {k} | {v:,} |" + (f" {extra.get(k) or 'unknown'} |" if extra is not None else ""))
    return lines + [""]


def dataset_card(examples: Sequence[Example], name: str, source: str | None = None) -> str:
    """Markdown dataset card (with HF YAML front matter) describing ``examples``."""
    import yaml

    from instructkit import __version__

    sources: Counter = Counter()
    licenses: dict[str, str] = {}
    methods: Counter = Counter()
    models: Counter = Counter()
    for ex in examples:
        sname, lic = _source_of(ex.meta)
        if sname:
            sources[sname] += 1
            if lic:
                licenses.setdefault(sname, lic)
        if ex.meta.get("method"):
            methods[str(ex.meta["method"])] += 1
        for m in set(_models_of(ex.meta)):
            models[m] += 1
    known = sorted(set(licenses.values()))
    license_tag = known[0] if len(known) == 1 and len(licenses) == len(sources) else ("other" if known else "unknown")
    n = len(examples)
    front = {
        "pretty_name": name,
        "license": license_tag,
        "task_categories": ["text-generation"],
        "tags": ["instruction-tuning", "instructkit"] + sorted(methods),
        "size_categories": [_size_category(n)],
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train.parquet"}]}],
    }
    with_input = sum(1 for ex in examples if ex.input)
    with_system = sum(1 for ex in examples if ex.meta.get("system"))
    mean = lambda f: sum(len(getattr(ex, f)) for ex in examples) / n  # noqa: E731
    lines = ["---", yaml.safe_dump(front, sort_keys=False, allow_unicode=True).strip(), "---", "",
             f"# {name}", "",
             f"Instruction-tuning examples curated with [instructkit](https://pypi.org/project/instructkit/) "
             f"{__version__}.", "",
             "## Counts", "",
             f"- examples: {n:,}",
             f"- with a non-empty input: {with_input:,}",
             f"- with a system message: {with_system:,}",
             f"- mean characters: instruction {mean('instruction'):.0f}, input {mean('input'):.0f}, "
             f"output {mean('output'):.0f}", ""]
    lines += _table("Source datasets", sources, licenses, head="dataset")
    if sources and len(licenses) < len(sources):
        lines += ["Licenses marked unknown were not recorded in the examples' provenance: check the "
                  "source datasets before redistributing.", ""]
    lines += _table("Methods", methods, head="method")
    lines += _table("Models used", models, head="model")
    for man in _run_history(source):
        counts = man.get("counts")
        lines += ["## Processing", "", f"- last step: `instructkit {man['command']}` "
                  f"({' '.join(map(str, man.get('argv') or []))})"]
        if isinstance(counts, dict):
            lines += [f"- counts: {json.dumps(counts, ensure_ascii=False)}"]
        lines.append("")
    lines += ["## Fields", "",
              "- `id`: stable content hash of instruction, input and output",
              "- `instruction`, `input`, `output`: the example; a chat user turn is "
              "`instruction + \"\\n\\n\" + input`",
              "- `meta`: JSON string with provenance (method, source dataset/row or taxonomy path, model, scores)",
              "", "## Load", "", "```python",
              "from datasets import load_from_disk, load_dataset",
              "ds = load_from_disk(\"PATH\")                      # this folder",
              "ds = load_dataset(\"parquet\", data_files=\"PATH/data/train.parquet\")",
              "```", ""]
    return "\n".join(lines)
