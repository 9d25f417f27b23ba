"""Quality from a reward model: a transformers sequence-classification model in a *local* folder.

``reward:/path/to/model`` loads ``AutoModelForSequenceClassification`` + its tokenizer with
``local_files_only=True`` (nothing is downloaded at run time) and scores "instruction [+ input]" /
"response" pairs; the score is the first logit. Cached like every scorer.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from instructkit.errors import UserError
from instructkit.records import Example
from instructkit.score.cache import ScoreCache, score_key
from instructkit.score.llm_scorers import ScoreReport, example_prompt

REWARD_VERSION = "reward-v1"


@lru_cache(maxsize=2)  # a process (e.g. a Ray scoring actor) loads each reward model once
def _load(path: Path) -> tuple[Any, Any]:
    try:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
    except ImportError:
        raise UserError("reward models need transformers and torch; run: pip install transformers torch") from None
    try:
        tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"reward model {path}: cannot load a sequence-classification model ({first})") from None
    model.eval()
    return tok, model


def reward_scores(path: str | Path, examples: list[Example], cache: ScoreCache | None = None,
                  batch_size: int = 16, max_length: int = 512, progress: Any = None) -> ScoreReport:
    """First logit of the reward model for each (prompt, response) pair."""
    p = Path(path).expanduser()
    if not p.is_dir():
        raise UserError(f"reward model '{path}' is not a local folder; give reward:/path/to/model "
                        "(models are never downloaded at run time)")
    size = sum(f.stat().st_size for f in p.iterdir() if f.is_file())
    identity = ["reward", REWARD_VERSION, str(p.resolve()), size]
    keys = [score_key(identity, ex.instruction, ex.input, ex.output) for ex in examples]
    found = cache.get_many(keys) if cache else {}
    scores = np.array([found[k][0] if k in found else np.nan for k in keys], dtype=np.float64)
    todo = [i for i, k in enumerate(keys) if k not in found]
    if progress and len(todo) < len(keys):
        progress(len(keys) - len(todo))
    if todo:
        import torch

        tok, model = _load(p)
        for s in range(0, len(todo), batch_size):
            chunk = todo[s:s + batch_size]
            enc = tok([example_prompt(examples[i]) for i in chunk], [examples[i].output for i in chunk],
                      truncation=True, max_length=max_length, padding=True, return_tensors="pt")
            with torch.no_grad():
                logits = model(**enc).logits
            for i, v in zip(chunk, logits[:, 0].float().tolist()):
                scores[i] = v
                if cache is not None:
                    cache.put(keys[i], float(v), {"method": "reward"})
            if progress:
                progress(len(chunk))
    return ScoreReport(scores=scores, details=[{"method": "reward"} for _ in examples],
                       counts={"cached": len(keys) - len(todo), "reward": len(keys)})
