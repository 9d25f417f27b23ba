"""score stage modules."""
