"""The trainer's plain types: the batch-source protocol, the result of `fit`, an eval hook, and what the loop
carries from step to step (the logging window)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import torch.nn as nn

if TYPE_CHECKING:
    from weprompt.pretrain.engine.backend import StepResult


# An extra evaluation at every validation pass: the model (eval mode, no grad, the run's autocast) -> metrics,
# logged as {"kind": "heldout", "source": <its name>, "metrics": ..., "seconds": ...} (rank 0 only).
EvalHook = Callable[[nn.Module], dict[str, float]]


class BatchSource(Protocol):
    def next_batch(self) -> dict: ...
    def state_dict(self) -> dict: ...
    def load_state_dict(self, d: dict) -> None: ...
    def skip(self, n_batches: int) -> None: ...


@dataclass
class TrainResult:
    run_dir: str
    step: int
    tokens: int
    final_loss: float
    val_loss: float | None
    tokens_per_s: float  # all ranks, training time only
    mfu: float
    peak_source: str
    peak_memory_mib: float  # rank 0
    train_seconds: float
    wall_seconds: float
    skipped_steps: int
    spike_events: int
    checkpoint: str | None
    stopped_early: bool = False  # the time budget (max_train_minutes) ran out before total_steps


@dataclass
class _Window:
    """The steps since the last log record: tokens, training seconds and losses."""

    tokens: int = 0
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)

    def add(self, tokens: int, seconds: float, loss: float) -> None:
        self.tokens += tokens
        self.seconds += seconds
        self.losses.append(loss)


@dataclass
class _Loop:
    """What one `fit` call carries from step to step."""

    wall0: float
    flops_tok: float | None
    peak: float = float("nan")
    peak_source: str = ""
    window: _Window = field(default_factory=_Window)
    last_loss: float = float("nan")
    stopped_early: bool = False


@dataclass
class _Step:
    loss: float
    lr: float
    result: StepResult
