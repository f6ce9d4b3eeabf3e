"""Benchmark fit_steering_vector on the embedded model: seconds to 90 % of the final KL drop.

For each layer and compute dtype (float32, bfloat16) a full-batch fit is run (every step
sees all training prompts, so the loss curve is the exact training KL). The variants are
measured interleaved: after ``--warmup`` unrecorded rounds, each of ``--repeats`` rounds
runs every (layer, dtype) once, so drifts of the machine (other jobs, thermal state) hit
all variants alike. The table gives, per variant, min / median / max over the repeats of:
setup seconds (teacher pass and residual cache), seconds per step, seconds until the KL
had dropped by 90 % of its total drop, and total seconds; then the KL explained measured
in float32 after the fit, and per layer the median ratio of each dtype to float32.
Prompts are favourite-animal questions scored at the answer position, or (``--numbers``)
number prompts with owl-teacher completions. ``--plan`` prints the run order and exits.

Usage:
    OMP_NUM_THREADS=1 python bench/fit.py --quick
    OMP_NUM_THREADS=1 python bench/fit.py --layers 6 12 24 --n-prompts 16 --steps 20 --repeats 5
    python bench/fit.py --quick --plan
"""

from __future__ import annotations

import argparse
import statistics
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


TIMES = ("setup_s", "s_per_step", "s_to_90pct", "total_s")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, nargs="+", default=[6, 12, 24])
    ap.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16"])
    ap.add_argument("--n-prompts", type=int, default=16)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=1, help="unrecorded rounds before the measured ones")
    ap.add_argument("--repeats", type=int, default=3, help="measured rounds (each runs every variant once)")
    ap.add_argument("--numbers", action="store_true", help="number prompts with teacher completions")
    ap.add_argument("--quick", action="store_true", help="layers 12 and 24, 8 prompts, 10 steps")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ap.add_argument("--plan", action="store_true", help="print the interleaved run order and exit")
    args = ap.parse_args()
    if args.quick:
        args.layers, args.n_prompts, args.steps = [12, 24], 8, 10
    if args.repeats < 1 or args.warmup < 0:
        ap.error("--repeats must be >= 1 and --warmup >= 0")
    return args


def schedule(layers: list[int], dtypes: list[str], warmup: int, repeats: int) -> list[tuple[int, int, str]]:
    """``(round, layer, dtype)`` in run order; rounds below 0 are warm-up. Each round runs every
    variant once, and the dtype order alternates between rounds so neither always goes first."""
    order = []
    for r in range(-warmup, repeats):
        names = dtypes if r % 2 == 0 else list(reversed(dtypes))
        order += [(r, layer, name) for layer in layers for name in names]
    return order


def fit_once(lm, prompts, completions, layer: int, name: str, args: argparse.Namespace) -> dict:
    """One fit; its times (seconds) and KL figures."""
    dtype = torch.bfloat16 if name == "bfloat16" else None
    start = time.perf_counter()
    res = fit_steering_vector(
        lm, OWL_PROMPT, prompts, layer, completions=completions, lr=args.lr,
        steps=args.steps, batch_size=len(prompts), dtype=dtype, progress=False,
    )
    rep = res.report
    return {
        "setup_s": rep.setup_seconds, "s_per_step": rep.seconds_curve[-1] / max(1, len(rep.seconds_curve) - 1),
        "s_to_90pct": rep.seconds_to_fraction(0.9), "total_s": time.perf_counter() - start,
        "kl_before": rep.kl_before_train, "kl_after": rep.kl_after_train, "kl_explained": rep.kl_explained_train,
    }


def summarise(runs: dict[tuple[int, str], list[dict]], dtypes: list[str]) -> pd.DataFrame:
    """One row per variant: min / median / max of each time, the KL figures, ratio to float32."""
    rows = []
    for (layer, name), results in runs.items():
        row: dict = {"layer": layer, "dtype": name, "n": len(results)}
        for key in TIMES:
            values = [r[key] for r in results if r[key] is not None] or [float("nan")]  # None: KL never dropped
            row.update({f"{key}_min": min(values), f"{key}_med": statistics.median(values),
                        f"{key}_max": max(values)})
        row.update({k: results[-1][k] for k in ("kl_before", "kl_after", "kl_explained")})
        base = runs.get((layer, dtypes[0]))
        for key in ("s_per_step", "total_s"):
            ref = statistics.median(r[key] for r in base) if base else float("nan")
            row[f"{key}_ratio_to_{dtypes[0]}"] = row[f"{key}_med"] / ref
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    args = parse_args()
    order = schedule(args.layers, args.dtypes, args.warmup, args.repeats)
    if args.plan:
        for r, layer, name in order:
            print(f"{'warm-up' if r < 0 else f'round {r}'}: layer {layer} {name}")
        return
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
    runs: dict[tuple[int, str], list[dict]] = {(layer, name): [] for layer in args.layers for name in args.dtypes}
    for r, layer, name in order:
        result = fit_once(lm, prompts, completions, layer, name, args)
        print(f"{'warm-up' if r < 0 else f'round {r}'}: layer {layer} {name} {result}", flush=True)
        if r >= 0:
            runs[(layer, name)].append(result)
    print(f"\n{len(prompts)} {'number prompts+completions' if args.numbers else 'questions'}, full batch, "
          f"{args.steps} steps, Adam lr {args.lr}, torch threads {torch.get_num_threads()}, "
          f"{args.warmup} warm-up + {args.repeats} interleaved rounds")
    print(summarise(runs, args.dtypes).to_string(index=False, float_format=lambda v: f"{v:.4g}"))


if __name__ == "__main__":
    main()
