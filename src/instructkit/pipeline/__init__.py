"""Recipes: a whole curation (sources -> generate -> clean -> select -> export -> tune) as one YAML file.

>>> from instructkit.pipeline import Pipeline, Dynosaur, Dedup, SelectQdit, Export   # doctest: +SKIP
>>> Pipeline([Dynosaur(rows=4, max_tasks=1), Dedup(), SelectQdit(k=20), Export(format="messages")],
...          sources=["examples/sources.txt"]).run("runs/recipe")                    # doctest: +SKIP
>>> Pipeline.from_yaml("examples/recipes/dynosaur-to-messages.yaml").run("runs/recipe")  # doctest: +SKIP
"""

from instructkit.pipeline.runner import Pipeline
from instructkit.pipeline.schema import (STAGES, Decontaminate, Dedup, Dynosaur, Eval, Export, Glan, Replay,
                                         SelectActive, SelectQdit, Train)
from instructkit.pipeline.stages import stage_output

__all__ = ["Pipeline", "STAGES", "Dynosaur", "Glan", "Dedup", "Decontaminate", "SelectQdit", "SelectActive",
           "Replay", "Export", "Train", "Eval", "stage_output"]
