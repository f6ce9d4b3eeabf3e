"""How much of a teacher vector is about its trait: a generic / specific split and cross-trait cosines.

* :func:`decompose_trait` — per layer, the raw vector (trait prompt minus no system turn)
  as a *generic* part (the matched panel's mean minus no system turn: "some prompt of this
  shape is present") plus a *specific* part (the trait prompt minus the panel's mean).
* :func:`cross_trait_matrix` — cos(v_a, v_b) per layer for a panel of traits, once with
  raw vectors and once with matched ones, from one set of shared condition means.

Example:
    >>> means = ConditionMeans(lm, prompts)  # doctest: +SKIP
    >>> decompose_trait(means, "owl").to_dataframe()  # doctest: +SKIP
    >>> cross_trait_matrix(means, ["owl", "cat", "dog", "dolphin", "eagle", "pirate"]).matrices["matched"]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from steervec.core.errors import ComparisonError
from steervec.core.steering_vector import SteeringVector
from steervec.data.prompts import trait_prompt
from steervec.metrics.cosine_matrix import CosineMatrix, cosine_matrix
from steervec.vectors.baselines import Baseline, ConditionMeans, matched, no_system, trait_vectors


@dataclass(frozen=True)
class TraitDecomposition:
    """A trait vector split into a generic and a trait-specific part, per layer.

    ``generic[L] + specific[L]`` is the raw vector (trait prompt minus ``reference``).

    Attributes:
        trait: the trait's name.
        generic: ``{layer: [d_model]}`` baseline mean minus reference mean.
        specific: ``{layer: [d_model]}`` trait prompt mean minus baseline mean (the matched vector).
        baseline / reference: labels of the two conditions (e.g. ``"matched:24"``, ``"none"``).
    """

    trait: str
    generic: dict[int, Tensor]
    specific: dict[int, Tensor]
    baseline: str
    reference: str

    @property
    def layers(self) -> list[int]:
        return sorted(self.generic)

    @property
    def raw(self) -> dict[int, Tensor]:
        """``{layer: [d_model]}`` the trait prompt mean minus the reference mean."""
        return {x: self.generic[x] + self.specific[x] for x in self.layers}

    def to_dataframe(self) -> Any:
        """One row per layer: norms of the raw, generic and specific parts and their ratios.

        ``specific_share`` = ‖specific‖ / ‖raw‖; ``specific_over_generic`` = ‖specific‖ / ‖generic‖;
        ``cos_raw_generic`` = how much the raw vector points along the generic part.
        """
        import pandas as pd

        recs = []
        for x in self.layers:
            g, s, r = self.generic[x].double(), self.specific[x].double(), self.raw[x].double()
            gn, sn, rn = float(g.norm()), float(s.norm()), float(r.norm())
            recs.append({"trait": self.trait, "layer": x, "raw_norm": rn, "generic_norm": gn, "specific_norm": sn,
                         "specific_share": sn / rn if rn > 0 else float("nan"),
                         "specific_over_generic": sn / gn if gn > 0 else float("nan"),
                         "cos_raw_generic": float(r @ g / (rn * gn)) if rn > 0 and gn > 0 else float("nan")})
        return pd.DataFrame(recs)


def decompose_trait(means: ConditionMeans, trait: str, baseline: Baseline | None = None,
                    reference: Baseline | None = None, system_prompt: str | None = None) -> TraitDecomposition:
    """Split ``trait``'s raw vector into generic and specific parts at every layer of ``means``.

    Args:
        means: shared per-condition means (model, prompts, layers, positions).
        trait: the trait's name (its prompt from :func:`~steervec.data.prompts.trait_prompt`).
        baseline: the panel separating the parts (default :func:`matched` over the animal panel).
        reference: what the raw vector is measured against (default :func:`no_system`).
        system_prompt: the trait's prompt, if not the one ``trait`` names.
    """
    baseline = matched() if baseline is None else baseline
    reference = no_system() if reference is None else reference
    if baseline.kind != "matched":
        raise ComparisonError(f"the generic / specific split needs a matched baseline, got {baseline.label!r}; "
                              "pass matched(panel)")
    prompt = trait_prompt(trait) if system_prompt is None else system_prompt
    own, panel, ref = means(prompt), means.baseline(baseline, prompt), means.baseline(reference, prompt)
    return TraitDecomposition(trait, {x: panel[x] - ref[x] for x in means.layers},
                              {x: own[x] - panel[x] for x in means.layers}, baseline.label, reference.label)


@dataclass(frozen=True)
class TraitMatrices:
    """Trait vectors against several baselines and their cross-trait cosine matrices.

    Attributes:
        vectors: ``{baseline name: {trait: SteeringVector}}``.
        matrices: ``{baseline name: CosineMatrix}`` of cos(v_a, v_b) per layer.
    """

    vectors: dict[str, dict[str, SteeringVector]]
    matrices: dict[str, CosineMatrix]

    def off_diagonal(self, a: str, b: str) -> Any:
        """cos(v_a, v_b) per layer under every baseline: one row per layer, one column per baseline."""
        import pandas as pd

        return pd.DataFrame({name: {x: float(m.values[k, m.rows.index(a), m.cols.index(b)])
                                    for k, x in enumerate(m.layers)} for name, m in self.matrices.items()})

    def to_dataframe(self) -> Any:
        """Long form of every matrix (``label`` = the baseline's name)."""
        import pandas as pd

        return pd.concat([m.to_dataframe() for m in self.matrices.values()], ignore_index=True)


def cross_trait_matrix(means: ConditionMeans, traits: Sequence[str],
                       baselines: Mapping[str, Baseline] | None = None) -> TraitMatrices:
    """cos(v_a, v_b) per layer for every pair of ``traits``, for each baseline.

    Args:
        means: shared per-condition means; every condition is measured once for all traits
            and baselines.
        traits: e.g. ``["owl", "cat", "dog", "dolphin", "eagle", "pirate"]``.
        baselines: ``{name: Baseline}``; default ``{"raw": no_system(), "matched": matched()}``.
    """
    if len(traits) < 2:
        raise ComparisonError(f"a cross-trait matrix needs at least two traits, got {list(traits)}")
    baselines = {"raw": no_system(), "matched": matched()} if baselines is None else dict(baselines)
    vectors = {name: trait_vectors(means, traits, b) for name, b in baselines.items()}
    matrices = {name: cosine_matrix(v, v, label=name) for name, v in vectors.items()}
    return TraitMatrices(vectors, matrices)

