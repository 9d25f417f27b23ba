"""generate stage modules."""
