"""Load an existing dataset as DatasetCards: HF hub name, local HF-style folder, or one data file.

>>> cards = load_source("examples/news_topics")            # doctest: +SKIP
>>> cards[0].feature("label").label_names                   # doctest: +SKIP
['world', 'sports', 'business', 'science']
>>> expand_sources(["examples/sources.txt", "my.jsonl"])    # doctest: +SKIP
['examples/news_topics', ..., 'my.jsonl']

A source is, in the order tried: an existing folder (a dataset folder with a README.md card
and/or data files), an existing file (``.jsonl``, ``.json``, ``.csv``, ``.parquet``; its description from
``description=`` or a sidecar ``FILE.md`` / ``FILE.description.txt``), else a Hugging Face dataset
name (needs the network or the local HF cache). One card per config; rows come from one split
(``train`` when present, else the first).
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

from instructkit import ui
from instructkit.errors import UserError
from instructkit.sources.card import DatasetCard
from instructkit.sources.cardfile import CardFile, read_card
from instructkit.sources.datafiles import is_data_file, is_json_note, order_splits, read_rows, split_of
from instructkit.sources.features import (TypeTree, from_hf_dict, from_yaml_features, infer_types,
                                          split_translations, to_feature)

INFER_ROWS = 1000  # rows read to infer column types, even when fewer are asked for
_SIDECAR_SUFFIXES = (".md", ".description.txt")


# --- public API ------------------------------------------------------------------------------

def load_source(source: str, *, config: str | None = None, split: str | None = None,
                rows: int | None = None, description: str | None = None) -> list[DatasetCard]:
    """Load ``source`` into one DatasetCard per config (only ``config`` when given).

    ``rows`` caps the rows kept per card (None = all of the split); ``description`` replaces the
    card's own. Bad or empty input raises UserError with one line naming the file and the fix.
    """
    if rows is not None and rows < 0:
        raise UserError(f"rows must be >= 0, got {rows}")
    src = str(source).strip()
    if not src:
        raise UserError("empty source name; give a dataset folder, a data file or a Hugging Face dataset name")
    path = Path(src).expanduser()
    if path.is_dir():
        src = src.rstrip("/\\") or src  # "examples/news/" and "examples/news" are one source
        return _load_folder(path, src, config=config, split=split, rows=rows, description=description)
    if path.exists():
        return [_load_file(path, src, config=config, split=split, rows=rows, description=description)]
    if _looks_like_path(src):
        raise UserError(f"{src}: no such file or folder; check the path")
    from instructkit.sources.hub import load_hub

    return load_hub(src, config=config, split=split, rows=rows, description=description)


def expand_sources(args: list[str]) -> list[str]:
    """Turn command-line SOURCE arguments into a flat, de-duplicated list of sources.

    A ``.txt`` file lists sources one per line (``#`` starts a comment; relative paths are
    resolved against the list's folder when they exist there). A folder that is not itself a
    dataset but holds dataset folders (like ``examples/``) expands to each of them, sorted.
    Anything else (a dataset folder, a data file, a hub name) passes through unchanged.
    """
    out: list[str] = []
    seen: set[str] = set()

    def add(item: str) -> None:
        if item not in seen:
            seen.add(item)
            out.append(item)

    def visit(arg: str, depth: int) -> None:
        if depth > 8:
            raise UserError(f"{arg}: source lists nest too deeply (a list that includes itself?)")
        p = Path(arg).expanduser()
        if p.is_file() and p.suffix.lower() == ".txt" and not p.name.endswith(".description.txt"):
            for entry in _read_source_list(p):
                rel = p.parent / entry
                visit(str(rel) if not Path(entry).is_absolute() and rel.exists() else entry, depth + 1)
        elif p.is_dir() and not is_dataset_folder(p):
            subs = [d for d in sorted(p.iterdir()) if d.is_dir() and not d.name.startswith((".", "_"))
                    and is_dataset_folder(d)]
            if subs:
                for d in subs:
                    add(str(d))
            else:
                add(arg)  # loading it will say what is missing
        else:
            add(arg)

    for a in args:
        visit(str(a), 0)
    if not out:
        raise UserError("no sources given; pass dataset folders, data files, hub names or a .txt list")
    return out


def is_dataset_folder(path: Path) -> bool:
    """A dataset folder has a README.md card with front matter, data files on top, or a data/ folder."""
    readme = path / "README.md"
    if readme.is_file():
        try:
            head = readme.read_text(encoding="utf-8", errors="replace")[:4]
        except OSError:
            head = ""
        if head.startswith("---"):
            return True
    files = [f for f in path.iterdir() if is_data_file(f)]
    if files and not _is_superni_task_folder(files):
        return True
    if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
        return True  # written by datasets' save_to_disk
    data = path / "data"
    return data.is_dir() and any(is_data_file(f) for f in data.rglob("*"))


# --- helpers ---------------------------------------------------------------------------------

def _is_superni_task_folder(files: list[Path]) -> bool:
    """Super-NaturalInstructions task files (JSON with a "Definition") are tasks, not datasets."""
    if not all(f.suffix.lower() == ".json" for f in files):
        return False
    try:
        head = files[0].read_text(encoding="utf-8", errors="replace")[:4096]
    except OSError:
        return False
    return '"Definition"' in head


def _looks_like_path(src: str) -> bool:
    if src.startswith((".", "/", "~")) or "\\" in src or src.count("/") > 1:
        return True
    return Path(src).suffix.lower() in (".jsonl", ".csv", ".parquet", ".json", ".tsv", ".txt", ".md", ".ndjson")


def _read_source_list(path: Path) -> list[str]:
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            entries.append(line)
    if not entries:
        raise UserError(f"{path}: lists no sources; put one dataset folder, file or hub name per line")
    return entries


def _as_list(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, (list, tuple)):
        return [str(x) for x in v]
    return [str(v)]


def _resolve(folder: Path, pattern: str) -> list[Path]:
    matches = sorted(Path(m) for m in glob.glob(str(folder / pattern), recursive=True))
    return [m for m in matches if m.is_file()]


def _declared_configs(folder: Path, card: CardFile, where: str) -> dict[str | None, dict[str, list[Path]]]:
    """``configs:`` of the card -> {config: {split: files}}; each declared file must exist."""
    out: dict[str | None, dict[str, list[Path]]] = {}
    for entry in card.meta.get("configs") or []:
        if not isinstance(entry, dict):
            raise UserError(f"{where}: each 'configs' entry must be a mapping with config_name and data_files")
        name = str(entry.get("config_name") or "default")
        df = entry.get("data_files")
        if df is None and entry.get("data_dir"):
            sub = folder / str(entry["data_dir"])
            if not sub.is_dir():
                raise UserError(f"{where}: config '{name}' names data_dir '{entry['data_dir']}', "
                                f"but {sub} is not a folder; create it or fix the card")
            found = _discovered_configs(sub, where)
            out[None if name == "default" else name] = next(iter(found.values()))
            continue
        if df is None:
            raise UserError(f"{where}: config '{name}' has no data_files; list its files per split")
        per_split: dict[str, list[str]] = {}
        if isinstance(df, dict):
            for s, p in df.items():
                per_split.setdefault(str(s), []).extend(_as_list(p))
        elif isinstance(df, list) and df and all(isinstance(x, dict) for x in df):
            for x in df:
                per_split.setdefault(str(x.get("split") or "train"), []).extend(_as_list(x.get("path")))
        else:
            per_split["train"] = _as_list(df)
        splits: dict[str, list[Path]] = {}
        for s, patterns in per_split.items():
            files: list[Path] = []
            for pat in patterns:
                found = _resolve(folder, pat)
                if not found:
                    raise UserError(f"{where}: config '{name}' split '{s}' needs data file '{pat}', "
                                    f"but none exists in {folder}; add the file or fix the card")
                files.extend(found)
            splits[s] = files
        out[None if name == "default" else name] = splits
    return out


def _group_by_split(files: list[Path], root: Path, ignored: list[str] | None = None) -> dict[str, list[Path]]:
    """Files per split, following the hub's rule: once some file names a split (``train.jsonl``,
    ``data/test-0000.parquet``), files that name none (a ``source.json`` note) are not data.
    With no split names at all, a lone JSON object beside other data files is a note, not a row."""
    named = {f: split_of(f, root) for f in files}
    if any(named.values()):
        stray = [f for f, s in named.items() if s is None]
    else:
        stray = [f for f in files if len(files) > 1 and is_json_note(f)]
    for f in sorted(stray):
        if ignored is not None:
            ignored.append(f"{f.relative_to(root)}: not a data file (names no split beside files that do)")
    splits: dict[str, list[Path]] = {}
    for f in sorted(files):
        if f not in stray:
            splits.setdefault(named[f] or "train", []).append(f)
    return splits


def _discovered_configs(folder: Path, where: str,
                        ignored: list[str] | None = None) -> dict[str | None, dict[str, list[Path]]]:
    """Data files found by convention: on top / under data/ (one config), else one config per subfolder."""
    top = [f for f in folder.iterdir() if is_data_file(f)]
    data_dir = folder / "data"
    if data_dir.is_dir():
        top += [f for f in data_dir.rglob("*") if is_data_file(f)]
    if top:
        return {None: _group_by_split(top, folder, ignored)}
    out: dict[str | None, dict[str, list[Path]]] = {}
    for sub in sorted(folder.iterdir()):
        if sub.is_dir() and not sub.name.startswith((".", "_")):
            files = [f for f in sub.rglob("*") if is_data_file(f)]
            if files:
                out[sub.name] = _group_by_split(files, sub, ignored)
    if not out:
        raise UserError(f"{where}: no data files (.jsonl, .csv, .parquet) and no 'configs' in a README.md card; "
                        "add e.g. train.jsonl")
    return out


def _load_folder(folder: Path, src: str, *, config: str | None, split: str | None, rows: int | None,
                 description: str | None) -> list[DatasetCard]:
    from instructkit.sources.hub import is_saved_dataset

    if is_saved_dataset(folder):
        if config not in (None, "default"):
            raise UserError(f"{src}: a saved dataset has no configs (asked for '{config}'); drop --config")
        from instructkit.sources.hub import load_saved

        return [load_saved(folder, src, split=split, rows=rows, description=description)]
    readme = folder / "README.md"
    card = read_card(readme) if readme.is_file() else CardFile()
    where = str(readme) if readme.is_file() else str(folder)
    ignored: list[str] = []  # files and columns left out, reported on the card (never silently)
    configs = _declared_configs(folder, card, where) if card.meta.get("configs") \
        else _discovered_configs(folder, where, ignored)
    if config is not None:
        key = None if config == "default" else config
        if key not in configs:
            have = ", ".join(c or "default" for c in configs)
            raise UserError(f"{src}: no config '{config}'; it has: {have}")
        configs = {key: configs[key]}
    name = folder.resolve().name
    cards = []
    for cfg, split_files in configs.items():
        info = card.dataset_info(cfg)
        declared_splits = [str(s.get("name")) for s in info.get("splits") or [] if isinstance(s, dict)]
        missing = [s for s in declared_splits if s not in split_files]
        if missing:
            raise UserError(f"{where}: split '{missing[0]}' is declared in dataset_info but no data file for it "
                            f"exists in {folder}; add e.g. {missing[0]}.jsonl or remove the split from the card")
        names = order_splits(list(split_files))
        chosen = _choose_split(src, cfg, names, split)
        declared = from_yaml_features(info.get("features")) if info.get("features") else {}
        cards.append(_build_card(name=name, source=src, config=cfg, split=chosen, splits=names,
                                 files=split_files[chosen], declared=declared, rows=rows,
                                 description=description if description is not None else card.description,
                                 license=card.license, pretty_name=card.pretty_name))
        cards[-1].notes[:0] = ignored
    for note in dict.fromkeys(n for c in cards for n in c.notes):
        ui.info(f"{src}: {note}")
    return cards


def example_files(folder: Path) -> tuple[str, list[Path]] | None:
    """The data files of one split of a dataset folder laid out as on the hub (a README.md card's
    ``configs``, or files named by split on top or under ``data/``), for the example readers (dedup,
    select, export...): split ``train`` if there is one, else the first; None if the folder holds no
    data file. A folder of several configs is an error naming them (give one config's folder or file)."""
    readme = folder / "README.md"
    card = read_card(readme) if readme.is_file() else CardFile()
    where = str(readme) if readme.is_file() else str(folder)
    try:
        configs = _declared_configs(folder, card, where) if card.meta.get("configs") \
            else _discovered_configs(folder, where)
    except UserError:
        if card.meta.get("configs"):
            raise  # the card names files that are not there: say so
        return None
    if len(configs) > 1:
        names = ", ".join(c or "default" for c in configs)
        raise UserError(f"{folder}: holds several configs ({names}); give one config's folder or a data file")
    cfg, split_files = next(iter(configs.items()))
    names = order_splits(list(split_files))
    chosen = _choose_split(str(folder), cfg, names, None)
    if len(names) > 1:
        others = ", ".join(n for n in names if n != chosen)
        ui.info(f"{folder}: reading split '{chosen}' ({len(split_files[chosen])} file(s)); not read: {others} "
                "(give a split's file to read it)")
    return chosen, split_files[chosen]


def _choose_split(src: str, cfg: str | None, names: list[str], split: str | None) -> str:
    if split is not None:
        if split not in names:
            raise UserError(f"{src}: no split '{split}'" + (f" in config '{cfg}'" if cfg else "")
                            + f"; it has: {', '.join(names)}")
        return split
    return "train" if "train" in names else names[0]


def _sidecar(path: Path) -> Path | None:
    """``FILE.md``/``FILE.description.txt``, with or without the data extension (a.jsonl.md or a.md)."""
    for base in (path.name, path.stem):
        for suffix in _SIDECAR_SUFFIXES:
            cand = path.with_name(base + suffix)
            if cand.is_file():
                return cand
    return None


def _load_file(path: Path, src: str, *, config: str | None, split: str | None, rows: int | None,
               description: str | None) -> DatasetCard:
    if config not in (None, "default"):
        raise UserError(f"{src}: a single file has no configs (asked for '{config}'); drop --config")
    card = CardFile()
    side = _sidecar(path)
    if side is not None and side.suffix == ".md":
        card = read_card(side)
    elif side is not None:
        card = CardFile(description=side.read_text(encoding="utf-8").strip(), path=side)
    own_split = split_of(path, path.parent) or "train"
    if split is not None and split != own_split:
        raise UserError(f"{src}: a single file holds one split ('{own_split}'), not '{split}'")
    info = card.dataset_info(None)
    declared = from_yaml_features(info.get("features")) if info.get("features") else {}
    return _build_card(name=path.stem, source=src, config=None, split=own_split, splits=[own_split],
                       files=[path], declared=declared, rows=rows,
                       description=description if description is not None else card.description,
                       license=card.license, pretty_name=card.pretty_name)


def _build_card(*, name: str, source: str, config: str | None, split: str, splits: list[str],
                files: list[Path], declared: dict[str, TypeTree], rows: int | None, description: str,
                license: str | None, pretty_name: str | None) -> DatasetCard:
    limit = None if rows is None else max(rows, INFER_ROWS)
    all_rows: list[dict[str, Any]] = []
    origins: list[tuple[Path, int]] = []  # (file, first row index in all_rows) for error messages
    total = 0
    hf_features = None
    for f in files:
        got, n, hf = read_rows(f, None if limit is None else max(limit - len(all_rows), 0))
        if n == 0:
            raise UserError(f"{f}: has no rows; add rows or remove the file")
        origins.append((f, len(all_rows)))
        all_rows.extend(got)
        total += n
        hf_features = hf_features or hf
    if not declared and hf_features:
        declared = {k: from_hf_dict(v) for k, v in hf_features.items()}
    types = dict(declared)
    undeclared = []
    for col, t in infer_types(all_rows).items():
        if declared and col not in declared:
            undeclared.append(col)  # the card is the schema: report extra columns, do not add them
        else:
            types.setdefault(col, t)
    if undeclared:
        for row in all_rows:
            for col in undeclared:
                row.pop(col, None)
    types = split_translations(types, all_rows)
    features = [to_feature(col, t) for col, t in types.items()]
    _labels_to_ids(all_rows, features, origins)
    kept = all_rows if rows is None else all_rows[:rows]
    notes = [f"column '{c}' is in the data but not in the card's features; left out (declare it to use it)"
             for c in undeclared]
    return DatasetCard(name=name, source=source, config=config, split=split, description=description or "",
                       license=license, features=features, splits=splits, rows=kept, num_rows=total,
                       pretty_name=pretty_name, notes=notes)


def _label_id(value: Any, names: list[str]) -> Any:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, str):
        if value in names:
            return names.index(value)
        if value.strip().lstrip("-").isdigit():
            return int(value)
    raise ValueError(value)


def _labels_to_ids(rows: list[dict[str, Any]], features: list, origins: list[tuple[Path, int]]) -> None:
    """ClassLabel columns hold ids in rows: map label names (as some files store them) to ids."""
    for feat in features:
        if not feat.label_names:
            continue
        names = feat.label_names
        for i, row in enumerate(rows):
            if feat.name not in row:
                continue
            v = row[feat.name]
            try:
                if feat.dtype == "list<ClassLabel>" and isinstance(v, list):
                    row[feat.name] = [_label_id(x, names) for x in v]
                else:
                    row[feat.name] = _label_id(v, names)
            except ValueError as e:
                f, start = next((o for o in reversed(origins) if o[1] <= i), origins[0])
                raise UserError(f"{f}: row {i - start + 1}: '{feat.name}' value {e.args[0]!r} is not one of its "
                                f"label names ({', '.join(names)}); fix the row or the card's class_label names") from None


__all__ = ["load_source", "expand_sources", "is_dataset_folder"]
