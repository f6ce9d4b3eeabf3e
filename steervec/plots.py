"""Paper figures (plotly). Every function returns a ``go.Figure`` and never shows it.

One template for all: Okabe–Ito colour-blind-safe palette, serif-free 14 pt text, white
background, axis titles with units. :func:`save_figure` writes HTML, PNG, SVG or PDF.
"""

from __future__ import annotations

import html
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from steervec.core.io import atomic_path

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
FORMATS = ("html", "png", "svg", "pdf")


def paper_layout(fig: go.Figure, title: str, x: str, y: str, width: int = 720, height: int = 440) -> go.Figure:
    """Apply the steervec paper template."""
    fig.update_layout(
        title={"text": title, "x": 0.02, "font": {"size": 17}},
        template="simple_white", width=width, height=height, colorway=list(PALETTE),
        font={"family": "Helvetica, Arial, sans-serif", "size": 14},
        legend={"bgcolor": "rgba(255,255,255,0.7)", "font": {"size": 12}},
        margin={"l": 70, "r": 20, "t": 60, "b": 60},
    )
    fig.update_xaxes(title_text=x, showgrid=True, gridcolor="#eeeeee")
    fig.update_yaxes(title_text=y, showgrid=True, gridcolor="#eeeeee")
    return fig


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def cosine_by_layer(curves: Mapping[str, Sequence[Mapping[int, float]]], title: str = "Alignment with v_teacher") -> go.Figure:
    """One line per condition: mean cosine by layer across seeds, with a 95 % CI band.

    Args:
        curves: ``{condition: [ {layer: cosine}, ... one dict per seed ]}``.
    """
    from steervec.metrics.evaluate import mean_ci

    if not curves:
        raise ValueError("no curves to draw")
    fig = go.Figure()
    for i, (name, seeds) in enumerate(curves.items()):
        if not seeds:
            raise ValueError(f"condition {name!r} has no seeds")
        colour = PALETTE[i % len(PALETTE)]
        layers = sorted(seeds[0])
        stats = [mean_ci([s[x] for s in seeds]) for x in layers]
        mean = [s[0] for s in stats]
        if len(seeds) > 1:
            fig.add_trace(go.Scatter(x=layers + layers[::-1], y=[s[2] for s in stats] + [s[1] for s in stats][::-1],
                                     mode="lines", fill="toself", fillcolor=_rgba(colour, 0.18), line={"width": 0},
                                     hoverinfo="skip", showlegend=False))
        fig.add_trace(go.Scatter(x=layers, y=mean, mode="lines+markers", name=f"{name} (n={len(seeds)})",
                                 line={"color": colour, "width": 2.5}))
    fig.add_hline(y=0, line={"color": "#888888", "width": 1, "dash": "dot"})
    return paper_layout(fig, title, "layer (output of decoder block, 0-based)", "cosine(v_student, v_teacher)")


def alignment_heatmap(steps: Sequence[int], layers: Sequence[int], values: Sequence[Sequence[float]],
                      title: str = "Alignment over training") -> go.Figure:
    """Heatmap of cosine, layers × training steps (``values[layer_index][step_index]``)."""
    if not steps:
        raise ValueError("no checkpoints to draw: train with checkpoint_every > 0")
    fig = go.Figure(go.Heatmap(x=list(steps), y=list(layers), z=[list(r) for r in values], colorscale="RdBu",
                               zmid=0, colorbar={"title": "cosine"}))
    return paper_layout(fig, title, "training step", "layer")


def alignment_over_training(curves: Mapping[str, tuple[Sequence[int], Sequence[float]]], layer: int,
                            title: str | None = None, y: str = "cosine(v_student, v_teacher)") -> go.Figure:
    """Cosine at one layer over training steps, one line per condition (trait vs control)."""
    if not curves:
        raise ValueError("no checkpoints to draw")
    fig = go.Figure()
    for name, (steps, cos) in curves.items():
        if not steps:
            raise ValueError(f"condition {name!r} has an empty checkpoint list")
        fig.add_trace(go.Scatter(x=list(steps), y=list(cos), mode="lines+markers", name=name))
    fig.add_hline(y=0, line={"color": "#888888", "width": 1, "dash": "dot"})
    return paper_layout(fig, title or f"Alignment with v_teacher at layer {layer}", "training step", y)


def trait_bars(rows: Sequence[Mapping[str, Any]], metric: str = "delta_logp",
               title: str = "Trait transfer") -> go.Figure:
    """Bars with 95 % CI whiskers, e.g. ``aggregate(evals).to_dict('records')``.

    Each row needs ``label``, ``metric`` and optionally ``{metric}_low`` / ``{metric}_high``, and
    ``group`` (bars of one group share a colour, e.g. trait vs control data; default: one colour a bar).
    """
    if not rows:
        raise ValueError("no rows to draw")
    labels = [str(r["label"]) for r in rows]
    vals = [float(r[metric]) for r in rows]
    plus = [float(r.get(f"{metric}_high", v)) - v for r, v in zip(rows, vals, strict=True)]
    minus = [v - float(r.get(f"{metric}_low", v)) for r, v in zip(rows, vals, strict=True)]
    groups = [r.get("group", i) for i, r in enumerate(rows)]
    order = list(dict.fromkeys(groups))
    colours = [PALETTE[order.index(g) % len(PALETTE)] for g in groups]
    fig = go.Figure(go.Bar(x=labels, y=vals, marker_color=colours,
                           error_y={"type": "data", "array": plus, "arrayminus": minus, "visible": True}))
    names = {"delta_logp": "Δ log P(target) vs base (nats)", "rate": "target rate (fraction of answers)",
             "mean_prob": "P(answer starts with target)"}
    return paper_layout(fig, title, "condition", names.get(metric, metric))


def sweep_heatmap(layers: Sequence[int], alphas: Sequence[float], positive: Sequence[Sequence[float]],
                  passed: Sequence[Sequence[bool]] | None = None, best: tuple[int, float] | None = None,
                  title: str = "Layer × α sweep", colorbar: str = "P(target)") -> go.Figure:
    """Heatmap ``positive[layer_index][alpha_index]``; cells failing the gates are crossed out."""
    fig = go.Figure(go.Heatmap(x=[str(a) for a in alphas], y=[str(x) for x in layers], z=[list(r) for r in positive],
                               colorscale="Viridis", colorbar={"title": {"text": colorbar, "side": "right"}}))
    if passed is not None:
        xs, ys = [], []
        for i, layer in enumerate(layers):
            for j, a in enumerate(alphas):
                if not passed[i][j]:
                    xs.append(str(a))
                    ys.append(str(layer))
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name="fails gates",
                                 marker={"symbol": "x", "size": 10, "color": "white", "line": {"width": 1}}))
    if best is not None:
        fig.add_trace(go.Scatter(x=[str(best[1])], y=[str(best[0])], mode="markers", name="accepted",
                                 marker={"symbol": "star", "size": 16, "color": PALETTE[1]}))
    fig = paper_layout(fig, title, "α (multiple of v_teacher)", "layer")
    fig.update_yaxes(type="category")
    fig.update_layout(legend={"orientation": "h", "y": -0.22, "x": 0})
    return fig


def kl_explained_by_layer(per_layer: Mapping[str, Mapping[int, float]],
                          title: str = "KL explained by a fitted vector") -> go.Figure:
    """``{prompt set: {layer: fraction of KL explained}}``."""
    fig = go.Figure()
    for name, vals in per_layer.items():
        xs = sorted(vals)
        fig.add_trace(go.Scatter(x=xs, y=[vals[x] for x in xs], mode="lines+markers", name=name))
    fig.update_yaxes(range=[0, 1])
    return paper_layout(fig, title, "layer", "fraction of KL explained")


def lora_rank_curve(ranks: Sequence[int], values: Sequence[Sequence[float]], full_ft: Sequence[float] | None = None,
                    title: str = "Trait transfer vs LoRA rank", y: str = "Δ log P(target) vs base (nats)") -> go.Figure:
    """Mean ± 95 % CI over seeds per rank (log x axis, ticks at the ranks), each seed as a dot;
    full fine-tuning as a dashed line with its CI as a band."""
    from steervec.metrics.evaluate import mean_ci

    stats = [mean_ci(v) for v in values]
    fig = go.Figure(go.Scatter(
        x=list(ranks), y=[s[0] for s in stats], mode="lines+markers", name="LoRA (α = r), mean",
        error_y={"type": "data", "array": [s[2] - s[0] for s in stats],
                 "arrayminus": [s[0] - s[1] for s in stats]}))
    fig.add_trace(go.Scatter(x=[r for r, v in zip(ranks, values, strict=True) for _ in v],
                             y=[x for v in values for x in v], mode="markers", name="one seed",
                             marker={"size": 6, "color": "rgba(90,90,90,0.55)", "symbol": "circle-open"}))
    if full_ft:
        mean, low, high = mean_ci(full_ft)
        fig.add_hrect(y0=low, y1=high, fillcolor=PALETTE[3], opacity=0.12, line_width=0)
        fig.add_hline(y=mean, line={"dash": "dash", "color": PALETTE[3]}, annotation_position="top right",
                      annotation_text=f"full fine-tuning {mean:+.2f} [{low:+.2f}, {high:+.2f}] ({len(full_ft)} seeds)")
    fig.update_xaxes(type="log", tickvals=list(ranks), ticktext=[str(r) for r in ranks])
    return paper_layout(fig, title, "LoRA rank r (log scale)", y)


def recovery_curve(curves: Mapping[str, Mapping[int, Sequence[float]]],
                   title: str = "Recovery of a planted steering vector", y: str = "cos(u, α·v)",
                   thresholds: Sequence[float] = (0.5, 0.9)) -> go.Figure:
    """Mean over seeds against the number of rows ``N`` (log x axis), one line per condition, the
    seeds' range as a band; dotted lines at the ``thresholds``.

    Args:
        curves: ``{condition: {N: [value per seed (and planted direction)]}}``.
    """
    if not curves:
        raise ValueError("no curves to draw")
    fig = go.Figure()
    for i, (name, by_n) in enumerate(curves.items()):
        if not by_n or any(not v for v in by_n.values()):
            raise ValueError(f"condition {name!r} has an N without values")
        colour = PALETTE[i % len(PALETTE)]
        ns = sorted(by_n)
        mean = [sum(by_n[n]) / len(by_n[n]) for n in ns]
        low, high = [min(by_n[n]) for n in ns], [max(by_n[n]) for n in ns]
        if any(len(by_n[n]) > 1 for n in ns):
            fig.add_trace(go.Scatter(x=ns + ns[::-1], y=high + low[::-1], mode="lines", fill="toself",
                                     fillcolor=_rgba(colour, 0.15), line={"width": 0}, hoverinfo="skip",
                                     showlegend=False))
        fig.add_trace(go.Scatter(x=ns, y=mean, mode="lines+markers", line={"color": colour, "width": 2.5},
                                 name=f"{name} (n={len(by_n[ns[0]])})"))
    for t in thresholds:
        fig.add_hline(y=t, line={"color": "#888888", "width": 1, "dash": "dot"})
    ticks = sorted({n for by_n in curves.values() for n in by_n})
    fig.update_xaxes(type="log", tickvals=ticks, ticktext=[str(n) for n in ticks])
    return paper_layout(fig, title, "teacher rows N (log scale)", y)


def _point_groups(points: Mapping[str, Sequence[tuple[float, float]]], shape: str, size: int) -> go.Figure:
    """A figure with one marker trace per group of ``(x, y)`` points, one palette colour each."""
    if not points or any(not p for p in points.values()):
        raise ValueError(f"no points to draw: pass {shape}")
    fig = go.Figure()
    for i, (name, pts) in enumerate(points.items()):
        fig.add_trace(go.Scatter(x=[a for a, _ in pts], y=[b for _, b in pts], mode="markers", name=name,
                                 marker={"color": PALETTE[i % len(PALETTE)], "size": size, "opacity": 0.85}))
    return fig


def trait_vs_recovery(points: Mapping[str, Sequence[tuple[float, float]]],
                      title: str = "Trait carried against direction recovered") -> go.Figure:
    """One marker per student: ``cos(u, α·v)`` (x) against the student's Δlog P(trait) as a fraction of
    its planted teacher's (y), one colour per condition; a dotted line at 1 (the teacher's own change).

    Args:
        points: ``{condition: [(cosine, fraction) per student]}``.
    """
    fig = _point_groups(points, "{condition: [(cosine, fraction), ...]}", size=9)
    fig.add_hline(y=1.0, line={"color": "#888888", "width": 1, "dash": "dot"})
    return paper_layout(fig, title, "cos(u, α·v) (LoRA, other layer: of its shift)",
                        "Δlog P(owl) student / teacher")


def effect_vs_length(points: Mapping[str, Sequence[tuple[float, float]]], line: tuple[float, float] | None = None,
                     title: str = "Trait effect against the trait data's extra list length",
                     y: str = "trait − control Δlog P (nats)") -> go.Figure:
    """One marker per teacher dataset: how many more numbers per row the trait teacher wrote than its
    control (x) against the students' trait − control effect on that dataset (y), one colour per run,
    and the least-squares line ``(intercept, slope)`` over all of them when given.

    Args:
        points: ``{run: [(extra numbers per row, effect) per dataset]}``.
    """
    fig = _point_groups(points, "{run: [(extra length, effect), ...]}", size=10)
    if line is not None:
        xs = [a for pts in points.values() for a, _ in pts]
        lo, hi = min(xs), max(xs)
        fig.add_trace(go.Scatter(x=[lo, hi], y=[line[0] + line[1] * lo, line[0] + line[1] * hi], mode="lines",
                                 name="least squares", line={"color": "#888888", "dash": "dash"}))
    fig.add_hline(y=0.0, line={"color": "#888888", "width": 1, "dash": "dot"})
    return paper_layout(fig, title, "numbers per row, trait data − control data", y)


def gradient_alignment_distributions(groups: Mapping[str, Sequence[float]],
                                     title: str = "Per-row gradient alignment") -> go.Figure:
    """Box + points of per-row cos(dL/dh, v_teacher), one box per optimiser or dataset."""
    fig = go.Figure()
    for name, vals in groups.items():
        fig.add_trace(go.Box(y=list(vals), name=name, boxpoints="outliers", boxmean=True))
    fig.add_hline(y=0, line={"color": "#888888", "width": 1, "dash": "dot"})
    return paper_layout(fig, title, "condition", "cos(dL/dh, v_teacher)")


def cosine_matrix_heatmap(values: Mapping[int, Sequence[Sequence[float]]], rows: Sequence[str], cols: Sequence[str],
                          layer: int | None = None, title: str = "Cross-trait cosine",
                          row_title: str = "trait", col_title: str = "trait") -> go.Figure:
    """A ``rows × cols`` cosine heatmap (cells annotated) with a slider over layers.

    Args:
        values: ``{layer: [[cosine]]}`` (``values[layer][row_index][col_index]``), e.g.
            ``CosineMatrix.to_dict()["values"]`` with int keys.
        layer: the layer shown first (default: the last).
    """
    layers = sorted(values)
    if not layers:
        raise ValueError("no layers to draw: pass {layer: [[cosine]]}")
    for x in layers:
        if len(values[x]) != len(rows) or any(len(r) != len(cols) for r in values[x]):
            raise ValueError(f"layer {x}: expected a {len(rows)} x {len(cols)} matrix")
    shown = layers[-1] if layer is None else layer
    if shown not in values:
        raise ValueError(f"no layer {shown} to show first: the matrix has layers {layers}")
    fig = go.Figure([go.Heatmap(x=list(cols), y=list(rows), z=[list(r) for r in values[x]], zmin=-1, zmax=1, zmid=0,
                                colorscale="RdBu", texttemplate="%{z:.2f}", visible=x == shown, name=f"layer {x}",
                                colorbar={"title": {"text": "cosine", "side": "right"}}) for x in layers])
    steps = [{"method": "update", "label": str(x), "args": [{"visible": [y == x for y in layers]}]} for x in layers]
    fig = paper_layout(fig, title, col_title, row_title, width=640, height=560)
    fig.update_layout(sliders=[{"active": layers.index(shown), "currentvalue": {"prefix": "layer "},
                                "pad": {"t": 50}, "steps": steps}])
    fig.update_yaxes(type="category", autorange="reversed", showgrid=False)
    fig.update_xaxes(type="category", showgrid=False)
    return fig


def divergence_html(tokens: Sequence[str], mask: Sequence[bool], title: str = "") -> str:
    """Tokens of one completion as HTML, divergence tokens highlighted."""
    if len(tokens) != len(mask):
        raise ValueError(f"{len(tokens)} tokens but {len(mask)} mask entries")
    spans = [f'<span style="background:{_rgba(PALETTE[1], 0.55)};border-radius:3px">{html.escape(t)}</span>'
             if m else html.escape(t) for t, m in zip(tokens, mask, strict=True)]
    head = f"<div><b>{html.escape(title)}</b></div>" if title else ""
    return f'{head}<div style="font-family:monospace;white-space:pre-wrap">{"".join(spans)}</div>'


def find_chrome() -> str | None:
    """A Chrome/Chromium for kaleido: ``$BROWSER_PATH`` or one on PATH."""
    env = os.environ.get("BROWSER_PATH")
    if env and Path(env).exists():
        return env
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def save_figure(fig: go.Figure, path: str | os.PathLike[str]) -> Path:
    """Write ``fig`` as HTML, PNG, SVG or PDF, chosen by the extension, atomically.

    Static formats use kaleido, which drives a headless Chrome/Chromium; on Debian
    ``apt-get install chromium`` provides one (``make`` installs it when missing).
    """
    path = Path(path)
    ext = path.suffix.lower().lstrip(".")
    if ext not in FORMATS:
        raise ValueError(f"unknown figure extension {path.suffix!r}: use one of {['.' + f for f in FORMATS]}")
    if ext == "html":
        with atomic_path(path) as tmp:
            fig.write_html(str(tmp), include_plotlyjs="cdn")
        return path
    chrome = find_chrome()
    if chrome is None:
        raise RuntimeError(
            "PNG/SVG/PDF export needs Chrome or Chromium for kaleido: run `apt-get install chromium` "
            "(or set BROWSER_PATH), or save as .html"
        )
    os.environ.setdefault("BROWSER_PATH", chrome)
    with atomic_path(path) as tmp:
        tmp.write_bytes(_to_image(fig, ext))
    return path


def _to_image(fig: go.Figure, ext: str, tries: int = 3) -> bytes:
    """``fig.to_image`` retried on kaleido's page-load race: on a loaded machine its headless page can
    run the export before kaleido's own script is defined (``ReferenceError: kaleido_scopes is not
    defined``, seen on 2 cores beside training jobs); a fresh try succeeds."""
    for attempt in range(tries):
        try:
            data: bytes = fig.to_image(format=ext)
            return data
        except Exception as exc:  # kaleido's JavascriptError; other errors are raised at once
            if "is not defined" not in str(exc) or attempt == tries - 1:
                raise
    raise AssertionError("unreachable")


def use_static_figures() -> str:
    """Show plotly figures in Jupyter as PNG images: what GitHub and any plain file viewer render,
    a few tens of KB each, with no plotly.js in the notebook. Needs a Chromium for kaleido
    (:func:`find_chrome`); without one the interactive renderer is kept. Returns the renderer in use.

    Example:
        >>> use_static_figures()  # doctest: +SKIP
        'png'
    """
    import plotly.io as pio

    chrome = find_chrome()
    if chrome is None:
        return str(pio.renderers.default)
    os.environ.setdefault("BROWSER_PATH", chrome)
    pio.renderers.default = "png"
    return "png"


def save_html_and_png(fig: go.Figure, stem: str | os.PathLike[str], png: bool = True) -> list[Path]:
    """``<stem>.html`` always, and ``<stem>.png`` when ``png`` and a Chromium for kaleido is found.

    Analyses use it so that their figures can be copied into ``assets/`` by ``steervec results``.
    """
    stem = Path(stem)
    written = [save_figure(fig, stem.with_name(stem.name + ".html"))]
    if png and find_chrome() is not None:
        written.append(save_figure(fig, stem.with_name(stem.name + ".png")))
    return written

