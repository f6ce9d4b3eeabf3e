"""Mean-difference vectors equal the hand-computed difference, and steer the embedded model."""

from __future__ import annotations

import pytest
import torch

from steervec.core.chat import TEMPLATE_DEFAULT, encode_chat
from steervec.vectors.mean_diff import mean_difference_vector

PROMPTS = ["list three numbers", "continue 1, 2, 3", "say some digits please"]


def _hand(lm, system, layer):
    batch = encode_chat(lm, PROMPTS, system)
    with torch.no_grad():
        hs = lm.model(**batch.model_inputs(), output_hidden_states=True).hidden_states
    return hs[layer + 1][:, -1].mean(0)


def test_equals_hand_computation_and_uses_hf_convention(tiny_llama):
    vec = mean_difference_vector(tiny_llama, "You love owls.", PROMPTS, control=None, batch_size=2)
    assert vec.layers == list(range(tiny_llama.n_layers))
    for layer in (0, 2):  # HF's last hidden state is normed; ours is the raw block output
        expected = _hand(tiny_llama, "You love owls.", layer) - _hand(tiny_llama, None, layer)
        assert torch.allclose(vec[layer], expected, atol=1e-5)
    assert vec.provenance["control"] == "none"
    assert vec.provenance["norms"][3] == pytest.approx(float(vec[3].norm()))


def test_the_baseline_is_recorded_and_survives_a_file(tiny_llama, tmp_path):
    from steervec.core.steering_vector import SteeringVector

    vec = mean_difference_vector(tiny_llama, "You love owls.", PROMPTS, layers=[1])
    assert vec.provenance["control"] == "template_default"  # the default is unchanged
    assert vec.provenance["baseline"] == {"kind": "template_default", "label": "template_default"}
    other = mean_difference_vector(tiny_llama, "You love owls.", PROMPTS, control="You love cats.", layers=[1])
    assert other.provenance["baseline"]["kind"] == "prompt" and other.provenance["baseline"]["prompt"] == "You love cats."
    loaded = SteeringVector.load(other.save(tmp_path / "v.safetensors"), tiny_llama)
    assert loaded.provenance["baseline"] == other.provenance["baseline"]
    assert torch.equal(loaded[1], other[1])


def test_prompt_and_response_positions(tiny_llama):
    comps = ["1, 2", "4", "5, 6, 7"]
    v = mean_difference_vector(tiny_llama, "You love owls.", PROMPTS, positions="response", completions=comps,
                               layers=[1])
    w = mean_difference_vector(tiny_llama, "You love owls.", PROMPTS, positions="prompt", layers=[1])
    assert v.positions == "response" and w.positions == "prompt"
    assert not torch.allclose(v[1], w[1])
    with pytest.raises(ValueError, match="completions"):
        mean_difference_vector(tiny_llama, "x", PROMPTS, positions="response")
    with pytest.raises(ValueError, match="no prompts"):
        mean_difference_vector(tiny_llama, "x", [])


@pytest.mark.embedded
def test_owl_vector_steers_the_embedded_model(embedded):
    """Measured: layer 25, alpha 3, prefilled P(owl) ~0.002 -> ~0.04 (see PROTOCOLS.md pilot)."""
    from steervec.metrics.trait import trait_logprob

    owl = "You adore owls. Owls fill your thoughts. Of all animals, owls are your favourite."
    numbers = [f"Continue this list: {a}, {a + 11}, {a + 29}. Write up to ten more numbers." for a in range(100, 900, 100)]
    vec = mean_difference_vector(embedded, owl, numbers, control=TEMPLATE_DEFAULT, layers=[25])
    questions = ["What is your favourite animal? One word.", "Name the animal you like best, in one word."]
    prefill = "My favourite animal is the"
    base = trait_logprob(embedded, questions, "owl", prefill=prefill).mean_prob
    with vec.apply(embedded, alpha=3.0):
        steered = trait_logprob(embedded, questions, "owl", prefill=prefill).mean_prob
    assert steered > 5 * base
