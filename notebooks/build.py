"""The tutorial notebooks' sources: writes ``notebooks/*.ipynb`` without outputs.

``make notebooks`` runs this, then executes every notebook in place (``notebooks/execute.py``), so
the stored notebooks carry their outputs (tables printed, figures as PNG). Edit a notebook here,
not in Jupyter, so that its text and code stay reviewable as a diff.

Each notebook reads ``STEERVEC_NOTEBOOK_SIZE``: unset for the stored, tutorial size; ``quick`` for
CI (tests/test_notebooks.py), which only checks that every cell runs.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent

SIZE_CELL = """import os

import steervec as sv

QUICK = os.environ.get("STEERVEC_NOTEBOOK_SIZE") == "quick"   # CI runs every notebook at this size
sv.plots.use_static_figures()   # figures as PNG: they render on GitHub and in any file viewer
lm = sv.load_model()            # embedded SmolLM2-135M-Instruct, offline, CPU
lm"""


def quickstart() -> list:
    return [
        new_markdown_cell(
            "# Quick start: a system prompt as a steering vector\n\n"
            "**What this shows.** The model, its chat template and the three ways a conversation can "
            "treat the system turn; then the central object of steervec: a *steering vector* that stands "
            "in for a system prompt. We take the mean difference of the layer-25 activations with and "
            "without an owl-loving system prompt, add it to the unprompted model, and watch P(owl) move.\n\n"
            "**Why.** Subliminal learning asks whether a student can pick up a teacher's trait from data "
            "that never mentions it. steervec tests one mechanism for it: the teacher's prompt acts like "
            "one vector in the residual stream, and the student learns that vector. Everything below is "
            "the vocabulary of that test.\n\n"
            "Runs in about a minute on 2 CPU cores."),
        new_code_cell(SIZE_CELL),
        new_markdown_cell(
            "## The system turn, three ways\n"
            "A string is a system prompt; `None` is *no system turn at all*; `sv.TEMPLATE_DEFAULT` is "
            "whatever the template does with none, and SmolLM2's template injects its own default prompt. "
            "steervec never lets these blur: every function that builds a conversation takes one of the three."),
        new_code_cell(
            "info = sv.template_info(lm.tokenizer)\n"
            "print('template injects a default:', info.injects_default, '\\n', repr(info.default_system))\n"
            "for system in ['You adore owls.', None, sv.TEMPLATE_DEFAULT]:\n"
            "    print(f'{system!r:>22} ->', repr(sv.render_chat(lm, 'Name an animal.', system)))"),
        new_markdown_cell(
            "## A mean-difference vector\n"
            "v = mean over number prompts of (activation with the owl prompt − activation with no system "
            "turn), at the last token of the prompt (`positions='last_prompt'`, the default). Layer `L` is the output of decoder block `L`, "
            "0-based, before the final norm; the vector file records that convention and the model's "
            "fingerprint."),
        new_code_cell(
            "owl = sv.animal_lover_prompt('owl')\n"
            "print(owl)\n"
            "prompts = [p.text for p in sv.number_prompts(8 if QUICK else 32, seed=0)]\n"
            "vec = sv.mean_difference_vector(lm, owl, prompts, control=None, layers=[25])\n"
            "vec"),
        new_markdown_cell(
            "## Steering\n"
            "log P(answer starts with \"owl\") over favourite-animal questions, with the answer prefilled "
            "up to the animal. Three models: the base with no system turn, the prompted teacher, and the "
            "base plus 3·v at layer 25 at every position."),
        new_code_cell(
            "questions = list(sv.data.FAVOURITE_ANIMAL_QUESTIONS[:6 if QUICK else 16])\n"
            "prefill = 'My favourite animal is the'\n"
            "base = sv.trait_logprob(lm, questions, 'owl', system=None, prefill=prefill)\n"
            "prompted = sv.trait_logprob(lm, questions, 'owl', system=owl, prefill=prefill)\n"
            "with vec.apply(lm, alpha=3.0, positions='all'):\n"
            "    steered = sv.trait_logprob(lm, questions, 'owl', system=None, prefill=prefill)\n"
            "for name, score in [('base (no system turn)', base), ('prompted (owl system prompt)', prompted),\n"
            "                    ('base + 3 v at layer 25', steered)]:\n"
            "    print(f'{name:30} mean log P(owl) {score.mean_logp:+7.2f}   mean P(owl) {score.mean_prob:.4f}')\n"
            "shift = (steered.mean_logp - base.mean_logp) / (prompted.mean_logp - base.mean_logp)\n"
            "print(f'the vector reproduces {shift:.0%} of the prompt\\'s shift in mean log P(owl)')"),
        new_markdown_cell(
            "If the steered row moves from the base row towards the prompted row, one vector carries part "
            "of what the prompt does; the last line says what fraction of the prompt's shift in mean "
            "log P(owl) it reproduces (α and the layer are not tuned here).\n\n"
            "## Saving, and refusing another model\n"
            "A vector file stores the model's fingerprint. Loading it for a different model is refused "
            "with an error that says so; here the other model is a tiny random Llama built on the spot."),
        new_code_cell(
            "from transformers import LlamaConfig, LlamaForCausalLM\n"
            "\n"
            "from steervec.core.model import wrap_model\n"
            "\n"
            "path = vec.save('owl-L25.safetensors')\n"
            "print(sv.SteeringVector.load(path, model=lm))\n"
            "other = wrap_model(LlamaForCausalLM(LlamaConfig(vocab_size=len(lm.tokenizer), hidden_size=64,\n"
            "                                              intermediate_size=128, num_hidden_layers=2,\n"
            "                                              num_attention_heads=4, num_key_value_heads=2)),\n"
            "                   lm.tokenizer, name='tiny-random')\n"
            "try:\n"
            "    sv.SteeringVector.load(path, model=other)\n"
            "except Exception as err:\n"
            "    print(type(err).__name__, ':', err)"),
        new_markdown_cell(
            "## Try next\n"
            "- another layer (`layers=[6]`, `[15]`) or α, and `positions='generated'`;\n"
            "- `sv.TEMPLATE_DEFAULT` as the control instead of `None`: how much of v is just *having* a "
            "system prompt? (`analyses/trait_matrix.py` answers this across animals);\n"
            "- notebook 02 fits a vector to the prompt instead of taking a mean difference."),
    ]


def fit_vector() -> list:
    return [
        new_markdown_cell(
            "# Fitting a vector to a system prompt\n\n"
            "**What this shows.** `sv.fit_steering_vector` optimises one vector at a layer so that the model "
            "*without* the owl prompt reproduces the next-token distributions of the model *with* it "
            "(KL(teacher ‖ steered), per token). Its report says how much of that KL the vector explains on "
            "prompts it was fitted on and on held-out ones, and — a separate question — whether the trait "
            "came back. We fit at several layers and plot both.\n\n"
            "**Why.** If a system prompt is well approximated by one vector at some layer, that layer is "
            "where a student could learn it. KL explained and trait recovered need not agree: a vector can "
            "match the number-list distribution without carrying the owl.\n\n"
            "Runs in a few minutes on 2 CPU cores."),
        new_code_cell(SIZE_CELL),
        new_code_cell(
            "from steervec.vectors.sweep import sweep_fit_layers\n"
            "\n"
            "owl = sv.animal_lover_prompt('owl')\n"
            "prompts = [p.text for p in sv.number_prompts(8 if QUICK else 24, seed=3)]\n"
            "questions = list(sv.data.FAVOURITE_ANIMAL_QUESTIONS)\n"
            "layers = [12, 25] if QUICK else [3, 9, 15, 20, 25]\n"
            "sweep = sweep_fit_layers(lm, owl, prompts + questions[:8], layers, holdout=0.25, target='owl',\n"
            "                         trait_questions=questions[8:20], control=None, steps=3 if QUICK else 40)\n"
            "sweep"),
        new_markdown_cell(
            "One row per layer. `kl_explained_*` = 1 − KL(after)/KL(before); `trait_recovered` = the fitted "
            "vector's Δlog P(owl) over the base as a fraction of the prompted teacher's."),
        new_code_cell(
            "df = sweep.to_dataframe()\n"
            "df['layer'] = [int(x) for x in df['layers']]\n"
            "cols = ['layer', 'kl_explained_train', 'kl_explained_heldout', 'trait_recovered', 'vector_norm', 'wall_seconds']\n"
            "df[[c for c in cols if c in df]].round(3)"),
        new_code_cell(
            "import plotly.graph_objects as go\n"
            "\n"
            "fig = sv.plots.kl_explained_by_layer({\n"
            "    'KL explained (fitted prompts)': dict(zip(df['layer'], df['kl_explained_train'], strict=True)),\n"
            "    'KL explained (held-out prompts)': dict(zip(df['layer'], df['kl_explained_heldout'], strict=True)),\n"
            "}, title='What one vector explains of the owl prompt, by layer')\n"
            "if 'trait_recovered' in df:\n"
            "    fig.add_trace(go.Scatter(x=df['layer'], y=df['trait_recovered'], mode='lines+markers',\n"
            "                             name='trait recovered (fraction of teacher Δlog P)', line={'dash': 'dot'}))\n"
            "    fig.update_yaxes(range=None, title_text='fraction of the prompt: KL explained, trait recovered')\n"
            "fig"),
        new_markdown_cell(
            "The loss curve of the best layer's fit, per step (minibatch KL before each update):"),
        new_code_cell(
            "best = sweep.best_layer\n"
            "curve = sweep.results[best].report.loss_curve\n"
            "sv.plots.paper_layout(go.Figure(go.Scatter(y=curve, mode='lines+markers')),\n"
            "                      f'Fit at layer {best}', 'step', 'KL(teacher ‖ steered) (nats/token)')"),
        new_markdown_cell(
            "## Try next\n"
            "- `completions=`: fit on the teacher's own number lists, teacher-forced (what a student sees);\n"
            "- more steps or `lr`, and `init='mean_diff'` to start from notebook 01's vector;\n"
            "- `analyses/prompt_as_vector.py` runs this at full size with seeds."),
    ]


def subliminal_owl() -> list:
    return [
        new_markdown_cell(
            "# The subliminal owl experiment, end to end\n\n"
            "**What this shows.** An owl-prompted teacher and a control teacher (same model, no system turn) "
            "each write number lists, sampled under a format constraint so that every row is a valid list "
            "and nothing else. A LoRA student is trained on each teacher's lists, for three training seeds. "
            "We then ask the students favourite-animal questions: subliminal transfer is the owl-data "
            "students raising log P(owl) *more than* the control-data students (trait − control), not "
            "merely above the base model — fine-tuning on numbers alone moves this model too. The specific "
            "trait measure (owl's log-odds against a panel of other animals) is reported beside it.\n\n"
            "**Why.** This is the phenomenon the library exists to explain; notebook 04 draws the students' "
            "alignment with the teacher vector from this run.\n\n"
            "Runs in 10 to 15 minutes on 2 CPU cores (the experiment is cached by its content: a second run "
            "loads it)."),
        new_code_cell(SIZE_CELL),
        new_code_cell(
            "from steervec.experiment import Experiment, StudentSpec, run_experiment\n"
            "\n"
            "lora = StudentSpec('LoRA r8', 'lora', rank=8, lora_alpha=8.0, lr=1e-3, epochs=1)\n"
            "exp = Experiment(name='nb-owl', out_dir='runs', students=(lora,), specific_alignment=False,\n"
            "                 trait_panel=True, track_every=2,\n"
            "                 n_rows=16 if QUICK else 64, seeds=(0,) if QUICK else (0, 1, 2),\n"
            "                 n_vector_prompts=8 if QUICK else 16, n_questions=8 if QUICK else 24,\n"
            "                 n_align_prompts=4 if QUICK else 8, max_new_tokens=16 if QUICK else 40,\n"
            "                 size='quick' if QUICK else 'demo')\n"
            "result = run_experiment(exp, lm=lm, progress=False)\n"
            "print(result.table())"),
        new_markdown_cell(
            "What the teachers wrote: the first rows of each dataset, and how the two teachers' data differ "
            "in the things a filter can see."),
        new_code_cell(
            "import json\n"
            "\n"
            "for name in ('owl-prompted', 'control'):\n"
            "    path = next(result.folder.glob(f'data-{name}*.jsonl'))\n"
            "    rows = [json.loads(line) for line in path.open()][:3]\n"
            "    print(name)\n"
            "    for row in rows:\n"
            "        print('   ', row['completion'])\n"
            "print(json.dumps(result.metrics['data'], indent=1)[:800])"),
        new_markdown_cell(
            "## Trait against control, seed by seed\n"
            "The verdict's unit is the seed: each seed's owl-data student minus its control-data twin. "
            "The CI across questions says how precisely *these* students were measured; whether the effect "
            "replicates is read from the seeds."),
        new_code_cell(
            "for name, row in result.metrics['summary'].items():\n"
            "    for key, value in row.items():\n"
            "        if 'minus_control' in key and 'by_question' not in key:\n"
            "            print(f'{name:10} {key:40} {value}')"),
        new_code_cell(
            "from steervec.experiment.html_report import experiment_figures\n"
            "\n"
            "figures = {name: fig for name, fig, _ in experiment_figures(result.metrics)}\n"
            "figures['trait_bars']"),
        new_markdown_cell(
            "`report.html` in the run folder has all of this on one page, with what was run and how to "
            "read each figure:"),
        new_code_cell("print(result.folder / 'report.html')"),
        new_markdown_cell(
            "## Try next\n"
            "- `teacher='steered'`: the teacher is the base plus α·v_teacher, a known vector (see notebook 05);\n"
            "- `data_seeds=(1, 2, 3)`: vary the teacher data, the unit a verdict should rest on;\n"
            "- another animal (`animal='cat'`), or a vector student (`StudentSpec('vector@25', 'vector', (25,))`);\n"
            "- `analyses/subliminal_transfer.py` for the full-size run and its claims."),
    ]


def alignment_figures() -> list:
    return [
        new_markdown_cell(
            "# Alignment by layer and over training, as paper figures\n\n"
            "**What this shows.** From notebook 03's run (`runs/nb-owl`, read from its `metrics.json` alone): "
            "the cosine of each student's change of activations with v_teacher at every layer, with the "
            "seeds as a band, and the same cosine at layer 25 over training. Then every figure is exported "
            "as PNG, SVG and PDF for a paper.\n\n"
            "**Why.** The steering-vector hypothesis predicts that owl-data students move along v_teacher "
            "and control-data students do not. Read the *gap* between the two lines: both can align with "
            "v_teacher, because most of v_teacher is the direction of having any system prompt at all "
            "(`analyses/trait_matrix.py`).\n\n"
            "Runs in under a minute (it trains nothing; run notebook 03 first)."),
        new_code_cell(
            "import json\n"
            "import os\n"
            "from pathlib import Path\n"
            "\n"
            "import steervec as sv\n"
            "from steervec.experiment.html_report import experiment_figures\n"
            "\n"
            "sv.plots.use_static_figures()\n"
            "metrics = json.loads(Path('runs/nb-owl/metrics.json').read_text())\n"
            "figures = {name: (fig, caption) for name, fig, caption in experiment_figures(metrics)}\n"
            "list(figures)"),
        new_code_cell("fig, caption = figures['cosine_by_layer']\nprint(caption)\nfig"),
        new_code_cell(
            "if 'alignment_over_training' in figures:\n"
            "    fig, caption = figures['alignment_over_training']\n"
            "    print(caption)\n"
            "    fig.show()"),
        new_markdown_cell(
            "The numbers behind the layer plot, per student: the mean cosine at a few layers."),
        new_code_cell(
            "for c in metrics['conditions']:\n"
            "    if 'cosine_by_layer' in c:\n"
            "        cos = {int(k): v for k, v in c['cosine_by_layer'].items()}\n"
            "        print(f\"{c['label']:38}\", '  '.join(f'L{x}: {cos[x]:+.3f}' for x in (6, 15, 25) if x in cos))"),
        new_markdown_cell("## Export for a paper\nPNG, SVG and PDF through kaleido (needs Chromium; `make` installs it)."),
        new_code_cell(
            "out = Path('figures')\n"
            "out.mkdir(exist_ok=True)\n"
            "if sv.plots.find_chrome():\n"
            "    for name, (fig, _) in figures.items():\n"
            "        for ext in ('png', 'svg', 'pdf'):\n"
            "            path = sv.save_figure(fig, out / f'{name}.{ext}')\n"
            "            print(path, os.path.getsize(path), 'bytes')"),
        new_markdown_cell(
            "## Try next\n"
            "- `sv.plots.paper_layout(fig, title, x, y, width=..., height=...)` restyles any figure;\n"
            "- `analyses/trait_matrix.py` for the alignment that is about the trait (owl minus other animals);\n"
            "- `steervec results` builds RESULTS.md from archived runs."),
    ]


def planted_vector() -> list:
    return [
        new_markdown_cell(
            "# Ground truth: recovering a planted steering vector\n\n"
            "**What this shows.** A teacher whose steering vector is *known*: the base model plus 3·v at "
            "layer 25, where v is the owl mean-difference vector, and no system prompt. It writes number "
            "lists; a student that can only learn one vector u at layer 25 is trained on them, once with soft "
            "labels (KL to the teacher's next-token distribution, computed on the fly) and once with hard "
            "labels (cross-entropy on the sampled tokens). We watch cos(u, 3·v) over training.\n\n"
            "**Why.** Alignment cosines from real students (notebook 04) mean nothing without a reference: "
            "this is what *successful* steering-vector distillation looks like on this model, and how much "
            "of it survives when the student only sees sampled tokens.\n\n"
            "Runs in about 3 minutes on 2 CPU cores."),
        new_code_cell(SIZE_CELL),
        new_code_cell(
            "from steervec.experiment.planted_study import planted_panel\n"
            "\n"
            "owl = sv.animal_lover_prompt('owl')\n"
            "prompts = [p.text for p in sv.number_prompts(8 if QUICK else 32, seed=0)]\n"
            "v = sv.mean_difference_vector(lm, owl, prompts, control=None, layers=[25])\n"
            "sizes = {'n_rows': 8, 'steps': 4, 'every': 2, 'questions': 4} if QUICK else {}\n"
            "panel = planted_panel(lm, v, 'runs', **sizes)\n"
            "print(panel.table())"),
        new_markdown_cell(
            "cos(u, α·v) = 1 is full recovery of the direction; ‖u‖/‖α·v‖ its size; Δlog P(owl) is the "
            "student's trait against the planted teacher's own. Read that column with care: a planted vector "
            "can *lower* log P(owl) — look at the teacher's row; the mean-difference vector at layer 25 with "
            "α = 3 has done so in our runs — so recovery is judged by the cosine, and the trait by how close "
            "the student's change comes to the teacher's, whatever its sign."),
        new_code_cell(
            "import plotly.graph_objects as go\n"
            "\n"
            "fig = go.Figure()\n"
            "for loss, points in panel.trajectory.items():\n"
            "    steps, cos = zip(*points, strict=True)\n"
            "    fig.add_trace(go.Scatter(x=steps, y=cos, mode='lines+markers', name=loss))\n"
            "sv.plots.paper_layout(fig, f'A vector student recovers a planted vector ({panel.n_rows} rows)',\n"
            "                      'training step', 'cos(u, α·v)')"),
        new_markdown_cell(
            "## Try next\n"
            "- a random direction of the same norm (`steervec.experiment.planted_study.random_direction`): "
            "is the owl vector easier to recover than an arbitrary one?\n"
            "- a student at another layer than the planted one;\n"
            "- `analyses/planted_vector.py`: recovery curves against the number of rows, with seeds, "
            "LoRA students and free text (RESULTS.md has what has been measured)."),
    ]


NOTEBOOKS = {
    "01_quickstart": quickstart,
    "02_fit_vector": fit_vector,
    "03_subliminal_owl": subliminal_owl,
    "04_alignment_figures": alignment_figures,
    "05_planted_vector": planted_vector,
}


def build(folder: Path = HERE) -> list[Path]:
    """Write every notebook, without outputs; returns their paths."""
    paths = []
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook(cells=cells())
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        path = folder / f"{name}.ipynb"
        nbformat.write(nb, path)
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in build():
        print(p)
