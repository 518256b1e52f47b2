"""Token shards: one flat token stream in fixed-size memory-mapped files, plus a document index.

Layout of a shard directory:

    meta.json        vocab_size, dtype, tokenizer fingerprint, eos_id, totals, source names, shard files
    shard_00000.bin  tokens (uint16 when vocab_size <= 65535, else uint32), `shard_tokens` per file
    shard_00001.bin  ... (the last one shorter)
    documents.npy    structured array: offset (int64), length (int64), source (int16)

The stream is `doc0 EOS doc1 EOS ...`: a document's `offset`/`length` cover its own tokens and the EOS
follows at `offset + length`, so a trainer can cut fixed windows anywhere and still see boundaries.
A document may straddle two shard files; `tokens()` joins the pieces. meta.json is written last and
atomically, so a directory without it is an unfinished write and is refused.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from weprompt.common.atomic import atomic_open, atomic_write_text
from weprompt.common.errors import UserError

META_FILE = "meta.json"
INDEX_FILE = "documents.npy"
FORMAT_VERSION = 1
DEFAULT_SHARD_TOKENS = 1 << 27  # 128 M tokens = 256 MiB of uint16 per file
DOC_DTYPE = np.dtype([("offset", "<i8"), ("length", "<i8"), ("source", "<i2")])


class ShardError(UserError):
    """A shard directory that is missing, unfinished, or does not match the tokenizer."""


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype("<u2") if vocab_size <= 65535 else np.dtype("<u4")


def _shard_name(i: int) -> str:
    return f"shard_{i:05d}.bin"


class ShardWriter:
    """Append documents (token ids + source name); `close()` publishes the directory.

    Shard files are written under temporary names and renamed at close, so a crash leaves no directory
    that `TokenShards` would accept.
    """

    def __init__(
        self,
        out_dir: str | Path,
        vocab_size: int,
        tokenizer_fingerprint: str,
        eos_id: int = 2,
        shard_tokens: int = DEFAULT_SHARD_TOKENS,
    ):
        if not 0 <= eos_id < vocab_size:
            raise ShardError(f"eos_id {eos_id} outside the vocabulary of {vocab_size}")
        if shard_tokens < 1:
            raise ShardError(f"shard_tokens must be positive, got {shard_tokens}")
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        # An earlier, finished write is replaced: drop its meta first so a crash cannot mix the two.
        (self.out_dir / META_FILE).unlink(missing_ok=True)
        self.vocab_size = vocab_size
        self.fingerprint = tokenizer_fingerprint
        self.eos_id = eos_id
        self.shard_tokens = shard_tokens
        self.dtype = token_dtype(vocab_size)
        self._sources: dict[str, int] = {}
        self._offsets: list[int] = []
        self._lengths: list[int] = []
        self._doc_sources: list[int] = []
        self._num_tokens = 0
        self._shard_idx = 0
        self._in_shard = 0
        self._files: list[str] = []
        self._fh: BinaryIO | None = None
        self._closed = False

    def _open_next(self) -> BinaryIO:
        name = _shard_name(self._shard_idx)
        self._fh = open(self.out_dir / f".{name}.tmp", "wb")  # noqa: SIM115 - closed in _finish_shard
        self._files.append(name)
        self._in_shard = 0
        return self._fh

    def _finish_shard(self) -> None:
        assert self._fh is not None
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self._fh = None
        self._shard_idx += 1

    def _write(self, arr: np.ndarray) -> None:
        pos = 0
        while pos < len(arr):
            if self._fh is None:
                self._fh = self._open_next()
            room = self.shard_tokens - self._in_shard
            part = arr[pos : pos + room]
            self._fh.write(part.tobytes())
            self._in_shard += len(part)
            pos += len(part)
            if self._in_shard == self.shard_tokens:
                self._finish_shard()

    def add_document(self, ids, source: str) -> None:
        """Append one document's ids (list or array) followed by EOS; `source` names its corpus source."""
        if self._closed:
            raise ShardError("ShardWriter is closed")
        arr = np.asarray(ids, dtype=np.int64)
        if arr.ndim != 1:
            raise ShardError(f"a document must be a 1-d sequence of ids, got shape {arr.shape}")
        if len(arr) and (arr.min() < 0 or arr.max() >= self.vocab_size):
            raise ShardError(f"token id outside [0, {self.vocab_size}) in a document of source '{source}'")
        src = self._sources.setdefault(source, len(self._sources))
        if src > np.iinfo(np.int16).max:
            raise ShardError("more than 32767 distinct sources")
        self._offsets.append(self._num_tokens)
        self._lengths.append(len(arr))
        self._doc_sources.append(src)
        out = np.empty(len(arr) + 1, dtype=self.dtype)
        out[:-1] = arr
        out[-1] = self.eos_id
        self._write(out)
        self._num_tokens += len(out)

    def close(self) -> Path:
        if self._closed:
            return self.out_dir
        if self._fh is not None:
            self._finish_shard()
        for name in self._files:
            os.replace(self.out_dir / f".{name}.tmp", self.out_dir / name)
        # Stale shard files of an earlier, longer write would confuse nobody (meta lists the files) but waste
        # disk: remove them.
        for p in self.out_dir.glob("shard_*.bin"):
            if p.name not in self._files:
                p.unlink()
        index = np.empty(len(self._offsets), dtype=DOC_DTYPE)
        index["offset"] = self._offsets
        index["length"] = self._lengths
        index["source"] = self._doc_sources
        with atomic_open(self.out_dir / INDEX_FILE, "wb") as f:
            np.save(f, index)
        meta = {
            "format_version": FORMAT_VERSION,
            "vocab_size": self.vocab_size,
            "dtype": self.dtype.str,
            "eos_id": self.eos_id,
            "tokenizer_fingerprint": self.fingerprint,
            "num_tokens": self._num_tokens,
            "num_documents": len(self._offsets),
            "shard_tokens": self.shard_tokens,
            "shards": self._files,
            "sources": list(self._sources),
            "tokens_by_source": self._tokens_by_source(index),
        }
        atomic_write_text(self.out_dir / META_FILE, json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
        self._closed = True
        return self.out_dir

    def _tokens_by_source(self, index: np.ndarray) -> dict[str, int]:
        counts = np.bincount(index["source"], weights=index["length"] + 1, minlength=len(self._sources))
        return {name: int(counts[i]) for name, i in self._sources.items()}

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        elif self._fh is not None:
            self._fh.close()


@dataclass(frozen=True)
class ShardSplit:
    """Document indices (sorted) of a seeded train/validation split."""

    train: np.ndarray
    val: np.ndarray


class TokenShards:
    """Read-only, memory-mapped view of a shard directory."""

    def __init__(self, path: str | Path, expect_fingerprint: str | None = None):
        self.path = Path(path)
        meta_path = self.path / META_FILE
        if not meta_path.is_file():
            raise ShardError(f"{self.path}: no {META_FILE} (not a shard directory, or an unfinished write)")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format_version") != FORMAT_VERSION:
            raise ShardError(f"{meta_path}: format_version {meta.get('format_version')} != {FORMAT_VERSION}")
        self.meta = meta
        self.vocab_size: int = meta["vocab_size"]
        self.eos_id: int = meta["eos_id"]
        self.tokenizer_fingerprint: str = meta["tokenizer_fingerprint"]
        self.num_tokens: int = meta["num_tokens"]
        self.shard_tokens: int = meta["shard_tokens"]
        self.source_names: list[str] = meta["sources"]
        self.dtype = np.dtype(meta["dtype"])
        if expect_fingerprint is not None and expect_fingerprint != self.tokenizer_fingerprint:
            raise ShardError(
                f"{self.path}: shards were made with tokenizer {self.tokenizer_fingerprint[:12]}, "
                f"not {expect_fingerprint[:12]}; rebuild the shards or use the matching tokenizer"
            )
        self._maps: list[np.ndarray] = []
        total = 0
        for name in meta["shards"]:
            f = self.path / name
            if not f.is_file():
                raise ShardError(f"{self.path}: shard file {name} is missing")
            n = f.stat().st_size // self.dtype.itemsize
            self._maps.append(
                np.memmap(f, dtype=self.dtype, mode="r", shape=(n,)) if n else np.empty(0, self.dtype)
            )
            total += n
        if total != self.num_tokens:
            raise ShardError(
                f"{self.path}: shard files hold {total} tokens, meta.json says {self.num_tokens}"
            )
        self.documents: np.ndarray = np.load(self.path / INDEX_FILE)
        if len(self.documents) != meta["num_documents"]:
            raise ShardError(f"{self.path}: {INDEX_FILE} does not match meta.json")

    def __len__(self) -> int:
        return len(self.documents)

    def tokens(self, start: int, length: int) -> np.ndarray:
        """`length` tokens of the stream from `start` (a view when inside one shard file, else a copy)."""
        if start < 0 or length < 0 or start + length > self.num_tokens:
            raise IndexError(f"tokens [{start}, {start + length}) outside [0, {self.num_tokens})")
        first, pos = divmod(start, self.shard_tokens)
        if pos + length <= self.shard_tokens:
            return self._maps[first][pos : pos + length]
        parts, need = [], length
        while need:
            take = min(need, self.shard_tokens - pos)
            parts.append(self._maps[first][pos : pos + take])
            need -= take
            first, pos = first + 1, 0
        return np.concatenate(parts)

    def document(self, i: int, with_eos: bool = False) -> np.ndarray:
        d = self.documents[i]
        return self.tokens(int(d["offset"]), int(d["length"]) + int(with_eos))

    def document_source(self, i: int) -> str:
        return self.source_names[int(self.documents[i]["source"])]

    def split(self, val_fraction: float, seed: int = 0) -> ShardSplit:
        """Seeded split by whole documents: validation takes about `val_fraction` of the tokens.

        Whole documents keep validation text out of training windows. At least one document goes to each
        side when there are two or more documents.
        """
        if not 0.0 <= val_fraction < 1.0:
            raise ShardError(f"val_fraction must be in [0, 1), got {val_fraction}")
        n = len(self.documents)
        if n == 0 or val_fraction == 0.0:
            return ShardSplit(np.arange(n), np.arange(0))
        order = np.random.default_rng(seed).permutation(n)
        sizes = self.documents["length"][order] + 1
        target = val_fraction * self.num_tokens
        k = int(np.searchsorted(np.cumsum(sizes), target, side="left")) + 1
        k = min(max(k, 1), n - 1) if n > 1 else 0
        return ShardSplit(np.sort(order[k:]), np.sort(order[:k]))
