"""The one "is it classification?" rule: a task's label space, given or inferred from its outputs.

A task is *classification* when it has a label space: given explicitly or, failing that, inferred
from its outputs by :func:`infer_label_space` (see :mod:`instructkit.tasks` for the two readings,
Active-IT's defaults and eval's :data:`EVAL_RULE`). It imports nothing of instructkit, so the record
types (:mod:`instructkit.records`) can use it without an import cycle through the task loader.

>>> infer_label_space(["yes", "no", "yes", "no"])
['no', 'yes']
>>> is_classification(None, ["hot", "cold", "big", "small"])
False
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Sequence
from typing import Any

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize_label(text: str) -> str:
    """Lowercase, no punctuation, no English articles, single spaces (eval's exact-match form)."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCT)).split())


MAX_LABEL_WORDS = 3
EVAL_RULE: dict[str, Any] = {"min_outputs": 1, "max_labels": 20, "skip_blank": False, "key": normalize_label}


def infer_label_space(outputs: Iterable[str], *, min_outputs: int = 4, max_labels: int = 10,
                      key: Callable[[str], str] | None = None, skip_blank: bool = True) -> list[str] | None:
    """The sorted distinct labels of a task with no explicit label space, or None (generation)."""
    outs = [o.strip() for o in outputs if o and o.strip()] if skip_blank else list(outputs)
    if len(outs) < max(1, min_outputs) or any(len(o.split()) > MAX_LABEL_WORDS for o in outs):
        return None
    distinct = sorted({key(o) for o in outs} if key else set(outs))
    if len(distinct) > min(max_labels, max(1, len(outs) // 2)):
        return None
    return distinct


def kind_of(label_space: Sequence[Any] | None) -> str:
    """``classification`` or ``generation``, from the label space alone (Active-IT, replay, Dynosaur)."""
    return "classification" if is_classification(label_space) else "generation"


def is_classification(label_space: Sequence[Any] | None, outputs: Iterable[str] = (), **rule: Any) -> bool:
    """True when ``label_space`` is non-empty or one can be inferred from ``outputs`` (see module doc)."""
    if label_space:
        return True
    outputs = list(outputs)
    return bool(outputs) and infer_label_space(outputs, **rule) is not None
