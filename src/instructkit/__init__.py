"""instructkit: curate instruction-tuning data.

Methods: Dynosaur (tasks from annotated datasets), GLAN (taxonomy-driven synthesis),
QDIT (quality-diversity selection) and Active Instruction Tuning (prompt uncertainty).
Heavy dependencies are imported lazily, so importing this package is cheap.
"""

__version__ = "0.1.0"

from instructkit.errors import InstructkitError, UserError  # noqa: E402,F401
