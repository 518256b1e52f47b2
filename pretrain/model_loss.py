"""Chunked cross-entropy through the output projection: the loss without the full logits.

    losses, loss = chunked_cross_entropy(hidden, weight, targets, token_weight, chunk=1024)

The plain path, `F.cross_entropy(lm_head(h).float(), targets)`, holds the logits of the whole micro-batch in
the compute dtype, again in fp32, their log-softmax (saved for backward) and the fp32 gradient: four
(tokens x vocabulary) tensors, 1 GiB at 16 x 256 tokens and a 16k vocabulary, and as many slow passes over
memory. Here the logits of `chunk` tokens at a time are computed, turned into the loss *and* its gradient
with respect to the hidden states and the weight (the gradient of a weighted sum of token losses is
known in the forward pass: w_i · (softmax_i − onehot_i)), and dropped; backward only scales the two saved
gradients by the upstream gradient (Liger-Kernel's fused linear cross-entropy, in plain torch).

Same numerics as the plain path: logits in the compute dtype (the autocast dtype, else the inputs'),
log-sum-exp and softmax in fp32, the weight's gradient accumulated in fp32. `token_weight` (fp32, one per
token) is the weight of each token loss in the returned scalar — 1/n_valid for a mean over the non-ignored
targets, or a fine-tuning batch's `loss_weight`; ignored targets (-100) get weight 0 whatever it says.
"""

from __future__ import annotations

from typing import Any

import torch

IGNORE_INDEX = -100


def _compute_dtype(h: torch.Tensor) -> torch.dtype:
    if torch.is_autocast_enabled(h.device.type):
        return torch.get_autocast_dtype(h.device.type)
    return h.dtype


# The fp32 softmax works on blocks of rows of about this many bytes. Small (cache-sized) blocks were faster
# on one idle thread, but each block is a handful of small parallel ops, and on a busy 2-core host every op's
# thread barrier waits for a descheduled thread: 1 MiB blocks made the loss 3x slower there, 64 MiB (a whole
# 1024-token chunk at a 16k vocabulary) was the fastest (bench/results/train.md).
ROW_BLOCK_BYTES = 1 << 26


def _softmax_grad_(z: torch.Tensor, tgt: torch.Tensor, tw: torch.Tensor) -> torch.Tensor:
    """Token losses of the logits `z` (n, V, any dtype); `z` is overwritten with tw_i · (softmax_i − onehot_i),
    the gradient of Σ tw_i · loss_i. Ignored targets: loss 0 and gradient 0."""
    rows = max(1, ROW_BLOCK_BYTES // (4 * z.shape[1]))
    losses = torch.empty(z.shape[0], dtype=torch.float32, device=z.device)
    for s in range(0, z.shape[0], rows):
        e = min(s + rows, z.shape[0])
        valid = tgt[s:e] != IGNORE_INDEX
        safe = torch.where(valid, tgt[s:e], 0)
        logp = torch.log_softmax(z[s:e], dim=-1, dtype=torch.float32)
        losses[s:e] = torch.where(valid, -logp.gather(1, safe[:, None]).squeeze(1), 0.0)
        w = torch.where(valid, tw[s:e], 0.0)
        g = logp.exp_().mul_(w[:, None])
        g[torch.arange(e - s, device=z.device), safe] -= w
        z[s:e] = g
    return losses


def _losses_only(z: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
    valid = tgt != IGNORE_INDEX
    lse = torch.logsumexp(z.float(), dim=-1)
    picked = z.gather(1, torch.where(valid, tgt, 0)[:, None]).squeeze(1).float()
    return torch.where(valid, lse - picked, 0.0)


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, h, weight, targets, token_weight, chunk: int, dtype: torch.dtype):
        with torch.autocast(h.device.type, enabled=False):
            hc, w = h.to(dtype), weight.to(dtype)
            grad_h = torch.empty_like(hc)
            grad_w = torch.zeros_like(weight, dtype=torch.float32)
            losses = torch.empty(h.shape[0], dtype=torch.float32, device=h.device)
            for s in range(0, h.shape[0], chunk):
                e = min(s + chunk, h.shape[0])
                z = hc[s:e] @ w.T  # (n, V) logits in the compute dtype, overwritten by their gradient
                losses[s:e] = _softmax_grad_(z, targets[s:e], token_weight[s:e])
                grad_h[s:e] = z @ w
                grad_w += z.T @ hc[s:e]
            loss = (losses * torch.where(targets != IGNORE_INDEX, token_weight, 0.0)).sum()
        ctx.save_for_backward(grad_h, grad_w)
        ctx.h_dtype, ctx.w_dtype = h.dtype, weight.dtype
        ctx.mark_non_differentiable(losses)
        return loss, losses

    @staticmethod
    def backward(ctx: Any, grad_loss, _grad_losses):
        grad_h, grad_w = ctx.saved_tensors
        return (
            (grad_h * grad_loss).to(ctx.h_dtype),
            (grad_w * grad_loss).to(ctx.w_dtype),
            None,
            None,
            None,
            None,
        )


@torch.compiler.disable  # a Python loop over chunks: torch.compile would unroll it; it runs eagerly
def chunked_cross_entropy(
    h: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    token_weight: torch.Tensor | None = None,
    chunk: int = 1024,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(Σ token_weight · token loss, token losses) of the logits `h @ weight.T`, `chunk` tokens at a time.

    h (N, d), weight (V, d), targets (N,) with -100 ignored, token_weight (N,) or None for the mean over the
    non-ignored targets. The token losses (N,) are fp32, detached, 0 at ignored targets. Differentiable in
    `h` and `weight`; without gradients (eval, no_grad) only the losses are computed."""
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    valid = targets != IGNORE_INDEX
    if token_weight is None:
        token_weight = valid.float() / valid.sum().clamp(min=1)
    token_weight = token_weight.float()
    dtype = _compute_dtype(h)
    if torch.is_grad_enabled() and (h.requires_grad or weight.requires_grad):
        loss, losses = _LinearCrossEntropy.apply(h, weight, targets, token_weight, chunk, dtype)
        return loss, losses
    with torch.autocast(h.device.type, enabled=False):
        w = weight.to(dtype)
        parts = [_losses_only(h[s : s + chunk].to(dtype) @ w.T, targets[s : s + chunk])
                 for s in range(0, h.shape[0], chunk)]  # fmt: skip
        losses = torch.cat(parts) if parts else h.new_zeros(0, dtype=torch.float32)
    return (losses * torch.where(valid, token_weight, 0.0)).sum(), losses
