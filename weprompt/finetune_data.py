"""The fine-tuning batch source: packed multitask sequences, plus pretraining sequences during warm-up.

Implements the engine's batch-source protocol (`next_batch`, `state_dict`, `load_state_dict`,
`skip`). During the first `warmup.steps` batches a fraction of each batch is pretraining text from
the corpus token shards (paper §4.3), decaying from `warmup.start_fraction` to zero (linear or
cosine); the fraction used at each step is exposed for logging.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from weprompt.packing import Packed, Packer

PRETRAIN_GROUP = "(pretraining text)"  # the loss group of the warm-up's pretraining sequences
Row = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # tokens, loss mask, doc ids, loss group


@dataclass
class WarmupMixConfig:
    steps: int = 0  # batches with pretraining text mixed in; 0 disables the mix
    start_fraction: float = 0.5  # share of each batch that is pretraining text at step 0
    schedule: Literal["linear", "cosine"] = "linear"
    shards: str | None = None  # token shard dir (default: the base run's corpus shards)


@dataclass
class BatchConfig:
    """What goes into a batch. Its size is `train.micro_batch_size` and its seed the sampler's: both are
    passed to `FinetuneBatches` by the caller, so neither is a key here (one owner per value)."""

    doc_attention: bool = False  # block-diagonal attention per packed example
    # Loss normalisation over a micro-batch: "token" = mean over its target tokens (every token counts the
    # same; long examples weigh more); "example" = mean over its examples of each example's mean token loss.
    loss_norm: Literal["token", "example"] = "token"
    warmup: WarmupMixConfig = field(default_factory=WarmupMixConfig)


def warmup_fraction(step: int, cfg: WarmupMixConfig) -> float:
    if step >= cfg.steps or cfg.steps <= 0:
        return 0.0
    progress = step / cfg.steps
    if cfg.schedule == "cosine":
        return cfg.start_fraction * 0.5 * (1 + math.cos(math.pi * progress))
    return cfg.start_fraction * (1 - progress)


def loss_weights(targets: torch.Tensor, docs: torch.Tensor, norm: str) -> torch.Tensor:
    """Per-target-token weights summing to 1 over the micro-batch: equal per token ("token"), or equal per
    example, shared equally by its tokens ("example"). `docs` (B, T): the example of each target token."""
    valid = (targets != -100).double()
    if norm == "token":
        return (valid / valid.sum().clamp(min=1)).float()
    key = (torch.arange(docs.shape[0])[:, None] * (docs.shape[1] + 1) + docs).reshape(-1)
    per_example = torch.bincount(key, weights=valid.reshape(-1), minlength=int(key.max()) + 1)
    examples = (per_example > 0).sum().clamp(min=1)
    w = valid.reshape(-1) / per_example[key].clamp(min=1) / examples
    return w.reshape(targets.shape).float()


def _doc_ids_from_eos(tokens: np.ndarray, eos_id: int) -> np.ndarray:
    """Document index per position: a new document starts after every EOS."""
    ends = (tokens == eos_id).astype(np.int64)
    return np.concatenate([[0], np.cumsum(ends)[:-1]])


class FinetuneBatches:
    def __init__(
        self,
        packer: Packer,
        cfg: BatchConfig,
        batch_size: int,
        eos_id: int,
        *,
        seed: int,
        shards=None,
    ):
        self.packer = packer
        self.cfg = cfg
        self.batch_size = batch_size
        self.seed = seed
        self.seq_len = packer.seq_len
        self.eos_id = eos_id
        self.shards = shards
        if cfg.warmup.steps > 0 and shards is None:
            raise ValueError("warm-up mixing needs token shards (warmup.shards)")
        self.step = 0
        # Group indices are fixed from the start (the pools' order), so they never depend on the stream.
        self._groups: dict[str, int] = {p.name: i for i, p in enumerate(getattr(packer.source, "pools", []))}
        self.pretrain_sequences = 0
        self.last_fraction = 0.0

    @property
    def loss_group_names(self) -> list[str]:
        """Group index -> name of the batches' "loss_group" (the training tasks, then pretraining text)."""
        return list(self._groups)

    def _group(self, task: str) -> int:
        return self._groups.setdefault(task, len(self._groups))

    def _pretrain_sequence(self) -> Row:
        # Seeded by (seed, count) so a resumed run draws the same windows.
        rng = np.random.default_rng([self.seed, self.pretrain_sequences])
        self.pretrain_sequences += 1
        start = int(rng.integers(0, self.shards.num_tokens - self.seq_len))
        toks = np.asarray(self.shards.tokens(start, self.seq_len), dtype=np.int64)
        group = np.full_like(toks, self._group(PRETRAIN_GROUP))
        return toks, np.ones_like(toks), _doc_ids_from_eos(toks, self.eos_id), group

    def _rows(self) -> list[Row]:
        frac = warmup_fraction(self.step, self.cfg.warmup)
        self.last_fraction = frac
        n_pre = int(round(frac * self.batch_size))
        rows = [self._pretrain_sequence() for _ in range(n_pre)]
        for _ in range(self.batch_size - n_pre):
            p: Packed = next(self.packer)
            docs = np.asarray(p.doc_ids, np.int64)
            groups = np.asarray([self._group(t) for t in p.tasks] + [0], np.int64)  # padding: masked out
            rows.append(
                (np.asarray(p.tokens, np.int64), np.asarray(p.loss_mask, np.int64), docs, groups[docs])
            )
        return rows

    def next_batch(self) -> dict:
        rows = self._rows()
        self.step += 1
        toks = torch.from_numpy(np.stack([r[0] for r in rows]))
        mask = torch.from_numpy(np.stack([r[1] for r in rows]))
        docs = torch.from_numpy(np.stack([r[2] for r in rows]))
        targets = toks[:, 1:].clone()
        targets[mask[:, 1:] == 0] = -100
        groups = torch.from_numpy(np.stack([r[3] for r in rows]))
        batch = {
            "input_ids": toks[:, :-1].contiguous(),
            "targets": targets,
            "loss_weight": loss_weights(targets, docs[:, 1:], self.cfg.loss_norm),
            "loss_group": groups[:, 1:].contiguous(),  # the example each target token belongs to
        }
        if self.cfg.doc_attention:
            batch["doc_ids"] = docs[:, :-1].contiguous()
        return batch

    def skip(self, n_batches: int) -> None:
        for _ in range(n_batches):
            self._rows()
            self.step += 1

    def metrics(self) -> dict:
        return {
            "pretrain_fraction": round(self.last_fraction, 4),
            "packing_efficiency": round(self.packer.stats.efficiency, 4),
            "epoch": round(self.packer.source.epoch, 4),
        }

    def state_dict(self) -> dict:
        return {
            "step": self.step,
            "pretrain_sequences": self.pretrain_sequences,
            "packer": self.packer.state_dict(),
            "sampler": self.packer.source.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.step = state["step"]
        self.pretrain_sequences = state["pretrain_sequences"]
        self.packer.load_state_dict(state["packer"])
        self.packer.source.load_state_dict(state["sampler"])
