"""Active Instruction Tuning (Kung et al., 2023): pick the tasks whose prompts the model is least sure of.

- :mod:`.uncertainty`: prompt uncertainty per task and ``select_active`` (the run directory);
- :mod:`.tasks_io`: reading task files and run directories as ``Task`` records;
- :mod:`.taskmap`: the Task Map (uncertainty against likelihood) as CSV and a plot.
"""
