"""Figures are returned (never shown) and saved offline as HTML, PNG, SVG and PDF."""

from __future__ import annotations

import pytest

from steervec import plots


def _fig():
    return plots.cosine_by_layer({
        "owl teacher": [{0: 0.1, 1: 0.2, 2: 0.15}, {0: 0.12, 1: 0.25, 2: 0.1}],
        "control": [{0: 0.0, 1: 0.05, 2: 0.02}, {0: 0.01, 1: 0.02, 2: 0.0}],
    })


def test_every_figure_builds():
    import plotly.graph_objects as go

    figs = [
        _fig(),
        plots.alignment_heatmap([0, 10], [1, 2], [[0.1, 0.2], [0.0, 0.3]]),
        plots.alignment_over_training({"owl": ([0, 10], [0.0, 0.2]), "control": ([0, 10], [0.0, 0.05])}, 2),
        plots.trait_bars([{"label": "base", "delta_logp": 0.0}, {"label": "student", "delta_logp": 0.3,
                                                                  "delta_logp_low": 0.1, "delta_logp_high": 0.5}]),
        plots.sweep_heatmap([6, 24], [1, 2], [[0.0, 0.1], [0.2, 0.3]], [[True, False], [True, True]], (24, 2)),
        plots.kl_explained_by_layer({"numbers": {3: 0.5, 6: 0.7}}),
        plots.lora_rank_curve([1, 8, 64], [[0.1, 0.2], [0.3, 0.4], [0.0, 0.1]], full_ft=[0.0, 0.05]),
        plots.gradient_alignment_distributions({"adamw": [0.1, 0.2, -0.1], "sgd": [0.0, 0.5]}),
        plots.cosine_matrix_heatmap({3: [[1.0, 0.2], [0.2, 1.0]], 6: [[1.0, -0.1], [-0.1, 1.0]]}, ["owl", "cat"],
                                    ["owl", "cat"]),
        plots.recovery_curve({"kl · numbers": {16: [0.5, 0.6], 64: [0.9, 0.95]}, "ce · numbers": {16: [0.1], 64: [0.3]}}),
    ]
    assert all(isinstance(f, go.Figure) for f in figs)
    cos = figs[0]
    assert len(cos.data) == 4  # a CI band and a line per condition
    assert cos.layout.xaxis.title.text.startswith("layer")
    rank = figs[6]
    assert list(rank.data[1].y) == [0.1, 0.2, 0.3, 0.4, 0.0, 0.1]  # every seed drawn, beside the means
    assert list(rank.layout.xaxis.tickvals) == [1, 8, 64] and "full fine-tuning +0.03" in str(rank.layout.annotations)
    recovery = figs[-1]
    assert len(recovery.data) == 3  # a seed band for the two-seed condition only, and a line each
    assert list(recovery.data[1].y) == pytest.approx([0.55, 0.925]) and recovery.layout.xaxis.type == "log"
    with pytest.raises(ValueError, match="without values"):
        plots.recovery_curve({"empty": {16: []}})


def test_trait_vs_recovery_draws_every_student_of_every_condition():
    fig = plots.trait_vs_recovery({"owl · kl": [(0.93, 1.26), (0.92, 1.2)], "owl · ce": [(0.06, 3.5)]})
    assert [len(t.x) for t in fig.data] == [2, 1] and list(fig.data[0].y) == [1.26, 1.2]
    assert fig.layout.yaxis.title.text.startswith("Δlog P(owl)")
    with pytest.raises(ValueError, match="no points"):
        plots.trait_vs_recovery({"empty": []})


def test_effect_vs_length_draws_each_run_and_the_fitted_line():
    fig = plots.effect_vs_length({"owl": [(0.3, 0.85), (0.8, 0.80)], "steered": [(2.3, 0.40)]}, line=(1.0, -0.5))
    assert [len(t.x) for t in fig.data] == [2, 1, 2]
    assert list(fig.data[2].x) == [0.3, 2.3] and list(fig.data[2].y) == pytest.approx([0.85, -0.15])  # over the x range
    with pytest.raises(ValueError, match="no points"):
        plots.effect_vs_length({"owl": []})


def test_cosine_matrix_heatmap_slider_shows_one_layer_at_a_time():
    values = {3: [[1.0, 0.2, 0.1]], 6: [[0.9, -0.1, 0.4]], 25: [[0.5, 0.3, 0.0]]}
    fig = plots.cosine_matrix_heatmap(values, ["owl shift"], ["owl", "cat", "pirate"], layer=6)
    assert [t.visible for t in fig.data] == [False, True, False]
    assert list(fig.data[1].z[0]) == [0.9, -0.1, 0.4]
    slider = fig.layout.sliders[0]
    assert slider.active == 1 and [st.label for st in slider.steps] == ["3", "6", "25"]
    assert list(slider.steps[2].args[0]["visible"]) == [False, False, True]
    with pytest.raises(ValueError, match="1 x 3"):
        plots.cosine_matrix_heatmap({3: [[1.0, 0.2]]}, ["owl shift"], ["owl", "cat", "pirate"])
    with pytest.raises(ValueError, match="no layer 9"):
        plots.cosine_matrix_heatmap(values, ["owl shift"], ["owl", "cat", "pirate"], layer=9)


def test_divergence_html_highlights_only_marked_tokens():
    out = plots.divergence_html(["1", "<", "2"], [False, True, False])
    assert out.count("<span") == 1 and "&lt;" in out
    with pytest.raises(ValueError, match="mask"):
        plots.divergence_html(["1"], [True, False])


def test_save_html_and_unknown_extension(tmp_path):
    path = plots.save_figure(_fig(), tmp_path / "f.html")
    assert "<html>" in path.read_text() and "plotly" in path.read_text()
    with pytest.raises(ValueError, match="unknown figure extension"):
        plots.save_figure(_fig(), tmp_path / "f.bmp")


def test_missing_chrome_is_explained(tmp_path, monkeypatch):
    monkeypatch.setattr(plots, "find_chrome", lambda: None)
    with pytest.raises(RuntimeError, match="apt-get install chromium"):
        plots.save_figure(_fig(), tmp_path / "f.png")
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(plots.find_chrome() is None, reason="no Chrome/Chromium (make installs Debian's chromium)")
@pytest.mark.parametrize("ext", ["png", "svg", "pdf"])
def test_static_export(tmp_path, ext):
    path = plots.save_figure(_fig(), tmp_path / f"f.{ext}")
    head = path.read_bytes()[:8]
    assert {"png": b"\x89PNG", "svg": b"<svg", "pdf": b"%PDF"}[ext] in head or ext == "svg"
    assert path.stat().st_size > 1000


def test_static_export_retries_kaleidos_page_load_race_only():
    import plotly.graph_objects as go

    from steervec.plots import _to_image

    fig, calls = go.Figure(), []

    def flaky(format):  # noqa: A002 - plotly's keyword
        calls.append(format)
        if len(calls) == 1:
            raise RuntimeError("ReferenceError: kaleido_scopes is not defined")
        return b"PNG"

    fig.to_image = flaky
    assert _to_image(fig, "png") == b"PNG" and calls == ["png", "png"]
    fig.to_image = lambda format: (_ for _ in ()).throw(ValueError("bad figure"))
    with pytest.raises(ValueError, match="bad figure"):
        _to_image(fig, "png")
