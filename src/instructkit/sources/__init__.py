"""Existing datasets -> DatasetCard: HF hub names, local HF-style folders, JSONL/CSV/Parquet files.

>>> from instructkit.sources import load_source, expand_sources
>>> cards = load_source("examples/news_topics", rows=5)   # doctest: +SKIP
"""

from instructkit.sources.card import DatasetCard, Feature
from instructkit.sources.loaders import expand_sources, is_dataset_folder, load_source

__all__ = ["DatasetCard", "Feature", "load_source", "expand_sources", "is_dataset_folder"]
