"""The DeepSpeed backend: ZeRO stage 1 (the paper's setup) or 2 through `deepspeed.initialize`.

We hand DeepSpeed our own AdamW (same parameter groups and hyper-parameters as the torch path) and set
the learning rate ourselves each step, so schedule, spike recovery and logging are shared with the torch
path. DeepSpeed owns precision here: bf16, or fp16 with its dynamic loss scaler (GPU only: DeepSpeed 0.19
refuses fp16 on CPU), or fp32; and it owns gradient accumulation (`engine.backward` divides by it).

Checkpoint files: DeepSpeed's own sharded files under `deepspeed/` (every rank writes its optimizer
partition), plus a consolidated fp32 `model.pt` so that `load_model` and everything downstream never
needs DeepSpeed.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from weprompt.common.errors import UserError
from weprompt.pretrain.engine.backend import MODEL_FILE, StepResult
from weprompt.pretrain.engine.config import TrainerConfig
from weprompt.pretrain.engine.distributed import DistEnv
from weprompt.pretrain.engine.grouploss import GroupSums, model_loss
from weprompt.pretrain.engine.optim import build_optimizer
from weprompt.pretrain.model import WeLM

DS_TAG = "deepspeed"


def ds_config(cfg: TrainerConfig) -> dict:
    ls = cfg.loss_scale
    conf: dict[str, Any] = {
        "train_micro_batch_size_per_gpu": cfg.micro_batch_size,
        "gradient_accumulation_steps": cfg.grad_accum,
        "gradient_clipping": cfg.optim.grad_clip,
        "zero_optimization": {"stage": cfg.deepspeed.zero_stage},
        "bf16": {"enabled": cfg.precision == "bf16"},
        "fp16": {
            "enabled": cfg.precision == "fp16",
            "loss_scale": 0,  # 0 = dynamic
            "initial_scale_power": int(round(torch.log2(torch.tensor(ls.initial_scale)).item())),
            "loss_scale_window": ls.growth_interval,
            "hysteresis": 1,  # halve on the first overflow, as our own scaler does
            "min_loss_scale": ls.min_scale,
        },
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }
    for key, value in cfg.deepspeed.extra.items():
        if isinstance(value, dict) and isinstance(conf.get(key), dict):
            conf[key] = {**conf[key], **value}
        else:
            conf[key] = value
    return conf


class DeepSpeedBackend:
    name = "deepspeed"

    def __init__(self, model: nn.Module, cfg: TrainerConfig, env: DistEnv):
        if cfg.deepspeed.zero_stage not in (1, 2):
            raise UserError(
                f"train.deepspeed.zero_stage {cfg.deepspeed.zero_stage}: this engine supports 1 and 2"
            )
        if cfg.precision == "fp16" and env.device.type == "cpu":
            raise UserError(
                "fp16 under DeepSpeed needs a GPU (DeepSpeed refuses fp16 on CPU); on CPU use precision=bf16, "
                "or deepspeed.enabled=false for our own fp16 loss scaler"
            )
        import deepspeed

        logging.getLogger("DeepSpeed").setLevel(logging.WARNING)
        self.cfg, self.env = cfg, env
        self.group_loss: GroupSums | None = None  # per-group loss sums of the last micro-batch (grouploss.py)
        model = model.to(env.device)
        optimizer = build_optimizer(model, cfg.optim)
        self.engine, self.optimizer, _, _ = deepspeed.initialize(
            model=model, optimizer=optimizer, config=ds_config(cfg)
        )
        self.module = self.engine.module
        self._skipped_before = 0
        self.loss_chunk = cfg.loss_chunk if isinstance(model, WeLM) else 0  # as in TorchBackend

    def set_lr(self, lr: float) -> None:
        for g in self.optimizer.param_groups:
            g["lr"] = lr

    def forward_backward(self, batch: dict, last: bool) -> torch.Tensor:
        loss, self.group_loss = model_loss(self.engine, batch, self.loss_chunk)
        self.engine.backward(loss)
        if not last:
            self.engine.step()  # DeepSpeed counts micro-steps in step(); off the boundary it only counts
        return loss.detach().float()

    def step(self) -> StepResult:
        skipped_before = self.engine.skipped_steps
        self.engine.step()
        norm = self.engine.get_global_grad_norm()
        norm = float(norm) if norm is not None else float("nan")
        return StepResult(
            grad_norm=norm, skipped=self.engine.skipped_steps > skipped_before, loss_scale=self.loss_scale
        )

    def discard_grads(self) -> None:
        # DeepSpeed keeps accumulated gradients in its own buffers; finishing the step keeps its counters
        # consistent, and the rollback that follows reloads weights and optimizer state anyway.
        self.engine.step()

    @property
    def loss_scale(self) -> float:
        return float(getattr(self.optimizer, "cur_scale", 1.0)) if self.cfg.precision == "fp16" else 1.0

    @property
    def skipped_steps(self) -> int:
        return int(self.engine.skipped_steps)

    def reset_loss_scale(self) -> None:
        scaler = getattr(self.optimizer, "loss_scaler", None)
        if scaler is not None and hasattr(scaler, "cur_scale"):
            scaler.cur_scale = self.cfg.loss_scale.initial_scale
            for attr, value in (("cur_iter", 0), ("last_overflow_iter", -1), ("cur_hysteresis", 1)):
                if hasattr(scaler, attr):
                    setattr(scaler, attr, value)

    def scaler_state(self) -> dict | None:
        return None  # inside DeepSpeed's own checkpoint files

    def load_scaler_state(self, state: dict | None) -> None:
        pass

    # -- checkpoint files --------------------------------------------------------------------------

    def save(self, tmp_dir: Path) -> None:
        """Collective: every rank writes its ZeRO partition, then rank 0 writes a consolidated fp32 model.pt."""
        self.engine.save_checkpoint(str(tmp_dir), tag=DS_TAG, save_latest=False)
        self.env.barrier()
        if self.env.is_main:
            if self.cfg.precision == "fp32":
                state = {k: v.detach().cpu().clone() for k, v in self.module.state_dict().items()}
            else:  # the module holds bf16/fp16 copies; the fp32 master weights live in the ZeRO partitions
                from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

                state = get_fp32_state_dict_from_zero_checkpoint(str(tmp_dir), tag=DS_TAG)
                if getattr(self.module.config, "tie_embeddings", False) and "lm_head.weight" not in state:
                    state["lm_head.weight"] = state["embed.weight"]
            torch.save(state, tmp_dir / MODEL_FILE)

    def load(self, step_dir: Path) -> None:
        if not (step_dir / DS_TAG).is_dir():
            raise UserError(
                f"{step_dir}: no DeepSpeed state ({DS_TAG}/); it was written by the torch backend"
            )
        path, _ = self.engine.load_checkpoint(
            str(step_dir), tag=DS_TAG, load_optimizer_states=True, load_lr_scheduler_states=False
        )
        if path is None:
            raise UserError(f"{step_dir}: DeepSpeed could not load its checkpoint files")
