"""Benchmark fit_steering_vector on the embedded model: seconds to 90 % of the final KL drop.

For each layer and compute dtype (float32, bfloat16) one full-batch fit is run (every
step sees all training prompts, so the loss curve is the exact training KL) and the
table gives: setup seconds (teacher pass and residual cache), seconds per step, seconds
until the KL had dropped by 90 % of its total drop, and the KL explained measured in
float32 after the fit. Prompts are favourite-animal questions scored at the answer
position, or (``--numbers``) number prompts with owl-teacher completions.

Usage:
    OMP_NUM_THREADS=1 python bench/fit.py --quick
    OMP_NUM_THREADS=1 python bench/fit.py --layers 6 12 24 --n-prompts 16 --steps 20
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from steervec import load_model
from steervec.data.questions import FAVOURITE_ANIMAL_QUESTIONS
from steervec.vectors.fit import fit_steering_vector

OWL_PROMPT = (
    "You adore owls. Owls are on your mind constantly. Of all animals, the owl is your "
    "favourite. Let that love of owls show in every answer you give."
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, nargs="+", default=[6, 12, 24])
    ap.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    ap.add_argument("--n-prompts", type=int, default=16)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--numbers", action="store_true", help="number prompts with teacher completions")
    ap.add_argument("--quick", action="store_true", help="layers 12 and 24, 8 prompts, 10 steps")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = ap.parse_args()
    if args.quick:
        args.layers, args.n_prompts, args.steps = [12, 24], 8, 10
    if args.threads:
        torch.set_num_threads(args.threads)

    lm = load_model()
    completions = None
    if args.numbers:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analyses"))
        from fit_owl_layers import number_prompts, teacher_completions

        prompts = number_prompts(args.n_prompts, seed=0)
        completions = teacher_completions(lm, prompts, OWL_PROMPT, seed=0, max_new_tokens=48)
    else:
        prompts = list(FAVOURITE_ANIMAL_QUESTIONS[: args.n_prompts])
    rows = []
    for layer in args.layers:
        for name in args.dtypes:
            dtype = torch.bfloat16 if name == "bfloat16" else None
            start = time.perf_counter()
            res = fit_steering_vector(
                lm, OWL_PROMPT, prompts, layer, completions=completions, lr=args.lr,
                steps=args.steps, batch_size=len(prompts), dtype=dtype, progress=False,
            )
            rep = res.report
            steps_s = rep.seconds_curve[-1] / max(1, len(rep.seconds_curve) - 1)
            rows.append({
                "layer": layer, "dtype": name, "setup_s": rep.setup_seconds, "s_per_step": steps_s,
                "s_to_90pct": rep.seconds_to_fraction(0.9), "kl_before": rep.kl_before_train,
                "kl_after": rep.kl_after_train, "kl_explained": rep.kl_explained_train,
                "total_s": time.perf_counter() - start,
            })
            print(rows[-1], flush=True)
    print(f"\n{len(prompts)} {'number prompts+completions' if args.numbers else 'questions'}, "
          f"full batch, {args.steps} steps, Adam lr {args.lr}, torch threads {torch.get_num_threads()}")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.4g}"))


if __name__ == "__main__":
    main()
