"""analyses/subliminal_transfer.py: which run each command builds, and the errors it gives (nothing trained)."""

from __future__ import annotations

import argparse

import pytest
from subliminal_transfer import LORA, main, transfer_experiment


def _args(**kw):
    base = {"quick": False, "model": None, "out": "runs/full", "seeds": 2, "data_seeds": 5, "trait_panel": True,
            "length_matched": False, "baseline": "none"}
    return argparse.Namespace(**{**base, **kw})


def test_the_default_control_run_shares_the_plain_runs_trait_students_and_names_its_baseline():
    plain = transfer_experiment("cat", _args())
    default = transfer_experiment("cat", _args(baseline="template_default"))
    assert (plain.name, plain.baseline) == ("subliminal_transfer-cat", "none")
    assert (default.name, default.baseline) == ("subliminal_transfer-cat-default_control", "template_default")
    # everything a trait-data student is keyed on is the same, so the run cache hands the plain run's students over
    same = ("students", "data_seeds", "seeds", "n_rows", "max_new_tokens", "animal", "teacher", "n_questions")
    assert all(getattr(plain, k) == getattr(default, k) for k in same) and default.students == (LORA,)


@pytest.mark.parametrize("argv, words", [
    (["--animals", "owl", "--baseline", "template_default"], "prompt_as_vector.py --parts prompted"),
    (["--animals", "cat", "--baseline", "template_default", "--length-matched"], "drop --length-matched"),
])
def test_a_run_that_cannot_be_built_is_refused_before_anything_loads(argv, words, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and words in capsys.readouterr().err
