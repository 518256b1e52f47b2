"""Loss per group of target tokens (e.g. the task each packed example came from), from the training forward.

A batch source may add two tensors to a batch, both (B, T) like `targets`:
    "loss_weight": float, the weight of each target token in the micro-batch loss (0 where ignored);
                   summing to 1 it gives a mean (per token, per example, ... : the source decides)
    "loss_group":  long, the group index of each target token (a task); names from the source's
                   `loss_group_names` (index -> name)
Then the loss is the weighted sum of the per-token cross-entropy (fp32, as the model computes it), and the
per-group sums and counts of the same per-token values come out for logging at the cost of one `bincount`:
no second forward. A batch without them goes to the model's own loss unchanged (pretraining).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from weprompt.pretrain.model import IGNORE_INDEX

GroupSums = tuple[torch.Tensor, torch.Tensor]  # (sum of token losses, token count) per group index


@dataclass
class GroupLogging:
    """How the trainer logs group losses: every train record carries each rollup (e.g. task -> category);
    every `detail_every` steps a "group_loss" record carries every group (0: never)."""

    rollups: dict[str, dict[str, str]] = field(
        default_factory=dict
    )  # rollup name -> {group -> rolled-up name}
    detail_every: int = 0


def model_loss(
    model: nn.Module, batch: Mapping[str, torch.Tensor], loss_chunk: int = 0
) -> tuple[torch.Tensor, GroupSums | None]:
    """The micro-batch loss of `model` on `batch`, and per-group (sums, counts) when the batch has groups.

    `loss_chunk` > 0 (a WeLM model): the model computes the (weighted) loss chunk by chunk, never the full
    logits, and returns the token losses for the group sums; 0: from the logits, any model."""
    groups = "loss_weight" in batch
    if loss_chunk > 0:
        inputs = {k: v for k, v in batch.items() if k != "loss_group"}
        out = model(**inputs, loss_chunk=loss_chunk)
        if not groups:
            return out.loss, None
        return out.loss, _group_sums(out.token_losses.reshape(-1), batch)
    if not groups:
        return model(**batch).loss, None
    inputs = {k: v for k, v in batch.items() if k not in ("loss_weight", "loss_group", "targets")}
    logits = model(**inputs).logits
    ce = F.cross_entropy(
        logits.float().view(-1, logits.size(-1)), batch["targets"].reshape(-1), ignore_index=IGNORE_INDEX,
        reduction="none",
    )  # fmt: skip
    loss = (ce * batch["loss_weight"].reshape(-1).to(ce.dtype)).sum()
    return loss, _group_sums(ce.detach(), batch)


def _group_sums(token_losses: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> GroupSums:
    valid = batch["targets"].reshape(-1) != IGNORE_INDEX
    groups = batch["loss_group"].reshape(-1)[valid]
    values = token_losses[valid].double()
    return torch.bincount(groups, weights=values), torch.bincount(groups).double()


class GroupLossMeter:
    """Per-group token-loss sums and counts over some steps (since the last `reset`)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.sums = torch.zeros(0, dtype=torch.float64)
        self.counts = torch.zeros(0, dtype=torch.float64)

    def add(self, part: GroupSums) -> None:
        sums, counts = (t.detach().to("cpu", torch.float64) for t in part)
        n = max(len(self.sums), len(sums))
        self.sums = _padded(self.sums, n) + _padded(sums, n)
        self.counts = _padded(self.counts, n) + _padded(counts, n)

    def summary(self, names: list[str], rollup: Mapping[str, str] | None = None) -> tuple[dict, dict]:
        """({name: mean token loss}, {name: tokens}) since the last reset, groups renamed through `rollup`
        (a group it does not name keeps its own name)."""
        sums: dict[str, float] = {}
        counts: dict[str, float] = {}
        for i, (s, c) in enumerate(zip(self.sums.tolist(), self.counts.tolist(), strict=True)):
            if c == 0:
                continue
            name = names[i] if i < len(names) else f"group{i}"
            key = rollup.get(name, name) if rollup is not None else name
            sums[key] = sums.get(key, 0.0) + s
            counts[key] = counts.get(key, 0.0) + c
        means = {k: round(sums[k] / counts[k], 5) for k in sorted(sums)}
        return means, {k: int(counts[k]) for k in sorted(counts)}


def _padded(t: torch.Tensor, n: int) -> torch.Tensor:
    return torch.cat([t, t.new_zeros(n - len(t))]) if len(t) < n else t


class GroupLossLog:
    """The trainer's group-loss bookkeeping: every micro-batch's sums go into two meters, one read (and reset)
    by each train record (the rollups), one by each "group_loss" record (every group)."""

    def __init__(self, cfg: GroupLogging, names: Callable[[], list[str]]):
        self.cfg, self.names = cfg, names
        self.window, self.detail = GroupLossMeter(), GroupLossMeter()

    def add(self, part: GroupSums | None) -> None:
        if part is not None:
            self.window.add(part)
            self.detail.add(part)

    def rollups(self) -> dict:
        """{"loss_by_<rollup>": {name: mean token loss}, "tokens_by_<rollup>": ...} since the last call."""
        out: dict[str, dict] = {}
        if len(self.window.counts):
            names = self.names()
            for rollup, mapping in self.cfg.rollups.items():
                out[f"loss_by_{rollup}"], out[f"tokens_by_{rollup}"] = self.window.summary(names, mapping)
        self.window.reset()
        return out

    def detail_record(self, step: int, last_step: bool) -> dict | None:
        """The "group_loss" record due at `step`, if one is (every `detail_every` steps and the last)."""
        every = self.cfg.detail_every
        if not every or not (step % every == 0 or last_step) or not len(self.detail.counts):
            return None
        losses, tokens = self.detail.summary(self.names())
        self.detail.reset()
        return {"kind": "group_loss", "step": step, "loss_by_group": losses, "tokens_by_group": tokens}
