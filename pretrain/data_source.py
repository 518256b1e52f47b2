"""The pretraining batch source: seeded windows of context_length + 1 tokens over `TokenShards`.

Batch i (a micro-batch counter shared by all ranks) is a pure function of (seed, i): rank r takes rows
[r·B, (r+1)·B) of the global batch. So the source's whole state is one integer, `skip(n)` is O(1), a resume
is exact, and every rank agrees on the data without talking.

Train and validation are whole documents (`TokenShards.split`); each side is read as one virtual stream of
its documents (each with its EOS), so training windows never contain a validation token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from weprompt.common.errors import UserError
from weprompt.pretrain.model import IGNORE_INDEX


class DataError(UserError):
    """Shards, tokenizer and model that do not fit together, or too little data for a window."""


class TokenStream:
    """Selected documents of a shard directory, concatenated (doc EOS doc EOS ...) as one virtual stream."""

    def __init__(self, shards, doc_indices: np.ndarray | None = None):
        self.shards = shards
        if doc_indices is None:
            starts = np.array([0], dtype=np.int64)
            lengths = np.array([shards.num_tokens], dtype=np.int64)
        else:
            idx = np.sort(np.asarray(doc_indices, dtype=np.int64))
            docs = shards.documents[idx]
            s = docs["offset"].astype(np.int64)
            e = s + docs["length"].astype(np.int64) + 1  # + the EOS that follows each document
            # Merge runs of neighbouring documents: far fewer pieces to look up per window.
            breaks = np.flatnonzero(s[1:] != e[:-1]) + 1
            run_first = np.concatenate([[0], breaks]) if len(s) else np.array([], dtype=np.int64)
            run_last = np.concatenate([breaks - 1, [len(s) - 1]]) if len(s) else np.array([], dtype=np.int64)
            starts, lengths = s[run_first], e[run_last] - s[run_first]
        self.run_starts = starts
        self.run_lengths = lengths
        self.cum = np.concatenate([[0], np.cumsum(lengths)])
        self.num_tokens = int(self.cum[-1])

    def read(self, start: int, length: int) -> np.ndarray:
        if start < 0 or start + length > self.num_tokens:
            raise IndexError(f"[{start}, {start + length}) outside the stream of {self.num_tokens} tokens")
        r = int(np.searchsorted(self.cum, start, side="right")) - 1
        pos = start - int(self.cum[r])
        parts, need = [], length
        while need:
            take = min(need, int(self.run_lengths[r]) - pos)
            parts.append(self.shards.tokens(int(self.run_starts[r]) + pos, take))
            need -= take
            r, pos = r + 1, 0
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def iter_chunks(self, chunk: int = 1 << 24):
        for s, n in zip(self.run_starts.tolist(), self.run_lengths.tolist(), strict=True):
            for off in range(0, n, chunk):
                yield self.shards.tokens(s + off, min(chunk, n - off))


def doc_ids_from_eos(input_ids: torch.Tensor, eos_id: int) -> torch.Tensor:
    """Document number of each position; an EOS opens the next document (it plays BOS for it), so with
    boundary masking the first token of a document is predicted from the start symbol alone."""
    return torch.cumsum((input_ids == eos_id).long(), dim=1)


@dataclass
class ShardBatchSource:
    stream: TokenStream
    batch_size: int
    seq_len: int
    seed: int
    rank: int = 0
    world_size: int = 1
    sampling: Literal["random", "sequential"] = "random"
    doc_mask: bool = False
    eos_id: int = 2
    vocab_size: int = 0
    corrupt_batches: list[int] = field(
        default_factory=list
    )  # fault injection: these micro-batches become noise
    index: int = 0  # micro-batches drawn so far (global counter)

    def __post_init__(self) -> None:
        self.n_starts = self.stream.num_tokens - (self.seq_len + 1) + 1
        if self.n_starts < 1:
            raise DataError(
                f"the training stream has {self.stream.num_tokens} tokens, fewer than one window of "
                f"{self.seq_len + 1}; use more data or a shorter context_length"
            )
        self._corrupt = set(self.corrupt_batches)

    def window_starts(self, i: int) -> np.ndarray:
        """Start offsets of the global micro-batch i (all ranks' rows)."""
        n = self.batch_size * self.world_size
        if self.sampling == "random":
            return np.random.default_rng([self.seed, i]).integers(0, self.n_starts, size=n)
        # sequential: consecutive windows with stride seq_len, so every token is a target once per epoch
        k = np.arange(i * n, (i + 1) * n, dtype=np.int64)
        return (k * self.seq_len) % self.n_starts

    def next_batch(self) -> dict:
        i = self.index
        self.index += 1
        starts = self.window_starts(i)[self.rank * self.batch_size : (self.rank + 1) * self.batch_size]
        arr = np.stack([self.stream.read(int(s), self.seq_len + 1) for s in starts]).astype(np.int64)
        if i in self._corrupt:
            arr = np.random.default_rng([self.seed, i, 7]).integers(0, self.vocab_size, size=arr.shape)
        x = torch.from_numpy(arr[:, :-1].copy())
        batch = {"input_ids": x, "targets": torch.from_numpy(arr[:, 1:].copy())}
        if self.doc_mask:
            batch["doc_ids"] = doc_ids_from_eos(x, self.eos_id)
        return batch

    def skip(self, n_batches: int) -> None:
        self.index += n_batches

    def state_dict(self) -> dict:
        return {"index": self.index, "seed": self.seed, "sampling": self.sampling}

    def load_state_dict(self, d: dict) -> None:
        self.index = int(d["index"])


def validation_batches(stream: TokenStream, batch_size: int, seq_len: int, n_batches: int, doc_mask: bool = False,
                       eos_id: int = 2) -> list[dict]:  # fmt: skip
    """A fixed validation set: consecutive non-overlapping windows from the start of the stream."""
    n_windows = min(n_batches * batch_size, stream.num_tokens // (seq_len + 1))
    if n_windows < 1:
        raise DataError(f"the validation stream has {stream.num_tokens} tokens, fewer than one window")
    batches = []
    for b in range(0, n_windows, batch_size):
        rows = [stream.read(w * (seq_len + 1), seq_len + 1) for w in range(b, min(b + batch_size, n_windows))]
        arr = torch.from_numpy(np.stack(rows).astype(np.int64))
        batch = {"input_ids": arr[:, :-1].contiguous(), "targets": arr[:, 1:].contiguous()}
        if doc_mask:
            batch["doc_ids"] = doc_ids_from_eos(batch["input_ids"], eos_id)
        batches.append(batch)
    return batches


def unigram_baseline(train: TokenStream, val_batches: list[dict], vocab_size: int) -> float:
    """Cross-entropy (nats/token) on the validation targets of a unigram model of the training stream
    (add-one smoothing): the loss a model reaches by learning token frequencies and nothing else."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    for chunk in train.iter_chunks():
        counts += np.bincount(chunk, minlength=vocab_size)[:vocab_size]
    logp = np.log(counts + 1.0) - np.log(counts.sum() + vocab_size)
    targets = torch.cat([b["targets"].reshape(-1) for b in val_batches]).numpy()
    targets = targets[targets != IGNORE_INDEX]
    return float(-logp[targets].mean())
