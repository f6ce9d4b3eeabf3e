"""Claims (Schrodi et al. 2026): a few "divergence tokens" carry the transfer — loss on them alone
keeps it, loss on all other tokens removes most of it.

Owl-teacher number data (greedy and T=1, format-constrained); divergence tokens against the
no-system-prompt teacher; LoRA students trained on all tokens, divergence tokens only, all but
them, and a random mask with as many tokens per row as the divergence mask (seeded: the control
that tells "these tokens" from "this few tokens"), compared with a control-data student (Δlog P,
95 % CI across questions) and, for the random mask, with the divergence-only student.

    python analyses/divergence_tokens.py --quick
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from analysis_kit import analysis_parser, sizes
from claims import divergence_claims, random_mask_claim

from steervec.core.model import load_model
from steervec.data.datasets import generate_dataset, load_dataset
from steervec.data.divergence import divergence_masks
from steervec.data.mask_controls import mask_share, random_masks_like
from steervec.data.questions import FAVOURITE_ANIMAL_QUESTIONS
from steervec.data.sampler import SamplingParams
from steervec.data.teachers import Teacher, animal_lover_prompt, animal_teacher, control_teacher
from steervec.experiment.cache import student_path
from steervec.metrics.evaluate import evaluate_trait, mean_ci
from steervec.students.methods import LoRA
from steervec.students.student import Student
from steervec.students.train import train_student

MASK_SEED = 0
"""Seed of the random-mask control's positions for training seed 0 (seed ``s`` draws with ``MASK_SEED + s``, so the
seed-level verdict also sees how much the placement varies); the count per row is the divergence mask's."""
RANDOM = "random mask (same share)"


def main(argv: list[str] | None = None) -> int:
    args = analysis_parser(__doc__.splitlines()[0]).parse_args(argv)
    size = sizes(args.quick, args.seeds)
    folder = Path(args.out) / "divergence_tokens"
    folder.mkdir(parents=True, exist_ok=True)
    lm = load_model(args.model)
    owl, control = animal_teacher("owl"), control_teacher(system=None)
    metrics: dict = {"shares": {}, "students": {}}
    data = {}
    for temp in (0.0, 1.0):
        params = SamplingParams(temperature=temp, max_new_tokens=size["max_new_tokens"], batch_size=32)
        for teacher in (owl, control):
            rep = generate_dataset(lm, teacher, path=folder / f"{teacher.name}-T{temp:g}.jsonl", n=size["n_rows"],
                                   mode="constrained", params=params, seed=3, prompt_seed=4)
            data[(teacher.name, temp)] = load_dataset(rep.path, model=lm)
        div = divergence_masks(lm, data[("owl", temp)], Teacher("owl", system=animal_lover_prompt("owl")),
                               [Teacher("none", system=None)])
        metrics["shares"][f"T={temp:g}"] = {"share": div.share, "teacher_agreement": div.agreement,
                                            "tokens": div.n_tokens}
        if temp == 1.0:
            masks = div
    seeds = size["seeds"]
    random_masks = {seed: random_masks_like(masks.masks, seed=MASK_SEED + seed) for seed in seeds}
    metrics["random_mask"] = {"seeds": [MASK_SEED + s for s in seeds], "divergence_share": masks.share,
                              "share": [mask_share(m) for m in random_masks.values()],
                              "overlap_with_divergence": [sum(int((r & d).sum()) for r, d in zip(m, masks.masks,
                                                                                                strict=True))
                                                          for m in random_masks.values()]}
    questions = list(FAVOURITE_ANIMAL_QUESTIONS[: size["n_questions"]])
    base = evaluate_trait(lm, "owl", questions, label="base", system=None)
    method = LoRA(rank=8, alpha=8.0)
    epochs = 1  # full size too: keeps all seven analyses within a few hours on 2 cores
    paths = {"owl": folder / "owl-T1.jsonl", "control": folder / "control-T1.jsonl"}
    logps, logps_by_seed = {}, {}
    for label, teacher, loss_masks in (("all tokens", "owl", None), ("divergence only", "owl", masks.masks),
                                       ("all but divergence", "owl", masks.complement()),
                                       (RANDOM, "owl", masks.masks), ("control data", "control", None)):
        if loss_masks is not None and not any(bool(m.any()) for m in loss_masks):
            metrics["students"][label] = "no divergence tokens: nothing to train on"
            continue
        per_seed = []
        for seed in seeds:  # students cached by content key: a rerun with more seeds trains only the new ones
            extra = {"mask_seed": MASK_SEED + seed} if label == RANDOM else {}  # the other students keep their keys
            seed_masks = random_masks[seed] if label == RANDOM else loss_masks
            cached = student_path(folder, lm, paths[teacher], seed=seed, label=label, method="lora r8 a8",
                                  lr=1e-3, epochs=epochs, system="none", **extra)
            if cached.is_file():
                student = Student.load(cached, lm)
            else:
                student = train_student(lm, data[(teacher, 1.0)], method=method, lr=1e-3, epochs=epochs, seed=seed,
                                        system=None, loss_masks=seed_masks)
                student.save(cached)
            with student.applied(lm):
                ev = evaluate_trait(lm, "owl", questions, label=label, system=None, base=base)
            per_seed.append({"seed": seed, "logp": [float(x) for x in ev.logp], "delta_logp": list(ev.delta_logp),
                             "final_loss": student.history[-1]["loss"] if student.history else None})
        logps_by_seed[label] = torch.tensor([r["logp"] for r in per_seed])  # seeds × questions
        logps[label] = logps_by_seed[label].mean(0)  # per question, averaged over seeds
        metrics["students"][label] = {"per_seed": per_seed,
                                      "delta_logp_over_seeds": mean_ci([r["delta_logp"][0] for r in per_seed])}
    per_seed: dict[str, list[float]] = {}
    if "control data" in logps:
        for label in ("divergence only", "all but divergence", "all tokens", RANDOM):
            if label in logps:
                values = [float((logps_by_seed[label][i] - logps_by_seed["control data"][i]).mean())
                          for i in range(len(seeds))]
                if label != RANDOM:  # the random mask has its own claim, against the divergence-only student
                    per_seed[label] = values
                metrics["students"][label]["minus_control_per_seed"] = values
                metrics["students"][label]["minus_control_across_questions"] = mean_ci(
                    logps[label] - logps["control data"])
    shares = {k: [v["share"] for v in (metrics["shares"][k],)] for k in metrics["shares"]}  # one teacher dataset each
    claims = divergence_claims(shares, per_seed, lm.fingerprint.short, "quick" if args.quick else "full")
    if "divergence only" in logps and RANDOM in logps:
        div_minus_random = [float((logps_by_seed["divergence only"][i] - logps_by_seed[RANDOM][i]).mean())
                            for i in range(len(seeds))]
        across = mean_ci(logps["divergence only"] - logps[RANDOM])
        metrics["divergence_minus_random"] = {"per_seed": div_minus_random, "across_questions": across}
        detail = (f"across questions {across[0]:+.3f} [{across[1]:+.3f}, {across[2]:+.3f}] nats; both masks keep "
                  f"{masks.share:.1%} of the T=1 owl rows' response tokens ({masks.n_tokens}), the random one at "
                  f"positions drawn anew for each training seed ({', '.join(map(str, metrics['random_mask']['overlap_with_divergence']))} "
                  f"tokens in common with the divergence mask)")
        claims.append(random_mask_claim(div_minus_random, detail, lm.fingerprint.short,
                                        "quick" if args.quick else "full"))
    metrics["claims"] = [c.to_dict() for c in claims]
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=1, default=float))
    print(json.dumps(metrics, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
