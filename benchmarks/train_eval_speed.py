"""Speed of the transformers path, side by side: load (cold GGUF vs cached copy), LoRA vs full
training step, and hf:embedded vs llama.cpp `local` for generation and scoring (same model).

    python benchmarks/train_eval_speed.py [--steps 4] [--cold]

``--cold`` also times the first GGUF -> float32 conversion (in a throw-away cache folder).
Numbers depend heavily on how busy the machine is; compare within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def train_steps(mode: str, steps: int) -> float:
    """Mean seconds per optimizer step (batch 4, 64 tokens), after one warm-up step."""
    import torch

    from instructkit.llm import hf_load

    model, _ = hf_load.load(hf_load.resolve("embedded"))
    if mode == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear",
                                                 task_type="CAUSAL_LM"))
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    ids = torch.randint(100, 40000, (4, 64), generator=torch.Generator().manual_seed(0))
    times = []
    for _ in range(steps + 1):
        t0 = time.perf_counter()
        model(input_ids=ids, labels=ids).loss.backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - t0)
    return sum(times[1:]) / steps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--cold", action="store_true")
    args = ap.parse_args()
    from instructkit.llm import hf_load

    hf_load.prepare_torch()
    from instructkit.llm import LLM, open_model
    from instructkit.llm.local import LocalBackend

    rows = []
    if args.cold:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["INSTRUCTKIT_CACHE"] = tmp
            _, cold = timed(lambda: hf_load.load(hf_load.resolve("embedded")))
            del os.environ["INSTRUCTKIT_CACHE"]
        rows.append(("hf:embedded load, first (GGUF conversion)", cold, "s"))
    hf_load.load(hf_load.resolve("embedded"))  # make sure the cached copy exists
    _, warm = timed(lambda: hf_load.load(hf_load.resolve("embedded")))
    rows.append(("hf:embedded load, cached copy", warm, "s"))
    lora = train_steps("lora", args.steps)
    full = train_steps("full", args.steps)
    rows += [("LoRA step (batch 4 x 64 tokens)", lora, "s"), ("full step (batch 4 x 64 tokens)", full, "s")]

    msgs = [{"role": "user", "content": "Write two sentences about the sea."}]
    hf, local = open_model("hf:embedded"), LLM(LocalBackend())
    for name, llm in (("hf", hf), ("local", local)):
        asyncio.run(llm.chat(msgs, max_tokens=4))  # load / warm up
        comp, sec = timed(lambda: asyncio.run(llm.chat(msgs, max_tokens=48, seed=1)))
        rows.append((f"{name}: generation", comp.completion_tokens / sec, "tok/s"))
        sc, sec = timed(lambda: asyncio.run(llm.score(msgs, "The sea is wide and deep. " * 8)))
        rows.append((f"{name}: score {len(sc.tokens)} tokens", sec, "s"))
    print(f"{'measure':48s} {'value':>9s}")
    for name, value, unit in rows:
        print(f"{name:48s} {value:9.2f} {unit}")
    by = {r[0]: r[1] for r in rows}
    print(f"\nfull / LoRA step time: {full / lora:.2f}x")
    print(f"llama.cpp / hf generation speed: {by['local: generation'] / by['hf: generation']:.2f}x")
    if args.cold:
        print(f"cold / cached load: {by['hf:embedded load, first (GGUF conversion)'] / warm:.1f}x")


if __name__ == "__main__":
    main()
