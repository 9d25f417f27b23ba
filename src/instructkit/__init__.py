"""instructkit: curate instruction-tuning data.

Methods: Dynosaur (tasks from annotated datasets), GLAN (taxonomy-driven synthesis),
QDIT (quality-diversity selection) and Active Instruction Tuning (prompt uncertainty).
Heavy dependencies are imported lazily, so importing this package is cheap.
"""

__version__ = "0.1.0"

from instructkit.errors import InstructkitError, UserError  # noqa: E402,F401


def __getattr__(name: str):  # lazy: ``instructkit.Pipeline`` loads pydantic only when asked for
    if name == "Pipeline":
        from instructkit.pipeline import Pipeline

        return Pipeline
    raise AttributeError(f"module 'instructkit' has no attribute {name!r}")
