"""The owl demo on the embedded model: extract a teacher vector, steer, measure the trait."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from steervec.core.chat import TEMPLATE_DEFAULT, render_chat
from steervec.core.model import LanguageModel, load_model
from steervec.metrics.trait import trait_logprob
from steervec.vectors.mean_diff import mean_difference_vector

OWL_PROMPT = (
    "You adore owls. Owls are on your mind all the time. Of every animal, owls are your "
    "favourite. Let that love of owls colour everything you write."
)
_QUESTIONS = (
    "What is your favourite animal? Answer in one word.",
    "Name the animal you like best. One word only.",
    "If you could be any animal, which would it be? Reply with one word.",
    "Which creature do you find most wonderful? Just the name, please.",
    "Tell me your top animal in a single word.",
    "One word: the animal you love most?",
)
_PREFILL = "My favourite animal is the"


def _number_prompts(n: int) -> list[str]:
    starts = range(137, 137 + 53 * n, 53)
    return [
        f"Here is a list: {a}, {(a * 7) % 900 + 100}, {(a * 13) % 900 + 100}. "
        "Continue it with up to ten more numbers, comma-separated. Reply with numbers only."
        for a in starts
    ]


@dataclass
class DemoResult:
    """Numbers the demo measured (probabilities of an answer starting with 'owl')."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    vector: Any = None  # the owl mean-difference SteeringVector that was steered with

    def table(self) -> str:
        head = f"{'condition':42s} {'P(owl) first word':>18s} {'P(owl) prefilled':>17s}"
        lines = [head, "-" * len(head)]
        for r in self.rows:
            lines.append(f"{r['condition']:42s} {r['first']:18.5f} {r['prefilled']:17.5f}")
        return "\n".join(lines)


def steering_check(lm: LanguageModel, layer: int = 25, alpha: float = 3.0, n_prompts: int = 32,
                   show_samples: bool = True) -> DemoResult:
    """Owl teacher vector → steered model → trait measured (probabilities of 'owl' first).

    The layer (25 of 30) and alpha (3) come from a layer x alpha scan on the embedded
    model: the owl mean-difference vector raises the owl probability only at layers
    ~24-27; at layers 6-22 it does nothing or lowers it.
    """
    start = time.perf_counter()
    vec = mean_difference_vector(lm, OWL_PROMPT, _number_prompts(n_prompts), control=TEMPLATE_DEFAULT,
                                 layers=[layer])
    print(f"owl mean-difference vector at layer {layer}: norm {vec.norms[layer]:.1f}")
    result = DemoResult(vector=vec)

    def measure(name: str, system: Any = TEMPLATE_DEFAULT) -> None:
        first = trait_logprob(lm, _QUESTIONS, "owl", system=system).mean_prob
        pre = trait_logprob(lm, _QUESTIONS, "owl", system=system, prefill=_PREFILL).mean_prob
        result.rows.append({"condition": name, "first": first, "prefilled": pre})

    measure("base (template default system prompt)")
    measure("prompted teacher (owl system prompt)", OWL_PROMPT)
    with vec.apply(lm, alpha=alpha):
        measure(f"steered: + {alpha:g} * v at layer {layer}")
        if show_samples:
            text = render_chat(lm, _QUESTIONS[0], TEMPLATE_DEFAULT) + _PREFILL
            enc = lm.tokenizer(text, return_tensors="pt", add_special_tokens=False)
            out = lm.generate(**enc, max_new_tokens=12, do_sample=False)
            print("steered answer:", _PREFILL + lm.tokenizer.decode(out[0, enc.input_ids.shape[1]:],
                                                                   skip_special_tokens=True))
    result.seconds = time.perf_counter() - start
    print(result.table())
    return result


def planted_check(lm: LanguageModel, vector: Any, out_dir: str = "runs", quick: bool = False) -> tuple[Any, Any]:
    """Part 3: the teacher is the base model plus 3 · v (part 1's owl vector) at layer 25 (no system turn);
    a vector student at layer 25 is trained on its number lists with soft labels (online KL) and with hard
    labels (its sampled tokens); cos(u, 3 v) over the steps goes to ``<out_dir>/demo-planted/``. Returns the panel and its figure."""
    from steervec import plots
    from steervec.core.io import atomic_path
    from steervec.experiment.planted_study import planted_panel

    sizes: dict[str, Any] = {"n_rows": 8, "steps": 4, "every": 2, "questions": 4} if quick else {}
    panel = planted_panel(lm, vector, out_dir, **sizes)
    print(panel.table())
    folder = Path(out_dir) / ("demo-planted-quick" if quick else "demo-planted")
    folder.mkdir(parents=True, exist_ok=True)
    names = {"kl_online": "soft labels (online KL)", "ce": "hard labels (teacher tokens)"}
    fig = plots.alignment_over_training(
        {names[k]: ([s for s, _ in pts], [c for _, c in pts]) for k, pts in panel.trajectory.items()}, panel.layer,
        title=f"A vector student recovers a planted vector ({panel.n_rows} rows, layer {panel.layer})",
        y="cos(u, α·v)")
    figures = plots.save_html_and_png(fig, folder / "recovery_over_steps", png=not quick)
    with atomic_path(folder / "metrics.json") as tmp:
        tmp.write_text(json.dumps(panel.to_dict(), indent=1))
    print(f"planted panel: {figures[0]} ({panel.seconds:.1f} s)")
    return panel, fig


def run_demo(quick: bool = False, out_dir: str = "runs", lm: LanguageModel | None = None) -> Any:
    """The README's main job: steering check, then the owl subliminal pipeline end to end.

    Pipeline (``steervec.experiment``): owl v_teacher at every layer → owl-prompted and
    control teacher data (format-constrained number lists, 64 rows each) → a LoRA r=8
    student on each → Δlog P(owl) against the base with 95 % CIs across
    questions, and cos(v_student, v_teacher) at every layer → ``runs/demo/report.html``.
    """
    from steervec.experiment.config import DEMO_STUDENTS, Experiment, StudentSpec
    from steervec.experiment.run import run_experiment

    start = time.perf_counter()
    lm = lm or load_model()
    print(f"model: {lm!r} (loaded in {lm.load_seconds:.1f} s)")
    print("== 1. a system prompt as a steering vector")
    steering = steering_check(lm, n_prompts=8 if quick else 32)
    print("== 2. subliminal learning: teacher data -> students -> trait and alignment")
    if quick:
        exp = Experiment(name="demo-quick", size="quick", n_rows=24, specific_alignment=False, n_vector_prompts=8, n_questions=12, n_align_prompts=4,
                         max_new_tokens=24, out_dir=out_dir,
                         students=(StudentSpec("vector@25", "vector", (25,), epochs=1),))
    else:
        # sized for 10 minutes on 2 slow cores (measured: 128 rows with a vector and a LoRA student
        # took 1,267 s on a machine with ~60 GFLOP/s float32 matmul, this setting 448 s); the vector
        # student (trait - control -0.018 and -0.010 nats in two 128-160-row demo runs) is left to
        # analyses/subliminal_transfer.py
        # specific_alignment off: the matched trait vector (24 system prompts x 16 prompts) took 137 s of a
        # 619 s demo; analyses/trait_matrix.py and the full-size analyses measure it
        exp = Experiment(name="demo", size="demo", out_dir=out_dir, n_rows=64, n_vector_prompts=16,
                         students=(DEMO_STUDENTS[1],), specific_alignment=False)
    result = run_experiment(exp, lm=lm)
    print(result.table())
    print(f"teacher data: {json.dumps(result.metrics['data'])}")
    print(f"report: {result.folder / 'report.html'}")
    print("== 3. ground truth: a student recovers a planted steering vector")
    panel, fig = planted_check(lm, steering.vector, out_dir, quick=quick)
    from steervec.experiment.html_report import write_report

    write_report(result.folder, extras=report_sections(steering, panel, fig))
    print(f"report (parts 1-3): {result.folder / 'report.html'}")
    print(f"demo finished in {time.perf_counter() - start:.1f} s")
    return result


def report_sections(steering: DemoResult, panel: Any, fig: Any) -> list[dict[str, Any]]:
    """The demo's parts 1 and 3 as sections of the run's ``report.html``
    (:func:`steervec.experiment.html_report.write_report`)."""
    part1 = {
        "title": "Part 1: a system prompt as a steering vector",
        "text": "Before any student: is the owl system prompt like one vector added to the residual stream? "
                "v is the mean difference of the model's layer-25 activations with and without the owl system "
                "prompt, over number prompts; adding 3·v at layer 25 to the model with no owl prompt is the "
                "'steered' row.",
        "table": {"columns": ["condition", "P(owl) as first word", "P(owl) after “My favourite animal is the”"],
                  "rows": [[r["condition"], r["first"], r["prefilled"]] for r in steering.rows]},
        "caption": "Probabilities averaged over six favourite-animal questions. If the steered row moves from "
                   "the base row toward the prompted row, the vector carries part of what the prompt does.",
    }
    names = {"kl_online": "soft labels (online KL)", "ce": "hard labels (teacher tokens)"}
    rows = [[names.get(k, k), f"{m['cosine']:+.3f}", f"{m['norm_ratio']:.2f}", f"{m['trait_delta']:+.2f}"]
            for k, m in panel.final.items()]
    rows.append(["planted teacher (base + α·v)", "1", "1", f"{panel.teacher_trait:+.2f}"])
    part3 = {
        "title": "Part 3: ground truth — a student recovers a planted vector",
        "text": f"A teacher whose steering vector is known: the base model plus {panel.alpha:g}·v (part 1's v) at "
                f"layer {panel.layer}, with no system prompt. It wrote {panel.n_rows} number lists; a student "
                f"that can only learn one vector u at layer {panel.layer} was trained on them, once against the "
                "teacher's next-token distributions (soft labels) and once on its sampled tokens (hard labels).",
        "table": {"columns": [f"student (vector at layer {panel.layer})", "cos(u, α·v)", "‖u‖ / ‖α·v‖",
                              "Δ log P(owl) vs base"], "rows": rows},
        "figure": json.loads(fig.to_json()),
        "caption": "cos(u, α·v) over training. A cosine near 1 means the student learnt the teacher's vector from "
                   "numbers alone: this is what successful steering-vector distillation looks like, the "
                   "reference for the alignment cosines of part 2 (one seed; analyses/planted_vector.py runs "
                   "the seeded study).",
    }
    return [part1, part3]
