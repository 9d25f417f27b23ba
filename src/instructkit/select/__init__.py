"""select stage modules."""
