"""Loss-spike detection and the recovery policy of the paper (§3.2), made automatic.

The paper restarted by hand from a checkpoint about 100 steps before a spike, skipped the next 200
batches and lowered the learning rate (PaLM did the same). Here the trainer does it by itself: the
detector flags a step whose loss is non-finite, or above both `threshold` × the moving average of the
last `window` accepted losses and that average plus `min_sigmas` moving standard deviations; the
trainer then rolls back, skips, lowers the learning rate, resets the loss scale and appends one JSON
line per event to `<run>/spike_events.jsonl`.

Why the standard-deviation condition: a pretraining loss is smooth, so 1.5 x its average is far outside
its spread and the ratio decides. A fine-tuning loss on target tokens only swings from 1.5 to 6 between
batches of a few label tokens each; the ratio alone called those swings spikes and rolled a single-task
run back to its base four times in 200 steps. A spike has to be unusual for the stream it is in.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import deque
from pathlib import Path

from weprompt.pretrain.engine.config import SpikeConfig

EVENTS_FILE = "spike_events.jsonl"


class SpikeDetector:
    def __init__(self, cfg: SpikeConfig):
        self.cfg = cfg
        self.history: deque[float] = deque(maxlen=cfg.window)

    @property
    def moving_average(self) -> float | None:
        return sum(self.history) / len(self.history) if self.history else None

    @property
    def moving_std(self) -> float | None:
        avg = self.moving_average
        if avg is None:
            return None
        return math.sqrt(sum((x - avg) ** 2 for x in self.history) / len(self.history))

    def check(self, loss: float) -> str | None:
        """The reason `loss` is a spike, or None. Does not record the loss (see `accept`)."""
        if not math.isfinite(loss):
            return f"non-finite loss ({loss})"
        if len(self.history) < self.cfg.min_history:
            return None
        avg, std = self.moving_average, self.moving_std
        assert avg is not None and std is not None  # the history is not empty: min_history >= 1 (validated)
        if loss > self.cfg.threshold * avg and loss > avg + self.cfg.min_sigmas * std:
            return (f"loss {loss:.4f} > {self.cfg.threshold:g} x moving average {avg:.4f} "
                    f"and > average + {self.cfg.min_sigmas:g} x moving std {std:.4f}")  # fmt: skip
        return None

    def accept(self, loss: float) -> None:
        self.history.append(loss)

    def reset(self) -> None:
        self.history.clear()

    def state_dict(self) -> dict:
        return {"history": list(self.history)}

    def load_state_dict(self, d: dict) -> None:
        self.history = deque((float(x) for x in d.get("history", [])), maxlen=self.cfg.window)


def choose_rollback(available: list[int], spike_step: int, rollback_steps: int) -> int | None:
    """The newest checkpoint at least `rollback_steps` before the spike; failing that the oldest one before it."""
    before = [s for s in available if s < spike_step]
    far_enough = [s for s in before if s <= spike_step - rollback_steps]
    if far_enough:
        return max(far_enough)
    return min(before) if before else None


def rollback_anchor(available: list[int], current_step: int, rollback_steps: int) -> int | None:
    """The checkpoint pruning must keep so that a spike at the next step can still roll back far enough."""
    return choose_rollback(available, current_step + 1, rollback_steps)


def append_event(run_dir: Path, event: dict) -> None:
    """Append one audit line and fsync it: the record must survive a crash right after the event."""
    event = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), **event}
    path = Path(run_dir) / EVENTS_FILE
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(event, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_events(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / EVENTS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
