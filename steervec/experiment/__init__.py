"""The subliminal-learning experiment as data (config), its run, its shared cache, its report and
the run records that RESULTS.md is built from.
"""

from steervec.experiment.config import Experiment, StudentSpec
from steervec.experiment.records import Claim, archive_runs, write_results
from steervec.experiment.report import refresh_run
from steervec.experiment.result import ExperimentResult
from steervec.experiment.run import run_experiment

__all__ = [
    "Claim",
    "Experiment",
    "ExperimentResult",
    "StudentSpec",
    "archive_runs",
    "refresh_run",
    "run_experiment",
    "write_results",
]
