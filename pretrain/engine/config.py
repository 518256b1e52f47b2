"""Typed configuration of the training engine (pretraining and fine-tuning share `TrainerConfig`).

Defaults are the paper's recipe (§3): AdamW β=(0.9, 0.95), ε=1e-8, linear warm-up, cosine decay to 10 % of
the peak, gradient clipping at 1.0, ZeRO-1 under DeepSpeed on GPUs, automatic loss-spike recovery
(roll back about 100 steps, skip 200 batches, lower the learning rate, reset the loss scale).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from weprompt.common.config import ConfigError
from weprompt.pretrain.engine.sinks import WandbConfig


@dataclass
class OptimConfig:
    max_lr: float = 6e-4
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1  # cosine floor: 10 % of max_lr (paper)
    weight_decay: float = 0.1  # on matrices only (no decay on gains and biases)
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0  # max global grad norm; 0 disables clipping (the norm is still logged)
    fused: bool = True  # torch's fused AdamW kernel (CPU and CUDA): same maths, far fewer passes over memory


@dataclass
class LossScaleConfig:
    """Dynamic loss scaling for fp16 (our torch path; DeepSpeed's own scaler is configured from it too)."""

    initial_scale: float = 65536.0
    growth_factor: float = 2.0
    backoff_factor: float = 0.5
    growth_interval: int = 1000  # steps without overflow before the scale grows
    min_scale: float = 1.0


@dataclass
class DeepSpeedConfig:
    enabled: bool = False
    zero_stage: int = 1  # the paper's setting; 2 also works on CPU
    extra: dict[str, Any] = field(default_factory=dict)  # merged into the generated DeepSpeed JSON config


@dataclass
class CheckpointConfig:
    dir: str | None = None  # default <run_dir>/checkpoints
    every: int = 100  # steps; 0 = only at the end
    keep_last: int = 3  # plus the newest one old enough to roll a loss spike back to
    resume: str = "auto"  # auto (latest checkpoint of the run, if any) | never | a checkpoint directory
    verify: bool = True  # sha256 of every file against the manifest on resume / init_from (sizes always)


@dataclass
class SpikeConfig:
    enabled: bool = True
    window: int = 50  # moving average over the last `window` accepted step losses
    min_history: int = 20  # no detection before this many losses are in the window
    threshold: float = 1.5  # spike: loss > threshold × moving average (or non-finite loss) ...
    min_sigmas: float = 4.0  # ... and > moving average + min_sigmas × moving std (0: ratio rule alone)
    rollback_steps: int = 100  # go back to the newest checkpoint at least this many steps before the spike
    skip_batches: int = 200  # then skip this many optimizer-step batches of data
    lr_factor: float = 0.5  # and multiply the learning rate by this (cumulative over events)
    max_events: int = 5  # give up (error) after this many recoveries in one run


@dataclass
class LoggingConfig:
    every: int = 10  # steps between log records (JSONL) and progress updates
    progress: bool = True  # tqdm bar on rank 0
    plot: bool = True  # curves.png (loss, val loss, lr) at the end
    # MFU denominator, FLOP/s per device; None: the GPU table, or measured on the CPU at the start of the run.
    peak_flops: float | None = None
    tensorboard: bool = True  # event files in <run_dir>/tensorboard beside the JSONL (engine/sinks.py)
    wandb: WandbConfig = field(default_factory=WandbConfig)  # optional Weights & Biases run; off by default


@dataclass
class EvalConfig:
    every: int = 0  # steps between validation passes; 0 = only at the end
    batches: int = 20  # validation batches per pass (a fixed set)


@dataclass
class TrainerConfig:
    run_dir: str = "runs/base"
    seed: int = 1234
    total_steps: int = 1000
    micro_batch_size: int = 8  # sequences per rank per micro-step
    grad_accum: int = 1  # micro-steps per optimizer step
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    # Stop early (checkpoint, eval, summary) past this much training time.
    max_train_minutes: float | None = None
    init_from: str | None = None  # a checkpoint (or run dir) to take the weights from; fresh optimizer
    num_threads: int | None = None  # torch intra-op threads (CPU); None = torch's default
    flush_denormal: bool = True  # CPU: tiny Adam moments as denormals slow every pass several times
    # Tokens per chunk of the fused output projection + cross-entropy (pretrain/model_loss.py): same loss and
    # gradients without the (tokens x vocabulary) fp32 logits; 0 = the plain path. WeLM models only.
    loss_chunk: int = 1024
    # torch.compile the model for training (torch backend); a compile failure falls back to eager with a
    # warning. Off by default: compiling takes 30-60 s on 2 CPU cores and gains a few % beside loss_chunk.
    compile: bool = False
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss_scale: LossScaleConfig = field(default_factory=LossScaleConfig)
    deepspeed: DeepSpeedConfig = field(default_factory=DeepSpeedConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    spike: SpikeConfig = field(default_factory=SpikeConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        checks = [
            (self.total_steps >= 1, "train.total_steps must be >= 1"),
            (self.micro_batch_size >= 1, "train.micro_batch_size must be >= 1"),
            (self.grad_accum >= 1, "train.grad_accum must be >= 1"),
            (self.optim.max_lr > 0, "train.optim.max_lr must be > 0"),
            (self.optim.warmup_steps >= 0, "train.optim.warmup_steps must be >= 0"),
            (0 <= self.optim.min_lr_ratio <= 1, "train.optim.min_lr_ratio must be in [0, 1]"),
            (self.deepspeed.zero_stage in (0, 1, 2, 3), "train.deepspeed.zero_stage must be 0, 1, 2 or 3"),
            (self.checkpoint.every >= 0, "train.checkpoint.every must be >= 0"),
            (self.checkpoint.keep_last >= 1, "train.checkpoint.keep_last must be >= 1"),
            (self.spike.threshold > 1, "train.spike.threshold must be > 1 (a ratio to the moving average)"),
            (0 < self.spike.lr_factor <= 1, "train.spike.lr_factor must be in (0, 1]"),
            (
                self.spike.window >= self.spike.min_history >= 1,
                "train.spike: need window >= min_history >= 1",
            ),
            (self.logging.every >= 1, "train.logging.every must be >= 1"),
            (self.loss_chunk >= 0, "train.loss_chunk must be >= 0 (0: the plain loss path)"),
            (
                not (self.compile and self.deepspeed.enabled),
                "train.compile is for the torch backend; it is not supported with train.deepspeed.enabled",
            ),
            (
                self.logging.peak_flops is None or self.logging.peak_flops > 0,
                "train.logging.peak_flops must be > 0 (FLOP/s per device) or null",
            ),
        ]
        for ok, msg in checks:
            if not ok:
                raise ConfigError(msg)

    @property
    def checkpoint_dir(self) -> str:
        return self.checkpoint.dir or f"{self.run_dir}/checkpoints"
