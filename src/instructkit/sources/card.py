"""DatasetCard: what instructkit knows about one dataset-config (metadata + loaded rows)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Feature:
    """One column. ``dtype`` is a readable type: string, int64, float64, bool, list<string>,
    dict, ClassLabel, list<ClassLabel>, image, audio, binary... ``label_names`` holds ClassLabel
    names in id order (for ``list<ClassLabel>`` too: the list items are ids)."""

    name: str
    dtype: str
    label_names: list[str] | None = None
    usable: bool = True
    reason: str | None = None  # why not usable (binary, image/audio, too deeply nested)

    @property
    def is_classlabel(self) -> bool:
        """A single ClassLabel column (a list of ClassLabel ids is not one)."""
        return self.label_names is not None and self.dtype == "ClassLabel"

    def label_name(self, value: object) -> object:
        """The name of a ClassLabel id (other values, and ids out of range, come back unchanged)."""
        if self.label_names and isinstance(value, int) and not isinstance(value, bool) \
                and 0 <= value < len(self.label_names):
            return self.label_names[value]
        return value


@dataclass
class DatasetCard:
    """A dataset-config with its metadata and loaded rows.

    ``name`` is the dataset's name (hub id or folder/file stem), ``source`` how it was given
    (hub id or path), ``split`` the split the ``rows`` come from, ``splits`` all split names.
    ClassLabel values in ``rows`` stay ints; ``label_names`` on the feature maps them.
    """

    name: str
    source: str
    config: str | None = None
    split: str = "train"
    description: str = ""
    license: str | None = None
    features: list[Feature] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    num_rows: int | None = None  # rows in the split, when known (may exceed len(rows))
    pretty_name: str | None = None  # the card's human-readable title, when it has one
    notes: list[str] = field(default_factory=list)  # what loading left out and why (stray files, columns)

    @property
    def usable_features(self) -> list[Feature]:
        return [f for f in self.features if f.usable]

    def feature(self, name: str) -> Feature | None:
        return next((f for f in self.features if f.name == name), None)

    @property
    def key(self) -> str:
        """Stable identity of this dataset-config-split, for manifests and growth."""
        return f"{self.name}/{self.config or 'default'}/{self.split}"

    def to_dict(self, max_rows: int | None = 2) -> dict[str, Any]:
        d = asdict(self)
        d["rows"] = self.rows[:max_rows] if max_rows is not None else self.rows
        return d
