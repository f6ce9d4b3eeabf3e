"""The random-mask control: per row as many tokens as the given mask, at seeded random positions."""

from __future__ import annotations

import torch
from _rows import generated_rows
from conftest import PLAIN_TEMPLATE, make_tiny

from steervec.data.divergence import divergence_masks
from steervec.data.mask_controls import mask_share, random_masks_like
from steervec.data.teachers import Teacher
from steervec.students.methods import VectorStudent
from steervec.students.train import train_student

MASKS = [torch.tensor([True, False, False, False, True, False, False, False]), torch.tensor([False] * 5),
         torch.tensor([True, True, False]), torch.tensor([], dtype=torch.bool), [False, True, False, False]]


def test_random_masks_keep_each_rows_count_and_the_share():
    out = random_masks_like(MASKS, seed=0)
    assert [m.numel() for m in out] == [8, 5, 3, 0, 4]
    assert [int(m.sum()) for m in out] == [2, 0, 2, 0, 1]
    assert mask_share(out) == mask_share(MASKS) == 5 / 20
    assert all(m.dtype == torch.bool for m in out)


def test_random_masks_are_seeded_and_not_the_given_masks():
    a = random_masks_like(MASKS, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a, random_masks_like(MASKS, seed=3), strict=True))
    draws = [random_masks_like(MASKS, seed=s)[0] for s in range(20)]
    assert len({tuple(d.tolist()) for d in draws}) > 5  # positions move with the seed ...
    hits = torch.stack(draws).float().mean(0)
    assert (hits > 0).sum() >= 6  # ... over the whole row, not only where the given mask was


def test_a_random_mask_student_trains_beside_the_divergence_one():
    lm = make_tiny("qwen2", PLAIN_TEMPLATE, seed=2)
    vec_t = torch.randn(lm.d_model, generator=torch.Generator().manual_seed(1)) * 1.5
    from steervec.core.steering_vector import SteeringVector

    vec = SteeringVector({1: vec_t}, lm.fingerprint)
    rows = generated_rows(lm, 8, vector=vec, greedy=True, max_new_tokens=10)
    div = divergence_masks(lm, rows, Teacher("steered", system=None, steering=vec), [Teacher("none", system=None)],
                           progress=False)
    control = random_masks_like(div.masks, seed=0)
    assert mask_share(control) == div.share and 0 < div.share < 1
    assert not all(torch.equal(c, m) for c, m in zip(control, div.masks, strict=True))
    kw = dict(method=VectorStudent(layers=[1]), lr=1e-2, epochs=1, batch_size=8, progress=False)
    s_div = train_student(lm, rows, loss_masks=div.masks, **kw)
    s_rand = train_student(lm, rows, loss_masks=control, **kw)
    assert s_div.history[0]["tokens"] == s_rand.history[0]["tokens"] == sum(int(m.sum()) for m in div.masks)
    assert s_div.info["args"]["masks_sha"] != s_rand.info["args"]["masks_sha"]
