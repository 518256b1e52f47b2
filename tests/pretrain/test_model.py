"""The WeLM decoder: parameter formula, KV cache, document masking, generation, errors."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from weprompt.common.config import ConfigError
from weprompt.pretrain.model import PRESETS, ModelConfig, WeLM, preset

V = 97


@pytest.fixture(scope="module")
def model() -> WeLM:
    torch.manual_seed(0)
    return WeLM(ModelConfig(vocab_size=V, n_layer=2, n_head=4, d_model=32, context_length=48)).eval()


@pytest.mark.parametrize("name", list(PRESETS))
def test_parameter_count_matches_formula(name):
    cfg = PRESETS[name]
    with torch.device("meta"):  # 10B parameters cost nothing on the meta device
        m = WeLM(cfg)
    assert m.num_parameters() == cfg.num_parameters_formula()


def test_paper_sizes():
    # Table 2 of the paper: 1.3B, 2.7B, 10B (the names count non-embedding blocks plus embeddings).
    counts = {n: PRESETS[n].num_parameters_formula() for n in ("welm_1p3b", "welm_2p7b", "welm_10b")}
    assert 1.30e9 < counts["welm_1p3b"] < 1.40e9
    assert 2.6e9 < counts["welm_2p7b"] < 2.8e9
    assert 10.0e9 < counts["welm_10b"] < 10.5e9
    assert (PRESETS["welm_10b"].n_layer, PRESETS["welm_10b"].n_head, PRESETS["welm_10b"].d_model) == (
        32,
        40,
        5120,
    )


@pytest.mark.parametrize("bias,tie", [(True, True), (False, False), (True, False)])
def test_formula_variants(bias, tie):
    cfg = ModelConfig(
        vocab_size=V, n_layer=3, n_head=2, d_model=16, context_length=8, bias=bias, tie_embeddings=tie
    )
    m = WeLM(cfg)
    assert m.num_parameters() == cfg.num_parameters_formula()
    assert (m.lm_head.weight is m.embed.weight) == tie


def test_no_learned_positions(model):
    names = [n for n, _ in model.named_parameters()]
    assert not any("pos" in n or "wpe" in n for n in names)
    assert "rope_cos" not in model.state_dict()  # rotary tables are rebuilt, not stored


def test_bad_config():
    with pytest.raises(ConfigError, match="multiple of n_head"):
        ModelConfig(d_model=30, n_head=4)
    with pytest.raises(ConfigError, match="unknown model preset"):
        preset("welm_13b")


def test_cache_prefix_then_continuation(model):
    torch.manual_seed(1)
    x = torch.randint(0, V, (3, 30))
    full = model(x).logits
    first = model(x[:, :17], use_cache=True)
    rest = model(x[:, 17:], past_key_values=first.past_key_values, use_cache=True)
    assert torch.allclose(torch.cat([first.logits, rest.logits], 1), full, atol=1e-5, rtol=0)
    # token by token
    out = model(x[:, :1], use_cache=True)
    logits = [out.logits]
    for t in range(1, 30):
        out = model(x[:, t : t + 1], past_key_values=out.past_key_values, use_cache=True)
        logits.append(out.logits)
    assert torch.allclose(torch.cat(logits, 1), full, atol=1e-5, rtol=0)


def test_preallocated_cache_equals_list_cache(model):
    """`KVCache` (written in place) gives the list cache's logits: prompt at once, then token by token,
    after rows leave the batch, and it refuses to overflow its capacity."""
    torch.manual_seed(4)
    x = torch.randint(0, V, (3, 30))
    full = model(x).logits
    cache = model.new_kv_cache(3, 30)
    out = model(x[:, :17], past_key_values=cache, use_cache=True)
    assert out.past_key_values is cache and cache.length == 17
    logits = [out.logits]
    for t in range(17, 25):
        logits.append(model(x[:, t : t + 1], past_key_values=cache, use_cache=True).logits)
    assert torch.allclose(torch.cat(logits, 1), full[:, :25], atol=1e-5, rtol=0)
    rest = model(x[:, 25:28], past_key_values=cache, use_cache=True).logits  # several tokens: causal mask
    assert torch.allclose(rest, full[:, 25:28], atol=1e-5, rtol=0)
    cache.select_rows(torch.tensor([2, 0]))
    last = model(x[[2, 0], 28:30], past_key_values=cache, use_cache=True).logits
    assert torch.allclose(last, full[[2, 0], 28:30], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="cannot hold 31"):
        model(x[[2, 0], :1], past_key_values=cache, use_cache=True)


def test_shared_prompt_cache_for_choices(model):
    """The evaluator's pattern: encode the prompt once, expand the cache, score right-padded choices."""
    torch.manual_seed(2)
    prompt = torch.randint(0, V, (1, 12))
    choices = [torch.randint(0, V, (n,)) for n in (3, 5, 1)]
    cache = model(prompt, use_cache=True).past_key_values
    width = max(len(c) for c in choices)
    padded = torch.stack([F.pad(c, (0, width - len(c)), value=0) for c in choices])
    expanded = [(k.expand(len(choices), -1, -1, -1), v.expand(len(choices), -1, -1, -1)) for k, v in cache]
    batched = model(padded, past_key_values=expanded).logits
    for i, c in enumerate(choices):
        ref = model(torch.cat([prompt[0], c])[None]).logits[0, 12:]
        assert torch.allclose(batched[i, : len(c)], ref, atol=1e-5, rtol=0)


def test_doc_mask_equals_separate_documents(model):
    torch.manual_seed(3)
    a, b, c = torch.randint(0, V, (9,)), torch.randint(0, V, (14,)), torch.randint(0, V, (5,))
    packed = torch.cat([a, b, c])[None]
    doc_ids = torch.tensor([[0] * 9 + [1] * 14 + [2] * 5])
    out = model(packed, doc_ids=doc_ids).logits[0]
    ref = torch.cat([model(s[None]).logits[0] for s in (a, b, c)])
    assert torch.allclose(out, ref, atol=1e-5, rtol=0)
    # without the mask the second document sees the first: different logits
    assert not torch.allclose(model(packed).logits[0, 9:], ref[9:], atol=1e-3)


def test_positions_restart_per_document():
    doc_ids = torch.tensor([[0, 0, 0, 1, 1, 2, 2, 2, 2], [5, 5, 5, 5, 5, 5, 5, 5, 5]])
    pos = WeLM.positions_from_docs(doc_ids)
    assert pos.tolist() == [[0, 1, 2, 0, 1, 0, 1, 2, 3], list(range(9))]


def test_loss_ignores_minus_100(model):
    torch.manual_seed(4)
    x = torch.randint(0, V, (2, 10))
    y = torch.randint(0, V, (2, 10))
    y_masked = y.clone()
    y_masked[:, :5] = -100
    out = model(x, targets=y_masked)
    ref = F.cross_entropy(model(x).logits[:, 5:].reshape(-1, V), y[:, 5:].reshape(-1))
    assert torch.allclose(out.loss, ref, atol=1e-6)


def test_generate_is_greedy_with_cache(model):
    torch.manual_seed(5)
    prompt = torch.randint(0, V, (2, 6))
    got = model.generate(prompt, max_new_tokens=8)
    seq = prompt.clone()
    for _ in range(8):  # reference: no cache, argmax of the full recomputation
        nxt = model(seq).logits[:, -1].argmax(-1)
        seq = torch.cat([seq, nxt[:, None]], 1)
    assert got == seq[:, 6:].tolist()
    stop = got[0][3]
    first_stop = got[0].index(stop)
    stopped = model.generate(prompt[:1], max_new_tokens=8, stop_ids=[stop])
    assert stopped == [got[0][:first_stop]]


def test_generate_respects_context(model):
    prompt = torch.zeros(1, 45, dtype=torch.long)
    assert len(model.generate(prompt, max_new_tokens=50)[0]) <= 48 - 45 + 1


def test_too_long_input_is_an_error(model):
    with pytest.raises(ValueError, match="exceeds context_length"):
        model(torch.zeros(1, 49, dtype=torch.long))


def test_bf16_autocast_and_backward():
    torch.manual_seed(6)
    m = WeLM(dataclasses.replace(PRESETS["cpu_tiny"], vocab_size=V))
    x = torch.randint(0, V, (2, 16))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = m(x, targets=x)
    assert out.logits.dtype == torch.bfloat16 and out.loss.dtype == torch.float32
    out.loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())
