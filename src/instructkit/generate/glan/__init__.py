"""GLAN (Li et al., 2024): instruction data from a taxonomy of human knowledge.

The package reads top to bottom like the paper: ``taxonomy`` (fields -> disciplines), ``stages``
(subjects, syllabus), ``sampler`` (the per-question concept draws), ``qa`` (questions, answers),
``checks`` (answers checked against their question, near-duplicate questions), ``report``
(examples, coverage). ``nodes`` is the one plan -> call -> append-or-reject loop every stage runs
through, ``context`` what the stages share, ``run`` the driver.
"""

from instructkit.generate.glan.context import STAGES, GlanConfig
from instructkit.generate.glan.run import GlanResult, run_glan

__all__ = ["GlanConfig", "GlanResult", "run_glan", "STAGES"]
