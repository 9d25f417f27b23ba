"""What ``--dry-run`` expects a call to return before any run has data: a documented calibration table.

A plan shows two completion figures per stage: the **upper bound** (every answer runs to its
``max_tokens``; what a budget must allow) and the **expected** value. Once the stage's run directory
(or a moved-aside earlier version of it) holds answers, the expected value is their observed mean.
Before that it comes from this table, one row per call kind, measured on the embedded model
(SmolLM2-135M-Instruct, ``local``) over the example recipes (``examples/recipes/``) and, for GLAN, a
second run (Geometry and Algebra, the same tiny settings):

=====================  ====================================================  =========================
call kind              measured on the embedded model                        prior used
=====================  ====================================================  =========================
dynosaur task design   JSON list of tasks: 79-137 tokens for 2 tasks          12 + 42 per task asked for
                       (mean 94)                                             (capped at max_tokens)
dynosaur verification  5 of 10 proposed tasks passed the filters and were    half the tasks asked for;
                       scored; 2 score calls per held row, no completion;    2 x rows calls each, of
                       83 prompt tokens a call (instruction ~35 + input and  35 + half the row's tokens
                       output: about half of the row's fields)
glan subjects          3 calls, all hit the cap (128)                        1.0 x budget
glan subjects extract  3 calls, all hit the cap                              1.0 x budget
glan syllabus          61, 128, 128 of 128                                   0.83 x budget
glan syllabus extract  52, 128, 115 of 128; syllabi of one session with      0.77 x budget; the three
                       1, 4 and 1 key concepts                               shapes, averaged
glan question          128, 17, 128, 128, 128 of 128                         0.83 x budget
glan answer            128, 86, 128, 128, 128 of 128                         0.93 x budget
judge (qdit)           a 2-token answer                                      2 tokens (its bound)
eval / active answers  no measurement                                        0.5 x max_tokens
=====================  ====================================================  =========================

For other models the same structural rules apply (a JSON task list grows with the tasks asked for, a
syllabus with its sessions); free-text kinds use half their budget, a guess the plan names as such.
These are estimates; the plan says which basis each stage used, and the measured error on the example
recipes is in docs/guide/recipes.md.
"""

from __future__ import annotations

# -- Dynosaur --------------------------------------------------------------------------------------
DESIGN_OVERHEAD_TOKENS = 12    # {"tasks": [ ... ]}
DESIGN_TOKENS_PER_TASK = 42    # instruction + input/output field names, as the embedded model writes them
VERIFY_REACH = 0.5             # share of the tasks asked for that pass the filters and are verified
INSTRUCTION_TOKENS = 35        # a task's instruction as a score call shows it (~145 characters)
FIELD_SHARE = 0.5              # share of a row's tokens (all fields) a task's input + output hold

# -- GLAN: expected share of each call kind's completion budget -------------------------------------
GLAN_SHARE_LOCAL = {"subjects": 1.0, "subjects_extract": 1.0, "syllabus": 0.83, "syllabus_extract": 0.77,
                    "question": 0.83, "answer": 0.93}
FREE_TEXT_SHARE = 0.5          # a guess for kinds and models with no measurement
SESSION_JSON_TOKENS = 55       # one extracted session: title, description, a few key concepts
TYPICAL_SESSIONS = 12          # what a capable model's syllabus holds when its budget allows
SYLLABI_LOCAL = ((1, 1), (1, 4), (1, 1))  # (sessions, key concepts each) of the embedded model's syllabi
CONCEPTS_OTHER = 3             # key concepts per session of a capable model (a guess)


def is_embedded(spec: str | None) -> bool:
    return (spec or "local").split(":", 1)[0] == "local" and ":" not in (spec or "local")


def design_completion(max_tasks: int, max_tokens: int) -> int:
    """Expected completion tokens of one Dynosaur task-design call."""
    return min(max_tokens, DESIGN_OVERHEAD_TOKENS + DESIGN_TOKENS_PER_TASK * max_tasks)


def glan_share(kind: str, spec: str | None) -> float:
    """Expected share of a GLAN call kind's completion budget."""
    if is_embedded(spec):
        return GLAN_SHARE_LOCAL[kind]
    return FREE_TEXT_SHARE


def syllabus_shapes(extract_budget: int, max_sessions: int, spec: str | None) -> list[tuple[int, int]]:
    """(sessions, key concepts per session) of the syllabi to expect, to average over: the embedded
    model's measured ones; else as many sessions as the extraction budget holds at the expected share
    (at most ``max_sessions``)."""
    if is_embedded(spec):
        return [(min(s, max_sessions), c) for s, c in SYLLABI_LOCAL]
    room = int(extract_budget * glan_share("syllabus_extract", spec)) // SESSION_JSON_TOKENS
    return [(max(1, min(max_sessions, TYPICAL_SESSIONS, room)), CONCEPTS_OTHER)]
