"""Dynosaur (Yin et al., 2023): instruction-tuning tasks designed from dataset metadata.

Read top to bottom, the package is the paper's pipeline with our documented choices:

- :mod:`.meta`: what of a dataset card the model may see (fields, options, a few rows);
- :mod:`.prompt`: the task-design prompt (templates in ``instructkit/prompts/dynosaur``);
- :mod:`.filter` and :mod:`.checks`: parsing the proposals and dropping bad ones, each with a reason;
- :mod:`.pipeline`: one dataset-config -> tasks -> instances (``process_dataset``);
- :mod:`.verify`: the optional likelihood check that an instruction helps predict its outputs;
- :mod:`.run`: many datasets into one resumable run directory (``run_dynosaur``);
- :mod:`.ray_datasets`: the same per-dataset step as Ray tasks (``--executor ray``).
"""

from instructkit.generate.dynosaur.pipeline import DatasetResult, DynosaurConfig, process_dataset
from instructkit.generate.dynosaur.run import run_dynosaur

__all__ = ["DatasetResult", "DynosaurConfig", "process_dataset", "run_dynosaur"]
