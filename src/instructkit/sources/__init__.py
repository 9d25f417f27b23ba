"""Existing datasets -> DatasetCard. Loaders live in ``instructkit.sources.loaders``."""

from instructkit.sources.card import DatasetCard, Feature

__all__ = ["DatasetCard", "Feature"]
