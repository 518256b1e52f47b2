"""The fused chunked cross-entropy (pretrain/model_loss.py, `train.loss_chunk`) against the plain path:
same loss and gradients, with ignored targets (fine-tuning's loss on targets only) and both fine-tuning
loss normalisations (per token, per example); and the trainer's torch.compile fallback."""

from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F

from weprompt.common.config import ConfigError, from_dict
from weprompt.finetune_data import loss_weights
from weprompt.pretrain import model_loss as fused_loss
from weprompt.pretrain.engine.backend import TorchBackend
from weprompt.pretrain.engine.config import TrainerConfig
from weprompt.pretrain.engine.distributed import DistEnv
from weprompt.pretrain.engine.grouploss import model_loss
from weprompt.pretrain.model import IGNORE_INDEX, ModelConfig, WeLM
from weprompt.pretrain.model_loss import chunked_cross_entropy

CFG = ModelConfig(vocab_size=97, n_layer=2, n_head=2, d_model=32, context_length=24)


def finetune_batch(seed: int = 0) -> dict[str, torch.Tensor]:
    """Two packed examples per row, loss on each example's answer only (-100 on its prompt)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, CFG.vocab_size, (3, CFG.context_length), generator=g)
    targets = ids.roll(-1, 1).clone()
    docs = (torch.arange(CFG.context_length) >= 10).long().expand(3, -1).clone()
    targets[:, :6] = IGNORE_INDEX  # prompt of example 0
    targets[:, 10:17] = IGNORE_INDEX  # prompt of example 1
    targets[2, 17:] = IGNORE_INDEX  # a row whose second example has no answer tokens
    groups = (docs + torch.arange(3)[:, None]) % 2
    return {"input_ids": ids, "targets": targets, "doc_ids": docs, "loss_group": groups}


def grads(model: WeLM) -> list[torch.Tensor]:
    out = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    return out


def rel_err(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return max(float((x - y).norm() / y.norm()) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("chunk", [1, 7, 72, 4096])
@pytest.mark.parametrize("block_rows", [3, None])
def test_mean_loss_and_grads_match_plain(chunk, block_rows, monkeypatch):
    if block_rows is not None:  # the softmax's blocks of rows inside a chunk (a 16k vocabulary has several)
        monkeypatch.setattr(fused_loss, "ROW_BLOCK_BYTES", 4 * CFG.vocab_size * block_rows)
    torch.manual_seed(0)
    model = WeLM(CFG)
    batch = finetune_batch()
    plain = model(batch["input_ids"], targets=batch["targets"], doc_ids=batch["doc_ids"])
    plain.loss.backward()
    g_plain = grads(model)
    fused = model(batch["input_ids"], targets=batch["targets"], doc_ids=batch["doc_ids"], loss_chunk=chunk)
    fused.loss.backward()
    assert fused.loss.item() == pytest.approx(plain.loss.item(), rel=1e-6)
    assert rel_err(grads(model), g_plain) < 1e-5
    assert fused.logits.shape == (3, CFG.context_length, 0)  # the logits never existed
    ce = F.cross_entropy(
        plain.logits.reshape(-1, CFG.vocab_size), batch["targets"].reshape(-1), reduction="none"
    )
    assert torch.allclose(fused.token_losses.reshape(-1), ce, atol=1e-5)  # 0 at ignored targets, as F's


@pytest.mark.parametrize("norm", ["token", "example"])
def test_finetune_weighted_loss_and_groups_match_plain(norm):
    """model_loss with the fine-tuning batch's loss_weight: the fused path's loss, gradients and per-group
    sums equal the plain path's (logits -> per-token CE -> weighted sum)."""
    torch.manual_seed(0)
    model = WeLM(CFG)
    batch = finetune_batch(1)
    batch["loss_weight"] = loss_weights(batch["targets"], batch["doc_ids"], norm)
    loss0, part0 = model_loss(model, batch)
    loss0.backward()
    g0 = grads(model)
    loss1, part1 = model_loss(model, batch, loss_chunk=5)
    loss1.backward()
    assert loss1.item() == pytest.approx(loss0.item(), rel=1e-6)
    assert rel_err(grads(model), g0) < 1e-5
    assert part0 is not None and part1 is not None
    for a, b in zip(part1, part0, strict=True):
        assert torch.allclose(a, b, rtol=1e-6)


def test_bf16_autocast_error_no_larger_than_plain():
    """Under bf16 autocast both paths differ from fp32; the fused one by no more than the plain one does."""
    torch.manual_seed(0)
    model = WeLM(CFG)
    b = finetune_batch(2)
    kw = {"targets": b["targets"], "doc_ids": b["doc_ids"]}
    model(b["input_ids"], **kw).loss.backward()
    ref = grads(model)
    errs = {}
    for chunk in (0, 16):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(b["input_ids"], **kw, loss_chunk=chunk)
        out.loss.backward()
        errs[chunk] = rel_err(grads(model), ref)
    assert errs[16] < 1.5 * errs[0] + 1e-4, errs


def test_without_grad_and_all_ignored():
    torch.manual_seed(0)
    h, w = torch.randn(10, 8), torch.randn(13, 8)
    targets = torch.tensor([1, 2, -100, 4, 5, 6, 7, 8, 9, -100])
    with torch.no_grad():
        loss, losses = chunked_cross_entropy(h, w, targets, chunk=3)
    plain = F.cross_entropy(h @ w.T, targets, reduction="none")
    assert torch.allclose(losses, plain, atol=1e-5) and loss.item() == pytest.approx(plain.sum().item() / 8)
    # Nothing to learn from: the loss is 0 with zero gradients (the plain mean would be nan).
    h.requires_grad_()
    loss, _ = chunked_cross_entropy(h, w, torch.full((10,), -100), chunk=4)
    loss.backward()
    assert loss.item() == 0.0 and h.grad is not None and not h.grad.any()
    with pytest.raises(ValueError, match="chunk"):
        chunked_cross_entropy(h, w, targets, chunk=0)


def test_config_checks():
    with pytest.raises(ConfigError, match="loss_chunk"):
        from_dict(TrainerConfig, {"loss_chunk": -1})
    with pytest.raises(ConfigError, match="compile"):
        from_dict(TrainerConfig, {"compile": True, "deepspeed": {"enabled": True}})


def test_compile_failure_falls_back_to_eager(tmp_path, monkeypatch, caplog):
    """A compile that fails (here: inductor given a C++ compiler that does not exist) is caught on the first
    micro-step; training goes on eagerly with the same loss and gradients, and says so."""
    import torch._inductor.config as inductor_config

    monkeypatch.setattr(inductor_config.cpp, "cxx", ("/nonexistent/c++",))
    monkeypatch.setattr(inductor_config, "fx_graph_cache", False)
    torch._dynamo.reset()
    cfg = from_dict(TrainerConfig, {"run_dir": str(tmp_path), "compile": True, "optim": {"grad_clip": 0.0}})
    torch.manual_seed(0)
    model = WeLM(CFG)
    eager = TorchBackend(WeLM(CFG), from_dict(TrainerConfig, {"run_dir": str(tmp_path)}), DistEnv())
    eager.module.load_state_dict(model.state_dict())
    backend = TorchBackend(model, cfg, DistEnv())
    batch = {"input_ids": finetune_batch()["input_ids"], "targets": finetune_batch()["targets"]}
    with caplog.at_level(logging.WARNING):
        loss = backend.forward_backward(batch, last=True)
    torch._dynamo.reset()
    assert "torch.compile failed" in caplog.text
    assert backend.model is backend.module  # eager from now on
    ref = eager.forward_backward(batch, last=True)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-6)
    for p, q in zip(backend.params, eager.params, strict=True):
        assert torch.allclose(p.grad, q.grad, atol=1e-7)
