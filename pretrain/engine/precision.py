"""Mixed precision for the plain torch path: autocast, and a dynamic loss scaler for fp16.

Weights and optimizer state stay fp32 ("master weights"); matmuls run in bf16 or fp16 under autocast. fp16
needs loss scaling: small gradients underflow to 0 in fp16, so the loss is multiplied by a large scale
before backward and the gradients divided by it before the step. The scale is dynamic (as in Megatron,
DeepSpeed and `torch.amp.GradScaler`): an overflow (inf/nan gradient) skips the step and halves the scale;
`growth_interval` clean steps in a row double it. Written out here (not GradScaler) so that its whole state
is a small dict in trainer_state.json, and so loss-spike recovery can reset it.
"""

from __future__ import annotations

import contextlib
import math

import torch

from weprompt.pretrain.engine.config import LossScaleConfig

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(precision: str, device: torch.device):
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=DTYPES[precision])


class DynamicLossScaler:
    def __init__(self, cfg: LossScaleConfig):
        self.cfg = cfg
        self.scale = cfg.initial_scale
        self.good_steps = 0  # clean steps since the last overflow or growth
        self.skipped_steps = 0  # total steps skipped because of overflow
        self.overflows = 0

    def unscale_(self, params) -> None:
        inv = 1.0 / self.scale
        for p in params:
            if p.grad is not None:
                p.grad.mul_(inv)

    def update(self, grads_finite: bool) -> bool:
        """Record one step's outcome; returns whether the optimizer step may be taken."""
        if not grads_finite:
            self.scale = max(self.cfg.min_scale, self.scale * self.cfg.backoff_factor)
            self.good_steps = 0
            self.skipped_steps += 1
            self.overflows += 1
            return False
        self.good_steps += 1
        if self.good_steps >= self.cfg.growth_interval:
            self.scale *= self.cfg.growth_factor
            self.good_steps = 0
        return True

    def reset(self) -> None:
        """Back to the initial scale (loss-spike recovery, paper §3.2); the skip counters are history."""
        self.scale = self.cfg.initial_scale
        self.good_steps = 0

    def state_dict(self) -> dict:
        return {
            "scale": self.scale,
            "good_steps": self.good_steps,
            "skipped_steps": self.skipped_steps,
            "overflows": self.overflows,
        }

    def load_state_dict(self, d: dict) -> None:
        self.scale = float(d["scale"])
        self.good_steps = int(d["good_steps"])
        self.skipped_steps = int(d["skipped_steps"])
        self.overflows = int(d.get("overflows", d["skipped_steps"]))


def is_finite(x: float | torch.Tensor) -> bool:
    return math.isfinite(float(x))
