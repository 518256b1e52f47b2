"""Packing encoded examples into fixed-length training sequences (paper §4.3: "until 2048 tokens").

Each example becomes `input ids + target ids + EOS`. A sequence is filled in order; an example that
does not fit waits in a small FIFO buffer and is placed first in a later sequence (the paper's "the
example that does not fit starts the next sequence"), while the sequence keeps filling from the
buffer and new draws that do fit. A sequence closes when the buffer is full; its remainder is padding.
This keeps padding near zero without cutting any example in two.

`strategy: best_fit` instead keeps `buffer` examples waiting and fills each sequence best-fit-decreasing:
the largest waiting example that fits the remaining room, again and again, the buffer refilled from the
stream after each, until nothing fits (as ms-swift's packing; arXiv 2404.10830 on why truncation-free
best-fit packing matters). Neither strategy ever cuts an example in two or lets examples share a document.

Overlong examples (longer than a whole sequence): with `overlong: truncate` (default) the input is
cut from the left (its start is dropped, the end of the input and the whole target are kept) when
the target plus EOS fits in half a sequence; otherwise, or with `overlong: skip`, the example is
skipped. Both are counted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from weprompt.sampler import Encoded


@dataclass
class PackingConfig:
    """How examples are packed. The sequence length is not a key: it is the model's context + 1, and the
    caller passes it to `Packer` (one owner per value)."""

    loss_on: Literal["all", "targets"] = "all"  # "all" tokens (paper) or "targets" only
    overlong: Literal["truncate", "skip"] = "truncate"
    strategy: Literal["greedy", "best_fit"] = "greedy"
    # greedy: examples waiting for room before a sequence is closed (16 is plenty);
    # best_fit: examples the sequence chooses among (256 or more for ~99.9 % at 2048)
    buffer: int = 16

    def __post_init__(self) -> None:
        if (
            self.loss_on not in ("all", "targets")
            or self.overlong not in ("truncate", "skip")
            or self.strategy not in ("greedy", "best_fit")
        ):
            raise ValueError(f"bad packing config {self}")
        if self.buffer < 1:
            raise ValueError(f"packing.buffer must be >= 1, got {self.buffer}")


@dataclass
class Packed:
    tokens: list[int]
    loss_mask: list[int]  # 1 where the token is a training target
    doc_ids: list[int]  # example index within the sequence; padding gets its own id
    tasks: list[str]


@dataclass
class PackingStats:
    sequences: int = 0
    examples: int = 0
    real_tokens: int = 0
    pad_tokens: int = 0
    truncated: int = 0
    skipped_overlong: int = 0
    tokens_per_task: Counter = field(default_factory=Counter)
    examples_per_task: Counter = field(default_factory=Counter)

    @property
    def efficiency(self) -> float:
        total = self.real_tokens + self.pad_tokens
        return self.real_tokens / total if total else 0.0

    def to_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if not isinstance(v, Counter)}
        d["tokens_per_task"] = dict(self.tokens_per_task)
        d["examples_per_task"] = dict(self.examples_per_task)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> PackingStats:
        d = dict(d)
        tpt = Counter(d.pop("tokens_per_task"))
        ept = Counter(d.pop("examples_per_task", {}))  # absent in checkpoints written before it was counted
        return cls(**d, tokens_per_task=tpt, examples_per_task=ept)


def _size(ex: Encoded) -> int:
    return len(ex.input_ids) + len(ex.target_ids) + 1


class Packer:
    """`seq_len`: tokens per packed sequence, e.g. context 2048 + 1 for the shifted targets."""

    def __init__(self, source, cfg: PackingConfig, eos_id: int, pad_id: int, *, seq_len: int):
        self.source = source
        self.cfg = cfg
        self.seq_len = seq_len
        self.eos_id, self.pad_id = eos_id, pad_id
        self.buffer: list[Encoded] = []
        self.stats = PackingStats()

    def _fit(self, ex: Encoded) -> Encoded | None:
        """The example made to fit a whole sequence, or None when it is skipped."""
        n = len(ex.input_ids) + len(ex.target_ids) + 1
        if n <= self.seq_len:
            return ex
        room_for_input = self.seq_len - len(ex.target_ids) - 1
        if self.cfg.overlong == "truncate" and len(ex.target_ids) + 1 <= self.seq_len // 2:
            self.stats.truncated += 1
            return Encoded(ex.task, ex.template, ex.input_ids[-room_for_input:], ex.target_ids)
        self.stats.skipped_overlong += 1
        return None

    def _next_fitting(self) -> Encoded:
        while True:
            ex = self._fit(next(self.source))
            if ex is not None:
                return ex

    def __iter__(self):
        return self

    def __next__(self) -> Packed:
        chosen = self._best_fit() if self.cfg.strategy == "best_fit" else self._greedy()
        return self._emit(chosen)

    def _greedy(self) -> list[Encoded]:
        """In draw order; an example that does not fit waits in the FIFO buffer for a later sequence."""
        chosen: list[Encoded] = []
        room = self.seq_len
        while True:
            waiting = next((i for i, ex in enumerate(self.buffer) if _size(ex) <= room), None)
            if waiting is not None:
                ex = self.buffer.pop(waiting)
                chosen.append(ex)
                room -= _size(ex)
                continue
            if room == 0 or len(self.buffer) >= self.cfg.buffer:
                return chosen
            ex = self._next_fitting()
            if _size(ex) <= room:
                chosen.append(ex)
                room -= _size(ex)
            else:
                self.buffer.append(ex)

    def _best_fit(self) -> list[Encoded]:
        """Best fit, decreasing, over a full buffer: the sequence takes the largest waiting example that fits
        its remaining room, again and again (the buffer refilled from the stream after each), until none fits."""
        chosen: list[Encoded] = []
        room = self.seq_len
        while True:
            while len(self.buffer) < self.cfg.buffer:
                self.buffer.append(self._next_fitting())
            best, best_size = -1, 0
            for i, ex in enumerate(self.buffer):  # the first of equal sizes wins: deterministic, oldest first
                n = _size(ex)
                if best_size < n <= room:
                    best, best_size = i, n
            if best < 0:
                return chosen
            chosen.append(self.buffer.pop(best))
            room -= best_size

    def _emit(self, chosen: list[Encoded]) -> Packed:
        tokens: list[int] = []
        mask: list[int] = []
        docs: list[int] = []
        tasks: list[str] = []
        for doc, ex in enumerate(chosen):
            ids = ex.input_ids + ex.target_ids + [self.eos_id]
            tokens.extend(ids)
            if self.cfg.loss_on == "all":
                mask.extend([1] * len(ids))
            else:
                mask.extend([0] * len(ex.input_ids) + [1] * (len(ex.target_ids) + 1))
            docs.extend([doc] * len(ids))
            tasks.append(ex.task)
            self.stats.examples += 1
            self.stats.tokens_per_task[ex.task] += len(ids)
            self.stats.examples_per_task[ex.task] += 1
        pad = self.seq_len - len(tokens)
        self.stats.sequences += 1
        self.stats.real_tokens += len(tokens)
        self.stats.pad_tokens += pad
        pad_doc = len(tasks)
        return Packed(tokens + [self.pad_id] * pad, mask + [0] * pad, docs + [pad_doc] * pad, tasks)

    def state_dict(self) -> dict:
        return {"buffer": [e.__dict__ for e in self.buffer], "stats": self.stats.to_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.buffer = [Encoded(**e) for e in state["buffer"]]
        self.stats = PackingStats.from_dict(state["stats"])
