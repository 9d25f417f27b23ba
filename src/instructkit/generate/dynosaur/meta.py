"""Dynosaur step 1: the metadata view of a dataset-config, and how field values become text.

The model never sees a whole dataset, only this view: the description, the usable fields with
their types (ClassLabel names included) and one or two example rows whose values are cut at
``max_chars``. The same value-rendering rules are used later to turn every row into an
instance, so what the model was shown is what the instances contain.

>>> from instructkit.sources.card import DatasetCard, Feature
>>> card = DatasetCard(name="toy", source="toy", features=[Feature("text", "string"),
...     Feature("label", "ClassLabel", label_names=["neg", "pos"])], rows=[{"text": "great", "label": 1}])
>>> view = build_meta(card)
>>> view.examples[0]
{'text': 'great', 'label': 'pos'}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from instructkit.sources.card import DatasetCard, Feature

# dtypes that hold media or raw bytes: nothing a text task can read
_MEDIA = ("image", "audio", "video", "binary", "bytes", "large_binary", "array2d", "array3d")
# a list of strings is rendered as lettered options when it looks like a set of choices
CHOICE_MIN, CHOICE_MAX, CHOICE_ITEM_MAX = 2, 10, 200
LETTERS = "ABCDEFGHIJ"


class Unrenderable(ValueError):
    """A value that cannot be shown as text (bytes, deep nesting)."""


# -- field usability -----------------------------------------------------------------------------
def field_problem(feature: Feature, rows: list[dict[str, Any]]) -> str | None:
    """Why ``feature`` cannot be used in a task, or None when it can.

    The sources layer marks media columns unusable; we re-check the dtype and the loaded values,
    since a JSONL file has no declared types (a column of nested dicts is only seen in the rows).
    """
    if not feature.usable:
        return feature.reason or "marked unusable by the loader"
    dtype = (feature.dtype or "").lower()
    if any(dtype.startswith(m) or f"<{m}" in dtype for m in _MEDIA):
        return f"{feature.dtype} field (media or binary)"
    values = [r.get(feature.name) for r in rows if r.get(feature.name) is not None]
    if not values:
        return "no values in the loaded rows"
    if is_identifier(feature.name, values):
        return "identifier column (a unique key per row, nothing to learn from)"
    bad = 0
    for v in values:
        try:
            render_value(v, feature)
        except Unrenderable:
            bad += 1
    if bad * 2 > len(values):
        return "values cannot be rendered as text (binary or nested too deeply)"
    return None


def usable_fields(card: DatasetCard) -> tuple[list[Feature], dict[str, str]]:
    """(usable features in card order, {unusable field name: reason})."""
    good: list[Feature] = []
    bad: dict[str, str] = {}
    for f in card.features:
        problem = field_problem(f, card.rows)
        if problem:
            bad[f.name] = problem
        else:
            good.append(f)
    return good, bad


_ID_NAMES = {"id", "idx", "guid", "uid", "uuid", "key", "row_id", "example_id"}
_ID_SUFFIXES = ("_id", "_idx", "_uuid", "_key", "_guid")
# "label_id", "class_idx": a class label stored as a number, not a row key
_CLASS_PREFIXES = ("label", "class", "category", "topic", "intent", "tag")


def _id_named(name: str) -> bool:
    n = name.lower()
    if n.startswith(_CLASS_PREFIXES):
        return False
    camel = len(name) > 2 and name[-2:] in ("ID", "Id") and name[-3].islower()  # pairID, promptID, userId
    return n in _ID_NAMES or n.endswith(_ID_SUFFIXES) or camel


def _opaque_code(v: Any) -> bool:
    """An int or a single token with a digit in it ("history_1042", "31000e"): a key, not words."""
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return True
    return isinstance(v, str) and bool(v) and not any(c.isspace() for c in v) and any(c.isdigit() for c in v)


def is_identifier(name: str, values: list[Any]) -> bool:
    """An id column: named like one and either unique per row, or made of opaque codes shared by a
    few rows (``section_id``: several questions per passage). Tasks over it would be nonsense."""
    if not _id_named(name) or not all(_is_scalar(v) for v in values):
        return False
    return len(set(map(str, values))) == len(values) or all(_opaque_code(v) for v in values)


# -- value rendering -----------------------------------------------------------------------------
def _scalar_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _is_scalar(v: Any) -> bool:
    return isinstance(v, (str, int, float, bool))


_CHOICE_NAME = re.compile(r"choice|option|candidate|ending|alternative|^mc\d*_|answer_?list", re.I)
_LETTER_MARK = re.compile(r"^\s*\(?([A-Ja-j])\s*[).:]\s*")


def is_choice_field(feature: Feature | None) -> bool:
    """Lists are answer options only in a field named like options (``choices``, ``options``,
    ``endings``...): a list of concepts, tokens or tags is shown as a list, not as A./B. lines."""
    if feature is None:
        return True  # no name to judge by: the values decide (as before)
    if feature.dtype == "list<ClassLabel>":
        return False  # a label sequence (NER tags), one label per token
    return bool(_CHOICE_NAME.search(feature.name))


def already_lettered(items: list[Any]) -> bool:
    """Options that carry their own letters in order ("A) 21", "B) 34"): lettering them again
    would show "A. A) 21"."""
    marks = [_LETTER_MARK.match(x) if isinstance(x, str) else None for x in items]
    return all(marks) and [m.group(1).upper() for m in marks] == list(LETTERS[:len(items)])  # type: ignore[union-attr]


def choice_dict(v: Any) -> list[tuple[str, str]] | None:
    """``{"text": [...], "label": [...]}`` (ARC, CommonsenseQA): (label, text) per option, else None."""
    if not isinstance(v, dict) or not isinstance(v.get("text"), list) or not isinstance(v.get("label"), list):
        return None
    texts, labels = v["text"], v["label"]
    if not (CHOICE_MIN <= len(texts) == len(labels)) or not all(_is_scalar(x) for x in texts + labels):
        return None
    return [(_scalar_text(lab).strip(), _scalar_text(t).strip()) for lab, t in zip(labels, texts)]


def looks_like_choices(items: list[Any]) -> bool:
    """A short list of short, distinct, non-empty strings reads as answer options."""
    if not (CHOICE_MIN <= len(items) <= CHOICE_MAX):
        return False
    if not all(isinstance(x, str) and x.strip() and len(x) <= CHOICE_ITEM_MAX for x in items):
        return False
    return len({x.strip() for x in items}) == len(items)


def lettered_options(v: Any, feature: Feature | None = None) -> list[str] | None:
    """The options of ``v`` when it is rendered as lettered ``A. ...`` lines, else None."""
    if not isinstance(v, (list, tuple)) or not all(_is_scalar(x) for x in v):
        return None
    if not is_choice_field(feature):
        return None
    names = feature.label_names if feature is not None else None
    items = [names[x] if names is not None and isinstance(x, int) and 0 <= x < len(names) else x for x in v]
    return [x.strip() for x in items] if looks_like_choices(items) else None


def index_answer(v: Any) -> int | None:
    """``v`` as a position (an int, or a float holding one: JSON/pandas loaders make 2.0 of 2), else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return None


def option_letter(index: int, options: list[str]) -> str | None:
    """The letter an option is shown with (``2`` -> ``C``), or None when ``index`` names no option."""
    return LETTERS[index] if 0 <= index < len(options) else None


def answer_text(v: dict[str, Any]) -> str | None:
    """The first answer of an extractive-QA answer dict (SQuAD: ``{"text": [...], "answer_start": [...]}``,
    DROP: ``{"spans": [...], "types": [...]}``)."""
    for key in ("text", "answer", "answers", "value", "spans", "span", "answer_text"):
        if key in v:
            t = v[key]
            if isinstance(t, list):
                if not t:
                    return ""  # an answer dict with no answer (SQuAD v2 unanswerable): missing
                t = next((x for x in t if _is_scalar(x) and str(x).strip()), None)
            if t is not None and _is_scalar(t):
                return _scalar_text(t)
            return None
    return None


def render_value(v: Any, feature: Feature | None = None, as_output: bool = False) -> str | None:
    """Text for one field value; None when the value is missing or empty.

    ClassLabel ints become their names; lists of choice-like strings become ``A. ...`` lines
    (as input) ; answer dicts become their first answer text; other lists of scalars are joined;
    dicts of scalars become ``key: value`` pairs. As output, only scalars (and answer dicts) are
    allowed: anything else raises :class:`Unrenderable` (Dynosaur drops non-scalar outputs).
    """
    if v is None:
        return None
    if isinstance(v, (bytes, bytearray)):
        raise Unrenderable("bytes")
    names = feature.label_names if feature is not None else None
    if names is not None and isinstance(v, int) and not isinstance(v, bool):
        if v < 0:  # HF uses -1 for "no label" (unlabelled test splits)
            return None
        return names[v] if v < len(names) else _scalar_text(v)
    if _is_scalar(v):
        s = _scalar_text(v)
        return s if s.strip() else None
    if isinstance(v, dict):
        choices = choice_dict(v)
        if choices is not None:  # multiple choice: every option with its own label, never the first only
            if as_output:
                raise Unrenderable("options output")
            return "\n".join(f"{lab}. {t}" for lab, t in choices)
        ans = answer_text(v)
        if ans is not None:
            return ans if ans.strip() else None  # "" = answer-like dict without an answer
        if as_output:
            raise Unrenderable("dict output")
        if not v:
            return None
        if not all(_is_scalar(x) or x is None or (isinstance(x, list) and all(_is_scalar(y) for y in x))
                   for x in v.values()):
            raise Unrenderable("nested dict")
        parts = [f"{k}: {', '.join(map(_scalar_text, x)) if isinstance(x, list) else _scalar_text(x)}"
                 for k, x in v.items() if x not in (None, "", [])]
        return "; ".join(parts) or None
    if isinstance(v, (list, tuple)):
        items = list(v)
        if as_output:
            if len(items) == 1 and _is_scalar(items[0]):
                return render_value(items[0], feature, as_output=True)
            raise Unrenderable("list output")
        if not items:
            return None
        if not all(_is_scalar(x) for x in items):
            raise Unrenderable("list of non-scalars")
        options = lettered_options(items, feature)
        if options is not None:
            if already_lettered(options):
                return "\n".join(options)
            return "\n".join(f"{LETTERS[i]}. {x}" for i, x in enumerate(options))
        if names is not None:
            items = [names[x] if isinstance(x, int) and 0 <= x < len(names) else x for x in items]
        return ", ".join(_scalar_text(x) for x in items) if all(len(str(x)) <= 60 for x in items) \
            else "\n".join(_scalar_text(x) for x in items)
    raise Unrenderable(type(v).__name__)


def truncate(text: str, max_chars: int) -> str:
    """Cut ``text`` at ``max_chars`` (marking the cut with an ellipsis)."""
    return text if len(text) <= max_chars else text[: max(0, max_chars - 1)].rstrip() + "…"


# -- the view ------------------------------------------------------------------------------------
@dataclass
class FieldInfo:
    name: str
    dtype: str
    label_names: list[str] | None = None

    def describe(self) -> str:
        if self.label_names is not None:
            return f"{self.name} (label: one of {', '.join(self.label_names)})"
        return f"{self.name} ({self.dtype})"


@dataclass
class MetaView:
    """What the task designer sees about one dataset-config."""

    name: str
    config: str | None
    description: str
    fields: list[FieldInfo]
    examples: list[dict[str, str]]
    unusable: dict[str, str] = field(default_factory=dict)

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]


def build_meta(card: DatasetCard, n_examples: int = 2, max_chars: int = 1000,
               description_chars: int = 1500) -> MetaView:
    """The metadata view of ``card``: usable fields and up to ``n_examples`` rendered example rows.

    Example rows are the first rows in which every usable field has a value (falling back to the
    first rows), so the model sees complete examples.
    """
    fields, unusable = usable_fields(card)
    complete, partial = [], []
    for row in card.rows:
        rendered: dict[str, str] = {}
        for f in fields:
            try:
                t = render_value(row.get(f.name), f)
            except Unrenderable:
                t = None
            if t is not None:
                rendered[f.name] = truncate(t, max_chars)
        (complete if len(rendered) == len(fields) else partial).append(rendered)
        if len(complete) >= n_examples:
            break
    examples = (complete + partial)[:n_examples]
    return MetaView(name=card.name, config=card.config,
                    description=truncate(" ".join((card.description or "").split()), description_chars),
                    fields=[FieldInfo(f.name, f.dtype, f.label_names) for f in fields],
                    examples=examples, unusable=unusable)
