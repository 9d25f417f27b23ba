"""The training wing: fine-tuning (``train``), evaluation (``evaluate``) and the loops that close the
circle: automated Active-IT rounds (``active-loop``) and continual-learning stages with replay
(``replay-run``), built on ``select.active``, ``select.replay``, ``train`` and ``evaluate``.

* :mod:`instructkit.loop.train` - LoRA / full fine-tuning on messages, resumable from its checkpoint;
* :mod:`instructkit.loop.evaluate` - ROUGE-L and exact match on held-out tasks;
* :mod:`instructkit.loop.rounds` - where each round's files live, what is finished, the learning curve;
* :mod:`instructkit.loop.active_loop` - score → select → train (from the base) → eval, per round;
* :mod:`instructkit.loop.replay_run` - train stage after stage with a replay set, eval every earlier stage;
* :mod:`instructkit.loop.settings` - the training and evaluation settings both commands share.
"""
