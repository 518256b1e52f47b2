"""The plain torch backend: one process or DDP (gloo on CPU, nccl on GPU), fp32 / bf16 / fp16.

A backend owns the model wrapper, the optimizer and the loss scale; the trainer drives it through the
same few calls for every backend (`backend_ds.DeepSpeedBackend` is the other one):

    set_lr(lr); for each micro-batch: forward_backward(batch, last); then step() -> StepResult
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP

from weprompt.pretrain.engine.config import TrainerConfig
from weprompt.pretrain.engine.distributed import DistEnv
from weprompt.pretrain.engine.grouploss import GroupSums, model_loss
from weprompt.pretrain.engine.optim import build_optimizer
from weprompt.pretrain.engine.precision import DynamicLossScaler, autocast, is_finite
from weprompt.pretrain.model import WeLM

log = logging.getLogger(__name__)

MODEL_FILE = "model.pt"
OPTIMIZER_FILE = "optimizer.pt"


@dataclass
class StepResult:
    grad_norm: float  # before clipping; inf/nan when the step overflowed
    skipped: bool  # fp16 overflow: no update was made
    loss_scale: float


class TorchBackend:
    name = "torch"

    def __init__(self, model: nn.Module, cfg: TrainerConfig, env: DistEnv):
        self.cfg, self.env = cfg, env
        self.module = model.to(env.device)
        self.model: nn.Module = DDP(self.module) if env.distributed else self.module
        self._eager = self.model
        # The fused chunked loss needs WeLM's forward; another model (a benchmark's peer) takes the plain one.
        self.loss_chunk = cfg.loss_chunk if isinstance(model, WeLM) else 0
        self._compile_pending = cfg.compile  # until the first micro-step has run compiled
        if cfg.compile:
            compiled = cast(nn.Module, torch.compile(self.module))
            self.model = DDP(compiled) if env.distributed else compiled
        self.optimizer = build_optimizer(self.module, cfg.optim)
        self.params = [p for g in self.optimizer.param_groups for p in g["params"]]
        self.scaler = DynamicLossScaler(cfg.loss_scale) if cfg.precision == "fp16" else None
        self.group_loss: GroupSums | None = None  # per-group loss sums of the last micro-batch (grouploss.py)

    def set_lr(self, lr: float) -> None:
        for g in self.optimizer.param_groups:
            g["lr"] = lr

    def forward_backward(self, batch: dict, last: bool) -> torch.Tensor:
        """Forward and backward of one micro-batch; returns its (unscaled, detached) mean loss."""
        # DDP all-reduces gradients on every backward unless told not to: only the last micro-step syncs.
        # self.model is the DDP wrapper exactly when the run is distributed.
        if self._compile_pending:
            try:
                loss = self._micro_step(batch, last)
            except Exception as e:  # torch.compile compiles lazily: a failure shows on the first call
                log.warning("torch.compile failed (%s: %s); training continues without it (train.compile)",
                            type(e).__name__, str(e).splitlines()[0] if str(e) else "")  # fmt: skip
                self.model = self._eager
                self.optimizer.zero_grad(set_to_none=True)  # the run's first micro-step: nothing to keep
                loss = self._micro_step(batch, last)
            self._compile_pending = False
            return loss
        return self._micro_step(batch, last)

    def _micro_step(self, batch: dict, last: bool) -> torch.Tensor:
        sync = contextlib.nullcontext() if (last or not isinstance(self.model, DDP)) else self.model.no_sync()
        with sync:
            with autocast(self.cfg.precision, self.env.device):
                loss, self.group_loss = model_loss(self.model, batch, self.loss_chunk)
            scaled = loss / self.cfg.grad_accum
            if self.scaler is not None:
                scaled = scaled * self.scaler.scale
            scaled.backward()
        return loss.detach().float()

    def step(self) -> StepResult:
        if self.scaler is not None:
            self.scaler.unscale_(self.params)
        clip = self.cfg.optim.grad_clip if self.cfg.optim.grad_clip > 0 else float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.params, clip))
        ok = True
        if self.scaler is not None:
            # Gradients are already all-reduced, so every rank sees the same norm and takes the same branch.
            ok = self.scaler.update(is_finite(grad_norm))
        if ok:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return StepResult(grad_norm=grad_norm, skipped=not ok, loss_scale=self.loss_scale)

    def discard_grads(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    @property
    def loss_scale(self) -> float:
        return self.scaler.scale if self.scaler is not None else 1.0

    @property
    def skipped_steps(self) -> int:
        return self.scaler.skipped_steps if self.scaler is not None else 0

    def reset_loss_scale(self) -> None:
        if self.scaler is not None:
            self.scaler.reset()

    def scaler_state(self) -> dict | None:
        return self.scaler.state_dict() if self.scaler is not None else None

    def load_scaler_state(self, state: dict | None) -> None:
        if self.scaler is not None and state is not None:
            self.scaler.load_state_dict(state)

    # -- checkpoint files --------------------------------------------------------------------------

    def save(self, tmp_dir: Path) -> None:
        """Write this backend's files into the checkpoint being assembled (rank 0 only: state is replicated)."""
        if self.env.is_main:
            torch.save(self.module.state_dict(), tmp_dir / MODEL_FILE)
            torch.save(self.optimizer.state_dict(), tmp_dir / OPTIMIZER_FILE)

    def load(self, step_dir: Path) -> None:
        from weprompt.pretrain.checkpoint import load_weights, read_torch_file

        load_weights(self.module, step_dir)
        self.optimizer.load_state_dict(read_torch_file(step_dir / OPTIMIZER_FILE))
