"""Optimiser factory, SignSGD, schedules, clipping and the ablation as a list of configs."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from steervec.core.optim import (
    OPTIMIZERS,
    OptimizerConfig,
    SignSGD,
    clip_gradients,
    lr_factor,
    make_optimizer,
    optimizer_ablation,
)


def _param(values=(1.0, -2.0, 3.0)):
    return nn.Parameter(torch.tensor(values))


def test_unknown_name_lists_known_ones():
    with pytest.raises(ValueError) as err:
        make_optimizer([_param()], "adamax_typo", lr=1e-3)
    for name in OPTIMIZERS:
        assert name in str(err.value)


@pytest.mark.parametrize("lr", [0.0, -1e-3, float("nan"), float("inf")])
def test_bad_lr(lr):
    with pytest.raises(ValueError, match="lr must be"):
        make_optimizer([_param()], "adamw", lr=lr)
    with pytest.raises(ValueError, match="lr must be"):
        OptimizerConfig("adamw", lr=lr)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_named_optimizer_steps_downhill(name):
    p = _param()
    opt = make_optimizer([p], name, lr=0.01)
    before = float((p.detach() ** 2).sum())
    for _ in range(3):
        opt.zero_grad()
        (p**2).sum().backward()
        opt.step()
    assert float((p.detach() ** 2).sum()) < before


def test_sgd_momentum_via_kwarg_and_case_insensitive():
    opt = make_optimizer([_param()], "SGD", lr=0.1, momentum=0.9)
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["momentum"] == 0.9


def test_signsgd_moves_by_sign_times_lr():
    p = _param()
    opt = SignSGD([p], lr=0.5)
    grad = torch.tensor([3.0, -0.001, 0.0])
    p.grad = grad.clone()
    opt.step()
    assert torch.equal(p.detach(), torch.tensor([1.0 - 0.5, -2.0 + 0.5, 3.0]))


def test_torch_class_and_factory_accepted():
    assert isinstance(make_optimizer([_param()], torch.optim.Adagrad, lr=0.1), torch.optim.Adagrad)
    made = make_optimizer([_param()], lambda params, lr: torch.optim.SGD(params, lr=lr * 2), lr=0.1)
    assert made.param_groups[0]["lr"] == pytest.approx(0.2)
    with pytest.raises(TypeError, match="not a torch.optim.Optimizer"):
        make_optimizer([_param()], lambda params, lr: "nope", lr=0.1)


def test_schedules():
    assert lr_factor(50, 100, "constant") == 1.0
    assert lr_factor(0, 100, "linear") == 1.0
    assert lr_factor(50, 100, "linear") == pytest.approx(0.5)
    assert lr_factor(50, 100, "cosine") == pytest.approx(0.5)
    assert lr_factor(99, 100, "cosine") < 0.01
    # warm-up: 10 steps (fraction 0.1 of 100), rising to 1
    ramp = [lr_factor(s, 100, "cosine", warmup=0.1) for s in range(11)]
    assert all(a < b for a, b in zip(ramp[:10], ramp[1:10], strict=False))
    assert ramp[10] == pytest.approx(1.0)
    assert lr_factor(3, 100, "linear", warmup=5) == pytest.approx(4 / 6)
    with pytest.raises(ValueError, match="unknown schedule"):
        lr_factor(0, 10, "exponential")  # type: ignore[arg-type]


def test_clip_gradients_reports_norm_and_clips():
    p = _param((0.0, 0.0))
    p.grad = torch.tensor([3.0, 4.0])
    assert clip_gradients([p], 1.0) == pytest.approx(5.0)
    assert float(p.grad.norm()) == pytest.approx(1.0, rel=1e-4)
    q = _param((0.0, 0.0))
    q.grad = torch.tensor([3.0, 4.0])
    assert clip_gradients([q], None) == pytest.approx(5.0)
    assert torch.equal(q.grad, torch.tensor([3.0, 4.0]))


def test_ablation_is_a_list_of_configs():
    configs = optimizer_ablation(lr=1e-4)
    assert [c.label for c in configs] == ["adamw", "rmsprop", "sgd", "sgd+momentum0.9", "signsgd"]
    assert configs[2].lr == pytest.approx(0.1)
    for cfg in configs:
        opt = cfg.build([_param()])
        assert opt.param_groups[0]["lr"] == cfg.lr
        assert cfg.lr_at(0, 100) < cfg.lr  # 5 % warm-up
        assert math.isfinite(cfg.lr_at(99, 100))
    with pytest.raises(ValueError, match="unknown optimizer"):
        OptimizerConfig("lion", 1e-3)


def test_preconditioned_sgd_uses_frozen_adam_moments(tmp_path):
    from steervec.core.optim import PreconditionedSGD, frozen_adam_preconditioner

    p = _param()
    adam = torch.optim.Adam([p], lr=0.1)
    for _ in range(3):
        adam.zero_grad()
        (p**2).sum().backward()
        adam.step()
    v = adam.state[p]["exp_avg_sq"].clone()
    torch.save(adam.state_dict(), tmp_path / "optimizer.pt")
    q = _param((1.0, 1.0, 1.0))
    opt = frozen_adam_preconditioner(tmp_path)([q], lr=0.5)
    assert isinstance(opt, PreconditionedSGD)
    q.grad = torch.tensor([1.0, 2.0, -3.0])
    opt.step()
    expected = torch.ones(3) - 0.5 * torch.tensor([1.0, 2.0, -3.0]) / (v.sqrt() + 1e-8)
    assert torch.allclose(q.detach(), expected)
    with pytest.raises(ValueError, match="second moments for"):
        PreconditionedSGD([q, _param()], lr=0.1, second_moments=[v])
    with pytest.raises(ValueError, match="exp_avg_sq"):
        frozen_adam_preconditioner(torch.optim.SGD([_param()], lr=0.1).state_dict())
