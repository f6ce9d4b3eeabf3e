"""heldout_loss: the training loss on rows a student did not train on, with the student attached for the call only."""

from __future__ import annotations

import pytest
import torch
from _rows import number_rows
from conftest import INJECTING_TEMPLATE, make_tiny

from steervec.data.datasets import heldout_split
from steervec.students.heldout import heldout_loss
from steervec.students.methods import VectorStudent
from steervec.students.train import train_student


@pytest.fixture(scope="module")
def lm():
    return make_tiny("llama", INJECTING_TEMPLATE, seed=4)


def test_base_loss_is_the_training_loss_of_a_first_step(lm):
    rows = number_rows(8, seed=1)
    # a vector student initialised at zero: its first logged loss is the base model's loss on its first batch
    student = train_student(lm, rows, method=VectorStudent(layers=[1]), lr=1e-2, epochs=1, batch_size=8,
                            progress=False)
    assert heldout_loss(lm, None, rows) == pytest.approx(student.history[0]["loss"], rel=1e-5)
    assert heldout_loss(lm, None, rows, batch_size=3) == pytest.approx(heldout_loss(lm, None, rows), rel=1e-5)


def test_a_trained_student_is_scored_and_detached(lm):
    rows = number_rows(24, seed=2)
    train, held = heldout_split(rows, 0.25, seed=0)
    assert held and not {r.prompt for r in train} & {r.prompt for r in held}
    probe = lm.tokenizer("12, 34", return_tensors="pt")
    before = lm.model(**probe).logits.detach().clone()
    base = heldout_loss(lm, None, held)
    student = train_student(lm, train, method=VectorStudent(layers=[1]), lr=0.1, epochs=3, batch_size=6,
                            progress=False)
    after = heldout_loss(lm, student, held)
    assert after < base  # number lists: what the student learnt carries over to held-out lists
    assert torch.equal(lm.model(**probe).logits, before)  # the student was detached after the call
    assert not lm.model.training
    with pytest.raises(ValueError, match="no held-out rows"):
        heldout_loss(lm, student, [])
