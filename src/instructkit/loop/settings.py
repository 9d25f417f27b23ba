"""The training and evaluation settings ``active-loop`` and ``replay-run`` share.

Both commands train with :func:`instructkit.loop.train.train` and evaluate with
:func:`instructkit.loop.evaluate.evaluate` under the same knobs; each command's config inherits them
from :class:`TrainEvalSettings` and adds its own fields first.

>>> from dataclasses import dataclass
>>> @dataclass
... class Demo(TrainEvalSettings):
...     out: str
...     k: int = 2
...     NOT_SETTINGS = ("out", "save_every")
>>> list(Demo("runs/x", steps=5).settings())[:3]
['k', 'lora', 'steps']
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # instructkit.loop.train pulls in more than the CLI needs at start-up
    from instructkit.loop.train import TrainConfig


@dataclass(kw_only=True)
class TrainEvalSettings:
    """Training (``lora`` .. ``save_every``) and evaluation (``eval_instances`` .. ``demos``) knobs,
    plus the seed and the task id column. Keyword-only, so a subclass's own fields keep their
    positions in its constructor."""

    # training
    lora: bool = True
    steps: int | None = None
    epochs: float = 3.0
    lr: float | None = None
    max_len: int = 512
    batch_size: int = 8
    save_every: int = 50
    # evaluation
    eval_instances: int | None = None
    eval_max_tokens: int = 64
    demos: int = 2
    seed: int = 0
    task_field: str = "task_id"

    # fields that may change between re-runs of the same run (how often to checkpoint does not
    # change the result); subclasses list their own on top
    NOT_SETTINGS: ClassVar[tuple[str, ...]] = ("save_every",)

    def settings(self) -> dict[str, Any]:
        """What must stay the same for a re-run to resume: every field but ``NOT_SETTINGS``.

        The subclass's own fields come first, then the shared ones, which is the key order the run
        files (``loop.json``, ``manifest.json``) have always had.
        """
        d = asdict(self)
        shared = [f.name for f in fields(TrainEvalSettings)]
        ordered = {k: v for k, v in d.items() if k not in shared} | {k: d[k] for k in shared}
        for k in self.NOT_SETTINGS:
            ordered.pop(k)
        return ordered

    def train_config(self, data: str, out: str, base: str) -> "TrainConfig":
        """The :class:`~instructkit.loop.train.TrainConfig` of training ``base`` on ``data`` into ``out``."""
        from instructkit.loop.train import TrainConfig

        return TrainConfig(data=data, out=out, base=base, lora=self.lora, steps=self.steps, epochs=self.epochs,
                           lr=self.lr, max_len=self.max_len, seed=self.seed, batch_size=self.batch_size,
                           save_every=self.save_every)
