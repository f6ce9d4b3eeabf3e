"""FitReport: how well a fitted steering vector stands in for a system prompt.

Two questions, answered side by side, because one does not imply the other (a vector
fitted on number data can explain most of the KL yet leave the trait untouched):

* **KL explained** — ``1 - KL_after / KL_before``, where ``KL`` is the mean per-token
  ``KL(teacher || student)`` over the fitted positions, ``before`` is the unsteered control
  model and ``after`` the control model plus the fitted vector. 1 means the vector
  reproduces the prompted teacher there, 0 means it does nothing; on held-out prompts it
  can be negative (the vector made the held-out positions worse).
* **Trait recovered** — on trait questions, the steered control model's mean
  ``log P(answer starts with target)`` (:func:`~steervec.metrics.trait.trait_logprob`) placed
  between the base (0) and the prompted teacher (1).

Both are reported on what the fit saw and on what it did not, each labelled: KL on the training
prompts (``*_train``) and on held-out prompts (``*_heldout``); the trait on the trait questions
(``trait_*``, with ``trait_questions_in_train`` counting those that were also fitted prompts) and
on held-out questions none of which was fitted (``trait_heldout_*``, ``trait_recovered_heldout``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from steervec.core.reprs import html_table, shorten


@dataclass
class TraitRecovery:
    """Trait metric of base, prompted teacher and steered student on the same questions.

    Attributes:
        target: the target word(s).
        n_questions: how many questions were scored.
        questions_in_train: how many of them were also fitting prompts (0 = held out).
        p_base / p_teacher / p_steered: mean P(answer starts with target).
        logp_base / logp_teacher / logp_steered: mean log P over questions.
    """

    target: tuple[str, ...]
    n_questions: int
    questions_in_train: int
    p_base: float
    p_teacher: float
    p_steered: float
    logp_base: float
    logp_teacher: float
    logp_steered: float

    @property
    def recovered(self) -> float:
        """``(logp_steered - logp_base) / (logp_teacher - logp_base)``.

        NaN when the teacher moves the mean log P by less than 0.01 nat: then the prompt
        carries no measurable trait and a ratio would only amplify noise.
        """
        gap = self.logp_teacher - self.logp_base
        if abs(gap) < 0.01:
            return float("nan")
        return (self.logp_steered - self.logp_base) / gap


def _explained(before: float | None, after: float | None) -> float | None:
    if before is None or after is None:
        return None
    if before <= 0:
        return float("nan")
    return 1.0 - after / before


@dataclass
class FitReport:
    """Quality, cost and settings of one :func:`~steervec.vectors.fit.fit_steering_vector` run.

    Attributes:
        layers: the layers fitted.
        system_prompt / control: the teacher's system prompt and the student's condition.
        n_train / n_heldout: prompts; ``*_positions``: scored token positions.
        kl_before_* / kl_after_*: mean per-token KL(teacher || student) without / with the vector.
        kl_init_train: KL at the initial vector (differs from before for ``init="mean_diff"``).
        trait: trait metric of base, teacher and steered student (``None`` without a target).
        loss_curve: minibatch KL at each step (before that step's update).
        seconds_curve: seconds since the start of optimisation when each loss was computed.
        wall_seconds: total time of the call; setup_seconds: of it, caching and teacher pass.
        nan_step: step at which the loss became NaN/inf (the best vector so far is kept).
        suffix_error: max |logit| difference of the cached-layer forward vs a full forward.
        vector_norms: ``{layer: norm}`` of the fitted vector.
        settings: every knob of the run.
        trait_heldout: trait metric on held-out questions (none of them a fitted prompt), or ``None``.
        heldout_in_train: held-out prompts that are also training prompts (0 for a clean split).
    """

    layers: list[int]
    system_prompt: str
    control: str
    n_train: int
    n_heldout: int
    train_positions: int
    heldout_positions: int
    kl_before_train: float
    kl_init_train: float
    kl_after_train: float
    kl_before_heldout: float | None = None
    kl_after_heldout: float | None = None
    trait: TraitRecovery | None = None
    loss_curve: list[float] = field(default_factory=list)
    seconds_curve: list[float] = field(default_factory=list)
    wall_seconds: float = 0.0
    setup_seconds: float = 0.0
    nan_step: int | None = None
    suffix_error: float | None = None
    vector_norms: dict[int, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    trait_heldout: TraitRecovery | None = None
    heldout_in_train: int = 0

    @property
    def kl_explained_train(self) -> float:
        value = _explained(self.kl_before_train, self.kl_after_train)
        return float("nan") if value is None else value

    @property
    def kl_explained_heldout(self) -> float | None:
        return _explained(self.kl_before_heldout, self.kl_after_heldout)

    @property
    def trait_recovered(self) -> float | None:
        """On the trait questions as given (``trait.questions_in_train`` of them were fitted prompts)."""
        return None if self.trait is None else self.trait.recovered

    @property
    def trait_recovered_heldout(self) -> float | None:
        """On held-out questions, none of which was a fitted prompt."""
        return None if self.trait_heldout is None else self.trait_heldout.recovered

    def seconds_to_fraction(self, fraction: float = 0.9) -> float | None:
        """Seconds until the loss first covered ``fraction`` of its total drop.

        The drop is ``loss_curve[0] - loss_curve[-1]``; exact with full-batch steps
        (``batch_size >= n_train``), noisy with minibatches. ``None`` if it never dropped.
        """
        if len(self.loss_curve) < 2:
            return None
        start, final = self.loss_curve[0], self.loss_curve[-1]
        if not final < start:
            return None
        goal = start - fraction * (start - final)
        for loss, seconds in zip(self.loss_curve, self.seconds_curve, strict=True):
            if loss <= goal:
                return seconds
        return None

    def summary(self) -> dict[str, Any]:
        """One flat row: the numbers a table of many fits needs."""
        row: dict[str, Any] = {
            "layers": ",".join(map(str, self.layers)),
            "n_train": self.n_train,
            "n_heldout": self.n_heldout,
            "kl_before_train": self.kl_before_train,
            "kl_after_train": self.kl_after_train,
            "kl_explained_train": self.kl_explained_train,
            "kl_before_heldout": self.kl_before_heldout,
            "kl_after_heldout": self.kl_after_heldout,
            "kl_explained_heldout": self.kl_explained_heldout,
            "heldout_in_train": self.heldout_in_train,
            "steps_run": len(self.loss_curve),
            "nan_step": self.nan_step,
            "wall_seconds": self.wall_seconds,
            "vector_norm": sum(self.vector_norms.values()),
        }
        if self.trait is not None:
            row.update({f"trait_{k}": v for k, v in asdict(self.trait).items() if k.startswith(("p_", "logp_"))})
            row["trait_questions"] = self.trait.n_questions
            row["trait_questions_in_train"] = self.trait.questions_in_train
            row["trait_recovered"] = self.trait.recovered
        if self.trait_heldout is not None:
            row.update({f"trait_heldout_{k}": v for k, v in asdict(self.trait_heldout).items()
                        if k.startswith(("p_", "logp_"))})
            row["trait_heldout_questions"] = self.trait_heldout.n_questions
            row["trait_recovered_heldout"] = self.trait_heldout.recovered
        return row

    def to_dataframe(self) -> Any:
        """A one-row pandas DataFrame of :meth:`summary`."""
        import pandas as pd

        return pd.DataFrame([self.summary()])

    def curve_dataframe(self) -> Any:
        """The loss curve as a DataFrame: step, seconds, kl."""
        import pandas as pd

        return pd.DataFrame({"step": range(len(self.loss_curve)), "seconds": self.seconds_curve,
                             "kl": self.loss_curve})

    def __str__(self) -> str:
        held = self.kl_explained_heldout
        text = (f"FitReport(layers={self.layers}: KL {self.kl_before_train:.4g} -> "
                f"{self.kl_after_train:.4g} train ({self.kl_explained_train:.1%} explained)")
        if held is not None:
            text += f", {self.kl_before_heldout:.4g} -> {self.kl_after_heldout:.4g} held-out ({held:.1%})"
        if self.trait is not None:
            t = self.trait
            text += (f"; P({'/'.join(t.target)}) base {t.p_base:.2g}, teacher {t.p_teacher:.2g}, "
                     f"steered {t.p_steered:.2g} (recovered {t.recovered:.1%} in log P on {t.n_questions} "
                     f"questions, {t.questions_in_train} of them fitted)")
        if self.trait_heldout is not None:
            text += (f"; held-out questions ({self.trait_heldout.n_questions}): recovered "
                     f"{self.trait_heldout.recovered:.1%}")
        if self.nan_step is not None:
            text += f"; NaN loss at step {self.nan_step}, best vector kept"
        return text + f"; {self.wall_seconds:.1f} s)"

    def _repr_html_(self) -> str:
        return html_table("FitReport", self.summary().items(),
                          caption=f"teacher {shorten(self.system_prompt)!r} vs control {self.control}")
