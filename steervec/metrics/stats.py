"""Seed-level statistics for verdicts: t intervals, a hierarchical bootstrap, power, TOST, one verdict rule.

The unit of replication is the **seed** (one teacher dataset + one student training run):
questions within a seed share that seed's noise, so a CI across questions says nothing about
whether another seed would give the same sign. Everything here therefore works on one value
per seed (for instance a student's mean trait − control difference over the questions):

* :func:`t_interval`: mean and Student-t interval with ``n − 1`` degrees of freedom;
* :func:`hierarchical_bootstrap`: resample seeds, then questions within each resampled seed;
* :func:`t_test_power`, :func:`min_detectable_effect`, :func:`seeds_needed`: power of the
  two-sided one-sample t-test on seed values (exact, through the non-central t);
* :func:`equivalence`: two one-sided tests (TOST) against ``±margin``;
* :func:`verdict`: the one rule that turns seed values into "yes" / "no" / "inconclusive" /
  "no verdict", with the power figures that say how many seeds would settle it.

Example:
    >>> t_interval([0.9, 1.1, 1.3]).low > 0
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, cast

import numpy as np

from steervec.core.errors import StatisticsInputError
from steervec.metrics.t_distribution import noncentral_t_sf, t_cdf, t_quantile

POWER = 0.8
"""Target power of every sample-size figure."""
ALPHA = 0.05
"""Two-sided significance level of every test (TOST: each one-sided test at this level)."""
MAX_SEEDS = 100_000
"""Sample-size searches stop here and answer ``None`` (effect too small to chase)."""


class Interval(NamedTuple):
    """A point estimate and its interval (a plain 3-tuple for tables and JSON)."""

    mean: float
    low: float
    high: float


def as_values(values: Sequence[float] | np.ndarray, what: str = "values", at_least: int = 1) -> np.ndarray:
    """``values`` as a finite 1-D float64 array of at least ``at_least`` entries, or a clear error."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise StatisticsInputError(f"{what} must be a flat list of numbers, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise StatisticsInputError(f"{what} contain NaN or infinity: drop or fix those entries first")
    if x.size < at_least:
        raise StatisticsInputError(f"{what}: {x.size} given, at least {at_least} needed"
                                   + (" (one value has no interval: add seeds)" if at_least == 2 else ""))
    return x


def t_half_width(sd: float, n: int, level: float = 0.95) -> float:
    """Half-width ``t_{(1+level)/2, n−1} · sd / √n`` of a Student-t interval (``n ≥ 2``)."""
    if not 0.0 < level < 1.0:
        raise StatisticsInputError(f"level must lie in (0, 1), got {level}")
    if n < 2:
        raise StatisticsInputError("one value has no interval: pass at least two values (seeds)")
    return t_quantile((1.0 + level) / 2.0, n - 1) * sd / math.sqrt(n)


def t_interval(values: Sequence[float] | np.ndarray, level: float = 0.95) -> Interval:
    """Mean and Student-t interval with ``n − 1`` degrees of freedom.

    One value has no interval and raises :class:`~steervec.core.errors.StatisticsInputError`
    (never a normal-approximation fallback).

    Example:
        >>> round(t_interval([0.0, 1.0, 2.0]).high, 3)  # 1 + 4.303 · 1 / √3
        3.484
    """
    x = as_values(values, at_least=2)
    mean = float(x.mean())
    half = t_half_width(float(x.std(ddof=1)), x.size, level)
    return Interval(mean, mean - half, mean + half)


def hierarchical_bootstrap(per_seed_per_question: Sequence[Sequence[float] | np.ndarray], n_boot: int = 2000,
                           seed: int = 0, level: float = 0.95) -> Interval:
    """Percentile interval of the mean of seed means, resampling seeds, then questions within each seed.

    Args:
        per_seed_per_question: one 1-D array per seed, e.g. the per-question paired
            differences trait − control of that seed's students (lengths may differ).
        n_boot: bootstrap replicates.
        seed: seed of the resampling (the result is a deterministic function of it).
        level: coverage of the percentile interval.

    Returns:
        ``(mean of seed means, low, high)``.

    With few seeds the seed level has few distinct resamples (3 seeds: 10), so the interval is
    too narrow; :func:`verdict` therefore uses the t interval on seed means.
    """
    seeds = [as_values(v, f"seed {i}'s per-question values") for i, v in enumerate(per_seed_per_question)]
    if len(seeds) < 2:
        raise StatisticsInputError("the bootstrap needs at least two seeds: one seed cannot show seed-to-seed spread")
    if n_boot < 1 or not 0.0 < level < 1.0:
        raise StatisticsInputError(f"need n_boot ≥ 1 and 0 < level < 1, got n_boot={n_boot}, level={level}")
    rng = np.random.default_rng(seed)
    picked = rng.integers(0, len(seeds), size=(n_boot, len(seeds)))  # [n_boot, n_seeds] resampled seeds
    slot_means = np.empty((n_boot, len(seeds)))
    for slot in range(len(seeds)):
        for k, values in enumerate(seeds):
            rows = np.flatnonzero(picked[:, slot] == k)
            draws = rng.integers(0, values.size, size=(rows.size, values.size))
            slot_means[rows, slot] = values[draws].mean(axis=1)
    boot = slot_means.mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(boot, [tail, 1.0 - tail])
    return Interval(float(np.mean([v.mean() for v in seeds])), float(low), float(high))


def t_test_power(effect_size: float, n: int, alpha: float = ALPHA) -> float:
    """Power of the two-sided one-sample t-test with ``n`` values for a standardised effect ``d = μ / σ``.

    Exact: ``P(T > c) + P(T < −c)`` with ``T`` non-central t (``n − 1`` df, non-centrality
    ``d·√n``) and ``c = t_{1−α/2, n−1}``. Example: ``d = 1``, ``n = 10`` → 0.803.
    """
    if n < 2:
        raise StatisticsInputError("a t-test needs at least two values")
    df, shift = n - 1, effect_size * math.sqrt(n)
    crit = t_quantile(1.0 - alpha / 2.0, df)
    return noncentral_t_sf(crit, df, shift) + noncentral_t_sf(crit, df, -shift)


def min_detectable_effect(n: int, sd: float, power: float = POWER, alpha: float = ALPHA) -> float:
    """Smallest true mean the two-sided one-sample t-test on ``n`` seeds detects with ``power``,
    given the seed standard deviation ``sd`` (same units as the values)."""
    if n < 2:
        raise StatisticsInputError("a minimum detectable effect needs at least two seeds")
    if sd < 0 or not math.isfinite(sd):
        raise StatisticsInputError(f"sd must be a finite non-negative number, got {sd}")
    low, high = 0.0, 1.0
    while t_test_power(high, n, alpha) < power:
        high *= 2.0
    for _ in range(100):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if t_test_power(mid, n, alpha) < power else (low, mid)
        if high - low < 1e-9:
            break
    return high * sd


def _smallest_n(reaches: Callable[[int], bool], start: int = 2) -> int | None:
    """Smallest ``n ≥ start`` with ``reaches(n)`` true (monotone in ``n``), or ``None`` past :data:`MAX_SEEDS`."""
    high = start
    while not reaches(high):
        if high >= MAX_SEEDS:
            return None
        high = min(2 * high, MAX_SEEDS)
    low = max(start, high // 2)
    if reaches(low):
        return low
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if reaches(mid) else (mid, high)
    return high


def seeds_needed(effect: float, sd: float, power: float = POWER, alpha: float = ALPHA) -> int | None:
    """Seeds the two-sided one-sample t-test needs to detect a true mean ``effect`` with ``power``
    when seeds scatter with standard deviation ``sd``; ``None`` when no effect was seen
    (``effect == 0``) or more than :data:`MAX_SEEDS` would be needed.

    Example: ``effect = sd`` (``d = 1``) needs 10 seeds, as the printed tables say.
    """
    if sd < 0 or not (math.isfinite(sd) and math.isfinite(effect)):
        raise StatisticsInputError(f"effect and sd must be finite (sd ≥ 0), got effect={effect}, sd={sd}")
    if effect == 0:
        return None
    if sd == 0:
        return 2
    d = abs(effect) / sd
    return _smallest_n(lambda n: t_test_power(d, n, alpha) >= power)


@dataclass(frozen=True)
class Equivalence:
    """Result of two one-sided tests (TOST) of ``|mean| < margin``.

    Attributes:
        equivalent: both one-sided tests reject at ``alpha`` (the ``1 − 2α`` interval lies inside ``±margin``).
        p_value: the larger of the two one-sided p-values.
        interval: the ``1 − 2α`` (90 %) t interval the decision reads.
        margin: the equivalence margin (same units as the values).
    """

    equivalent: bool
    p_value: float
    interval: Interval
    margin: float


def equivalence(values: Sequence[float] | np.ndarray, margin: float, alpha: float = ALPHA) -> Equivalence:
    """TOST at level ``alpha`` on seed-level ``values`` against the margin ``±margin``.

    Example:
        >>> equivalence([0.01, -0.02, 0.0, 0.02], margin=0.2).equivalent
        True
    """
    if not (margin > 0 and math.isfinite(margin)):
        raise StatisticsInputError(f"the equivalence margin must be a positive number, got {margin}")
    x = as_values(values, at_least=2)
    mean, sd, n = float(x.mean()), float(x.std(ddof=1)), x.size
    half = t_half_width(sd, n, 1.0 - 2.0 * alpha)
    interval = Interval(mean, mean - half, mean + half)
    if sd == 0:
        return Equivalence(abs(mean) < margin, 0.0 if abs(mean) < margin else 1.0, interval, margin)
    se = sd / math.sqrt(n)
    p_lower = 1.0 - t_cdf((mean + margin) / se, n - 1)  # H0: mean ≤ −margin
    p_upper = t_cdf((mean - margin) / se, n - 1)  # H0: mean ≥ +margin
    p = max(p_lower, p_upper)
    return Equivalence(p < alpha, p, interval, margin)


def equivalence_power(mean: float, sd: float, n: int, margin: float, alpha: float = ALPHA) -> float:
    """Lower bound on the power of TOST with ``n`` seeds when the true mean is ``mean``.

    ``P(A ∩ B) ≥ P(A) + P(B) − 1`` for the two one-sided rejections ``A``, ``B``, each an
    exact non-central t probability; the bound is tight once either test alone is near-certain.
    """
    if n < 2:
        raise StatisticsInputError("TOST needs at least two seeds")
    df, crit = n - 1, t_quantile(1.0 - alpha, n - 1)
    scale = math.sqrt(n) / sd
    reject_lower = noncentral_t_sf(crit, df, (mean + margin) * scale)
    reject_upper = noncentral_t_sf(crit, df, -(mean - margin) * scale)
    return max(0.0, reject_lower + reject_upper - 1.0)


def seeds_for_equivalence(mean: float, sd: float, margin: float, power: float = POWER,
                          alpha: float = ALPHA) -> int | None:
    """Seeds TOST needs to show ``|mean| < margin`` with ``power`` (by :func:`equivalence_power`)
    if the true mean is the observed ``mean``; ``None`` when ``|mean| ≥ margin`` (no number of
    seeds shows equivalence then) or more than :data:`MAX_SEEDS` would be needed."""
    if abs(mean) >= margin:
        return None
    if sd == 0:
        return 2
    return _smallest_n(lambda n: equivalence_power(mean, sd, n, margin, alpha) >= power)


Direction = Literal["positive", "negative", "none"]
"""What a claim predicts for the seed values: above zero, below zero, or no effect."""
Word = Literal["yes", "no", "inconclusive", "no verdict"]


@dataclass(frozen=True)
class Verdict:
    """The verdict on one claim from its seed-level values.

    Attributes:
        word: ``"yes"``, ``"no"``, ``"inconclusive"`` or ``"no verdict"`` (too few seeds).
        interval: the seed-level 95 % t interval (``None`` with one seed).
        method: how the interval and the decision were made, in words.
        n_seeds: seeds the verdict rests on.
        mde: smallest true effect these seeds detect at 80 % power (``None`` below two seeds).
        seeds_needed: seeds that would settle an inconclusive claim at 80 % power if the
            observed mean is the truth (``None``: not applicable, or out of reach).
        reason: one line a reader can check against the numbers.
    """

    word: Word
    interval: Interval | None
    method: str
    n_seeds: int
    mde: float | None
    seeds_needed: int | None
    reason: str

    def __str__(self) -> str:
        return f"{self.word}: {self.reason}"

    def to_dict(self) -> dict[str, object]:
        return {"word": self.word, "interval": None if self.interval is None else list(self.interval),
                "method": self.method, "n_seeds": self.n_seeds, "mde": self.mde,
                "seeds_needed": self.seeds_needed, "reason": self.reason}


def seed_values(per_seed: Sequence[float] | Sequence[Sequence[float] | np.ndarray]) -> np.ndarray:
    """One value per seed: the values themselves, or each seed's mean over its questions."""
    if all(np.ndim(v) == 0 for v in per_seed):
        return as_values(per_seed, "seed values")  # type: ignore[arg-type]
    rows = cast("Sequence[Sequence[float] | np.ndarray]", per_seed)  # not all scalars: one list per seed
    return np.array([float(as_values(v, f"seed {i}'s per-question values").mean()) for i, v in enumerate(rows)])


def _fmt(x: float) -> str:
    return f"{x:+.3g}"


def _directional(x: np.ndarray, iv: Interval, sign: int, margin: float | None) -> tuple[Word, int | None, str]:
    """Word, seeds needed and reason for a claim that the effect has sign ``sign`` (±1)."""
    ci = f"seed CI [{_fmt(iv.low)}, {_fmt(iv.high)}]"
    low, high = sorted((sign * iv.low, sign * iv.high))
    if low > 0 and (margin is None or high >= margin):
        return "yes", None, f"{ci} excludes 0 in the claimed direction"
    if high < 0:
        return "no", None, f"{ci} excludes 0 in the opposite direction"
    if margin is not None and high < margin:
        return "no", None, f"{ci} excludes the predicted effect of {_fmt(sign * margin)}"
    n = seeds_needed(float(iv.mean), float(x.std(ddof=1)))
    side = "the claimed" if sign * iv.mean > 0 else "the opposite"
    need = f"needs {n} seeds" if n is not None else "no number of seeds would settle it"
    return "inconclusive", n, f"{ci} includes 0 (mean in {side} direction); {need} at 80 % power"


def _null(x: np.ndarray, iv: Interval, margin: float) -> tuple[Word, int | None, str]:
    """Word, seeds needed and reason for a claim of no effect beyond ``±margin``."""
    ci = f"seed CI [{_fmt(iv.low)}, {_fmt(iv.high)}]"
    tost = equivalence(x, margin)
    if iv.low > 0 or iv.high < 0:
        return "no", None, f"{ci} excludes 0"
    if tost.equivalent:
        return "yes", None, f"TOST: 90 % CI [{_fmt(tost.interval.low)}, {_fmt(tost.interval.high)}] within ±{margin:.3g}"
    n = seeds_for_equivalence(float(iv.mean), float(x.std(ddof=1)), margin)
    need = f"needs {n} seeds" if n is not None else f"the mean lies outside ±{margin:.3g}, more seeds would not show equivalence"
    return "inconclusive", n, f"{ci} includes 0 but TOST does not show |effect| < {margin:.3g} (p={tost.p_value:.2g}); {need}"


def verdict(per_seed: Sequence[float] | Sequence[Sequence[float] | np.ndarray], direction: Direction,
            margin: float | None = None, min_seeds: int = 3) -> Verdict:
    """The verdict rule for a claim, from one value per seed.

    Args:
        per_seed: one value per seed (e.g. trait − control Δlog P), or one array of
            per-question values per seed (each is reduced to its mean).
        direction: ``"positive"`` / ``"negative"``: the claim predicts an effect of that sign;
            ``"none"``: the claim predicts no effect.
        margin: for a directional claim, the smallest effect it predicts (optional: a seed CI
            entirely below it is "no"); for ``"none"``, the equivalence margin (required).
        min_seeds: fewer seeds than this give "no verdict".

    Rules (the seed-level 95 % t interval, ``n − 1`` df):

    * directional: "yes" when the CI excludes 0 in the claimed direction (and does not lie
      below ``margin``); "no" when it excludes 0 the other way or lies below ``margin``;
    * no effect: "no" when the CI excludes 0; "yes" when TOST at 95 % shows ``|effect| < margin``;
    * otherwise "inconclusive", with the seeds 80 % power would need if the observed mean were true.

    Example:
        >>> verdict([0.8, 1.1, 0.9], "positive").word
        'yes'
        >>> verdict([0.3, -0.4, 0.2], "none", margin=0.1).word
        'inconclusive'
    """
    if direction not in ("positive", "negative", "none"):
        raise StatisticsInputError(f"unknown direction {direction!r}: use 'positive', 'negative' or 'none'")
    if direction == "none" and (margin is None or not margin > 0):
        raise StatisticsInputError("a claim of no effect needs margin= the smallest effect that would matter (> 0)")
    if margin is not None and not (margin >= 0 and math.isfinite(margin)):
        raise StatisticsInputError(f"margin must be a finite non-negative number, got {margin}")
    if min_seeds < 2:
        raise StatisticsInputError(f"min_seeds must be at least 2 (one seed has no interval), got {min_seeds}")
    x = seed_values(per_seed)
    n = x.size
    method = f"t interval over {n} seed means (df {n - 1})" + (", TOST at 95 %" if direction == "none" else "")
    iv = t_interval(x) if n >= 2 else None
    mde = min_detectable_effect(n, float(x.std(ddof=1))) if n >= 2 else None
    if n < min_seeds:
        return Verdict("no verdict", iv, method, n, mde, None, f"{n} seed(s); a verdict needs at least {min_seeds}")
    assert iv is not None
    if direction == "none":
        word, needed, reason = _null(x, iv, float(margin))  # type: ignore[arg-type]
    else:
        word, needed, reason = _directional(x, iv, 1 if direction == "positive" else -1, margin)
    return Verdict(word, iv, method, n, mde, needed, reason)
