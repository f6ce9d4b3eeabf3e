"""Position ids count real tokens only, so a left-padded row is computed as it would be alone.

Llama's rotary embeddings see only relative positions (counting padding changes its numbers
only by rounding); GPT-2 adds a learned embedding per *absolute* position, so there a forward
that counts the padding gives visibly different activations: the sensitive check.
"""

from __future__ import annotations

import pytest
import torch
from conftest import PLAIN_TEMPLATE, make_tokenizer

from steervec.backends.torch import TorchBackend
from steervec.core.activations import mean_activations
from steervec.core.chat import encode_chat
from steervec.core.model import LanguageModel, wrap_model
from steervec.core.positions import mask_position_ids
from steervec.metrics.trait import trait_logprob

PROMPTS = ["hi", "a much longer question than the others", "mid-sized one"]
TOL = 2e-5


def make_tiny_gpt2() -> LanguageModel:
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = make_tokenizer(PLAIN_TEMPLATE)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tok), n_embd=64, n_layer=2, n_head=4, n_positions=256,
                        bos_token_id=1, eos_token_id=2, pad_token_id=2)
    return wrap_model(GPT2LMHeadModel(config), tok, name="tiny-gpt2")


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def lm(request, tiny_llama) -> LanguageModel:
    return tiny_llama if request.param == "llama" else make_tiny_gpt2()


def test_mask_position_ids_count_real_tokens():
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    assert mask_position_ids(mask).tolist() == [[0, 0, 0, 1, 2], [0, 1, 2, 3, 4]]
    assert mask_position_ids(mask, new_tokens=2).tolist() == [[1, 2], [3, 4]]  # a cached step continues


def test_batched_forward_equals_each_row_alone(lm):
    batch = encode_chat(lm, PROMPTS, None)
    together = TorchBackend(lm).run(batch.input_ids, batch.attention_mask, record_layers=[lm.n_layers - 1])
    for i, prompt in enumerate(PROMPTS):
        alone = encode_chat(lm, [prompt], None)
        one = TorchBackend(lm).run(alone.input_ids, alone.attention_mask, record_layers=[lm.n_layers - 1])
        n = alone.input_ids.shape[1]
        assert (together.logits[i, -n:] - one.logits[0]).abs().max() <= TOL
        assert (together.recorded[lm.n_layers - 1][i, -n:] - one.recorded[lm.n_layers - 1][0]).abs().max() <= TOL


def test_mean_activations_do_not_depend_on_the_batch_size(lm):
    for positions in ("prompt", "last_prompt"):
        batched = mean_activations(lm, PROMPTS, None, positions=positions, batch_size=3)
        single = mean_activations(lm, PROMPTS, None, positions=positions, batch_size=1)
        for layer in batched:
            assert (batched[layer] - single[layer]).abs().max() <= TOL, (positions, layer)


def test_trait_logprob_does_not_depend_on_the_batch_size(lm):
    # a two-character target is scored over several spellings: cached continuation steps too
    batched = trait_logprob(lm, PROMPTS, "ab", system=None, batch_size=3).logp
    single = trait_logprob(lm, PROMPTS, "ab", system=None, batch_size=1).logp
    assert (batched - single).abs().max() <= TOL
