"""AdamW with decay on matrices only, and the warm-up + cosine schedule with a 10 % floor (paper §3)."""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from weprompt.pretrain.engine.config import OptimConfig


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Matrices (embeddings, linear weights) decay; vectors (LayerNorm gains, biases) do not.

    Decaying a gain pulls it towards 0, i.e. shrinks a whole feature: GPT-3 and nanoGPT exempt them."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for p in model.parameters():  # a tied matrix appears once
        if p.requires_grad:
            (decay if p.dim() >= 2 else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def build_optimizer(model: nn.Module, cfg: OptimConfig, fused: bool | None = None) -> torch.optim.AdamW:
    use_fused = cfg.fused if fused is None else fused
    return torch.optim.AdamW(
        param_groups(model, cfg.weight_decay),
        lr=cfg.max_lr,
        betas=(cfg.beta1, cfg.beta2),
        eps=cfg.eps,
        fused=use_fused or None,
    )


def lr_at(step: int, cfg: OptimConfig, total_steps: int) -> float:
    """Learning rate of optimizer step `step` (1-based): 0 → max over the warm-up, cosine to min after.

    Step 1 already gets max_lr/warmup (not 0), so no step is wasted; the floor is max_lr · min_lr_ratio."""
    floor = cfg.max_lr * cfg.min_lr_ratio
    if cfg.warmup_steps and step <= cfg.warmup_steps:
        return cfg.max_lr * step / cfg.warmup_steps
    decay_steps = max(1, total_steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / decay_steps)
    return floor + 0.5 * (cfg.max_lr - floor) * (1.0 + math.cos(math.pi * progress))
