"""QDIT (Bukharin et al., 2023): select K examples for quality and diversity (facility location).

- :mod:`.objective`: the one facility-location objective (shared by the engines, GreeDi and replay);
- :mod:`.select`: ``qdit_select`` and the engine choice (``--engine auto | lazy | blocked | approx``);
- :mod:`.lazy`, :mod:`.blocked`, :mod:`.approx`: the three engines (``_kernels``: their compiled loops);
- :mod:`.greedi`: GreeDi over a Ray cluster (``--executor ray``);
- :mod:`.run`: score, embed, select and write the run directory (``run_qdit``).
"""

from instructkit.select.qdit.select import Selection, qdit_select

__all__ = ["Selection", "qdit_select"]
