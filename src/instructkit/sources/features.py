"""Column types: read them from a card (YAML or HF ``Features`` JSON) or infer them from rows.

Every source describes its columns as a small type tree first (``value``, ``classlabel``, ``list``,
``struct``, ``media``, ``binary``, ``null``); :func:`to_feature` turns a tree into the
:class:`~instructkit.sources.card.Feature` the rest of instructkit reads, deciding once, here,
what can be rendered as text (scalars, lists of scalars, dicts of those) and what cannot.

>>> to_feature("choices", infer_type([["red", "blue"], ["green"]])).dtype
'list<string>'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from instructkit.sources.card import Feature

_MEDIA = {"image", "audio", "video", "pdf"}
_MEDIA_KEYS = {"bytes", "path", "array", "sampling_rate"}


@dataclass
class TypeTree:
    """``kind`` is value/classlabel/list/struct/media/binary/null/mixed."""

    kind: str
    dtype: str = ""                      # value: string/int64/float64/bool; media: image/audio
    names: list[str] | None = None       # classlabel
    child: TypeTree | None = None        # list
    fields: dict[str, TypeTree] = field(default_factory=dict)  # struct

    @property
    def scalar(self) -> bool:
        return self.kind in ("value", "classlabel", "null", "mixed")


def normalize_dtype(dtype: str) -> TypeTree:
    """Arrow/HF dtype names -> our readable ones (int8..uint64 -> int64, float16/double -> float64...)."""
    d = str(dtype).strip().lower()
    if d in ("string", "large_string", "str", "utf8", "large_utf8", "text"):
        return TypeTree("value", "string")
    if d.startswith(("int", "uint")):
        return TypeTree("value", "int64")
    if d.startswith("float") or d in ("double", "halffloat", "decimal"):
        return TypeTree("value", "float64")
    if d in ("bool", "boolean"):
        return TypeTree("value", "bool")
    if d in ("binary", "large_binary", "bytes"):
        return TypeTree("binary", "binary")
    if d in _MEDIA:
        return TypeTree("media", d)
    if d == "null":
        return TypeTree("null", "null")
    # timestamps, dates, durations...: render as text
    return TypeTree("value", d or "string")


def _class_names(spec: Any) -> list[str]:
    """ClassLabel names as declared: a list, or a mapping of id -> name (YAML cards use '0': name)."""
    names = spec.get("names") if isinstance(spec, dict) else spec
    if isinstance(names, dict):
        return [str(names[k]) for k in sorted(names, key=lambda k: int(k))]
    return [str(n) for n in (names or [])]


# --- HF ``Features.to_dict()`` JSON (parquet schema metadata, hub builders) -------------------

def from_hf_dict(spec: Any) -> TypeTree:
    """A type tree from the JSON form of HF features (``{"_type": "Value", "dtype": ...}``)."""
    if isinstance(spec, list):  # old-style [feature] = list of feature
        return TypeTree("list", child=from_hf_dict(spec[0]) if spec else TypeTree("null", "null"))
    if not isinstance(spec, dict):
        return normalize_dtype(str(spec))
    t = spec.get("_type")
    if t is None:  # a plain dict of sub-features = struct
        return TypeTree("struct", fields={k: from_hf_dict(v) for k, v in spec.items()})
    if t == "Value":
        return normalize_dtype(spec.get("dtype", "string"))
    if t == "ClassLabel":
        return TypeTree("classlabel", "ClassLabel", names=_class_names(spec))
    if t in ("Sequence", "List", "LargeList"):
        inner = spec.get("feature")
        if isinstance(inner, dict) and "_type" not in inner:
            # Sequence({a: X, b: Y}) is stored as a dict of lists
            return TypeTree("struct", fields={k: TypeTree("list", child=from_hf_dict(v)) for k, v in inner.items()})
        return TypeTree("list", child=from_hf_dict(inner))
    if t.lower() in _MEDIA:
        return TypeTree("media", t.lower())
    if t in ("Translation", "TranslationVariableLanguages"):
        return translation_type(spec.get("languages"))
    return TypeTree("value", t.lower())


def translation_type(languages: Any) -> TypeTree:
    """A ``Translation`` feature: a dict of one text per language, marked (dtype) so the loader splits it."""
    langs = [str(x) for x in languages] if isinstance(languages, list) else []
    return TypeTree("struct", "translation", fields={lang: TypeTree("value", "string") for lang in langs})


def split_translations(types: dict[str, TypeTree], rows: list[dict[str, Any]]) -> dict[str, TypeTree]:
    """A declared ``Translation`` column becomes one text column per language (``translation.de``), as
    the hub's ``flatten()`` gives it: a task maps one language to another, which one dict field cannot."""
    out: dict[str, TypeTree] = {}
    for col, t in types.items():
        if not (t.kind == "struct" and t.dtype == "translation" and t.fields):
            out[col] = t
            continue
        for lang, sub in t.fields.items():
            out[f"{col}.{lang}"] = sub
        for row in rows:
            v = row.pop(col, None)
            for lang in t.fields:
                row[f"{col}.{lang}"] = v.get(lang) if isinstance(v, dict) else None
    return out


# --- YAML ``dataset_info.features`` of a README card -----------------------------------------

def from_yaml_field(spec: dict[str, Any]) -> TypeTree:
    """One entry of a card's ``features:`` list: ``dtype``, ``class_label``, ``sequence``/``list``, ``struct``."""
    for key in ("sequence", "list", "large_list"):
        if key in spec:
            inner = spec[key]
            if isinstance(inner, list):  # sequence of named sub-fields = dict of lists
                return TypeTree("struct", fields={str(s.get("name")): TypeTree("list", child=from_yaml_field(s))
                                                  for s in inner if isinstance(s, dict)})
            if key == "sequence" and isinstance(inner, dict) and "name" in inner and "dtype" not in inner \
                    and "class_label" not in inner:
                return TypeTree("list", child=from_yaml_field(inner))
            return TypeTree("list", child=from_yaml_field(inner) if isinstance(inner, dict)
                            else normalize_dtype(str(inner)))
    if "struct" in spec:
        subs = spec["struct"] or []
        return TypeTree("struct", fields={str(s.get("name")): from_yaml_field(s) for s in subs if isinstance(s, dict)})
    dtype = spec.get("dtype", spec.get("class_label") and {"class_label": spec["class_label"]})
    if isinstance(dtype, dict):
        if "class_label" in dtype:
            return TypeTree("classlabel", "ClassLabel", names=_class_names(dtype["class_label"] or {}))
        if "_type" in dtype:
            return from_hf_dict(dtype)
        for key in ("translation", "translation_variable_languages"):
            if isinstance(dtype.get(key), dict):  # dtype: {translation: {languages: [de, en]}}
                return translation_type(dtype[key].get("languages"))
        return TypeTree("struct", fields={k: from_yaml_field(v if isinstance(v, dict) else {"dtype": v})
                                          for k, v in dtype.items()})
    if isinstance(dtype, list):
        return TypeTree("list", child=from_yaml_field(dtype[0]) if dtype else TypeTree("null", "null"))
    return normalize_dtype(str(dtype or "string"))


def from_yaml_features(specs: Any) -> dict[str, TypeTree]:
    """All columns declared by a card's ``features:`` (a list of entries, or a mapping name -> dtype)."""
    if isinstance(specs, dict):
        specs = [{"name": k, **(v if isinstance(v, dict) else {"dtype": v})} for k, v in specs.items()]
    out: dict[str, TypeTree] = {}
    for spec in specs or []:
        if isinstance(spec, dict) and spec.get("name") is not None:
            out[str(spec["name"])] = from_yaml_field(spec)
    return out


# --- inference from rows ---------------------------------------------------------------------

def _type_of(value: Any) -> TypeTree:
    if value is None:
        return TypeTree("null", "null")
    if isinstance(value, bool):
        return TypeTree("value", "bool")
    if isinstance(value, int):
        return TypeTree("value", "int64")
    if isinstance(value, float):
        return TypeTree("value", "float64")
    if isinstance(value, str):
        return TypeTree("value", "string")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return TypeTree("binary", "binary")
    if isinstance(value, dict):
        keys = set(value)
        if keys and keys <= _MEDIA_KEYS | {"src", "type"} and keys & {"bytes", "path", "array"}:
            return TypeTree("media", "audio" if keys & {"array", "sampling_rate"} else "image")
        return TypeTree("struct", fields={str(k): _type_of(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return TypeTree("list", child=infer_type(list(value)))
    return TypeTree("value", type(value).__name__)  # dates, decimals...: shown as text


def merge(a: TypeTree, b: TypeTree) -> TypeTree:
    """The type that holds values of both (int + float -> float64; null gives way to anything)."""
    if a.kind == "null":
        return b
    if b.kind == "null":
        return a
    if a.kind == b.kind == "value":
        if a.dtype == b.dtype:
            return a
        if {a.dtype, b.dtype} == {"int64", "float64"}:
            return TypeTree("value", "float64")
        return TypeTree("mixed", "string")
    if a.kind == b.kind == "list":
        return TypeTree("list", child=merge(a.child or TypeTree("null"), b.child or TypeTree("null")))
    if a.kind == b.kind == "struct":
        fields = dict(a.fields)
        for k, v in b.fields.items():
            fields[k] = merge(fields[k], v) if k in fields else v
        return TypeTree("struct", fields=fields)
    if a.kind == b.kind and a.dtype == b.dtype:
        return a
    if a.scalar and b.scalar:
        return TypeTree("mixed", "string")
    # a scalar in some rows and a list/dict in others: keep the complex one (it decides usability)
    return a if not a.scalar else b


def infer_type(values: list[Any]) -> TypeTree:
    """The type of a column from its values (``None`` values are ignored)."""
    t = TypeTree("null", "null")
    for v in values:
        t = merge(t, _type_of(v))
    return t


def infer_types(rows: list[dict[str, Any]]) -> dict[str, TypeTree]:
    """Column -> type over ``rows``, columns in first-seen order."""
    cols: dict[str, list[Any]] = {}
    for row in rows:
        for k, v in row.items():
            cols.setdefault(str(k), []).append(v)
    return {k: infer_type(v) for k, v in cols.items()}


# --- tree -> Feature -------------------------------------------------------------------------

def _scalar_name(t: TypeTree) -> str:
    return t.dtype or t.kind


def _renderable_leaf(t: TypeTree) -> bool:
    return t.scalar or (t.kind == "list" and t.child is not None and t.child.scalar)


def _leaf_name(t: TypeTree) -> str:
    if t.kind == "list" and t.child is not None:
        return f"list<{_scalar_name(t.child)}>"
    return _scalar_name(t)


def to_feature(name: str, t: TypeTree) -> Feature:
    """The Feature for a column: its readable dtype, ClassLabel names, and whether it can be used as text."""
    if t.kind == "value":
        return Feature(name, t.dtype)
    if t.kind == "mixed":
        return Feature(name, "string")  # values of several scalar types: all rendered as text
    if t.kind == "classlabel":
        return Feature(name, "ClassLabel", label_names=list(t.names or []))
    if t.kind == "null":
        return Feature(name, "null", usable=False, reason="always empty")
    if t.kind == "binary":
        return Feature(name, "binary", usable=False, reason="binary data cannot be shown as text")
    if t.kind == "media":
        return Feature(name, t.dtype, usable=False, reason=f"{t.dtype} data cannot be shown as text")
    if t.kind == "list":
        c = t.child or TypeTree("null", "null")
        if c.kind == "classlabel":
            return Feature(name, "list<ClassLabel>", label_names=list(c.names or []))
        if c.scalar:
            return Feature(name, f"list<{_scalar_name(c)}>")
        if c.kind in ("media", "binary"):
            return Feature(name, f"list<{c.dtype}>", usable=False, reason=f"{c.dtype} data cannot be shown as text")
        kind = "dicts" if c.kind == "struct" else "lists"
        return Feature(name, f"list<{'dict' if c.kind == 'struct' else 'list'}>", usable=False,
                       reason=f"nested too deeply (a list of {kind}) to render as text")
    if t.kind == "struct":
        if not t.fields:
            return Feature(name, "dict", usable=False, reason="always empty")
        for sub, st in t.fields.items():
            if st.kind in ("media", "binary"):
                return Feature(name, "dict", usable=False, reason=f"sub-field '{sub}' holds {st.dtype} data")
            if not _renderable_leaf(st):
                return Feature(name, "dict", usable=False,
                               reason=f"nested too deeply (sub-field '{sub}' is {_leaf_name(st) if st.kind != 'struct' else 'a dict'})")
        return Feature(name, "dict")
    return Feature(name, t.dtype or t.kind)
