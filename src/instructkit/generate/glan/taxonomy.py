"""GLAN taxonomy: fields -> sub-fields -> disciplines, built in or read from a user YAML file.

A discipline's id is a hash of its taxonomy path (field, sub-field, discipline), so it is the
same in every run and every taxonomy file that holds the same path: adding a discipline to a
user taxonomy leaves every other id (and so all work already done under it) untouched.

YAML shape (the built-in ``instructkit/data/taxonomy.yaml`` uses it too)::

    name: my-taxonomy
    fields:
      - name: Natural Sciences
        sub_fields:
          - name: Physical Sciences
            disciplines:
              - Physics
              - {name: Chemistry, description: matter and its changes}

A compact form is accepted as well: ``{Field: {Sub-field: [Discipline, ...]}}``.

>>> tax = load_taxonomy("builtin")
>>> len(tax.disciplines) >= 100
True
>>> [d.name for d in tax.select(["chemistry"])]
['Chemistry']
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from instructkit.errors import UserError
from instructkit.records import stable_hash

BUILTIN = "builtin"


@dataclass(frozen=True)
class Discipline:
    """A leaf of the taxonomy: the unit GLAN generates subjects for."""

    field: str
    sub_field: str
    name: str
    description: str = ""

    @property
    def id(self) -> str:
        return discipline_id(self.field, self.sub_field, self.name)

    @property
    def path(self) -> tuple[str, str, str]:
        return (self.field, self.sub_field, self.name)


def discipline_id(field_name: str, sub_field: str, name: str) -> str:
    """Stable id of a taxonomy path (whitespace-normalized, case kept)."""
    return stable_hash("glan-discipline", *(" ".join(p.split()) for p in (field_name, sub_field, name)))


@dataclass
class Taxonomy:
    name: str
    source: str
    disciplines: list[Discipline] = field(default_factory=list)

    def by_name(self) -> dict[str, Discipline]:
        return {_norm(d.name): d for d in self.disciplines}

    def select(self, names: list[str] | None) -> list[Discipline]:
        """The named disciplines (case-insensitive), in the order given; all when ``names`` is empty.

        An unknown name is a UserError listing close matches.
        """
        if not names:
            return list(self.disciplines)
        index = self.by_name()
        out: list[Discipline] = []
        for raw in names:
            key = _norm(raw)
            if not key:
                continue
            if key not in index:
                raise UserError(f"--disciplines: '{raw}' is not in taxonomy {self.source}; "
                                f"{_suggest(key, list(index), self.disciplines)}")
            if index[key] not in out:
                out.append(index[key])
        if not out:
            raise UserError("--disciplines: no discipline named; give NAME,NAME or leave it out for all")
        return out

    def tree(self) -> dict[str, dict[str, list[Discipline]]]:
        out: dict[str, dict[str, list[Discipline]]] = {}
        for d in self.disciplines:
            out.setdefault(d.field, {}).setdefault(d.sub_field, []).append(d)
        return out


def _norm(name: str) -> str:
    return " ".join(str(name).lower().split())


def _suggest(key: str, names: list[str], disciplines: list[Discipline]) -> str:
    close = difflib.get_close_matches(key, names, n=5, cutoff=0.6)
    close += [n for n in names if (key in n or n in key) and n not in close]
    pretty = {_norm(d.name): d.name for d in disciplines}
    if close:
        return "did you mean: " + ", ".join(pretty[c] for c in close[:6]) + "?"
    return "see `instructkit glan --list-disciplines`"


def load_taxonomy(source: str | Path = BUILTIN) -> Taxonomy:
    """Load the built-in taxonomy (``"builtin"``) or a user YAML file; UserError on a bad file."""
    import yaml

    if str(source) == BUILTIN:
        text = resources.files("instructkit").joinpath("data/taxonomy.yaml").read_text(encoding="utf-8")
        where = "builtin"
    else:
        path = Path(source)
        if not path.is_file():
            raise UserError(f"--taxonomy {path}: file not found; give a YAML file or 'builtin'")
        text = path.read_text(encoding="utf-8")
        where = str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or "syntax error"
        raise UserError(f"{where}: not valid YAML{at} ({problem}); fix the file") from None
    return parse_taxonomy(data, where)


def parse_taxonomy(data: Any, where: str) -> Taxonomy:
    """Validate a loaded YAML value into a Taxonomy; errors name the file and the bad entry."""
    if not isinstance(data, dict) or not data:
        raise UserError(f"{where}: expected a mapping with 'fields' (see README, GLAN taxonomy format)")
    if "fields" in data:
        fields = data["fields"]
        name = str(data.get("name") or Path(where).stem)
        if not isinstance(fields, list) or not fields:
            raise UserError(f"{where}: 'fields' must be a non-empty list of {{name, sub_fields}}")
    else:  # compact form {Field: {Sub-field: [Discipline, ...]}}
        name = Path(where).stem
        fields = []
        for f, subs in data.items():
            if not isinstance(subs, dict):
                raise UserError(f"{where}: '{f}' should map sub-field names to discipline lists, "
                                "or use the 'fields:' form (see README, GLAN taxonomy format)")
            fields.append({"name": f, "sub_fields": [{"name": s, "disciplines": d} for s, d in subs.items()]})
    tax = Taxonomy(name=name, source=where)
    seen: dict[str, str] = {}
    for i, f in enumerate(fields):
        fname = _name_of(f, f"{where}: fields[{i}]")
        subs = f.get("sub_fields") if isinstance(f, dict) else None
        if not isinstance(subs, list) or not subs:
            raise UserError(f"{where}: field '{fname}' needs a non-empty 'sub_fields' list")
        for j, s in enumerate(subs):
            sname = _name_of(s, f"{where}: field '{fname}' sub_fields[{j}]")
            discs = s.get("disciplines") if isinstance(s, dict) else None
            if not isinstance(discs, list) or not discs:
                raise UserError(f"{where}: sub-field '{fname} / {sname}' needs a non-empty 'disciplines' list")
            for k, d in enumerate(discs):
                ctx = f"{where}: '{fname} / {sname}' disciplines[{k}]"
                dname = d if isinstance(d, str) else _name_of(d, ctx)
                dname = " ".join(str(dname).split())
                if not dname:
                    raise UserError(f"{ctx}: empty discipline name")
                desc = str(d.get("description") or "") if isinstance(d, dict) else ""
                key = _norm(dname)
                if key in seen:
                    raise UserError(f"{ctx}: discipline '{dname}' appears twice (also under {seen[key]}); "
                                    "discipline names must be unique")
                seen[key] = f"'{fname} / {sname}'"
                tax.disciplines.append(Discipline(" ".join(fname.split()), " ".join(sname.split()),
                                                  dname, desc))
    return tax


def _name_of(node: Any, ctx: str) -> str:
    if isinstance(node, dict) and isinstance(node.get("name"), (str, int, float)) and str(node["name"]).strip():
        return str(node["name"]).strip()
    raise UserError(f"{ctx}: expected a mapping with a 'name' (got {type(node).__name__})")


def format_tree(tax: Taxonomy) -> str:
    """Indented listing used by ``instructkit glan --list-disciplines``."""
    lines = [f"{tax.name}: {len(tax.disciplines)} disciplines"]
    for f, subs in tax.tree().items():
        lines.append(f"{f}")
        for s, ds in subs.items():
            lines.append(f"  {s}")
            lines += [f"    {d.name}  [{d.id}]" for d in ds]
    return "\n".join(lines)
