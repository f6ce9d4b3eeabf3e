"""How well does one steering vector stand in for the owl system prompt, per layer?

Fits :func:`steervec.fit_steering_vector` on the embedded SmolLM2-135M-Instruct at several
layers for two prompt sets and prints KL explained (train and held-out) and trait
recovered (owl, on favourite-animal questions never used for fitting):

* ``numbers``: simple number-continuation prompts with owl-teacher completions
  (sampled at T=1 from the prompted model), loss on every completion position;
* ``questions``: favourite-animal questions, loss at the answer position only.

Usage:
    OMP_NUM_THREADS=1 python analyses/fit_owl_layers.py --layers 3 6 12 18 24 25 --out runs/fit_owl_layers/fit.csv
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
import torch

from steervec import TEMPLATE_DEFAULT, load_model, render_chat
from steervec.data.numbers import number_prompts as library_number_prompts
from steervec.data.prompts import trait_prompt
from steervec.data.questions import FAVOURITE_ANIMAL_QUESTIONS, split_questions
from steervec.vectors.fit import fit_steering_vector
from steervec.vectors.recovery import trait_reference

OWL_PROMPT = trait_prompt("owl")
"""The library's one owl prompt (the measurements in records/fit_owl_layers_results.csv were made
with an earlier, differently worded owl prompt of this script)."""


def number_prompts(n: int, seed: int) -> list[str]:
    """The library's number prompts (the same generator as every teacher dataset)."""
    return [p.text for p in library_number_prompts(n, seed=seed)]


@torch.no_grad()
def teacher_completions(lm, prompts: list[str], system: str, seed: int, max_new_tokens: int) -> list[str]:
    torch.manual_seed(seed)
    texts = [render_chat(lm, p, system) for p in prompts]
    enc = lm.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    out = lm.generate(**enc, do_sample=True, temperature=1.0, top_p=1.0, top_k=0,
                      max_new_tokens=max_new_tokens)
    new = out[:, enc["input_ids"].shape[1]:]
    return [lm.tokenizer.decode(row, skip_special_tokens=True).strip() for row in new]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, nargs="+", default=[3, 6, 12, 18, 24, 25])
    ap.add_argument("--sets", nargs="+", default=["numbers", "questions"])
    ap.add_argument("--n-train", type=int, default=32)
    ap.add_argument("--n-heldout", type=int, default=16)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--lrs", type=float, nargs="+", default=[0.05])
    ap.add_argument("--no-trait", action="store_true", help="skip the trait metric (faster)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--cache", default="runs/fit_owl_layers/owl_completions.json")
    ap.add_argument("--out", default="runs/fit_owl_layers/fit_owl_layers.csv")
    args = ap.parse_args()

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.cache).parent.mkdir(parents=True, exist_ok=True)
    lm = load_model()
    dtype = torch.bfloat16 if args.dtype == "bfloat16" else None
    fit_q, held_q = split_questions(FAVOURITE_ANIMAL_QUESTIONS, n_heldout=20, seed=0)
    data = {}
    if "numbers" in args.sets:
        cache = Path(args.cache)
        key = f"{args.n_train}+{args.n_heldout}"
        stored = json.loads(cache.read_text()) if cache.is_file() else {}
        if key not in stored:
            prompts = number_prompts(args.n_train + args.n_heldout, seed=0)
            t0 = time.perf_counter()
            comps = teacher_completions(lm, prompts, OWL_PROMPT, seed=0, max_new_tokens=48)
            print(f"generated {len(comps)} owl-teacher completions in {time.perf_counter() - t0:.0f} s")
            stored[key] = {"prompts": prompts, "completions": comps}
            cache.write_text(json.dumps(stored))
        prompts, comps = stored[key]["prompts"], stored[key]["completions"]
        n = args.n_train
        data["numbers"] = dict(prompts=prompts[:n], completions=comps[:n],
                               heldout_prompts=prompts[n:], heldout_completions=comps[n:])
    if "questions" in args.sets:
        data["questions"] = dict(prompts=fit_q, heldout_prompts=held_q)
    ref = None if args.no_trait else trait_reference(lm, OWL_PROMPT, "owl", held_q)
    rows = []
    for name, kw in data.items():
        for layer in args.layers:
            for lr in args.lrs:
                res = fit_steering_vector(
                    lm, OWL_PROMPT, layers=layer, control=TEMPLATE_DEFAULT, lr=lr,
                    steps=args.steps, batch_size=args.batch_size, trait_ref=ref,
                    dtype=dtype, progress=False, **kw,
                )
                print(name, f"lr={lr}", res.report, flush=True)
                rows.append({"prompt_set": name, **res.report.summary(),
                             "lr": lr, "steps": args.steps, "dtype": args.dtype})
                pd.DataFrame(rows).to_csv(args.out, index=False)
    table = pd.DataFrame(rows)
    cols = ["prompt_set", "layers", "lr", "kl_before_train", "kl_explained_train", "kl_before_heldout",
            "kl_explained_heldout", "trait_p_base", "trait_p_teacher", "trait_p_steered",
            "trait_recovered", "vector_norm", "wall_seconds"]
    cols = [c for c in cols if c in table]
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))


if __name__ == "__main__":
    main()
