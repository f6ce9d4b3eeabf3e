"""Parity: the same interventions through torch hooks, TransformerLens 4 and nnsight 0.8.

Every backend gets its own fresh copy of the same weights (booting a TransformerLens bridge
changes the model it wraps). Comparisons are made on real (non-padding) positions only:
attention implementations legitimately differ at padded positions.
"""

from __future__ import annotations

import pytest
import torch
from conftest import INJECTING_TEMPLATE, make_tiny

from steervec.backends import get_backend
from steervec.core.chat import encode_chat
from steervec.core.errors import ModelMismatchError, SteervecError
from steervec.core.hooks import Intervention, add_operator, project_out_operator
from steervec.core.model import as_language_model
from steervec.core.steering_vector import SteeringVector

BACKENDS = ["torch", "transformer_lens", "nnsight"]
PROMPTS = ["hi there", "a much longer prompt that forces left padding", "mid length"]
TOL = 1e-5


def _pair(name: str):
    ref = get_backend("torch", make_tiny("llama", INJECTING_TEMPLATE, seed=3))
    other = get_backend(name, make_tiny("llama", INJECTING_TEMPLATE, seed=3))
    batch = encode_chat(ref.lm, PROMPTS, None)
    return ref, other, batch


def _vec(d, seed=0, scale=2.0):
    return torch.randn(d, generator=torch.Generator().manual_seed(seed)) * scale


@pytest.mark.parametrize("name", BACKENDS)
def test_recorded_activations_and_steered_logits(name):
    ref, other, batch = _pair(name)
    real = batch.attention_mask.bool()
    v = _vec(ref.lm.d_model)
    for items in ([], [Intervention(1, add_operator(v, 3.0), "all")],
                  [Intervention(2, project_out_operator(v), "prompt")]):
        a = ref.run(batch.input_ids, batch.attention_mask, items, [1, 2, 3])
        b = other.run(batch.input_ids, batch.attention_mask, items, [1, 2, 3])
        assert (a.logits - b.logits)[real].abs().max() <= TOL
        for layer in (1, 2, 3):
            assert (a.recorded[layer] - b.recorded[layer])[real].abs().max() <= TOL


@pytest.mark.parametrize("name", BACKENDS)
def test_gradient_step_on_a_learnable_vector(name):
    ref, other, batch = _pair(name)
    grads = []
    for backend in (ref, other):
        v = torch.nn.Parameter(torch.zeros(backend.lm.d_model))
        out = backend.run(batch.input_ids, batch.attention_mask, [Intervention(2, add_operator(v), "all")],
                          grad=True)
        logp = torch.log_softmax(out.logits[:, :-1], -1)
        nll = -logp.gather(-1, batch.input_ids[:, 1:, None])[..., 0]
        both_real = batch.attention_mask[:, :-1] * batch.attention_mask[:, 1:]  # logits at real positions only
        (nll * both_real).sum().backward()
        grads.append(v.grad.clone())
    assert grads[0].abs().sum() > 0
    assert (grads[0] - grads[1]).abs().max() <= TOL * max(1.0, float(grads[0].abs().max()))


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("positions", ["all", "generated"])
def test_steered_greedy_generation(name, positions):
    ref, other, batch = _pair(name)
    v = _vec(ref.lm.d_model, seed=1, scale=4.0)
    items = [Intervention(1, add_operator(v), positions)]
    kw = dict(max_new_tokens=5, do_sample=False)
    a = ref.generate(batch.input_ids, batch.attention_mask, items, **kw)
    b = other.generate(batch.input_ids, batch.attention_mask, items, **kw)
    plain = ref.generate(batch.input_ids, batch.attention_mask, [], **kw)
    assert torch.equal(a, b)
    assert not torch.equal(a, plain)


def test_a_steering_vector_applies_unchanged_through_every_wrapper():
    from nnsight import TransformersModel as NNModel

    lm = make_tiny("llama", INJECTING_TEMPLATE, seed=3)
    vec = SteeringVector({1: _vec(lm.d_model)}, lm.fingerprint)
    tl = make_tiny("llama", INJECTING_TEMPLATE, seed=3)
    bridge = get_backend("transformer_lens", tl).bridge
    nn_lm = make_tiny("llama", INJECTING_TEMPLATE, seed=3)
    wrapped = [as_language_model(bridge), as_language_model(NNModel(nn_lm.model, tokenizer=nn_lm.tokenizer))]
    batch = encode_chat(lm, PROMPTS, None)
    real = batch.attention_mask.bool()
    with vec.apply(lm), torch.no_grad():
        expected = lm.model(**batch.model_inputs()).logits
    for other in wrapped:
        assert other.fingerprint == lm.fingerprint
        with vec.apply(other), torch.no_grad():
            got = other.model(**batch.model_inputs()).logits
        assert (got - expected)[real].abs().max() <= TOL


def test_bad_input():
    from nnsight import TransformersModel as NNModel

    from steervec.backends.nnsight import NNsightBackend

    lm = make_tiny("llama", INJECTING_TEMPLATE, seed=3)
    tl = get_backend("transformer_lens", make_tiny("llama", INJECTING_TEMPLATE, seed=3))
    with pytest.raises(KeyError, match="near matches"):
        tl.hook("blocks.1.hook_outt")
    other = make_tiny("llama", INJECTING_TEMPLATE, seed=4)
    with pytest.raises(ModelMismatchError, match="wraps"):
        NNsightBackend.wrap(lm, NNModel(other.model, tokenizer=other.tokenizer))
    with pytest.raises(ValueError, match="unknown backend"):
        get_backend("jax", lm)


def test_remote_without_key_fails_before_any_network_call(monkeypatch):
    from steervec.backends.nnsight import check_remote

    monkeypatch.delenv("NDIF_API_KEY", raising=False)
    with pytest.raises(SteervecError, match="NDIF_API_KEY"):
        check_remote(True)
    check_remote(False)


@pytest.mark.embedded
@pytest.mark.parametrize("name", ["transformer_lens", "nnsight"])
def test_parity_on_the_embedded_model(name):
    from steervec.core.model import load_model

    ref = get_backend("torch", load_model())
    other = get_backend(name, load_model())
    batch = encode_chat(ref.lm, ["What is your favourite animal?", "Name a colour, please."], None)
    real = batch.attention_mask.bool()
    v = _vec(ref.lm.d_model, scale=8.0)
    items = [Intervention(20, add_operator(v), "all")]
    a = ref.run(batch.input_ids, batch.attention_mask, items, [20])
    b = other.run(batch.input_ids, batch.attention_mask, items, [20])
    assert (a.recorded[20] - b.recorded[20])[real].abs().max() <= 1e-4
    assert (a.logits - b.logits)[real].abs().max() <= 1e-4
    kw = dict(max_new_tokens=4, do_sample=False)
    assert torch.equal(ref.generate(batch.input_ids, batch.attention_mask, items, **kw),
                       other.generate(batch.input_ids, batch.attention_mask, items, **kw))


def test_remote_registration_ships_steervec_code_by_value():
    from cloudpickle.cloudpickle import _PICKLE_BY_VALUE_MODULES

    from steervec.backends.nnsight import register_for_remote

    names = register_for_remote()
    assert {"steervec.core.hooks", "steervec.core.positions"} <= set(names) <= _PICKLE_BY_VALUE_MODULES | set(names)
    assert "steervec.core.hooks" in _PICKLE_BY_VALUE_MODULES
