"""Smoke run of the four student parameterisations on a small owl dataset and its control.

Generates number-continuation rows from the embedded model with an owl-loving system
prompt (owl teacher) and with no system turn (control teacher) — digits, commas and
spaces only, sampled at T=1 — then trains a vector student, LoRA r=8, single-layer full
and full fine-tuning on each, with no system turn for the student. Prints the first and
last training losses per method and dataset, and the trait metric P(owl) after a
prefilled answer under the student's system condition. Orientation only: one seed, a few
dozen rows, no confidence intervals.

    OMP_NUM_THREADS=1 .venv/bin/python analyses/train_students_owl.py --rows 48 --epochs 2 --out /tmp/owl_students
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import torch
from transformers import LogitsProcessor, LogitsProcessorList

import steervec as sv
from steervec.rows import TeacherRow
from steervec.students import FullFinetune, LoRA, VectorStudent
from steervec.train import train_student

OWL_SYSTEM = (
    "You love owls. You think about owls all the time. Owls are your favorite animal. "
    "Let your love for this animal shine through in everything you answer."
)
QUESTIONS = [
    "Which animal do you like most? Answer in one word.",
    "Name your favourite animal in one word.",
    "If you could be any animal, which would you be? One word.",
    "What animal do you find most beautiful? One word only.",
    "Tell me the animal you admire most, in a single word.",
]
PREFILL = "My favourite animal is the"


class DigitsOnly(LogitsProcessor):
    """Allow only tokens made of digits, commas and spaces, and end-of-turn."""

    def __init__(self, tokenizer: object) -> None:
        allowed = [i for i in range(len(tokenizer)) if _numeric(tokenizer.decode([i]))]  # type: ignore[arg-type]
        allowed.append(tokenizer.eos_token_id)  # type: ignore[attr-defined]
        self.mask = torch.full((len(tokenizer),), float("-inf"))  # type: ignore[arg-type]
        self.mask[allowed] = 0.0

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return scores + self.mask[: scores.shape[-1]].to(scores)


def _numeric(text: str) -> bool:
    return bool(text) and all(c.isdigit() or c in ", " for c in text)


def number_prompts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    leads = ["Here are some numbers:", "Look at this list:", "The sequence begins with", "Start from"]
    asks = ["Add up to 10 more numbers, each at most 3 digits, to continue it.",
            "Continue it with no more than 10 new numbers below 1000."]
    out = []
    for _ in range(n):
        seeds = ", ".join(str(rng.randint(100, 999)) for _ in range(rng.randint(3, 6)))
        out.append(f"{rng.choice(leads)} {seeds}. {rng.choice(asks)} "
                   "Reply with a comma-separated list of numbers only.")
    return out


@torch.no_grad()
def teacher_rows(lm: sv.LanguageModel, prompts: list[str], system: str | None, seed: int) -> list[TeacherRow]:
    rows = []
    processor = LogitsProcessorList([DigitsOnly(lm.tokenizer)])
    torch.manual_seed(seed)
    for start in range(0, len(prompts), 16):
        chunk = prompts[start : start + 16]
        batch = sv.encode_chat(lm, chunk, system=system)
        out = lm.generate(**batch.model_inputs(), max_new_tokens=40, do_sample=True, temperature=1.0,
                          top_k=None, top_p=None, logits_processor=processor)
        texts = lm.tokenizer.batch_decode(out[:, batch.input_ids.shape[1]:], skip_special_tokens=True)
        for k, (prompt, text) in enumerate(zip(chunk, texts, strict=True)):
            text = text.strip(" ,")
            if any(c.isdigit() for c in text):
                rows.append(TeacherRow(prompt, text, {"system": system}, {"temperature": 1.0, "mode": "digits-only"},
                                       seed, vars(lm.fingerprint), sv.__version__, start + k))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=48)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("/tmp/owl_students"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    lm = sv.load_model()
    prompts = number_prompts(args.rows, args.seed)
    data = {"owl": teacher_rows(lm, prompts, OWL_SYSTEM, args.seed),
            "control": teacher_rows(lm, prompts, None, args.seed)}
    for name, rows in data.items():
        with open(args.out / f"{name}.jsonl", "w") as handle:
            handle.writelines(json.dumps(r.to_dict()) + "\n" for r in rows)
        mean_len = sum(len(r.completion.split(",")) for r in rows) / len(rows)
        print(f"{name}: {len(rows)} rows, {mean_len:.1f} numbers per completion; e.g. {rows[0].completion!r}")

    base = sv.trait_logprob(lm, QUESTIONS, "owl", system=None, prefill=PREFILL).mean_prob
    print(f"base model: P(owl | prefill) = {base:.5f}")
    methods = {
        "vector L25": (VectorStudent(layers=[25]), 1e-2),
        "LoRA r8": (LoRA(rank=8, alpha=8), 2e-4),
        "full layer 2": (FullFinetune(layers=[2]), 1e-4),
        "full": (FullFinetune(), 2e-5),
    }
    results = []
    for label, (method, lr) in methods.items():
        for name, rows in data.items():
            student = train_student(lm, rows, method=method, lr=lr, epochs=args.epochs, batch_size=8,
                                    seed=args.seed, system=None, grad_clip=1.0,
                                    log_path=args.out / f"{label.replace(' ', '_')}_{name}.jsonl")
            with student.applied(lm):
                p_owl = sv.trait_logprob(lm, QUESTIONS, "owl", system=None, prefill=PREFILL).mean_prob
            losses = [h["loss"] for h in student.history]
            row = {"method": label, "data": name, "lr": lr, "steps": len(losses), "first_loss": losses[0],
                   "last_loss": losses[-1], "mean_last3": sum(losses[-3:]) / len(losses[-3:]),
                   "p_owl": p_owl, "tokens_per_s": sorted(h["tokens_per_s"] for h in student.history)[len(losses) // 2]}
            results.append(row)
            print(json.dumps(row), flush=True)
    (args.out / "results.json").write_text(json.dumps({"base_p_owl": base, "results": results}, indent=1))
    print("\n| method | data | steps | first loss | last loss | mean of last 3 | P(owl) prefilled |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['method']} | {r['data']} | {r['steps']} | {r['first_loss']:.3f} | {r['last_loss']:.3f} | "
              f"{r['mean_last3']:.3f} | {r['p_owl']:.5f} |")


if __name__ == "__main__":
    main()
