"""Helpers the analysis scripts share: their command line and their sizes."""

from __future__ import annotations

import argparse
import os
from typing import Any

FULL_DATA_SEEDS = 3
"""Teacher datasets per teacher at full size unless ``--data-seeds`` says otherwise: the verdict rule needs 3."""

FULL_SEEDS = 2
"""Training seeds per teacher dataset at full size unless ``--seeds`` says otherwise."""


def analysis_parser(description: str) -> Any:
    """The arguments every analysis script shares: ``--quick``, ``--out``, ``--model``, ``--seeds``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="CI size: a few rows, one seed")
    parser.add_argument("--out", default="runs", help="runs folder")
    parser.add_argument("--model", default=None, help="any load_model() source (default: embedded)")
    parser.add_argument("--seeds", type=int, default=None,
                        help=f"training seeds per teacher dataset (full size default {FULL_SEEDS}, quick one)")
    parser.add_argument("--data-seeds", type=int, default=None, metavar="K",
                        help=f"teacher datasets per teacher, data seeds 1..K (full size default {FULL_DATA_SEEDS}, "
                             "quick one); a verdict reads one value per data seed and needs 3")
    parser.add_argument("--trait-panel", action="store_true",
                        help="also measure the specific trait measure (log-odds against the animal panel) at quick "
                             "size; full size always measures it")
    parser.add_argument("--reuse-data", metavar="DIR", action=_ReuseData, default=None,
                        help="adopt teacher datasets archived under DIR (e.g. records/full) instead of sampling "
                             "them again, where they match row for row (a fresh machine resuming full runs)")
    parser.add_argument("--executor", choices=("serial", "ray"), default=None, action=_Executor,
                        help="train the students one after another here (serial, default) or as Ray tasks "
                             "(ray: a local Ray, or the cluster at $RAY_ADDRESS); the same records either way")
    return parser


class _ReuseData(argparse.Action):
    """``--reuse-data DIR`` sets ``$STEERVEC_REUSE_DATA``, which every teacher-data step of the script reads."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        from steervec.core.errors import InputError
        from steervec.experiment.cache import REUSE_ENV, archived_copies

        try:
            archived_copies(str(values))  # the library's own check of the folder
        except InputError as exc:
            parser.error(f"--reuse-data: {exc}")
        os.environ[REUSE_ENV] = str(values)
        setattr(namespace, self.dest, values)


class _Executor(argparse.Action):
    """``--executor`` sets ``$STEERVEC_EXECUTOR``, which every ``run_experiment`` of the script reads."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        os.environ["STEERVEC_EXECUTOR"] = str(values)
        setattr(namespace, self.dest, values)


def sizes(quick: bool, seeds: int | None = None, data_seeds: int | None = None,
          trait_panel: bool = False) -> dict[str, Any]:
    """Experiment sizes for ``--quick`` (CI plumbing) and full runs.

    Quick: 8 rows per teacher, one step per student, one data seed and one training seed (40-140 s
    per analysis measured with one thread beside another job). Full: 300 rows per teacher and 50
    questions, :data:`FULL_DATA_SEEDS` data seeds × :data:`FULL_SEEDS` training seeds and the specific
    trait measure unless told otherwise: a LoRA r8 student takes 38 steps of batch 8, ~2.5 min with its
    measurement on 2 cores, a vector student at layer 25 ~1.5 min; 300 rows take ~1 min per teacher.
    Pass ``n_rows`` to :class:`Experiment` for more. ``data_seeds`` (K) gives data seeds 1..K;
    ``trait_panel`` turns on the specific trait measure at quick size.
    """
    k = data_seeds or (1 if quick else FULL_DATA_SEEDS)
    extra: dict[str, Any] = {"data_seeds": tuple(range(1, k + 1))}
    if trait_panel or not quick:
        extra["trait_panel"] = True
    return {**_sizes(quick, seeds), **extra}


def _sizes(quick: bool, seeds: int | None) -> dict[str, Any]:
    if quick:
        return {"size": "quick", "png": False, "n_rows": 8, "n_vector_prompts": 6, "n_questions": 8, "n_align_prompts": 4, "max_new_tokens": 20,
                "seeds": tuple(range(seeds or 1))}
    return {"size": "full", "n_rows": 300, "n_vector_prompts": 64, "n_questions": 50, "n_align_prompts": 32, "max_new_tokens": 40,
            "seeds": tuple(range(seeds or FULL_SEEDS))}


