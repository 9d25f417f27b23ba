"""clean stage modules."""
