"""Hugging Face hub datasets via ``datasets`` (imported here only: it is heavy and optional).

Metadata (description, license, features, splits) comes from ``load_dataset_builder``, which
reads only the card and dataset info; rows come from ``load_dataset(..., split=...)``, streamed
when only the first N are wanted so a big dataset is not downloaded whole. Without network and
without a copy in the local HF cache this fails with a one-line UserError that says what to do.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from instructkit.errors import UserError
from instructkit.sources.card import DatasetCard
from instructkit.sources.cardfile import CardFile, prose_description, read_card
from instructkit.sources.datafiles import order_splits
from instructkit.sources.features import from_hf_dict, infer_types, to_feature

_OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


def _offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on") for v in _OFFLINE_VARS)


def _fail(name: str, err: BaseException) -> UserError:
    first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
    hint = ("offline: HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set and the local HF cache has no copy" if _offline()
            else f"{type(err).__name__}: {first}")
    return UserError(f"{name}: not a local file or folder, and loading it from the Hugging Face Hub failed "
                     f"({hint}); check the name, connect to the network, or pass a local copy "
                     "(a dataset folder or a .jsonl/.csv/.parquet file)")


def _import_datasets():
    try:
        import datasets
    except ImportError:
        raise UserError("loading Hugging Face datasets needs the 'datasets' package: "
                        "pip install 'instructkit[hf]'") from None
    return datasets


def _hub_card(name: str) -> CardFile | None:
    """The dataset's README card (builder info rarely carries the description or license)."""
    try:
        local = Path(name) / "README.md"
        if local.is_file():
            return read_card(local)
        from huggingface_hub import hf_hub_download

        return read_card(Path(hf_hub_download(name, "README.md", repo_type="dataset")))
    except Exception:  # noqa: BLE001 - no card, or an odd one: the builder info still serves
        return None


def load_hub(name: str, *, config: str | None = None, split: str | None = None, rows: int | None = None,
             description: str | None = None) -> list[DatasetCard]:
    """One card per config of hub dataset ``name`` (only ``config`` when given)."""
    datasets = _import_datasets()
    try:
        configs = [config] if config is not None else list(datasets.get_dataset_config_names(name) or [None])
    except Exception as e:  # noqa: BLE001 - network/hub errors come in many types
        raise _fail(name, e) from None
    card = _hub_card(name)
    return [_load_config(datasets, name, cfg, card, split=split, rows=rows, description=description)
            for cfg in configs]


def _load_config(datasets: Any, name: str, config: str | None, card: CardFile | None, *, split: str | None, rows: int | None,
                 description: str | None) -> DatasetCard:
    try:
        builder = datasets.load_dataset_builder(name, config)
    except Exception as e:  # noqa: BLE001
        raise _fail(name if config is None else f"{name} (config {config})", e) from None
    info = builder.info
    splits = order_splits(list((info.splits or {}).keys()))
    if split is not None and splits and split not in splits:
        raise UserError(f"{name}: no split '{split}'; it has: {', '.join(splits)}")
    chosen = split or ("train" if "train" in splits or not splits else splits[0])
    try:
        if rows is not None:
            try:
                stream = datasets.load_dataset(name, config, split=chosen, streaming=True)
                data = [dict(r) for r in stream.take(rows)]
            except (NotImplementedError, ValueError):
                # some datasets cannot stream: download the split, keep its first rows
                data = [dict(r) for r in datasets.load_dataset(name, config, split=f"{chosen}[:{rows}]")]
        else:
            data = [dict(r) for r in datasets.load_dataset(name, config, split=chosen)]
    except Exception as e:  # noqa: BLE001
        raise _fail(f"{name} (split {chosen})", e) from None
    types = {k: from_hf_dict(v) for k, v in (info.features.to_dict() if info.features else {}).items()}
    for col, t in infer_types(data).items():
        types.setdefault(col, t)
    split_info = (info.splits or {}).get(chosen)
    desc = description if description is not None else (
        (card.description if card is not None else "") or prose_description(info.description or ""))
    lic = info.license or (card.license if card is not None else None)
    return DatasetCard(name=name, source=name, config=None if config in (None, "default") else config,
                       split=chosen, description=desc, license=lic,
                       features=[to_feature(c, t) for c, t in types.items()], splits=splits or [chosen],
                       rows=data, num_rows=getattr(split_info, "num_examples", None) or None,
                       pretty_name=card.pretty_name if card is not None else None)


def is_saved_dataset(folder: Path) -> bool:
    """A folder written by ``datasets``' ``save_to_disk`` (Arrow files + state.json/dataset_dict.json)."""
    return (folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file()


def load_saved(folder: Path, source: str, *, split: str | None = None, rows: int | None = None,
               description: str | None = None) -> DatasetCard:
    """A ``save_to_disk`` folder (one dataset or a DatasetDict of splits) as one card."""
    datasets = _import_datasets()
    try:
        ds = datasets.load_from_disk(str(folder))
    except Exception as e:  # noqa: BLE001
        raise UserError(f"{folder}: not a readable saved dataset ({type(e).__name__}); "
                        "re-save it with save_to_disk or pass its data files") from None
    if isinstance(ds, datasets.DatasetDict):
        splits = order_splits(list(ds.keys()))
        if split is not None and split not in splits:
            raise UserError(f"{source}: no split '{split}'; it has: {', '.join(splits)}")
        chosen = split or ("train" if "train" in splits else splits[0])
        ds = ds[chosen]
    else:
        chosen = split or (str(ds.split) if ds.split else "train")
        splits = [chosen]
    if len(ds) == 0:
        raise UserError(f"{folder}: has no rows; add rows or pass another split")
    data = [dict(r) for r in ds.select(range(min(len(ds), rows)) if rows is not None else range(len(ds)))]
    types = {k: from_hf_dict(v) for k, v in ds.features.to_dict().items()}
    info = ds.info
    card = _hub_card(str(folder))
    desc = description if description is not None else (
        (card.description if card is not None else "") or prose_description(info.description or ""))
    return DatasetCard(name=folder.resolve().name, source=source, split=chosen, description=desc,
                       license=info.license or (card.license if card is not None else None),
                       features=[to_feature(c, t) for c, t in types.items()], splits=splits, rows=data,
                       num_rows=len(ds), pretty_name=card.pretty_name if card is not None else None)
