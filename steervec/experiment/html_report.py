"""A run's ``report.html``, written so that it explains itself.

The page states what was run (the question, the teacher's system prompt, the model's fingerprint,
sizes, seeds, students, time taken), shows each number table and figure with a line saying how to
read it, and quotes a few rows of every teacher's data. Everything is derived from the run folder
(``metrics.json``, ``data-*.jsonl`` and the optional ``report_extras.json``), so
:func:`write_report` — and ``steervec report <run>`` — rebuild it from an archived record alone.

plotly.js (about 4.6 MB) is written once beside the page as ``plotly.min.js`` and loaded by a
``<script src>``, so the page itself stays small (tens of KB) and works offline.

Extra sections (the demo's part 1 table and part 3 panel) are stored in ``report_extras.json`` as a
list of ``{"title", "text", "table": {"columns", "rows"}, "figure": <plotly JSON>, "caption"}``
(every key but ``title`` optional); :func:`write_report` with ``extras`` writes that file first.

Example:
    >>> write_report("records/demo")  # doctest: +SKIP
    PosixPath('records/demo/report.html')
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from steervec.core.errors import InputError
from steervec.core.io import atomic_path
from steervec.core.reprs import html_cell

REPORT = "report.html"
PLOTLY_JS = "plotly.min.js"
EXTRAS = "report_extras.json"
SAMPLE_ROWS = 3

_CSS = ("body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;line-height:1.45}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 10px;text-align:left;"
        "border-bottom:1px solid #ddd;vertical-align:top}th{background:#f4f4f4}"
        ".caption{color:#444;font-size:92%;margin:.2em 0 1.2em}.row{font-family:monospace;font-size:88%}"
        "h2{margin-top:1.6em;border-bottom:2px solid #eee}.verdict-yes{color:#176}.verdict-no{color:#a22}")


def _esc(text: Any) -> str:
    return html.escape(str(text))


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    th = "".join(f"<th>{_esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _ci(v: Sequence[float] | None) -> str:
    return "—" if not v else f"{v[0]:+.3f} [{v[1]:+.3f}, {v[2]:+.3f}]"


def _what_was_run(metrics: dict[str, Any], folder: Path) -> str:
    exp = metrics.get("experiment", {})
    animal = exp.get("animal", "owl")
    teacher = exp.get("teacher", "prompted")
    from steervec.data.teachers import animal_lover_prompt

    how = {"prompted": f"the model given the system prompt <q>{_esc(animal_lover_prompt(animal))}</q>",
           "steered": f"the model with {exp.get('alpha')} × v_teacher added at layer {exp.get('layer')}",
           "projected": f"the prompted model with v_teacher projected out at layer {exp.get('layer')}",
           "projected_specific": f"the prompted model with the {_esc(animal)}-specific (matched) vector "
                                 f"projected out at layer {exp.get('layer')}"}.get(
               teacher, _esc(teacher))
    intro = (
        f"<p><b>The question.</b> A <i>teacher</i> — {how} — wrote lists of numbers that say nothing about "
        f"{_esc(animal)}s; a <i>control</i> teacher (the same model without that system prompt) wrote lists "
        "of the same form. Students with the teacher's initialisation were trained on each, and then asked "
        f"about animals with no system prompt. Subliminal learning predicts that the students trained on the "
        f"teacher's numbers raise log P({_esc(animal)}) more than those trained on the control's "
        "(<i>trait − control</i> below), and the steering-vector hypothesis that their change of activations "
        "points along v_teacher, the mean difference of the teacher's activations with and without its "
        "system prompt (<i>cosine</i> below).</p>")
    students = exp.get("students", [])
    described = "; ".join(
        f"{s.get('name')} ({s.get('kind')}" + (f", layers {s.get('layers')}" if s.get("layers") else "")
        + (f", rank {s.get('rank')}" if s.get("kind") == "lora" else "")
        + f", {s.get('optimizer')} lr {s.get('lr')}, {s.get('epochs')} epoch(s), batch {s.get('batch_size')})"
        for s in students)
    data = metrics.get("data", {})
    rows_line = ", ".join(f"{name}: {d.get('valid', d.get('rows'))} valid of {d.get('total', d.get('rows'))}"
                          for name, d in data.items())
    timings = metrics.get("timings", {})
    facts = [
        ("run", f"{exp.get('name')} (size {exp.get('size')}) in {folder}"),
        ("model", metrics.get("model")),
        ("teacher / control", f"{teacher} {animal} teacher / control (system {exp.get('baseline')})"),
        ("teacher data", f"{exp.get('n_rows')} number lists per teacher, up to {exp.get('max_new_tokens')} "
                         f"new tokens each ({rows_line})"),
        ("v_teacher", f"mean difference over {exp.get('n_vector_prompts')} number prompts, every layer; "
                      f"reported at layer {exp.get('report_layer') or exp.get('layer')}"),
        ("students", described),
        ("seeds", f"training {exp.get('seeds')} × data {exp.get('data_seeds')}"),
        ("evaluation", f"{exp.get('n_questions')} animal questions, students asked with system "
                       f"{exp.get('student_system')!r}; alignment on {exp.get('n_align_prompts')} prompts"),
        ("time", f"{metrics.get('seconds', float('nan')):.0f} s in all" + (
            " (" + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()) + ")" if timings else "")),
        ("steervec", metrics.get("steervec", "")),
    ]
    return intro + _table(["", ""], [f for f in facts if f[1]])


def _results(metrics: dict[str, Any]) -> str:
    exp = metrics.get("experiment", {})
    animal = exp.get("animal", "owl")
    layer = exp.get("report_layer") or exp.get("layer")
    rows = [[c["label"], _ci(c.get("delta_logp")), c.get("mean_prob"), c.get("cosine_at_layer"), c.get("final_loss")]
            for c in metrics.get("conditions", [])]
    out = ("<h2>Every condition</h2>" + _table(
        ["condition", "Δ log P vs base (95% CI across questions)", f"P({animal})", f"cos @ layer {layer}",
         "final loss"], rows)
        + f"<p class='caption'>Δ log P: the mean over questions of log P(answer starts with “{_esc(animal)}”) "
          "minus the base model's, in nats. The teacher row is how far the system prompt itself moves it. "
          "cos: cosine of the student's change of activations (student − base, mean over prompts) with "
          f"v_teacher at layer {layer}; it is blank for conditions that are not students.</p>")
    summary = metrics.get("summary", {})
    srows = []
    for name, s in summary.items():
        if "trait_minus_control" not in s:
            continue
        srows.append([name, _ci(s.get("trait_minus_control")),
                      ", ".join(f"{v:+.3f}" for v in s.get("trait_minus_control_seed_level", [])),
                      _ci(s.get("cosine_trait")), _ci(s.get("cosine_control")),
                      _ci(s.get("controlled_cosine_specific"))])
    if srows:
        out += ("<h2>Trait data against control data</h2>" + _table(
            ["student", "trait − control Δ log P (CI across questions)", "per seed", "cos (trait data)",
             "cos (control data)", "cos(shift, trait-specific v)"], srows)
            + "<p class='caption'>trait − control: log P of the students trained on the teacher's data minus "
              "the control-data students', paired by seed. Its CI is across questions (how precisely these "
              "students were measured); whether the effect replicates is read from the per-seed values. The "
              "cosine columns compare alignment on trait and control data: alignment that is equally high on "
              "control data is not about the trait. The last column (when measured) is the cosine of the "
              "control-subtracted shift with the trait vector matched against other animals.</p>")
    return out


def _claims(metrics: dict[str, Any]) -> str:
    claims = metrics.get("claims", [])
    if not claims:
        return ""
    rows = []
    for c in claims:
        verdict = c.get("reproduced")
        cls = {"yes": "verdict-yes", "no": "verdict-no"}.get(str(verdict), "")
        rows.append(f"<tr><td>{_esc(c.get('claim', ''))}</td><td class='{cls}'>{_esc(verdict)}</td>"
                    f"<td>{_esc(c.get('measurement', ''))}</td></tr>")
    return ("<h2>Claims</h2><table><thead><tr><th>claim</th><th>reproduced</th><th>measured</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table><p class='caption'>A verdict reads one value per seed "
            "(each claim's rule is in metrics.json and RESULTS.md); “no verdict” means too few seeds to "
            "decide.</p>")


def _samples(folder: Path, metrics: dict[str, Any]) -> str:
    parts = []
    for path in sorted(folder.glob("data-*.jsonl")):
        rows: list[list[Any]] = []
        with path.open() as f:
            for line in f:
                if len(rows) == SAMPLE_ROWS:
                    break
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                rows.append([row.get("prompt", ""), row.get("completion", "")])
        if rows:
            name = path.stem.removeprefix("data-")
            parts.append(f"<h3>{_esc(name)}</h3>" + _table(["prompt (user turn)", "teacher's answer"], rows))
    if not parts:
        return ""
    return ("<h2>What the teachers wrote</h2><p class='caption'>The first rows of each teacher's data, as the "
            "students saw them (the number filter has kept only well-formed lists). The trait and control "
            "teachers answer the same prompts.</p>" + "".join(parts))


def experiment_figures(metrics: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """``(name, figure, caption)`` for a run's figures, drawn from its ``metrics.json`` alone."""
    from steervec import plots

    exp = metrics.get("experiment", {})
    animal = exp.get("animal", "owl")
    layer = exp.get("report_layer") or exp.get("layer")
    conditions = metrics.get("conditions", [])
    students = [c for c in conditions if "student" in c]
    trait = students[0]["data"] if students else None
    out: list[tuple[str, Any, str]] = []
    bars = [{"label": c["label"], "delta_logp": c["delta_logp"][0], "delta_logp_low": c["delta_logp"][1],
             "delta_logp_high": c["delta_logp"][2], "group": (c["student"], c["data"])} for c in students
            if "delta_logp" in c]
    teacher = next((c for c in conditions if c["label"].startswith("teacher")), None)
    note = f" (teacher: {teacher['delta_logp'][0]:+.2f})" if teacher and "delta_logp" in teacher else ""
    if bars:
        out.append(("trait_bars", plots.trait_bars(bars, title=f"Students: Δ log P({animal}) vs base{note}"),
                    f"Each bar is one student: how much it raised log P({animal}) over the base model (95% CI "
                    "across questions). Subliminal transfer shows as trait-data bars above their control-data "
                    "twins; both often move together, which is fine-tuning on numbers, not the trait."))
    cosines: dict[str, list[dict[int, float]]] = {}
    for c in students:
        if "cosine_by_layer" in c:
            key = f"{c['student']} · {'trait' if c['data'].startswith(str(trait)) else 'control'} data" + \
                (" (length-matched)" if c["data"].endswith("-lenmatch") else "")
            cosines.setdefault(key, []).append({int(k): v for k, v in c["cosine_by_layer"].items()})
    if cosines:
        out.append(("cosine_by_layer", plots.cosine_by_layer(cosines, title="cos(v_student, v_teacher) by layer"),
                    "At every layer, the cosine of the student's change of activations with v_teacher (band: "
                    "seeds). Read the trait-data line against the control-data line: their gap, not the "
                    "height, is what the teacher's data taught."))
    eas = {f"{name} · {tag} data": (row[f"eas_{tag}"]["steps"], row[f"eas_{tag}"]["cosine"])
           for name, row in metrics.get("summary", {}).items() for tag in ("trait", "control")
           if f"eas_{tag}" in row}
    eas.update({f"{name} · trait − control, {exp.get('animal', 'trait')}-specific direction":
                (row["eas_controlled_specific"]["steps"], row["eas_controlled_specific"]["cosine"])
                for name, row in metrics.get("summary", {}).items() if "eas_controlled_specific" in row})
    if eas:
        out.append(("alignment_over_training", plots.alignment_over_training(
            eas, int(exp.get("layer", layer)), title=f"Alignment at layer {exp.get('layer')} over training "
            f"(mean of {len(exp.get('seeds', [0])) * len(exp.get('data_seeds', [0]))} student pair(s) per line)", y="cosine"),
            "At each checkpoint: the cosine of each student's shift with v_teacher (raw: mostly the "
            "generic system-prompt direction) and, when the matched vector was measured, the cosine of the "
            "trait-data student's shift minus the control-data student's with the trait-specific direction: "
            "the line a growth claim reads."))
    return out


def _figure_block(name: str, fig: Any, caption: str) -> str:
    body = fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"figure-{name}")  # same page on a rebuild
    return body + f"<p class='caption'>{_esc(caption)}</p>"


def _extra(i: int, section: dict[str, Any]) -> str:
    import plotly.io as pio

    out = f"<h2>{_esc(section['title'])}</h2>"
    if section.get("text"):
        out += f"<p>{_esc(section['text'])}</p>"
    if section.get("table"):
        out += _table(section["table"]["columns"], section["table"]["rows"])
    if section.get("figure"):
        fig = pio.from_json(json.dumps(section["figure"]))
        out += fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"extra-{i}")
    if section.get("caption"):
        out += f"<p class='caption'>{_esc(section['caption'])}</p>"
    return out


def _write_plotly_js(folder: Path) -> None:
    from plotly.offline import get_plotlyjs

    js = get_plotlyjs()
    path = folder / PLOTLY_JS
    if not path.is_file() or path.stat().st_size != len(js.encode()):
        with atomic_path(path) as tmp:
            tmp.write_text(js)


def write_report(folder: str | os.PathLike[str], extras: Sequence[dict[str, Any]] | None = None,
                 figures: Sequence[tuple[str, Any, str]] | None = None) -> Path:
    """Write ``<folder>/report.html`` (and ``plotly.min.js`` beside it) from the run folder.

    Args:
        folder: a run folder with ``metrics.json`` (``run_experiment``'s, or an archived record).
        extras: sections to add after the run's description (saved to ``report_extras.json`` so a
            rebuild keeps them); ``None`` keeps the ones saved before.
        figures: ``(name, figure, caption)`` already drawn (default: :func:`experiment_figures`).

    Raises:
        FileNotFoundError: no ``metrics.json`` in ``folder``.
        InputError: ``metrics.json`` is damaged or not an experiment run's.
    """
    folder = Path(folder)
    path = folder / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(f"no metrics.json in {folder}: give the folder of a finished run "
                                "(e.g. runs/demo or records/demo)")
    try:
        metrics = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON ({exc}): rerun the experiment, or restore the file from "
                         "its record") from exc
    if not isinstance(metrics, dict) or not isinstance(metrics.get("conditions"), list):
        raise InputError(f"{path} is not an experiment run's metrics.json (no 'conditions' list): give a "
                         "folder written by run_experiment or `make demo`")
    if extras is not None:
        with atomic_path(folder / EXTRAS) as tmp:
            tmp.write_text(json.dumps(list(extras), indent=1, default=float))
    saved = json.loads((folder / EXTRAS).read_text()) if (folder / EXTRAS).is_file() else []
    figs = list(figures) if figures is not None else experiment_figures(metrics)
    name = metrics.get("experiment", {}).get("name", folder.name)
    parts = [f"<h1>steervec run: {_esc(name)}</h1>", _what_was_run(metrics, folder)]
    parts += [_extra(i, s) for i, s in enumerate(saved)]
    parts += [_results(metrics), _claims(metrics)]
    if figs:
        parts.append("<h2>Figures</h2>")
        parts += [_figure_block(name, fig, caption) for name, fig, caption in figs]
    parts.append(_samples(folder, metrics))
    parts.append("<p class='caption'>Rebuild this page from the run folder with "
                 f"<code>steervec report {_esc(folder)}</code>.</p>")
    missing = ("<script>if(typeof Plotly==='undefined'){document.body.insertAdjacentHTML('afterbegin',"
               "\"<p style='color:#a22'>plotly.min.js is missing beside this page, so the figures cannot "
               "draw: run <code>steervec report &lt;this folder&gt;</code>.</p>\")}</script>")
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>steervec: {_esc(name)}</title>"
            f"<style>{_CSS}</style><script src='{PLOTLY_JS}'></script></head><body>"
            + "".join(parts) + missing + "</body></html>")
    _write_plotly_js(folder)
    with atomic_path(folder / REPORT) as tmp:
        tmp.write_text(page)
    return folder / REPORT


__all__ = ["EXTRAS", "PLOTLY_JS", "REPORT", "experiment_figures", "write_report"]
